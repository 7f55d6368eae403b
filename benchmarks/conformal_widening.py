"""Can a marginal calibration reach 95% coverage without raising MSIS? Widen a model's own 95%
intervals by a common factor ``c`` (every series, every step) and watch coverage and MSIS.

Split conformal with pooled scores (``Conformal(method="normalized")``) can only move a model's
intervals this way: one factor per step for every series. When MSIS rises as ``c`` grows from 1
while coverage is still under 0.95, the model's misses sit in a few series whose errors no
proportional widening reaches (level shifts), and widening the others costs more width than it
saves in misses: no pooled calibration reaches the level there without a higher MSIS. Three
widenings are compared: the model's own interval scaled about the point forecast (keeping its
skew), a symmetric interval of the same total width, and a normal interval from the model's
interquartile range.

Validation split only (the last ``h`` training values held out); the test part takes no part.

    python benchmarks/conformal_widening.py m3_monthly neural --max-steps 1000    # NeuralAR()
    python benchmarks/conformal_widening.py m4_hourly ar                          # AR()
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import arforecast as af  # noqa: E402
from arforecast.evaluation import metrics as M  # noqa: E402
from conformal import LEVEL, SPECS, split_data  # noqa: E402

FACTORS = (0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=list(SPECS))
    parser.add_argument("model", choices=("ar", "neural"), help="AR() or NeuralAR() with their defaults")
    parser.add_argument("--max-steps", type=int, default=1000, help="NeuralAR training steps")
    parser.add_argument("--num-samples", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    start = time.time()
    spec, train, held = split_data(args.dataset, "validation")
    model = af.AR() if args.model == "ar" else af.NeuralAR(max_steps=args.max_steps, seed=0, progress=False)
    model.fit(train)
    fc = model.predict(spec.h, num_samples=args.num_samples, seed=0)
    y = np.stack([g["y"].to_numpy() for _, g in held.groupby(pd.Categorical(held["unique_id"], list(fc.ids)),
                                                              observed=True, sort=True)])
    lo, q25, q75, hi = fc.quantile_values([(1 - LEVEL) / 2, 0.25, 0.75, (1 + LEVEL) / 2])
    point = fc.point
    scale = M.seasonal_scale(af.to_panel(train), season_length=spec.season_length)
    ok = scale > 0

    def msis_coverage(lower: np.ndarray, upper: np.ndarray) -> str:
        msis = (np.mean(M.interval_score(y, lower, upper, level=LEVEL), axis=1)[ok] / scale[ok]).mean()
        return f"{msis:8.3f} {np.mean((y >= lower) & (y <= upper)):8.3f}"

    half = (hi - lo) / 2
    z = 2 * 1.959964 / 1.348980                   # normal 95% width over its interquartile range
    print(f"$ python benchmarks/conformal_widening.py {' '.join(sys.argv[1:])}\n## {args.dataset} validation, "
          f"{type(model).__name__}(): upper / lower tail of its 95% interval about the point, median "
          f"{np.median((hi - point) / np.maximum(point - lo, 1e-12)):.3f}; 95% width / IQR, median "
          f"{np.median(((hi - lo) / (q75 - q25))[q75 > q25]):.3f} (where the IQR is positive: {np.mean(q75 > q25):.1%})")
    print(f"{'c':>4s} {'own shape: MSIS':>16s} {'cov':>8s} {'symmetric: MSIS':>16s} {'cov':>8s} "
          f"{'normal from IQR: MSIS':>22s} {'cov':>8s}")
    for c in FACTORS:
        own = msis_coverage(point - c * (point - lo), point + c * (hi - point))
        sym = msis_coverage(point - c * half, point + c * half)
        iqr = msis_coverage(point - c * z / 2 * (q75 - q25), point + c * z / 2 * (q75 - q25))
        print(f"{c:4.1f} {own:>25s} {sym:>25s} {iqr:>31s}")
    print(f"wall {time.time() - start:.0f} s (1 torch thread, shared 2-core machine)")


if __name__ == "__main__":
    main()
