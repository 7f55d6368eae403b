"""EPF day-ahead electricity prices (5 markets, hourly, 2 future-known covariates each).

Protocol (Lago et al. 2021; the data's README): every day at midnight, forecast that day's 24
prices from all prices up to the day before and the covariates (operators' day-ahead forecasts)
up to and including that day. The last 728 days of each market are the test period. Every model
runs through :func:`arforecast.backtest` (``h=24``, ``step=24``, cut-offs at 23:00 of each day):
it is **re-conditioned every day** on the newest prices and **refitted every 7 days** on all the
data before that week (expanding window; ``refit=7``). NeuralAR is fitted once, on the data
before the test period, within ``--neural-time`` seconds of training, and re-conditioned on every
day's history (all days in one batched ``predict``: :func:`day_ahead_global`).

Scores: MAE, RMSE (pooled over all test hours) and rMAE = MAE / MAE of the weekly seasonal naive
(the price 168 hours earlier), measured in the same run.

Models:
* ``SeasonalNaive(168)``: the rMAE reference;
* ``AR``: ``ARX(p=24, seasonal_lags=(48, 168))`` fitted without covariates (equal to
  ``AR(p=24, seasonal_lags=(48, 168), d=0)``);
* ``ARX``: the same target lags plus covariate lags; its settings (covariate lags, day-of-week
  dummies, calibration window) are chosen by MAE on **validation** windows: the 364 days before
  the test period, with models fitted only on data before each validation week. The test period
  takes no part in any choice;
* ``NeuralAR`` without and with covariates (``--neural``).

    ARFORECAST_DATA=/work/shared/datasets python benchmarks/epf.py                 # AR, ARX (~10 min)
    ARFORECAST_DATA=/work/shared/datasets python benchmarks/epf.py --neural-time 120 --markets NP
"""
from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import arforecast as af
from arforecast.models.arx import ARX

MARKETS = ("NP", "PJM", "BE", "FR", "DE")
H = 24
TEST_DAYS = 728
VALIDATION_DAYS = 364
REFIT_EVERY = 7
TARGET = dict(p=24, seasonal_lags=(48, 168))
#: ARX candidates compared on the validation windows: name -> (ARX options, day-of-week dummies, window days)
LAGGED = dict(x_lags={"c1": (0, 24, 168), "c2": (0, 24, 168)})     # calendar dummies at lag 0 only
CANDIDATES = {
    "x lag 0": (dict(x_lags=(0,)), "", None),
    "x lags 0,24,168": (dict(x_lags=(0, 24, 168)), "", None),
    "x lags 0,24,168 + weekday": (LAGGED, "weekday", None),
    "x lags 0,24,168 + weekday, 2-year window": (LAGGED, "weekday", 728),
    "x lags 0,24,168 + weekday, 1-year window": (LAGGED, "weekday", 364),
    "x lags 0,24,168 + weekday + hour, 2-year window": (LAGGED, "weekday hour", 728),
}


def data_dir() -> Path:
    """The EPF folder: ``$ARFORECAST_DATA/epf`` or ``../shared/datasets/epf`` (:func:`arforecast.datasets.find_data`)."""
    from arforecast.datasets import find_data
    return find_data("epf/NP.csv").parent


def load(market: str) -> tuple[pd.Series, pd.DataFrame]:
    """Prices ``y`` and the two covariates ``X`` (columns ``c1``, ``c2``) on an hourly index."""
    raw = pd.read_csv(data_dir() / f"{market}.csv")
    raw.columns = [c.strip() for c in raw.columns]
    index = pd.DatetimeIndex(pd.to_datetime(raw["date"], format="%Y/%m/%d %H:%M"), freq="h")
    y = pd.Series(raw["OT"].to_numpy(dtype=float), index=index, name=market)
    X = pd.DataFrame({"c1": raw.iloc[:, 1].to_numpy(dtype=float), "c2": raw.iloc[:, 2].to_numpy(dtype=float)},
                     index=index)
    return y, X


def weekdays(index: pd.DatetimeIndex) -> pd.DataFrame:
    """Six day-of-week indicators (Monday is the baseline): calendar, known for any future day."""
    dow = index.dayofweek.to_numpy()
    return pd.DataFrame({f"dow{d}": (dow == d).astype(float) for d in range(1, 7)}, index=index)


