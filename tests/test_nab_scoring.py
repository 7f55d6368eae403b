"""NAB scoring against hand-computed cases that follow the rules of NAB's scorer (sweeper.py:
scaled sigmoid, first detection per window, FP weighting after a window, probation, profiles,
normalisation), the NAB loader and the regularization of real-world time axes."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from arforecast.data.regularize import regularize
from conftest import requires_nab
from arforecast.datasets_nab import grid_positions, load_nab_file, load_nab_series, load_nab_windows, nab_files
from arforecast.evaluation.nab import (PROFILES, nab_raw_score, nab_rows, nab_score, nab_sweep,
                                       probation_length, scaled_sigmoid, window_metrics)
from arforecast.exceptions import DataError

FLAT = {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 1.0}


def sig(x):
    """NAB's scaled sigmoid written out: 2 / (1 + e^(5x)) - 1, -1 past 3."""
    return -1.0 if x > 3 else 2 / (1 + math.exp(5 * x)) - 1


def stamps(n):
    return pd.date_range("2014-04-01", periods=n, freq="5min")


def evenly_spaced_windows(ts, n_windows, size):
    """Windows of ``size`` rows spread evenly, as NAB's test helper places them."""
    gap = int(round((len(ts) - n_windows * size) / (n_windows + 1)))
    out = []
    for i in range(n_windows):
        a = gap * (i + 1) + size * i
        out.append((ts[a], ts[a + size - 1]))
    return out


def raw(ts, flagged, windows, profile=FLAT, probation=0.0):
    scores = np.zeros(len(ts))
    scores[list(flagged)] = 1.0
    return nab_score([(ts, scores, windows)], profile=profile, threshold=0.5, probation_percent=probation)


# --------------------------------------------------------------------------- the scaled sigmoid
def test_scaled_sigmoid_values_from_the_definition():
    xs = [-3.5, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 3.01]
    np.testing.assert_allclose(scaled_sigmoid(xs), [sig(x) for x in xs], rtol=1e-14)
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)


def test_probation_length_caps_at_750_rows():
    assert probation_length(4032) == 604
    assert probation_length(22695) == 750
    assert probation_length(100, 0.0) == 0


# --------------------------------------------------------------------------- single files
def test_no_windows_no_detections_scores_zero():
    res = raw(stamps(10), [], [])
    assert res.raw == 0.0 and res.counts == {"tp": 0, "tn": 10, "fp": 0, "fn": 0}


def test_missed_windows_cost_fn_weight_each():
    ts = stamps(2000)
    assert raw(ts, [], evenly_spaced_windows(ts, 1, 10)).raw == -1.0
    res = raw(ts, [], evenly_spaced_windows(ts, 4, 10))
    assert res.raw == -4.0 and res.counts["fn"] == 40


def test_detection_at_window_start_earns_full_tp_weight():
    ts = stamps(10)
    w = evenly_spaced_windows(ts, 1, 2)
    first = ts.get_loc(w[0][0])
    res = raw(ts, [first], w)
    assert res.raw == pytest.approx(1.0, abs=1e-12)
    assert res.counts == {"tp": 1, "tn": 8, "fp": 0, "fn": 1}


def test_earlier_detection_scores_higher_and_only_the_first_counts():
    ts = stamps(10)
    w = evenly_spaced_windows(ts, 1, 2)
    a, b = ts.get_loc(w[0][0]), ts.get_loc(w[0][1])
    assert raw(ts, [a], w).raw > raw(ts, [b], w).raw
    assert raw(ts, [a, b], w).raw == raw(ts, [a], w).raw
    # the last row of a window of width W sits at relative position -1/W
    assert raw(ts, [b], w).raw == pytest.approx(sig(-1 / 2) / sig(-1.0))


def test_window_start_is_worth_the_same_whatever_the_width():
    ts = stamps(10)
    w2, w3 = evenly_spaced_windows(ts, 1, 2), evenly_spaced_windows(ts, 1, 3)
    assert raw(ts, [ts.get_loc(w2[0][0])], w2).raw == raw(ts, [ts.get_loc(w3[0][0])], w3).raw


