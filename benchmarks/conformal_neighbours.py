"""Which calibration forecasts a NeuralAR's conformal intervals should use: one ``Conformal`` fit,
then the raw forecast and the conformal ones calibrated on every calibration forecast
(``local=False``), on those nearest in history length, and on the newest fits (the default for a
global model such as NeuralAR).

    python benchmarks/conformal_neighbours.py m4_hourly 200 validation   # data set, training steps, split
    python benchmarks/conformal_neighbours.py m4_hourly 200 test

``validation`` holds out the last ``h`` values of the train part (the split that chooses);
``test`` fits on the train part and scores the test part.
"""
from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conformal import SPECS, conformal, holdout, load, neural, scores, table  # noqa: E402


def main() -> None:
    name, steps, split = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    spec = SPECS[name]
    train, test = load(name, None)
    if split == "validation":
        train, test = holdout(train, spec.h)
    start = time.time()
    cp = conformal(neural(spec, None, steps), spec).fit(train)
    print(f"$ python benchmarks/conformal_neighbours.py {name} {steps} {split}\nfit {time.time() - start:.0f} s, "
          f"n_local_ {cp.n_local_}", flush=True)
    raw = scores(cp.model_.predict(spec.h, num_samples=100, seed=0), test, cp.panel_, spec.season_length)
    rows, ref = [("NeuralAR raw", raw, 0.0)], {}
    for label, n_local, by in (("local=False", None, None), ("local, by length", cp.n_local_, "length"),
                               ("local, by recency", cp.n_local_, "recency")):
        cp.n_local_, cp.local_by_, cp._local_cache = n_local, by, {}     # same calibration, other neighbours
        s = scores(cp.predict(spec.h, num_samples=100, seed=0), test, cp.panel_, spec.season_length)
        rows.append((f"Conformal(NeuralAR, {label})", s, 0.0))
        ref[rows[-1][0]] = raw
    print(f"## {name} {split}\n" + table(rows, ref), flush=True)
    print(f"wall {time.time() - start:.0f} s (1 torch thread, shared 2-core machine)")


if __name__ == "__main__":
    main()
