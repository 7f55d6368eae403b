"""M3 (3,003 series, 4 frequencies): the automatic ``AR()`` beside Naive2, seasonal naive and
statsforecast's AutoETS, AutoTheta and AutoARIMA, all measured in the same run.

Per frequency and over all 3,003 series (mean of each series' figure): sMAPE (the competition's
definition), MASE (in-sample seasonal naive scale), both as ratios to Naive2 of the same run; the
95% interval's coverage and MSIS (models with intervals); fit + forecast seconds. Nothing of the
test part is cached or used to choose anything.

Two splits. ``test``: the training files fitted, the test files scored. ``val``: every training
series less its last ``h`` values fitted and those ``h`` values scored; every setting of ``AR()``
was chosen on this split (docs/ar.md), never on ``test``.

Also the simulated panel whose truth is known: random walks with drift (``d = 1`` is right) and
stationary AR(2) series (``d = 0`` is right), the share of right choices and AR()'s sMAPE against
the true model's forecasts.

    OMP_NUM_THREADS=1 python benchmarks/m3.py                    # everything (AutoETS/AutoARIMA: many minutes)
    python benchmarks/m3.py --skip-slow                          # without AutoETS and AutoARIMA
    python benchmarks/m3.py --models AR --split val              # AR() and the naive references only
    python benchmarks/m3.py --groups monthly --models AR AutoTheta
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from typing import Callable

import numpy as np
import pandas as pd

import arforecast as af
from arforecast.datasets import M3_GROUPS, M3_HORIZONS, M3_SEASONS, load_m3, simulate_ar
from arforecast.evaluation.metrics import coverage, mase, msis, smape

try:
    from benchmarks.measure import machine, markdown, set_threads
except ImportError:  # run as a script: benchmarks/ itself is on the path
    from measure import machine, markdown, set_threads  # type: ignore[no-redef]

REFERENCE = "Naive2"
#: statsforecast models and whether they are slow (left out by --skip-slow)
STATSFORECAST = {"AutoETS": True, "AutoTheta": False, "AutoARIMA": True}
MODELS = ("Naive2", "SeasonalNaive", "AR") + tuple(STATSFORECAST)
LEVEL = 0.95


def load(group: str, split: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training and scored frames of a group; ``val`` cuts the last ``h`` training values off
    (and never reads the test file)."""
    h = M3_HORIZONS[group]
    train, test = load_m3(group)
    if split == "val":
        by = train.groupby("unique_id", sort=False)
        keep = (by.cumcount() < by["y"].transform("size") - h).to_numpy()
        train, test = train[keep], train[~keep]
    return train.reset_index(drop=True), test.reset_index(drop=True)


def _naive(cls: type, panel: af.Panel, m: int, h: int) -> tuple[np.ndarray, None, None]:
    """``cls(m)`` where a series is long enough, ``cls(1)`` otherwise (validation cuts series short)."""
    out = np.empty((panel.n_series, h))
    long_ = panel.lengths >= cls(m).min_length
    for rows, season in ((np.flatnonzero(long_), m), (np.flatnonzero(~long_), 1)):
        if len(rows):
            out[rows] = cls(season).fit(panel.subset(rows)).predict(h).point
    return out, None, None


def _ar(panel: af.Panel, m: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)       # constant series
        fc = af.AR().fit(panel).predict(h)
    lo, hi = fc.interval_values(LEVEL)
    return fc.point, lo, hi


