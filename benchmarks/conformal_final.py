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
from conformal import SPECS, compare_calibrations, conformal, neural, split_data  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=list(SPECS))
    parser.add_argument("split", choices=("validation", "test"))
    parser.add_argument("--max-steps", type=int, default=200, help="NeuralAR training steps per fit")
    parser.add_argument("--num-samples", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    spec, train, test = split_data(args.dataset, args.split)
    start = time.time()
    cp = conformal(neural(spec, None, args.max_steps), spec, n_windows=1, step=spec.h, refit=True,
                   spread_level=0.5).fit(train)          # the recorded figures' interquartile-range scale
    print(f"$ python benchmarks/conformal_final.py {' '.join(sys.argv[1:])}\nfit (2 NeuralAR fits) "
          f"{time.time() - start:.0f} s, validation_length_ {cp.model_.validation_length_}", flush=True)

    def final() -> None:                              # the same final model, calibrated on itself
        cp.refit = "final"
        cp._calibrate(cp.panel_, spec.h, spec.h)
    compare_calibrations(cp, "NeuralAR", [("refit=True", lambda: None), ("refit='final'", final)], spec, test,
                         args.num_samples, f"{args.dataset} {args.split}", start)

if __name__ == "__main__":
    main()
