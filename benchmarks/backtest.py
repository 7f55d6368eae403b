"""Backtest machinery overhead: ``af.backtest`` against a hand-written fit+predict loop, and against
statsforecast's ``cross_validation``, on M4 Hourly (AR(p=24), 10 windows of h=48), in one run.

* overhead: the same windows forecast by a plain loop over ``Panel.head`` cuts (``refit=True``:
  fit+predict at every cut-off; ``refit=False``: fit once, then ``predict(h, y=history)``) and by
  ``af.backtest(..., n_jobs=1)``; the forecasts must agree exactly. Goal: ratio <= 1.2.
* peer: statsforecast's ``cross_validation`` with ``AutoRegressive(lags=24, method="CSS")`` on a
  subset of series (it fits each series and window with an optimizer, far slower than least
  squares, and does not give the same estimates: an ARIMA(p,0,0) by conditional sum of squares,
  not the exact OLS AR(p); compare the times, not the forecasts).

    python benchmarks/backtest.py            # all 414 series; statsforecast on 20 series
    python benchmarks/backtest.py --quick    # 40 series, 3 windows; statsforecast on 2 series
"""
from __future__ import annotations

import argparse
import importlib.util
import time
import warnings
from typing import Callable

import numpy as np
import pandas as pd

import arforecast as af
from arforecast.datasets import M4_HOURLY_HORIZON as H, load_m4_hourly

P = 24


def model_factory() -> tuple[Callable[[], af.Forecaster], str]:
    """AR(p=24) with an intercept, or SeasonalNaive(24) while AR is not available."""
    if hasattr(af, "AR"):
        return (lambda: af.AR(p=P, trend="c")), f"AR(p={P})"
    return (lambda: af.SeasonalNaive(24)), "SeasonalNaive(24) (AR not available)"


def hand_loop(make: Callable[[], af.Forecaster], panel: af.Panel, h: int, n_windows: int, step: int,
              refit: bool) -> np.ndarray:
    """The plain loop a user would write: ``[n_windows, n_series, h]`` point forecasts."""
    out = []
    model = None
    for w in range(n_windows):
        history = panel.head(panel.lengths - h - (n_windows - 1 - w) * step)
        if refit or model is None:
            model = make().fit(history)
            out.append(model.predict(h).point)
        else:
            out.append(model.predict(h, y=history).point)
    return np.stack(out)


def _timed(fn: Callable) -> tuple[float, float, object]:
    """``(wall seconds, CPU seconds of this process, result)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def overhead(make: Callable, panel: af.Panel, n_windows: int, repeats: int) -> list[dict]:
    """Best of ``repeats`` interleaved runs of the hand loop and of ``backtest`` (wall and CPU time:
    on a shared machine the CPU time of this process is the steadier figure)."""
    rows = []
    for refit in (True, False):
        best = {k: np.inf for k in ("hand", "hand_cpu", "bt", "bt_cpu", "frame")}
        for _ in range(repeats):
            wall, cpu, hand = _timed(lambda: hand_loop(make, panel, H, n_windows, H, refit))
            best["hand"], best["hand_cpu"] = min(best["hand"], wall), min(best["hand_cpu"], cpu)
            wall, cpu, res = _timed(lambda: af.backtest(make(), panel, h=H, n_windows=n_windows, step=H,
                                                        refit=refit, n_jobs=1, progress=False))
            best["bt"], best["bt_cpu"] = min(best["bt"], wall), min(best["bt_cpu"], cpu)
            best["frame"] = min(best["frame"], _timed(lambda: res.forecasts)[0])
        got = res._point.reshape(panel.n_series, n_windows, H).transpose(1, 0, 2)
        np.testing.assert_array_equal(got, hand)   # same windows, same forecasts
        rows.append({"refit": str(refit), "hand loop s": best["hand"], "backtest s": best["bt"],
                     "ratio (wall)": best["bt"] / best["hand"], "ratio (CPU)": best["bt_cpu"] / best["hand_cpu"],
                     ".forecasts frame s": best["frame"]})
    return rows


def versus_statsforecast(make: Callable, train: pd.DataFrame, n_windows: int) -> list[dict]:
    from statsforecast import StatsForecast
    from statsforecast.models import AutoRegressive

    def sf_run(df, refit, windows):
        sf = StatsForecast(models=[AutoRegressive(lags=P, method="CSS")], freq="h", n_jobs=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")    # its optimizer's convergence warnings
            return sf.cross_validation(df=df, h=H, n_windows=windows, step_size=H, refit=refit)

    first = train["unique_id"].iloc[0]
    sf_run(train[train["unique_id"] == first], True, 1)   # numba compilation outside the timing
    rows = []
    for refit in (True, False):
        start = time.perf_counter()
        sf_run(train, refit, n_windows)
        sf_s = time.perf_counter() - start
        start = time.perf_counter()
        af.backtest(make(), train, h=H, n_windows=n_windows, step=H, refit=refit, n_jobs=1, progress=False).forecasts
        ours = time.perf_counter() - start
        rows.append({"refit": str(refit), "series": int(train["unique_id"].nunique()), "backtest s": ours,
                     "statsforecast s": sf_s, "speed-up": sf_s / ours})
    return rows


def run(suite: str = "quick", verbose: bool = True) -> dict:
    quick = suite == "quick"
    n_series, n_windows, repeats, n_peer = (40, 3, 2, 2) if quick else (None, 10, 7, 20)
    make, name = model_factory()
    train, _ = load_m4_hourly(n_series)          # the M4 test part is never touched
    panel = af.to_panel(train)
    tables = {f"overhead against a hand-written loop (n_jobs=1, best of {repeats})":
              overhead(make, panel, n_windows, repeats)}
    if verbose:
        print(pd.DataFrame(next(iter(tables.values()))).round(3).to_string(index=False), flush=True)
    notes = ""
    if importlib.util.find_spec("statsforecast") is not None:
        ids = pd.unique(train["unique_id"])[:n_peer]
        peer = versus_statsforecast(make, train[train["unique_id"].isin(ids)], n_windows)
        tables[f"against statsforecast cross_validation, AutoRegressive({P}, CSS), {n_peer} series"] = peer
        notes = ("statsforecast's AutoRegressive is an ARIMA(p,0,0) fitted by an optimizer (CSS), not the "
                 "exact least-squares AR(p): its forecasts differ, so only the times compare.")
        if verbose:
            print(pd.DataFrame(peer).round(3).to_string(index=False), flush=True)
    return {"title": "Backtest overhead", "name": "backtest", "model": name, "n_series": int(panel.n_series),
            "n_windows": n_windows, "horizon": H,
            "description": f"{name} on M4 Hourly ({panel.n_series} series), {n_windows} windows of h={H}, step {H}.",
            "tables": tables, "notes": notes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 series, 3 windows; statsforecast on 2 series")
    args = parser.parse_args()
    run("quick" if args.quick else "full")


if __name__ == "__main__":
    main()
