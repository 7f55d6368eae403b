"""The README's main job: M4 Hourly end to end, from fitting to pictures.

1. fit the baselines, AR and (optionally) a small NeuralAR on the M4 Hourly train part, forecast
   48 hours and score them on the test part (sMAPE, MASE, OWA, MSIS, coverage, WQL);
2. backtest SeasonalNaive and AR over three rolling windows of the train part;
3. draw a fan chart of a few series; 4. detect anomalies in NAB's NYC taxi series and draw them.
"""
from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

#: NAB's labelled anomaly windows for nyc_taxi.csv (from NAB's combined_windows.json)
NYC_TAXI_WINDOWS = [("2014-10-30 15:30", "2014-11-03 22:30"), ("2014-11-25 12:00", "2014-11-29 19:00"),
                    ("2014-12-23 11:30", "2014-12-27 18:30"), ("2014-12-29 21:30", "2015-01-03 04:30"),
                    ("2015-01-24 20:30", "2015-01-29 03:30")]


def _step(k: int, total: int, text: str) -> float:
    _say(f"[{k}/{total}] {text}")
    return time.perf_counter()


_QUIET = [False]


def _say(text: str) -> None:
    if not _QUIET[0]:
        print(text, flush=True)


def _models(neural_seconds: float | None, progress: bool = True) -> dict:
    import arforecast as af
    models = {
        "SeasonalNaive": af.SeasonalNaive(24),
        "Naive": af.Naive(),
        "Drift": af.Drift(),
        "AR(48)": af.AR(p=48, trend="c"),
        "AR(24)+seasonal lags": af.AR(p=24, seasonal_lags=(48, 168), trend="n"),
    }
    if neural_seconds:
        models["NeuralAR (small)"] = af.NeuralAR(backbone="conv", values="continuous", time_limit=neural_seconds,
                                                 max_steps=100_000, seed=0, progress=progress)
    return models


def run_demo(out: str, n_series: int | None = None, neural_seconds: float | None = 60.0,
             quiet: bool = False) -> int:
    """Run the four steps above and write everything into the folder ``out`` (``quiet``: print nothing)."""
    _QUIET[0] = quiet
    import matplotlib
    matplotlib.use("Agg")
    import arforecast as af
    from arforecast.anomaly import plot_anomalies
    from arforecast.datasets import find_data, load_m4_hourly
    from arforecast.evaluation.m4 import m4_hourly_table

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    total, started = 4, time.perf_counter()

    models = _models(neural_seconds, progress=not quiet)
    t = _step(1, total, f"M4 Hourly, h=48: {', '.join(models)} and Naive2 (the OWA reference)")
    table = m4_hourly_table(models, n_series=n_series, num_samples={"NeuralAR (small)": 20})
    table.to_csv(folder / "m4_hourly_scores.csv")
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        _say(table.round(3).to_string())
    _say(f"      -> {folder / 'm4_hourly_scores.csv'} ({time.perf_counter() - t:.0f} s)")

    train, test = load_m4_hourly(n_series)
    t = _step(2, total, "backtest on the train part: 3 windows of 48 hours, SeasonalNaive and AR(24)+seasonal lags")
    rows = []
    for name in ("SeasonalNaive", "AR(24)+seasonal lags"):
        result = af.backtest(models[name], train, h=48, n_windows=3, levels=(0.95,), season_length=24,
                             n_jobs=1, progress=False)
        rows.append(result.metrics().assign(model=name))
    bt = pd.concat(rows).set_index("model")
    bt.to_csv(folder / "backtest_scores.csv")
    _say(bt.round(3).to_string())
    _say(f"      -> {folder / 'backtest_scores.csv'} ({time.perf_counter() - t:.0f} s)")

    t = _step(3, total, "fan chart of three series (AR(24)+seasonal lags, 200 sample paths)")
    ids = list(pd.unique(train["unique_id"]))[:3]
    best = models["AR(24)+seasonal lags"].fit(train)  # fitted on all series; forecast three of them
    fc = best.predict(48, num_samples=200, seed=0, y=train[train["unique_id"].isin(ids)])
    fc.plot(series=ids, actual=test, history=24 * 7, n_paths=3, path=folder / "fan_chart.png")
    fc.to_frame(levels=(0.5, 0.8, 0.95)).to_csv(folder / "forecasts.csv", index=False)
    _say(f"      -> {folder / 'fan_chart.png'}, {folder / 'forecasts.csv'} ({time.perf_counter() - t:.0f} s)")

    t = _step(4, total, "anomalies in NAB's NYC taxi passenger counts (AR(48), 99.9% intervals)")
    taxi = pd.read_csv(find_data("nab_sample") / "nyc_taxi.csv", parse_dates=["timestamp"])
    taxi = pd.Series(taxi["value"].to_numpy(dtype=float), index=pd.DatetimeIndex(taxi["timestamp"]), name="nyc_taxi")
    flags = af.detect_anomalies(af.AR(p=48, trend="c"), taxi, level=0.999, start=0.15)
    flags.to_csv(folder / "anomalies.csv", index=False)
    import matplotlib.pyplot as plt
    windows = [(pd.Timestamp(a), pd.Timestamp(b)) for a, b in NYC_TAXI_WINDOWS]
    fig, (top, zoom) = plt.subplots(2, 1, figsize=(14, 8))
    plot_anomalies(flags, ax=top, windows=windows,
                   title="NYC taxi passengers (NAB): flagged points; shaded: NAB's labelled anomaly windows")
    plot_anomalies(flags[flags["ds"] >= "2014-12-15"], ax=zoom, windows=windows,
                   title="zoom: 2014-12-15 to 2015-01-31 (Christmas, New Year, the January blizzard)")
    fig.tight_layout()
    fig.savefig(folder / "anomalies.png", dpi=110)
    _say(f"      {int(flags['is_anomaly'].sum())} of {len(flags)} points flagged "
          f"-> {folder / 'anomalies.png'}, {folder / 'anomalies.csv'} ({time.perf_counter() - t:.0f} s)")
    _say(f"done in {time.perf_counter() - started:.0f} s; outputs in {folder}/")
    return 0
