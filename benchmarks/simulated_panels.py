"""The two simulated panels of issue 15, whose process is known: do the four NeuralAR
combinations, trained 20 s, beat seasonal naive?

* hourly: 20 series, a calendar daily cycle plus AR(2) noise, 576 training values and 48 to
  forecast (:func:`arforecast.datasets.simulate_hourly_panel`); NeuralAR with ``context_length=96``
  and every other setting at its default;
* daily: 20 series, a calendar weekly cycle plus AR(1) noise, 386 training values and 28 to
  forecast (:func:`arforecast.datasets.simulate_daily_panel`); NeuralAR with every setting at its
  default.

Each series starts at its own hour / weekday. Rows: the reference ``ref SeasonalNaive(m)`` given
the true season (24, 7), ``SeasonalNaive()`` and ``AR()`` with defaults, and the four
``NeuralAR(backbone, values, time_limit=20, seed=0, progress=False)``. Columns: MAE and sMAPE of
the h-step forecasts over the test part (mean over series), their ratios to the reference, and
whether the model beats it (MAE ratio below 1); fit + predict seconds; the error of a model that
raised.

    python benchmarks/simulated_panels.py             # about 3 minutes (8 trainings of 20 s)
    python benchmarks/simulated_panels.py --record    # also write results/simulated_panels.md
    python benchmarks/simulated_panels.py --quick     # 4 series, 0.5-s trainings (smoke test)
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Callable

import numpy as np
import pandas as pd

import arforecast as af
from arforecast.datasets import SIM_DAILY_H, SIM_HOURLY_H, simulate_daily_panel, simulate_hourly_panel
from arforecast.evaluation import metrics

try:
    from benchmarks.measure import measure, report, set_threads
except ImportError:  # run as a script: benchmarks/ itself is on the path
    from measure import measure, report, set_threads  # type: ignore[no-redef]

REFERENCE = "ref SeasonalNaive(m)"
COMBINATIONS = [("conv", "quantized"), ("conv", "continuous"), ("transformer", "quantized"),
                ("transformer", "continuous")]
#: name -> (simulator, horizon, true season, NeuralAR settings besides the defaults)
PANELS: dict[str, tuple[Callable, int, int, dict[str, Any]]] = {
    "hourly": (simulate_hourly_panel, SIM_HOURLY_H, 24, {"context_length": 96}),
    "daily": (simulate_daily_panel, SIM_DAILY_H, 7, {}),
}


def models(m: int, neural: dict[str, Any], time_limit: float) -> dict[str, Callable[[], Any]]:
    out: dict[str, Callable[[], Any]] = {
        REFERENCE: lambda: af.SeasonalNaive(season_length=m),
        "SeasonalNaive()": af.SeasonalNaive,
        "AR()": af.AR,
    }
    for backbone, values in COMBINATIONS:
        out[f"NeuralAR {backbone}-{values}"] = (
            lambda b=backbone, v=values: af.NeuralAR(backbone=b, values=v, time_limit=time_limit, seed=0,
                                                     progress=False, **neural))
    return out


def run(n_series: int = 20, time_limit: float = 20.0, seed: int = 0, verbose: bool = True) -> pd.DataFrame:
    """One row per (panel, model)."""
    rows = []
    for panel, (simulate, h, m, neural) in PANELS.items():
        train, test = simulate(n_series=n_series, h=h, seed=seed)
        settings = ", ".join(f"{k}={v}" for k, v in neural.items()) or "defaults"
        if verbose:
            print(f"== {panel}: {n_series} series, h={h}, true season {m}; NeuralAR {settings}", flush=True)
        for name, factory in models(m, neural, time_limit).items():
            result = measure(factory, train, test, h)
            ok = not result.error
            rows.append({
                "panel": panel, "model": name,
                "MAE": float(np.mean(metrics.mae(result.y, result.point))) if ok else np.nan,
                "sMAPE": float(np.mean(metrics.smape(result.y, result.point))) if ok else np.nan,
                "seconds": result.seconds, "chosen": result.chosen, "error": result.error,
                "warnings": " / ".join(result.warnings)})
            if verbose:
                r = rows[-1]
                print(f"   {name:<32} MAE {r['MAE']:7.3f}  sMAPE {r['sMAPE']:7.3f}  {r['seconds']:6.1f} s  {r['error']}",
                      flush=True)
    table = pd.DataFrame(rows)
    ref = table[table["model"] == REFERENCE].set_index("panel")
    for metric in ("MAE", "sMAPE"):
        table[f"{metric}/SN"] = table[metric] / table["panel"].map(ref[metric])
    table["beats SN"] = np.where(table["MAE/SN"] < 1, "yes", np.where(table["error"] != "", "error", "no"))
    table.loc[table["model"] == REFERENCE, "beats SN"] = "-"
    return table[["panel", "model", "MAE", "sMAPE", "MAE/SN", "sMAPE/SN", "beats SN", "seconds", "chosen",
                  "error", "warnings"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4 series, 0.5-s trainings (smoke test)")
    parser.add_argument("--time-limit", type=float, default=20.0, help="NeuralAR time_limit in seconds")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated panels")
    parser.add_argument("--threads", type=int, default=1, help="torch / BLAS threads")
    parser.add_argument("--record", action="store_true", help="write benchmarks/results/simulated_panels.md and .json")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    n_series, time_limit = (4, 0.5) if args.quick else (20, args.time_limit)
    start = time.perf_counter()
    table = run(n_series, time_limit, args.seed)
    total = time.perf_counter() - start
    command = "python benchmarks/simulated_panels.py " + " ".join(sys.argv[1:] if argv is None else argv)
    report("Simulated panels with a known process: NeuralAR against seasonal naive", command, total,
           (f"{n_series} series per panel (seed {args.seed}); hourly: daily cycle + AR(2), 576 training values, h=48, "
            "NeuralAR `context_length=96`; daily: weekly cycle + AR(1), 386 training values, h=28, NeuralAR defaults. "
            f"NeuralAR `time_limit={time_limit:g}, seed=0`. MAE and sMAPE of the h-step forecasts over the test part; "
            "ratios to `ref SeasonalNaive(m)` (the true season, 24 / 7) of the same run; `beats SN`: MAE ratio below 1."),
           table, ("simulated_panels_quick" if args.quick else "simulated_panels") if args.record else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
