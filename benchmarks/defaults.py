"""Every model with its DEFAULT arguments on M3 (yearly, quarterly, monthly, other) and M4 Hourly.

What a new user gets from ``Model()`` on data that is not hourly (issue 15). Each model is fitted
on the training part of a data set and forecasts its test horizon (M3: 6, 8, 18, 8; M4 Hourly: 48);
nothing is tuned. Per (data set, model): sMAPE as M3 defines it (mean over horizons and series of
``200 |y - f| / (|y| + |f|)``), MASE scaled by the in-sample seasonal-naive error of the data set's
season (M3: 1, 4, 12, 1; M4 Hourly: 24), both as ratios to the reference ``Naive2(m)`` (Naive2 given
the data set's season) of the same run, fit + predict seconds, what the defaults chose (fitted
attributes such as ``season_length_`` or ``order_``, when the model has them), and the error
message of a model that raised or forecast NaN (the run goes on). The reference rows
``ref Naive2(m)`` and ``ref SeasonalNaive(m)`` are given the season explicitly; every other row uses
defaults only. "all M3" is the mean over the 3,003 series of each series' sMAPE / MASE (the M3
paper's "average of all horizons" weights horizons instead, so its pooled figures differ).

    python benchmarks/defaults.py                     # all series, NeuralAR 60 s per data set
    python benchmarks/defaults.py --skip-neural       # the fast models only (about a minute)
    python benchmarks/defaults.py --neural-seconds 120 --record   # also write results/defaults.md
    python benchmarks/defaults.py --quick             # 6 series per data set, NeuralAR 1 s (smoke test)
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Callable

import numpy as np
import pandas as pd

import arforecast as af
from arforecast.datasets import (M3_GROUPS, M3_HORIZONS, M3_SEASONS, M4_HOURLY_HORIZON, M4_HOURLY_SEASONALITY,
                                 load_m3, load_m4_hourly)
from arforecast.evaluation import metrics

try:
    from benchmarks.measure import Measured, measure, report, set_threads
except ImportError:  # run as a script: benchmarks/ itself is on the path
    from measure import Measured, measure, report, set_threads  # type: ignore[no-redef]

REFERENCE = "ref Naive2(m)"
POOLED = "all M3"


def datasets() -> dict[str, tuple[Callable[[int | None], tuple[pd.DataFrame, pd.DataFrame]], int, int]]:
    """name -> (loader taking n_series, horizon h, season m for MASE and the references)."""
    out: dict[str, Any] = {f"M3 {g}": ((lambda n, g=g: load_m3(g, n)), M3_HORIZONS[g], M3_SEASONS[g])
                           for g in M3_GROUPS}
    out["M4 Hourly"] = (load_m4_hourly, M4_HOURLY_HORIZON, M4_HOURLY_SEASONALITY)
    return out


def models(m: int, neural_seconds: float | None) -> dict[str, Callable[[], Any]]:
    """The references (season ``m`` given) and every model with its default arguments."""
    out: dict[str, Callable[[], Any]] = {
        REFERENCE: lambda: af.Naive2(season_length=m),
        "ref SeasonalNaive(m)": lambda: af.SeasonalNaive(season_length=m),
        "Naive()": af.Naive, "SeasonalNaive()": af.SeasonalNaive, "Naive2()": af.Naive2,
        "Mean()": af.Mean, "Drift()": af.Drift, "AR()": af.AR,
    }
    if neural_seconds is not None:
        out[f"NeuralAR(time_limit={neural_seconds:g})"] = lambda: af.NeuralAR(time_limit=neural_seconds,
                                                                               progress=False, seed=0)
    return out


def _errors(run: Measured, insample: af.Panel, m: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-series sMAPE and MASE, or None when the model failed."""
    if run.error:
        return None
    return metrics.smape(run.y, run.point), metrics.mase(run.y, run.point, insample, m)


def _row(dataset: str, model: str, n: int, m: int, errs: tuple | None, seconds: float, error: str,
         chosen: str = "", warned: list[str] | None = None) -> dict[str, Any]:
    smape, mase = (np.nan, np.nan) if errs is None else (float(np.mean(errs[0])), float(np.mean(errs[1])))
    return {"data set": dataset, "series": n, "m": m, "model": model, "sMAPE": smape, "MASE": mase,
            "seconds": seconds, "chosen": chosen, "error": error, "warnings": " / ".join(warned or [])}


