"""Time and defaults from the data: every model on every frequency, calendar positions, contexts."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import arforecast as af
from arforecast.anomaly.baselines import RollingZScore
from arforecast.data.frequency import calendar_positions, lags_for, season_length, season_lengths, time_features

# frequency -> the seasons the table names
TABLE = {"h": (24, 168), "30min": (48, 336), "15min": (96, 672), "5min": (288, 2016), "D": (7, 365),
         "B": (5,), "W-SUN": (52,), "MS": (12,), "ME": (12,), "QS": (4,), "QE-DEC": (4,), "YS": (), None: ()}


@pytest.mark.parametrize("freq", list(TABLE))
def test_season_table(freq):
    assert season_lengths(freq) == TABLE[freq]
    assert season_length(freq) == (TABLE[freq][0] if TABLE[freq] else 1)


def _series(freq, n, start="2021-03-07 05:00", seed=0):
    rng = np.random.default_rng(seed)
    m = season_length(freq)
    t = np.arange(n)
    y = 10 + np.sin(2 * np.pi * t / max(m, 2)) * (m > 1) + 0.02 * t + 0.3 * rng.standard_normal(n)
    if freq is None:
        return pd.Series(y, index=pd.RangeIndex(100, 100 + n))
    if freq in ("YS", "QS") and n > 150:
        start = "1850-01-01"          # keep long yearly series inside pandas' timestamp range
    return pd.Series(y, index=pd.date_range(start, periods=n, freq=freq))


def _default_models():
    return [af.Naive(), af.SeasonalNaive(), af.Naive2(), af.Mean(), af.Drift(), af.AR(), RollingZScore()]


@pytest.mark.parametrize("freq", ["h", "30min", "D", "B", "W-SUN", "MS", "QS", "YS", None])
@pytest.mark.parametrize("n", [14, 400])
def test_every_model_with_defaults_fits_every_frequency(freq, n):
    y = _series(freq, n)
    for model in _default_models():
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)   # no thin-fit warning with defaults
            fc = model.fit(y).predict(6, num_samples=20, seed=0)
        assert np.isfinite(fc.point).all(), type(model).__name__
        assert fc.samples.shape == (1, 20, 6)
        if hasattr(model, "season_length_"):
            assert model.season_length_ == season_length(freq)


def test_panel_origins_are_calendar_positions():
    starts = [pd.Timestamp("2024-01-01 00:00"), pd.Timestamp("2024-01-03 07:00")]
    y = pd.DataFrame({"a": pd.Series(np.ones(60), index=pd.date_range(starts[0], periods=60, freq="h")),
                      "b": pd.Series(np.ones(10), index=pd.date_range(starts[1], periods=10, freq="h"))})
    panel = af.to_panel(y)
    # hour of day of each first observation is its phase modulo 24
    assert (panel.origins % 24).tolist() == [0, 7]
    assert (panel.next_positions() - panel.origins).tolist() == panel.lengths.tolist()


@pytest.mark.parametrize("freq,first", [("MS", "1999-05-01"), ("QS", "1999-04-01"), ("D", "2024-02-29"),
                                         ("W-SUN", "2024-02-04"), ("h", "2024-03-31 13:00"), ("B", "2024-02-05"),
                                         ("YS", "1983-01-01"), ("15min", "2024-01-01 10:45")])
def test_calendar_positions_step_by_one(freq, first):
    times = pd.date_range(first, periods=40, freq=freq)
    pos = calendar_positions(times, freq)
    assert np.all(np.diff(pos) == 1)
    # positions are anchored at 1970: a later start has a larger position by its number of steps
    later = calendar_positions(times[7:8], freq)
    assert later[0] == pos[0] + 7


def test_monthly_and_hourly_phases_are_calendar_phases():
    months = pd.date_range("1987-01-01", periods=24, freq="MS")
    assert (calendar_positions(months, "MS") % 12).tolist() == (months.month - 1).tolist()
    hours = pd.date_range("2011-05-05 03:00", periods=50, freq="h")
    assert (calendar_positions(hours, "h") % 24).tolist() == hours.hour.tolist()


def test_time_features_lie_in_half_unit_range():
    times = pd.date_range("2024-01-01", periods=500, freq="h")
    x, names = time_features(times, "h")
    assert names[:2] == ("hour_of_day", "day_of_week")
    assert x.shape == (500, len(names)) and x.min() >= -0.5 and x.max() <= 0.5
    assert time_features(pd.date_range("2000", periods=5, freq="YS"), "YS")[0].shape == (5, 0)


def test_lags_are_capped_by_length():
    assert lags_for("h") == (24, 48, 168)
    assert lags_for("h", max_lag=100) == (24, 48)


def test_from_arrays_asks_for_starts_with_timestamps():
    with pytest.raises(ValueError, match="starts"):
        af.Panel.from_arrays([[1.0, 2.0]], freq="h")


def test_backtest_scores_daily_data_with_its_weekly_season():
    y = _series("D", 120)
    res = af.backtest(af.SeasonalNaive(), y, h=7, n_windows=3, progress=False)
    assert res.season_length == 7
    assert np.isfinite(res.metrics()["MASE"]).all()


def test_seasonal_naive_default_falls_back_to_naive_for_short_series():
    long = _series("h", 60)
    short = _series("h", 10, start="2021-03-09 05:00")
    wide = pd.DataFrame({"long": long, "short": short})
    model = af.SeasonalNaive().fit(wide)
    mean = model.predict(3).to_frame(layout="wide")["mean"]
    assert mean["short"].dropna().tolist() == [short.iloc[-1]] * 3
    assert mean["long"].dropna().tolist() == long.iloc[-24:-21].tolist()
    with pytest.raises(af.DataError):
        af.SeasonalNaive(24).fit(wide)          # an explicit season is never silently changed


def test_ar_warns_when_fitted_on_too_few_values():
    y = _series("h", 50)
    with pytest.warns(RuntimeWarning, match="too few values"):
        af.AR(p=24).fit(y)


# --------------------------------------------------------------- forecasts read only their context
@settings(max_examples=25, deadline=None)
@given(extra=st.integers(0, 300), seed=st.integers(0, 10_000), trend=st.sampled_from(["c", "ct"]))
def test_ar_forecast_depends_only_on_the_context_it_reads(extra, seed, trend):
    """Same last ``context_width`` values at the same timestamps => same forecast, whatever
    history precedes them (the trend is placed by timestamps, not by lengths)."""
    fit_y = _series("h", 400, seed=seed)
    model = af.AR(p=3, trend=trend, seasonal_lags=(24,)).fit(fit_y)
    w = max(model.context_width, model.min_length)     # predict(y=...) asks for min_length values
    rng = np.random.default_rng(seed + 1)
    end = fit_y.index[-1] + pd.Timedelta(hours=30)
    tail = rng.normal(10, 1, w)
    a = pd.Series(np.r_[rng.normal(10, 1, extra), tail], index=pd.date_range(end=end, periods=extra + w, freq="h"))
    b = pd.Series(tail, index=pd.date_range(end=end, periods=w, freq="h"))
    pa = model.predict(5, y=a).point
    pb = model.predict(5, y=b).point
    np.testing.assert_allclose(pa, pb, rtol=1e-12, atol=1e-9)


@settings(max_examples=15, deadline=None)
@given(extra=st.integers(0, 100), seed=st.integers(0, 10_000))
def test_rolling_zscore_forecast_depends_only_on_its_window(extra, seed):
    rng = np.random.default_rng(seed)
    model = RollingZScore().fit(_series("h", 100))
    w = model.window_
    tail = rng.normal(size=w)
    end = pd.Timestamp("2022-01-01")
    a = pd.Series(np.r_[rng.normal(size=extra), tail], index=pd.date_range(end=end, periods=extra + w, freq="h"))
    b = pd.Series(tail, index=pd.date_range(end=end, periods=w, freq="h"))
    np.testing.assert_allclose(model.predict(3, y=a).point, model.predict(3, y=b).point)


def test_detect_with_defaults_flags_about_one_minus_level_of_the_example():
    """The issue's check: `arforecast detect` on the bundled example with defaults flags between
    0.5x and 2x of 1 - level (the file has no labelled anomalies: every point counts)."""
    import tempfile
    from pathlib import Path

    from arforecast.cli import main
    example = Path(af.__file__).resolve().parents[1] / "datasets" / "example_hourly.csv"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "an.csv"
        assert main(["detect", "--input", str(example), "--output", str(out)]) == 0
        frame = pd.read_csv(out)
    scored = frame[frame["score"].notna()]
    rate = scored["is_anomaly"].mean()
    assert 0.005 <= rate <= 0.02, rate
