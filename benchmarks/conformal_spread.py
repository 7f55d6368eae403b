"""Why normalized conformal under-covers a small NeuralAR: its spread depends on where it is cut.

Backtests NeuralAR (the benchmarks/conformal.py configuration for M4 Hourly) at the four
calibration origins that ``Conformal`` uses (192, 144, 96, 48 steps before the end of the train
part, refitted at each) and prints, per origin, the mean interquartile range of its forecasts and
their mean absolute error; then the same for the final fit, scored on the test part.

    python benchmarks/conformal_spread.py --n-series 30 --max-steps 20
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import arforecast as af  # noqa: E402
from conformal import SPECS, load, neural  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-series", type=int, default=30)
    parser.add_argument("--max-steps", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    spec = SPECS["m4_hourly"]
    train, test = load("m4_hourly", args.n_series)
    model = neural(spec, None, args.max_steps)
    res = af.backtest(model, train, h=spec.h, n_windows=4, step=spec.step, refit=True, quantiles=[0.25, 0.75],
                      num_samples=100, seed=0, progress=False)
    f = res.forecasts
    n = train["unique_id"].nunique()
    window = np.repeat(np.tile(np.arange(4), n), spec.h)
    print(f"$ python benchmarks/conformal_spread.py --n-series {args.n_series} --max-steps {args.max_steps}")
    print(f"{'origin':>28s} {'mean IQR':>10s} {'mean |error|':>13s}")
    for w in range(4):
        sel = window == w
        iqr = (f["q0.75"] - f["q0.25"]).to_numpy()[sel].mean()
        err = np.abs(f["y"] - f["mean"]).to_numpy()[sel].mean()
        print(f"{f'{(4 - w) * spec.step} steps before the end':>28s} {iqr:10.1f} {err:13.1f}")
    fc = model.fit(train).predict(spec.h, num_samples=100, seed=0)
    y = test["y"].to_numpy().reshape(n, spec.h)
    lo, hi = fc.quantile_values([0.25, 0.75])
    print(f"{'final fit, test part':>28s} {np.mean(hi - lo):10.1f} {np.mean(np.abs(y - fc.point)):13.1f}")


if __name__ == "__main__":
    main()
