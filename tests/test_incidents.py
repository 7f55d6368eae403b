"""Incident scores and the default detector's new options: the seasonal baseline against its
definition, scale invariance, causality, the alert rate on anomaly-free series, known ranges,
the argument order and the thin-training warning."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from arforecast.anomaly import detect_anomalies
from arforecast.anomaly.baselines import RollingZScore
from arforecast.anomaly.incidents import (INCIDENT_THRESHOLD, baseline_residuals, incident_scores, record_ratio,
                                          robust_standardize)
from arforecast.datasets import simulate_ar
from arforecast.exceptions import DataError


def seasonal_series(n=24 * 60, season=24, noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    return np.sin(2 * np.pi * np.arange(n) / season) + noise * rng.normal(size=n)


def test_baseline_is_the_same_phase_median():
    y = np.arange(40, dtype=float) ** 1.5
    r = baseline_residuals(y, [7], n_seasons=3)
    t = 30
    assert r[t] == pytest.approx(y[t] - np.median([y[t - 7], y[t - 14], y[t - 21]]))
    assert np.isnan(r[0]) and r[8] == pytest.approx(y[8] - y[1])
    # without a season: the change from the previous value
    np.testing.assert_allclose(baseline_residuals(y, [])[1:], np.diff(y))


def test_robust_standardize_uses_only_the_past():
    rng = np.random.default_rng(1)
    r = rng.normal(size=500)
    z = robust_standardize(r, long=100)
    med = np.array([np.median(r[max(0, s - 100):s]) if s >= 20 else np.nan for s in range(500)])
    t = 300
    dev = np.abs(r[t - 100:t] - med[t - 100:t])
    assert z[t] == pytest.approx((r[t] - med[t]) / (1.4826 * np.median(dev)))
    changed = r.copy()
    changed[t + 1:] = 1e6               # the future does not move z[t]
    assert robust_standardize(changed, long=100)[t] == z[t]


def test_record_ratio_definition():
    out = record_ratio(np.array([1.0, 2.0, 1.0, 3.0, 6.0]), start=1)
    np.testing.assert_allclose(out, [0.0, 2.0, 0.5, 1.5, 2.0])


def test_a_spike_and_a_level_shift_are_the_top_incidents():
    y = seasonal_series()
    y[900] += 2.0
    y[1200:] += 1.0
    s = incident_scores(y, start=24 * 10, season_lengths=(24, 168))
    alerts = np.flatnonzero(s > INCIDENT_THRESHOLD)
    assert np.argmax(s) == 900 and any(1200 <= t < 1212 for t in alerts)
    assert len(alerts) <= 10      # a few early records while the history is short, then the incidents


def test_causal_the_future_does_not_change_the_past():
    y = seasonal_series(seed=3)
    full = incident_scores(y, 240, (24,))
    cut = incident_scores(y[:1000], 240, (24,))
    np.testing.assert_allclose(full[:1000], cut)


@settings(max_examples=15, deadline=None)
@given(scale=hs.floats(1e-3, 1e4), shift=hs.floats(-1e4, 1e4))
def test_scale_and_shift_free(scale, shift):
    y = seasonal_series(n=24 * 30, seed=4)
    a = incident_scores(y, 240, (24,))
    b = incident_scores(shift + scale * y, 240, (24,))
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_alerts_are_rare_on_simulated_ar_processes():
    """On anomaly-free AR processes records get rarer as the history grows: a handful per series."""
    sim = simulate_ar([0.6, -0.2], n_series=3, length=3000, seed=0)
    for _, g in sim.groupby("unique_id"):
        s = incident_scores(g["y"].to_numpy(), 450, (24,))
        assert (s > INCIDENT_THRESHOLD).mean() < 0.005


def test_missing_values_score_zero():
    y = seasonal_series(n=24 * 30)
    y[500:510] = np.nan
    s = incident_scores(y, 240, (24,))
    assert (s[500:510] == 0).all() and np.isfinite(s).all()


def test_incident_scores_refuses_a_start_outside_the_series():
    with pytest.raises(DataError):
        incident_scores(np.ones(10), 10)


# --------------------------------------------------------------------------- detect_anomalies
def hourly(values):
    return pd.Series(values, index=pd.date_range("2024-01-01", periods=len(values), freq="h"))


def test_series_first_and_the_older_order_agree():
    y = hourly(seasonal_series(n=24 * 20))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        a = detect_anomalies(y, RollingZScore(window=24), start=96)
        b = detect_anomalies(RollingZScore(window=24), y, start=96)
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(DataError, match="needs the series"):
        detect_anomalies(RollingZScore(window=24))
    assert {"incident_score", "alert"} <= set(a.columns) and not a["alert"].iloc[:96].any()


def test_bounds_keep_intervals_in_the_known_range():
    rng = np.random.default_rng(0)
    counts = hourly(rng.poisson(1.0, size=24 * 20).astype(float))
    free = detect_anomalies(counts, RollingZScore(window=24), start=96)
    kept = detect_anomalies(counts, RollingZScore(window=24), start=96, bounds=(0, None))
    assert (free["lower"] < 0).any() and (kept["lower"].dropna() >= 0).all()
    pd.testing.assert_series_equal(free["is_anomaly"], kept["is_anomaly"])
    with pytest.raises(DataError):
        detect_anomalies(counts - 5, RollingZScore(window=24), start=96, bounds=(0, None))
    with pytest.raises(ValueError):
        detect_anomalies(counts, RollingZScore(window=24), start=96, bounds=(3, 1))


def test_warns_when_training_is_thin():
    y = hourly(seasonal_series(n=200))
    with pytest.warns(RuntimeWarning, match="fewer than"):
        detect_anomalies(y, RollingZScore(window=48), start=60)


# --------------------------------------------------------------------------- plots
def test_plots_stay_readable_on_long_series():
    import matplotlib
    matplotlib.use("Agg")
    from arforecast.anomaly import plot_anomalies, zoom_anomalies
    y = hourly(seasonal_series(n=24 * 60))
    y.iloc[[900, 1200]] += 4.0
    out = detect_anomalies(y, RollingZScore(window=24), start=240)
    ax = plot_anomalies(out, windows=[(y.index[890], y.index[910]), (y.index[1190], y.index[1210])])
    labels = ax.get_legend_handles_labels()[1]
    assert labels.count("labelled window") == 1 and "forecast mean" not in labels   # 1440 points: no mean line
    line = next(l for l in ax.get_lines() if l.get_label() == "observed")
    assert line.get_linewidth() < 1 and line.get_zorder() >= ax.collections[0].get_zorder()
    zoomed = plot_anomalies(out, start=y.index[880], end=y.index[920], mean=True)
    assert "forecast mean" in zoomed.get_legend_handles_labels()[1]
    assert len(zoomed.get_lines()[0].get_xdata()) == 41
    fig = zoom_anomalies(out, n=2, width=48)
    assert len(fig.axes) == 3


def test_time_scales_come_from_the_season_length():
    from arforecast.anomaly.incidents import incident_windows
    for s in (4, 7, 12, 24, 48, 52, 288):
        w = incident_windows(s, 10 * s)
        assert w[0] == 1 and w[-1] == s and list(w) == sorted(set(w))
        ratios = np.diff(np.log(w))           # evenly spaced on a log scale, up to rounding
        assert np.allclose(ratios, np.log(s) / (len(w) - 1), atol=np.log(2) / 2 + 1e-9)
    assert incident_windows(1, 500)[-1] == 50     # no season: a tenth of the training part
    # the default of incident_scores: a spike is found on hourly and 5-minute grids alike
    for season in (24, 288):
        y = seasonal_series(n=season * 20, season=season, seed=5)
        y[season * 15] += 3.0
        s = incident_scores(y, start=season * 3, season_lengths=(season,))
        assert np.argmax(s) == season * 15 and s[season * 15] > INCIDENT_THRESHOLD


@settings(max_examples=30, deadline=None)
@given(values=hs.lists(hs.floats(0, 5), min_size=1, max_size=60), span=hs.integers(1, 8))
def test_first_records_keep_one_alert_per_incident(values, span):
    from arforecast.anomaly.incidents import ESCALATION, first_records
    s = np.asarray(values)
    kept = first_records(s, span)
    assert set(np.flatnonzero(kept)) <= set(np.flatnonzero(s))
    for t in np.flatnonzero(kept > INCIDENT_THRESHOLD):
        before = s[max(0, t - span):t]
        assert (before < s[t]).all()
        assert (before <= INCIDENT_THRESHOLD).all() or s[t] > ESCALATION * before.max()


def test_a_settle_in_as_long_as_the_training_part():
    y = seasonal_series(seed=6)
    s = incident_scores(y, start=200, season_lengths=(24,))
    assert (s[:400] == 0).all()
    assert (incident_scores(y, start=200, season_lengths=(24,), settle=10)[:210] == 0).all()