def test_right_edge_and_first_row_after_nearly_cancel():
    ts = stamps(1000)
    w = evenly_spaced_windows(ts, 1, 100)
    end = ts.get_loc(w[0][1])
    tp_at_edge = raw(ts, [end], w).raw           # sigma(-1/100) / sigma(-1), about 0.025
    fp_after = raw(ts, [end + 1], w).raw         # -1 (missed) + sigma(1/99)
    assert tp_at_edge + fp_after + 1 == pytest.approx(0.0, abs=1e-3)
    assert tp_at_edge == pytest.approx(sig(-1 / 100) / sig(-1))
    assert fp_after == pytest.approx(-1 + sig(1 / 99))


def test_all_counts_example():
    """Two windows of 5 rows in 100; detections at the first window's start, the row after it,
    and 3 rows past its end (position 3/4): 1 + sigma(3/4) - 1 (second window missed)."""
    ts = stamps(100)
    w = evenly_spaced_windows(ts, 2, 5)
    i = ts.get_loc(w[0][0])
    res = raw(ts, [i, i + 1, i + 7], w)
    assert res.raw == pytest.approx(sig(0.75), abs=1e-12)
    assert res.raw == pytest.approx(-0.9540, abs=1e-4)
    assert res.counts == {"tp": 2, "tn": 89, "fp": 1, "fn": 8}


def test_false_positive_before_any_window_costs_full_fp_weight():
    ts = stamps(100)
    w = evenly_spaced_windows(ts, 1, 10)
    assert raw(ts, [0], w, profile=PROFILES["standard"]).raw == pytest.approx(-1 - 0.11)


def test_profiles_scale_the_costs():
    ts = stamps(100)
    w = evenly_spaced_windows(ts, 1, 10)
    standard = raw(ts, [], w, profile=FLAT).raw
    low_fn = raw(ts, [], w, profile={"tpWeight": 1, "fnWeight": 2.0, "fpWeight": 0.055}).raw
    assert standard == 0.5 * low_fn
    no_windows = [(ts, [0], [])]
    one_fp = raw(ts, [0], [], profile=FLAT).raw
    two_fp = raw(ts, [0], [], profile={"tpWeight": 1, "fnWeight": 0.5, "fpWeight": 2.0}).raw
    assert one_fp == 0.5 * two_fp == -1.0
    assert no_windows  # the profile dictionaries of NAB's config are the ones we use
    assert PROFILES["standard"]["fpWeight"] == 0.11 and PROFILES["reward_low_FN_rate"]["fnWeight"] == 2.0


def test_probationary_rows_are_not_scored():
    ts = stamps(100)
    w = evenly_spaced_windows(ts, 1, 10)  # rows 45..54
    assert raw(ts, [3], w, probation=0.15).raw == -1.0  # a flag in the first 15 rows is ignored
    assert raw(ts, [3], w, probation=0.0).raw == -2.0


def test_windows_must_fall_on_rows():
    ts = stamps(20)
    with pytest.raises(ValueError, match="does not start and end on rows"):
        raw(ts, [], [(ts[3] + pd.Timedelta("1min"), ts[5])])


def test_rows_are_walked_in_file_order_not_time_order():
    """NAB scores rows as they come; a clock that jumps back does not reorder them."""
    ts = list(stamps(30))
    ts[20:] = [t - pd.Timedelta("30min") for t in ts[20:]]  # duplicates some times after row 20
    w = [(ts[10], ts[12])]
    flags = np.zeros(30)
    flags[10] = 1
    res = nab_score([(ts, flags, w)], profile=FLAT, threshold=0.5, probation_percent=0.0)
    assert res.raw == pytest.approx(1.0)