def _statsforecast(name: str, train: pd.DataFrame, ids: list, m: int, h: int) -> tuple[np.ndarray, ...]:
    """One statsforecast model (season ``m``) on integer time steps, one process (n_jobs=1)."""
    import statsforecast
    import statsforecast.models as sf_models
    frame = train.assign(ds=train.groupby("unique_id", sort=False).cumcount())
    model = getattr(sf_models, name)(season_length=m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = statsforecast.StatsForecast(models=[model], freq=1, n_jobs=1).forecast(
            df=frame, h=h, level=[int(LEVEL * 100)])
    out = out.set_index("unique_id").loc[ids]
    level = int(LEVEL * 100)
    shape = (len(ids), h)
    return tuple(out[c].to_numpy().reshape(shape) for c in (name, f"{name}-lo-{level}", f"{name}-hi-{level}"))


def evaluate(group: str, split: str, names: list[str]) -> list[dict]:
    h, m = M3_HORIZONS[group], M3_SEASONS[group]
    train, test = load(group, split)
    panel = af.to_panel(train)
    ids = list(panel.ids)
    y = np.stack([g["y"].to_numpy() for _, g in test.groupby("unique_id", sort=False)])
    assert list(pd.unique(test["unique_id"])) == ids
    insample = [panel.series(i) for i in range(panel.n_series)]
    runs: dict[str, Callable[[], tuple]] = {
        "Naive2": lambda: _naive(af.Naive2, panel, m, h),
        "SeasonalNaive": lambda: _naive(af.SeasonalNaive, panel, m, h),
        "AR": lambda: _ar(panel, m, h),
    }
    for name in STATSFORECAST:
        runs[name] = lambda name=name: _statsforecast(name, train, ids, m, h)
    rows = []
    for name in [REFERENCE] + [n for n in names if n != REFERENCE]:
        start = time.perf_counter()
        point, lo, hi = runs[name]()
        seconds = time.perf_counter() - start
        row = {"split": split, "group": group, "model": name, "smape": smape(y, point),
               "mase": mase(y, point, insample, m), "seconds": seconds,
               "cov": None if lo is None else coverage(y, lo, hi),
               "msis": None if lo is None else msis(y, lo, hi, insample, m, LEVEL)}
        rows.append(row)
        print(f"  {split} {group:<9} {name:<14} sMAPE {np.mean(row['smape']):7.3f}  MASE {np.mean(row['mase']):6.3f}"
              f"  {seconds:7.1f} s", flush=True)
    return rows


def table(rows: list[dict]) -> pd.DataFrame:
    """Per (split, group, model) the means; then "all" (mean over every series); ratios to Naive2."""
    frame = pd.DataFrame(rows)
    pooled = []
    for (split, model), part in frame.groupby(["split", "model"], sort=False):
        if set(part["group"]) != set(M3_GROUPS):
            continue
        cat = (lambda k: None if part[k].isna().any() or any(v is None for v in part[k])
               else np.concatenate(list(part[k])))
        pooled.append({"split": split, "group": "all", "model": model, "smape": cat("smape"), "mase": cat("mase"),
                       "seconds": part["seconds"].sum(), "cov": cat("cov"), "msis": cat("msis")})
    frame = pd.concat([frame, pd.DataFrame(pooled)], ignore_index=True)
    out = frame[["split", "group", "model"]].copy()
    out["series"] = [len(v) for v in frame["smape"]]
    for k in ("smape", "mase", "cov", "msis"):
        out[{"smape": "sMAPE", "mase": "MASE", "cov": "cov95", "msis": "MSIS"}[k]] = [
            np.nan if v is None else float(np.mean(v)) for v in frame[k]]
    ref = out[out["model"] == REFERENCE].set_index(["split", "group"])
    key = list(zip(out["split"], out["group"]))
    out["sMAPE/Naive2"] = out["sMAPE"].to_numpy() / ref.loc[key, "sMAPE"].to_numpy()
    out["MASE/Naive2"] = out["MASE"].to_numpy() / ref.loc[key, "MASE"].to_numpy()
    out["seconds"] = frame["seconds"]
    return out


def simulated(n_series: int = 200, seed: int = 0, h: int = 12) -> pd.DataFrame:
    """Panels whose truth is known (monthly timestamps, no season): the share of right ``d``, and
    AR()'s mean absolute error over ``h`` steps relative to the true process' forecast."""
    rows = []
    for length in (40, 100, 300):
        for name, coefs, c, right in (("random walk + drift", [1.0], 0.3, 1), ("stationary AR(2)", [0.6, -0.3], 1.0, 0)):
            df = simulate_ar(coefs, n_series=n_series, length=length + h, intercept=c, freq="MS", seed=seed + length)
            by = df.groupby("unique_id", sort=False)
            keep = (by.cumcount() < length).to_numpy()
            train = df[keep]
            y = df[~keep]["y"].to_numpy().reshape(-1, h)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                model = af.AR().fit(train)
                point = model.predict(h).point
                truth = af.AR(p=len(coefs)).fit(train)            # the right order (estimated)
            if right == 1:
                last = train.groupby("unique_id", sort=False)["y"].last().to_numpy()
                oracle = last[:, None] + c * np.arange(1, h + 1)[None, :]
            else:
                oracle = truth.predict(h).point
            rows.append({"panel": name, "length": length, "right d": np.mean(model.d_ == right),
                         "MAE AR()": np.mean(np.abs(y - point)), "MAE/true model": np.mean(np.abs(y - point))
                         / np.mean(np.abs(y - oracle))})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=["val", "test", "both"], default="test")
    parser.add_argument("--groups", nargs="*", default=list(M3_GROUPS), choices=list(M3_GROUPS))
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--skip-slow", action="store_true", help="leave AutoETS and AutoARIMA out")
    parser.add_argument("--no-simulated", action="store_true", help="leave the simulated panel out")
    parser.add_argument("--threads", type=int, default=1, help="torch / BLAS threads")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    names = [n for n in args.models if not (args.skip_slow and STATSFORECAST.get(n, False))]
    start = time.perf_counter()
    rows = []
    for split in (["val", "test"] if args.split == "both" else [args.split]):
        for group in args.groups:
            rows += evaluate(group, split, names)
    out = table(rows)
    command = "python benchmarks/m3.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"\nCommand: `{command.strip()}` ({time.perf_counter() - start:.0f} s); {machine()}.\n")
    print(markdown(out))
    if not args.no_simulated:
        print("\nSimulated panels (truth known):\n")
        print(markdown(simulated()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
