"""The automatic ``AR()`` (default arguments) on M3 (4 frequencies), M4 Hourly and a simulated panel.

Per frequency: sMAPE (the competition's definition) and MASE (in-sample seasonal naive scale),
as ratios to Naive2 measured in the same run, beside SeasonalNaive; the 95% interval's coverage
and MSIS; fit+forecast time; the share of series differenced (``d = 1``) and seasonally adjusted.

Two splits. ``val``: every training series less its last ``h`` values is fitted and those ``h``
values scored -- the split on which every setting of ``AR()`` was chosen (docs/ar.md). ``test``:
the training files fitted, the test files scored (no setting was chosen on them).

Simulated panel (truth known): random walks with drift (``d = 1`` is right) and stationary AR(2)
series (``d = 0`` is right); the share of right choices.

    python benchmarks/ar_m3.py                          # both splits, ~30 s (M3 via arforecast.datasets.load_m3)
    python benchmarks/ar_m3.py --split test --groups monthly
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
import torch

import arforecast as af
from arforecast.data.frames import to_panel
from arforecast.datasets import load_m3, load_m4_hourly, simulate_ar
from arforecast.evaluation.metrics import coverage, mase, msis, smape

#: (horizon, MASE season) of each group, as the M3 README and M4 define them
GROUPS = {"yearly": (6, 1), "quarterly": (8, 4), "monthly": (18, 12), "other": (8, 1), "m4-hourly": (48, 24)}


def load(group: str, split: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training and scored frames of a group; ``val`` cuts the last ``h`` training values off."""
    h, _ = GROUPS[group]
    if group == "m4-hourly":
        train, test = load_m4_hourly()
    else:
        train, test = load_m3(group)
    if split == "val":                             # the test part is dropped unused
        by = train.groupby("unique_id", sort=False)
        keep = (by.cumcount() < by["y"].transform("size") - h).to_numpy()
        train, test = train[keep], train[~keep]
    return train.reset_index(drop=True), test.reset_index(drop=True)


def _baseline(cls: type, panel: af.Panel, m: int, h: int) -> np.ndarray:
    """``cls(m)`` where a series is long enough for it, ``cls(1)`` otherwise (validation cuts series short)."""
    out = np.empty((panel.n_series, h))
    long_ = panel.lengths >= cls(m).min_length
    for rows, season in ((np.flatnonzero(long_), m), (np.flatnonzero(~long_), 1)):
        if len(rows):
            out[rows] = cls(season).fit(panel.subset(rows)).predict(h).point
    return out


def evaluate(group: str, split: str) -> pd.DataFrame:
    h, m = GROUPS[group]
    train, test = load(group, split)
    panel = to_panel(train)
    y = np.stack([g["y"].to_numpy() for _, g in test.groupby("unique_id", sort=False)])
    assert list(pd.unique(test["unique_id"])) == list(panel.ids)
    insample = [panel.series(i) for i in range(panel.n_series)]
    rows = []
    for name in ("Naive2", "SeasonalNaive", "AR()"):
        start = time.perf_counter()
        extra = {}
        if name == "AR()":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)      # constant series
                model = af.AR().fit(panel)
            fc = model.predict(h)
            point = fc.point
            lo, hi = fc.interval_values(0.95)
            chosen = model.summary()
            extra = {"cov95": np.mean(coverage(y, lo, hi)), "msis": np.mean(msis(y, lo, hi, insample, m)),
                     "d=1": np.mean(chosen["d"] == 1), "adjusted": np.mean(chosen["deseasonalized"]),
                     "mean order": chosen["order"].mean()}
        else:
            point = _baseline(getattr(af, name), panel, m, h)
        rows.append({"split": split, "group": group, "series": panel.n_series, "model": name,
                     "sMAPE": np.mean(smape(y, point)), "MASE": np.mean(mase(y, point, insample, m)),
                     "time_s": time.perf_counter() - start, **extra})
    table = pd.DataFrame(rows)
    ref = table.loc[table.model == "Naive2"].iloc[0]
    table.insert(6, "sMAPE/Naive2", table["sMAPE"] / ref["sMAPE"])
    table.insert(7, "MASE/Naive2", table["MASE"] / ref["MASE"])
    return table


def simulated(n_series: int = 200, seed: int = 0) -> pd.DataFrame:
    """Share of right ``d`` choices on panels whose truth is known (monthly timestamps, no season)."""
    rows = []
    for length in (40, 100, 300):
        for name, kw, right in (("random walk + drift", dict(coefs=[1.0], intercept=0.3), 1),
                                ("stationary AR(2)", dict(coefs=[0.6, -0.3], intercept=1.0), 0)):
            df = simulate_ar(n_series=n_series, length=length, freq="MS", seed=seed + length, **kw)
            d = af.AR().fit(df).d_
            rows.append({"panel": name, "length": length, "right d": np.mean(d == right)})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=["val", "test", "both"], default="both")
    parser.add_argument("--groups", nargs="*", default=list(GROUPS), choices=list(GROUPS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    pd.set_option("display.width", 220, "display.max_columns", 30)
    splits = ["val", "test"] if args.split == "both" else [args.split]
    for split in splits:
        table = pd.concat([evaluate(g, split) for g in args.groups], ignore_index=True)
        print(table.round(3).to_string(index=False), "\n", flush=True)
    print(simulated().round(3).to_string(index=False))


if __name__ == "__main__":
    main()
