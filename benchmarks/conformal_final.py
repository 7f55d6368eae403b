"""Calibrating a NeuralAR on other fits or on itself: one ``Conformal(NeuralAR, n_windows=1)`` fit,
then its intervals calibrated two ways from the same final model.

* ``refit=True``: the calibration forecasts come from a second NeuralAR, fitted on each series
  cut ``h`` before its end (a different network from the final one: its own initialization, its
  own validation-chosen prior weight, less data);
* ``refit="final"``: they come from the final network itself, re-conditioned on each series cut
  ``h`` before its end. NeuralAR holds its last ``validation_length_`` values (here ``h``) out of
  training, so these are errors on values its weights never trained on (they chose its prior
  weight and early stopping only).

    python benchmarks/conformal_final.py m3_quarterly validation    # data set, split
    python benchmarks/conformal_final.py m3_quarterly test --max-steps 200

``validation`` holds out the last ``h`` values of the train part (the split that chooses);
``test`` fits on the train part and scores the test part.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conformal import SPECS, conformal, holdout, load, neural, scores, table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=list(SPECS))
    parser.add_argument("split", choices=("validation", "test"))
    parser.add_argument("--max-steps", type=int, default=200, help="NeuralAR training steps per fit")
    parser.add_argument("--num-samples", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    spec = SPECS[args.dataset]
    train, test = load(args.dataset, None)
    if args.split == "validation":
        train, test = holdout(train, spec.h)
    start = time.time()
    cp = conformal(neural(spec, None, args.max_steps), spec, n_windows=1, step=spec.h).fit(train)
    print(f"$ python benchmarks/conformal_final.py {' '.join(sys.argv[1:])}\nfit (2 NeuralAR fits) "
          f"{time.time() - start:.0f} s, validation_length_ {cp.model_.validation_length_}", flush=True)
    S = args.num_samples
    raw = scores(cp.model_.predict(spec.h, num_samples=S, seed=0), test, cp.panel_, spec.season_length)
    rows, ref = [("NeuralAR raw", raw, 0.0)], {}
    for refit in (True, "final"):
        t = time.time()
        if refit == "final":                          # the same final model, calibrated on itself
            cp.refit = "final"
            cp._calibrate(cp.panel_, spec.h, spec.h)
        s = scores(cp.predict(spec.h, num_samples=S, seed=0), test, cp.panel_, spec.season_length)
        rows.append((f"Conformal(NeuralAR, refit={refit!r})", s, time.time() - t))
        ref[rows[-1][0]] = raw
    print(f"## {args.dataset} {args.split}\n" + table(rows, ref), flush=True)
    print(f"wall {time.time() - start:.0f} s (1 torch thread, shared 2-core machine)")


if __name__ == "__main__":
    main()