# --------------------------------------------------------------------------- corpus scores
def test_normalisation_perfect_is_100_and_null_is_0():
    files = []
    for n, k in ((400, 2), (300, 1), (300, 0)):
        ts = stamps(n)
        files.append((ts, np.zeros(n), evenly_spaced_windows(ts, k, 20) if k else []))
    null = nab_score(files, threshold=0.5)
    assert null.score == 0.0 and null.null == -3.0 and null.perfect == 3.0
    perfect = [(ts, np.isin(np.arange(len(ts)), [ts.get_loc(a) for a, _ in w]).astype(float), w)
               for ts, _, w in files]
    assert nab_score(perfect, threshold=0.5).score == pytest.approx(100.0)


def test_optimised_threshold_is_the_best_of_the_sweep():
    rng = np.random.default_rng(0)
    files = []
    for n in (300, 500):
        ts = stamps(n)
        files.append((ts, rng.random(n), evenly_spaced_windows(ts, 1, 30)))
    best = nab_score(files)
    for t in np.linspace(0, 1, 21):
        assert nab_score(files, threshold=float(t)).raw <= best.raw + 1e-12


@settings(max_examples=25, deadline=None)
@given(seed=hs.integers(0, 10 ** 6), n_windows=hs.integers(0, 3), probation=hs.sampled_from([0.0, 0.15]))
def test_sweep_equals_scoring_at_each_threshold(seed, n_windows, probation):
    rng = np.random.default_rng(seed)
    ts = stamps(200)
    scores = np.round(rng.random(200), 1)
    w = evenly_spaced_windows(ts, n_windows, 12) if n_windows else []
    rows = [nab_rows(ts, scores, w, profile="standard", probation_percent=probation)]
    sweep = nab_sweep(rows, fn_weight=1.0)
    for thr, score, tp, fp in sweep[["threshold", "score", "tp", "fp"]].itertuples(index=False):
        direct, counts = nab_raw_score(rows, thr, fn_weight=1.0)
        assert direct == pytest.approx(score, abs=1e-9)
        assert (counts["tp"], counts["fp"]) == (tp, fp)


def test_window_metrics_by_hand():
    ts = stamps(100)
    w = evenly_spaced_windows(ts, 2, 5)  # rows 30..34 and 65..69
    flags = np.zeros(100, dtype=bool)
    flags[[31, 33, 50, 51, 90]] = True
    m = window_metrics([(ts, flags, w)], probation_percent=0.0)
    assert m == {"precision": 1 / 4, "recall": 0.5, "f1": 2 * 0.25 * 0.5 / 0.75, "detected": 1,
                 "windows": 2, "false_positives": 3}
    assert window_metrics([(ts, np.zeros(100, bool), w)])["f1"] == 0.0


# --------------------------------------------------------------------------- the NAB subset
@requires_nab
def test_nab_loader_keeps_the_files_as_they_are():
    names = nab_files()
    assert len(names) == 18 and len(nab_files("artificialNoAnomaly")) == 5
    windows = load_nab_windows()
    assert sum(len(w) for w in windows.values()) == 25
    raw_file = load_nab_file("realKnownCause/machine_temperature_system_failure.csv")
    assert len(raw_file) == 22695 and not raw_file["timestamp"].is_monotonic_increasing
    # every window starts and ends on rows of its file
    for name in ("realKnownCause/ec2_request_latency_system_failure.csv", "artificialWithAnomaly/art_daily_jumpsup.csv"):
        t = set(load_nab_file(name)["timestamp"])
        assert all(a in t and b in t for a, b in windows[name])


@requires_nab
def test_nab_series_on_a_grid_and_rows_map_back():
    name = "realKnownCause/ec2_request_latency_system_failure.csv"
    raw_file = load_nab_file(name)
    s = load_nab_series(name)
    assert s.index.is_monotonic_increasing and s.index.is_unique and s.index.freq == pd.Timedelta("5min")
    pos = grid_positions(raw_file["timestamp"], s.index)
    hour = raw_file["timestamp"] == pd.Timestamp("2014-03-09 03:00:00")
    assert hour.sum() == 12 and len(set(pos[hour])) == 1  # the repeated hour lands on one point
    assert s.iloc[pos[hour][0]] == pytest.approx(raw_file.loc[hour, "value"].mean())
    assert s.isna().sum() == 12  # the hour skipped by the clock change is marked missing
    clean = ~hour.to_numpy()
    np.testing.assert_array_equal(s.to_numpy()[pos[clean]], raw_file["value"].to_numpy()[clean])


