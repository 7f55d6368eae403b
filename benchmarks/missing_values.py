"""``AR()`` with missing values: 5% random holes in the training part vs the complete series.

Per data set (M3 monthly, M3 quarterly, M4 Hourly; the competitions' train/test split): sMAPE of
``AR()`` fitted on the complete training series and on the same series with a share of their values
(never the first or last) set to NaN at random, both as ratios to Naive2 on the complete series
measured in the same run; beside them ``AR()`` on the holes filled by linear interpolation first
(what a user had to do before). Simulated panel (truth known): AR(2) series, the mean absolute error
of the estimated coefficients with and without holes.

    python benchmarks/missing_values.py                       # M3 monthly + quarterly, M4 Hourly, simulated
    python benchmarks/missing_values.py --share 0.05 --seeds 0 1 --groups monthly
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
import torch

import arforecast as af
from arforecast.datasets import load_m3, load_m4_hourly, simulate_ar
from arforecast.evaluation.metrics import smape

GROUPS = {"monthly": 18, "quarterly": 8, "m4-hourly": 48}


def punch(train: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    """``train`` with ``share`` of each series' inner values set to NaN at random (a copy)."""
    rng = np.random.default_rng(seed)
    by = train.groupby("unique_id", sort=False)
    k, n = by.cumcount().to_numpy(), by["y"].transform("size").to_numpy()
    inner = (k > 0) & (k < n - 1)
    out = train.copy()
    out.loc[inner & (rng.random(len(out)) < share), "y"] = np.nan
    return out


def score(model: af.Forecaster, train: pd.DataFrame, actual: np.ndarray, h: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        point = model.fit(train).predict(h).point
    return float(np.mean(smape(actual, point))), time.perf_counter() - t0


def run_group(group: str, share: float, seeds: list[int]) -> list[dict]:
    h = GROUPS[group]
    train, test = load_m4_hourly() if group == "m4-hourly" else load_m3(group)
    actual = af.to_panel(test)
    actual = np.stack([actual.series(i)[:h] for i in range(actual.n_series)])
    base, _ = score(af.Naive2(), train, actual, h)
    full, t_full = score(af.AR(), train, actual, h)
    rows = [{"data": group, "case": "complete", "seed": "", "holes": 0, "sMAPE": full, "vs Naive2": full / base,
             "vs complete": 1.0, "seconds": t_full}]
    for seed in seeds:
        holed = punch(train, share, seed)
        n_holes = int(holed["y"].isna().sum())
        s, t = score(af.AR(), holed, actual, h)
        rows.append({"data": group, "case": f"{share:.0%} holes", "seed": seed, "holes": n_holes, "sMAPE": s,
                     "vs Naive2": s / base, "vs complete": s / full, "seconds": t})
        filled = holed.assign(y=holed.groupby("unique_id", sort=False)["y"].transform(lambda v: v.interpolate()))
        s, t = score(af.AR(), filled, actual, h)
        rows.append({"data": group, "case": "holes interpolated first", "seed": seed, "holes": n_holes, "sMAPE": s,
                     "vs Naive2": s / base, "vs complete": s / full, "seconds": t})
    return rows


def simulated(share: float, seeds: list[int]) -> list[dict]:
    truth = np.array([0.5, -0.3])
    df = simulate_ar(list(truth), n_series=200, length=200, intercept=1.0, seed=11)
    full = np.abs(af.AR(p=2).fit(df).coef_ - truth).mean()
    rows = [{"data": "simulated AR(2)", "case": "complete", "seed": "", "coef MAE": full, "vs complete": 1.0}]
    for seed in seeds:
        err = np.abs(af.AR(p=2).fit(punch(df, share, seed)).coef_ - truth).mean()
        rows.append({"data": "simulated AR(2)", "case": f"{share:.0%} holes", "seed": seed, "coef MAE": err,
                     "vs complete": err / full})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--groups", nargs="+", default=list(GROUPS), choices=list(GROUPS))
    parser.add_argument("--share", type=float, default=0.05)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for group in args.groups:
        rows += run_group(group, args.share, args.seeds)
    pd.set_option("display.width", 160)
    print(pd.DataFrame(rows).round(4).to_string(index=False))
    print(pd.DataFrame(simulated(args.share, args.seeds)).round(4).to_string(index=False))


if __name__ == "__main__":
    main()