def hours(index: pd.DatetimeIndex) -> pd.DataFrame:
    """23 hour-of-day indicators (midnight is the baseline): an intercept per hour, as LEAR's
    per-hour models have."""
    hour = index.hour.to_numpy()
    return pd.DataFrame({f"hour{k}": (hour == k).astype(float) for k in range(1, 24)}, index=index)


def day_ahead(model: af.Forecaster, y: pd.Series, X: pd.DataFrame | None, days: int, refit, window_days=None
              ) -> tuple[np.ndarray, np.ndarray, float]:
    """The last ``days`` days of ``y`` forecast day-ahead: ``(actuals, forecasts, seconds)``."""
    first = y.index[-days * H]
    sliding = dict(window="sliding", window_size=window_days * H) if window_days else {}
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = af.backtest(model, y, h=H, step=H, start=first - pd.Timedelta(hours=1), refit=refit, progress=False,
                          X=X, **sliding)
    seconds = time.perf_counter() - t0
    fc = res.forecasts
    assert len(fc) == days * H and fc["ds"].iloc[0] == first, (len(fc), fc["ds"].iloc[0])
    return fc["y"].to_numpy(), fc["mean"].to_numpy(), seconds


def day_ahead_global(model: af.NeuralAR, y: pd.Series, X: pd.DataFrame | None, days: int
                     ) -> tuple[np.ndarray, np.ndarray, float]:
    """A global model fitted once on the data before the last ``days`` days, then re-conditioned
    on every day's history: all days in one ``predict``, one series per day (its last
    ``context_length_`` values before that day's midnight, and the covariates beside them and on
    the day forecast). The same forecasts as a backtest with ``refit=False``, in one batch."""
    cut = len(y) - days * H
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model.fit(y.iloc[:cut], X=None if X is None else X.iloc[:cut])
    width = int(model.context_length_)
    ends = cut + H * np.arange(days)                                  # each day's first hour
    take = ends[:, None] + np.arange(-width, 0)[None, :]
    ids = np.repeat(np.arange(days), width)
    hist = pd.DataFrame({"unique_id": ids, "ds": y.index[take.ravel()], "y": y.to_numpy()[take.ravel()]})
    extra = {}
    if X is not None:
        full = ends[:, None] + np.arange(-width, H)[None, :]
        frame = X.iloc[full.ravel()].reset_index(drop=True)
        frame.insert(0, "ds", X.index[full.ravel()])
        frame.insert(0, "unique_id", np.repeat(np.arange(days), width + H))
        extra = {"X": frame}                                          # history and the day ahead
    point = model.predict(H, y=hist, **extra).point                   # [days, 24]
    seconds = time.perf_counter() - t0
    actual = y.to_numpy()[ends[:, None] + np.arange(H)[None, :]]
    return actual.ravel(), point.ravel(), seconds


def scores(actual: np.ndarray, forecast: np.ndarray, reference_mae: float) -> dict:
    err = actual - forecast
    mae = float(np.mean(np.abs(err)))
    return {"MAE": mae, "RMSE": float(np.sqrt(np.mean(err ** 2))), "rMAE": mae / reference_mae}


def arx_candidate(name: str, X: pd.DataFrame) -> tuple[ARX, pd.DataFrame, int | None]:
    options, calendar, window = CANDIDATES[name]
    if "weekday" in calendar:
        X = X.join(weekdays(X.index))
    if "hour" in calendar:
        X = X.join(hours(X.index))
    return ARX(**TARGET, **options), X, window


def neural(covariates: bool, seconds: float, seed: int = 0) -> af.NeuralAR:
    """A small conv NeuralAR; the same settings with and without covariates (X decides)."""
    return af.NeuralAR("conv", "continuous", context_length=336, max_steps=100_000, time_limit=seconds, seed=seed,
                       device="cpu", progress=False, architecture=dict(d_model=32, n_layers=6),
                       inputs=dict(lags=(168,), periods=(24, 168), ar_lags=(1, 2, 24)),
                       training=dict(window_length=48, batch_size=64))