# --------------------------------------------------------------------------- regularize
def messy_series():
    ts = pd.to_datetime(["2024-01-01 00:00", "2024-01-01 01:00", "2024-01-01 03:00", "2024-01-01 02:00",
                         "2024-01-01 02:00", "2024-01-01 06:00", "2024-01-01 07:20"])
    return pd.Series([1.0, 2.0, 4.0, 3.0, 5.0, 7.0, 8.0], index=ts, name="m")


def test_regularize_raises_clear_errors_by_default():
    s = messy_series()
    with pytest.raises(DataError, match="goes back in time.*sort=True"):
        regularize(s, "h")
    with pytest.raises(DataError, match="off its grid.*off_grid"):
        regularize(s, "h", sort=True)
    with pytest.raises(DataError, match="several values.*duplicates="):
        regularize(s, "h", sort=True, off_grid="floor")
    with pytest.raises(DataError, match="missing grid point.*gaps="):
        regularize(s, "h", sort=True, off_grid="floor", duplicates="last")
    with pytest.raises(ValueError, match="duplicates must be one of"):
        regularize(s, duplicates="median")


def test_regularize_options_match_pandas_resample():
    s = messy_series()
    before = s.copy()
    for dup in ("first", "last", "mean"):
        got = regularize(s, "h", sort=True, duplicates=dup, off_grid="floor", gaps="mark")
        want = getattr(s.sort_index(kind="stable").resample("h"), dup)()
        pd.testing.assert_series_equal(got, want, check_freq=False)
    pd.testing.assert_series_equal(s, before)  # the caller's data is untouched
    ff = regularize(s, "h", sort=True, duplicates="mean", off_grid="floor", gaps="ffill")
    assert ff.tolist() == [1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 7.0, 8.0]
    lin = regularize(s, "h", sort=True, duplicates="mean", off_grid="floor", gaps="interpolate")
    assert lin.tolist() == [1.0, 2.0, 4.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    near = regularize(s, "h", sort=True, duplicates="first", off_grid="nearest", gaps="mark")
    assert near.index[-1] == pd.Timestamp("2024-01-01 07:00")


def test_regularize_long_and_wide_frames():
    s = messy_series()
    long = pd.DataFrame({"unique_id": ["a"] * 7 + ["b"] * 3,
                         "ds": list(s.index) + list(pd.date_range("2024-02-01", periods=3, freq="2h")),
                         "y": list(s.values) + [1.0, 2.0, 3.0]})
    out = regularize(long, "h", sort=True, duplicates="mean", off_grid="floor", gaps="mark")
    assert out.groupby("unique_id").size().to_dict() == {"a": 8, "b": 5}
    assert out["y"].isna().sum() == 2 + 2
    wide = pd.DataFrame({"x": [1.0, 2.0, 3.0], "z": [4.0, 5.0, 6.0]},
                        index=pd.to_datetime(["2024-01-01 02:00", "2024-01-01 00:00", "2024-01-01 03:00"]))
    out = regularize(wide, "h", sort=True, gaps="mark")
    np.testing.assert_array_equal(out["x"].to_numpy(), [2.0, np.nan, 1.0, 3.0])
    assert out.shape == (4, 2) and out.index.freq == "h"


def test_regularized_series_goes_through_to_panel():
    from arforecast import to_panel
    s = regularize(messy_series(), "h", sort=True, duplicates="mean", off_grid="floor", gaps="ffill")
    assert to_panel(s).lengths.tolist() == [8]