def _add_ratios(table: pd.DataFrame) -> pd.DataFrame:
    ref = table[table["model"] == REFERENCE].set_index("data set")
    out = table.copy()
    for metric in ("sMAPE", "MASE"):
        out[f"{metric}/Naive2"] = out[metric] / out["data set"].map(ref[metric])
    cols = ["data set", "series", "m", "model", "sMAPE", "MASE", "sMAPE/Naive2", "MASE/Naive2", "seconds",
            "chosen", "error", "warnings"]
    return out[cols]


def run(n_series: int | None = None, neural_seconds: float | None = 60.0, only: list[str] | None = None,
        verbose: bool = True) -> pd.DataFrame:
    """The table: one row per (data set, model), then the pooled "all M3" rows."""
    rows = []
    pooled: dict[str, list] = {}
    for name, (load, h, m) in datasets().items():
        if only and name not in only:
            continue
        train, test = load(n_series)
        insample = af.to_panel(train)
        if verbose:
            print(f"== {name}: {insample.n_series} series, h={h}, m={m}", flush=True)
        for model_name, factory in models(m, neural_seconds).items():
            result = measure(factory, train, test, h)
            errs = _errors(result, insample, m)
            rows.append(_row(name, model_name, insample.n_series, m, errs, result.seconds, result.error,
                             result.chosen, result.warnings))
            if verbose:
                r = rows[-1]
                print(f"   {model_name:<28} sMAPE {r['sMAPE']:8.3f}  MASE {r['MASE']:7.3f}  {r['seconds']:7.1f} s"
                      f"  {r['error']}", flush=True)
            if name.startswith("M3 "):
                pooled.setdefault(model_name, []).append((name, errs, result.seconds, insample.n_series))
    for model_name, parts in pooled.items():
        failed = [name for name, errs, _, _ in parts if errs is None]
        errs = None if failed else tuple(np.concatenate([e[k] for _, e, _, _ in parts]) for k in (0, 1))
        rows.append(_row(POOLED, model_name, sum(p[3] for p in parts), 0, errs, sum(p[2] for p in parts),
                         f"failed on {', '.join(failed)}" if failed else ""))
    table = pd.DataFrame(rows)
    table.loc[table["data set"] == POOLED, "m"] = "-"
    return _add_ratios(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="6 series per data set, NeuralAR 1 s (smoke test)")
    parser.add_argument("--neural-seconds", type=float, default=60.0, help="NeuralAR time_limit per data set")
    parser.add_argument("--skip-neural", action="store_true", help="leave NeuralAR out")
    parser.add_argument("--n-series", type=int, default=None, help="first n series of each data set")
    parser.add_argument("--datasets", nargs="*", choices=list(datasets()), help="only these data sets")
    parser.add_argument("--threads", type=int, default=1, help="torch / BLAS threads")
    parser.add_argument("--record", action="store_true", help="write benchmarks/results/defaults.md and .json")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    n_series = 6 if args.quick and args.n_series is None else args.n_series
    neural = None if args.skip_neural else (1.0 if args.quick else args.neural_seconds)
    start = time.perf_counter()
    table = run(n_series, neural, args.datasets)
    total = time.perf_counter() - start
    command = "python benchmarks/defaults.py " + " ".join(sys.argv[1:] if argv is None else argv)
    report("Every model with its default arguments (M3 and M4 Hourly)", command, total,
           ("Fit on the training part, forecast the test horizon; sMAPE (M3's definition) and MASE (in-sample "
            "seasonal-naive scale, season m) averaged over series, and their ratios to `ref Naive2(m)` of the same run. "
            "The two `ref` rows are given the season m; every other model runs with its defaults. seconds: fit + predict. "
            "chosen: fitted attributes that show what the defaults became. \"all M3\": mean over the 3,003 series of each "
            "series' figure. error: the message of a model that raised or forecast NaN; warnings: those it emitted."),
           table, ("defaults_quick" if args.quick else "defaults") if args.record else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