def run_market(market: str, neural_time: float | None, linear: bool = True) -> dict:
    y, X = load(market)
    out: dict = {"market": market, "test_start": str(y.index[-TEST_DAYS * H]), "validation": {}, "test": {}}
    if not linear:
        return run_neural(market, y, X, neural_time, out)
    # 1. choose the ARX settings on the 364 days before the test period (test data cut off)
    y_train, X_train = y.iloc[:-TEST_DAYS * H], X.iloc[:-TEST_DAYS * H]
    actual, ref, _ = day_ahead(af.SeasonalNaive(168), y_train, None, VALIDATION_DAYS, refit=False)
    ref_mae = float(np.mean(np.abs(actual - ref)))
    for name in CANDIDATES:
        model, Xc, window = arx_candidate(name, X_train)
        a, f, sec = day_ahead(model, y_train, Xc, VALIDATION_DAYS, REFIT_EVERY, window)
        out["validation"][name] = {**scores(a, f, ref_mae), "seconds": sec}
        print(f"  {market} validation {name:45s} MAE {out['validation'][name]['MAE']:.3f}", flush=True)
    chosen = min(out["validation"], key=lambda k: out["validation"][k]["MAE"])
    out["chosen"] = chosen
    # 2. the test period
    actual, ref, sec = day_ahead(af.SeasonalNaive(168), y, None, TEST_DAYS, refit=False)
    ref_mae = float(np.mean(np.abs(actual - ref)))
    out["test"]["SeasonalNaive(168)"] = {**scores(actual, ref, ref_mae), "seconds": sec}
    a, f, sec = day_ahead(ARX(**TARGET), y, None, TEST_DAYS, REFIT_EVERY)
    out["test"]["AR"] = {**scores(a, f, ref_mae), "seconds": sec}
    model, Xc, window = arx_candidate(chosen, X)
    a, f, sec = day_ahead(model, y, Xc, TEST_DAYS, REFIT_EVERY, window)
    out["test"][f"ARX ({chosen})"] = {**scores(a, f, ref_mae), "seconds": sec}
    if neural_time:
        run_neural(market, y, X, neural_time, out, ref_mae)
    report(out)
    return out


def run_neural(market: str, y: pd.Series, X: pd.DataFrame, seconds: float, out: dict,
               ref_mae: float | None = None) -> dict:
    """NeuralAR without and with the two covariates: fitted once on the data before the test
    period (``seconds`` of training each), re-conditioned every day."""
    if ref_mae is None:
        actual, ref, sec = day_ahead(af.SeasonalNaive(168), y, None, TEST_DAYS, refit=False)
        ref_mae = float(np.mean(np.abs(actual - ref)))
        out["test"]["SeasonalNaive(168)"] = {**scores(actual, ref, ref_mae), "seconds": sec}
    for cov in (False, True):
        model = neural(cov, seconds)
        a, f, sec = day_ahead_global(model, y, X if cov else None, TEST_DAYS)
        out["test"]["NeuralAR" + (" + covariates" if cov else "")] = {
            **scores(a, f, ref_mae), "seconds": sec, "steps": int(model.training_.steps),
            "best_step": int(model.training_.best_step)}
    report(out)
    return out


def markdown(results: list[dict]) -> str:
    """One table row per market and model (MAE, RMSE, rMAE), from the JSON this script writes."""
    lines = ["| market | model | MAE | RMSE | rMAE | seconds |", "| --- | --- | --- | --- | --- | --- |"]
    for r in results:
        for name, s in r["test"].items():
            lines.append(f"| {r['market']} | {name} | {s['MAE']:.3f} | {s['RMSE']:.3f} | {s['rMAE']:.3f} "
                         f"| {s['seconds']:.0f} |")
    return "\n".join(lines)


def report(out: dict) -> None:
    market = out["market"]
    for name, s in out["test"].items():
        print(f"  {market} test {name:50s} MAE {s['MAE']:7.3f} RMSE {s['RMSE']:7.3f} rMAE {s['rMAE']:.3f} "
              f"({s['seconds']:.0f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", nargs="*", default=list(MARKETS))
    parser.add_argument("--neural-time", type=float, default=None,
                        help="seconds of NeuralAR training per model and market (omit: no NeuralAR)")
    parser.add_argument("--neural-only", action="store_true", help="only the reference and NeuralAR")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    import torch
    torch.set_num_threads(1)
    results = [run_market(m, args.neural_time, linear=not args.neural_only) for m in args.markets]
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    if args.neural_only:
        return
    print("\nmarket  " + "  ".join(f"{k:>22s}" for k in ("AR rMAE", "ARX rMAE", "ARX MAE")))
    for r in results:
        arx = next(v for k, v in r["test"].items() if k.startswith("ARX"))
        print(f"{r['market']:6s}  {r['test']['AR']['rMAE']:22.3f}  {arx['rMAE']:22.3f}  {arx['MAE']:22.3f}")


if __name__ == "__main__":
    main()
