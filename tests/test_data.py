"""The data layer: layouts in and out, future timestamps, and every bad input with its error."""
import numpy as np
import pandas as pd
import pytest

import arforecast as af
from arforecast import DataError, to_panel


def hourly(n=30, start="2024-01-01", name="load"):
    return pd.Series(np.arange(n, dtype=float) + 1, index=pd.date_range(start, periods=n, freq="h"), name=name)


# ---------------------------------------------------------------- layouts in and out
def test_series_roundtrip_keeps_name_and_continues_index():
    y = hourly()
    fc = af.Naive().fit(y).predict(3)
    assert fc.mean.columns.tolist() == ["unique_id", "ds", "mean"] and fc.mean["unique_id"].tolist() == ["load"] * 3
    assert fc.mean["ds"].tolist() == list(pd.date_range("2024-01-02 06:00", periods=3, freq="h"))
    as_series = fc.to_frame(layout="series")["mean"]
    assert isinstance(as_series, pd.Series) and list(as_series.index) == fc.mean["ds"].tolist()


def test_index_without_freq_attribute_is_inferred():
    y = hourly()
    y.index = pd.DatetimeIndex(list(y.index))  # freq attribute dropped
    assert y.index.freq is None
    assert to_panel(y).freq == pd.tseries.frequencies.to_offset("h")


@pytest.mark.parametrize("freq, expected_next", [
    ("D", "2024-01-31"), ("W-SUN", "2024-08-04"), ("MS", "2026-07-01"), ("ME", "2026-07-31"),
    ("B", "2024-02-12"), ("h", "2024-01-02 06:00"), ("15min", "2024-01-01 07:30"),
])
def test_future_index_continues_frequency(freq, expected_next):
    y = pd.Series(np.arange(30.0), index=pd.date_range("2024-01-01", periods=30, freq=freq))
    fc = af.Naive().fit(y).predict(2)
    ds = fc.mean["ds"]
    assert ds[0] == pd.Timestamp(expected_next)
    assert ds[1] == ds[0] + pd.tseries.frequencies.to_offset(freq)


def test_integer_index_continues_with_its_step():
    y = pd.Series(np.arange(10.0), index=pd.RangeIndex(100, 120, 2))
    fc = af.Naive().fit(y).predict(3)
    assert fc.mean["ds"].tolist() == [120, 122, 124]


def test_wide_frame_with_different_lengths():
    idx = pd.date_range("2024-01-01", periods=6, freq="D")
    wide = pd.DataFrame({"a": [1.0, 2, 3, 4, 5, 6], "b": [np.nan, np.nan, 1, 2, 3, np.nan]}, index=idx)
    panel = to_panel(wide)
    assert panel.lengths.tolist() == [6, 3]
    fc = af.Naive().fit(wide).predict(2)
    mean = fc.to_frame(layout="wide")["mean"]
    assert isinstance(mean, pd.DataFrame) and list(mean.columns) == ["a", "b"]
    assert mean.loc["2024-01-07", "a"] == 6.0
    assert mean.loc["2024-01-06", "b"] == 3.0 and np.isnan(mean.loc["2024-01-08", "b"])


def test_long_frame_roundtrip_with_unequal_lengths_and_shuffled_series():
    a = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2024-01-01", periods=5, freq="D"), "y": np.arange(5.0)})
    b = pd.DataFrame({"unique_id": "b", "ds": pd.date_range("2024-01-03", periods=3, freq="D"), "y": [7.0, 8, 9]})
    long = pd.concat([b, a], ignore_index=True)
    fc = af.Naive().fit(long).predict(2)
    out = fc.mean
    assert list(out.columns) == ["unique_id", "ds", "mean"]
    assert out["unique_id"].tolist() == ["b", "b", "a", "a"]
    assert out["ds"].tolist()[:1] == [pd.Timestamp("2024-01-06")]
    assert out["mean"].tolist() == [9.0, 9.0, 4.0, 4.0]
    frame = fc.to_frame(quantiles=[0.1], levels=[0.8])
    assert list(frame.columns) == ["unique_id", "ds", "mean", "q0.1", "q0.9"]


def test_long_frame_with_custom_column_names():
    df = pd.DataFrame({"id": ["x"] * 4, "t": [1, 2, 3, 4], "v": [1.0, 2, 3, 4]})
    fc = af.Naive().fit(df, id_col="id", time_col="t", target_col="v").predict(1)
    assert fc.mean.columns.tolist() == ["id", "t", "mean"] and fc.mean["t"].tolist() == [5]


def test_leading_nans_are_trimmed():
    y = hourly()
    y.iloc[:3] = np.nan
    p = to_panel(y)
    assert p.lengths.tolist() == [27] and p.starts[0] == pd.Timestamp("2024-01-01 03:00")


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("value, word, options", [(np.nan, "missing value \\(NaN\\)", {"missing": "raise"}),
                                                   (np.inf, "inf value", {})])
def test_non_finite_inside_a_series_names_series_and_time(value, word, options):
    y = hourly()
    y.iloc[10] = value
    with pytest.raises(DataError, match=rf"'load' has an? {word} at Timestamp\('2024-01-01 10:00"):
        to_panel(y, **options)


def test_nan_inside_a_series_is_a_missing_value_by_default():
    y = hourly()
    y.iloc[10] = np.nan
    y.iloc[-1] = np.nan                       # trailing: trimmed, as leading ones
    p = to_panel(y)
    assert p.lengths.tolist() == [len(y) - 1] and np.isnan(p.values[10]) and np.isnan(p.values).sum() == 1


def test_duplicate_timestamps():
    y = hourly()
    y.index = y.index[:5].append(y.index[4:-1])
    with pytest.raises(DataError, match="'load' has 1 duplicate timestamp.*duplicates='first'"):
        to_panel(y)


def test_unsorted_timestamps_are_sorted_without_touching_the_caller():
    y = hourly().iloc[[0, 2, 1, 3, 4, 5]]
    before = y.copy()
    p = to_panel(y)
    assert p.values.tolist() == sorted(y.tolist())
    pd.testing.assert_series_equal(y, before)


def test_frequency_not_inferable_and_not_given():
    idx = pd.DatetimeIndex(["2024-01-01", "2024-01-02", "2024-01-05", "2024-01-06"])
    y = pd.Series([1.0, 2, 3, 4], index=idx, name="s")
    with pytest.raises(DataError, match="cannot be inferred"):
        to_panel(y)
    with pytest.raises(DataError, match="'s' has a gap: 2 missing timestamp.*2024-01-03.*gaps='mark'"):
        to_panel(y, freq="D")


def test_two_points_need_an_explicit_freq():
    y = pd.Series([1.0, 2.0], index=pd.DatetimeIndex(["2024-01-01", "2024-01-02"]))
    with pytest.raises(DataError, match="pass freq"):
        to_panel(y)
    assert to_panel(y, freq="D").freq.freqstr == "D"


def test_non_numeric_values():
    y = pd.Series(["1", "2", "3"], index=pd.date_range("2024", periods=3, freq="D"), name="txt")
    with pytest.raises(DataError, match="'txt' has non-numeric values"):
        to_panel(y)


def test_empty_series_and_empty_frame():
    with pytest.raises(DataError, match="is empty"):
        to_panel(pd.Series([], dtype=float, index=pd.DatetimeIndex([]), name="e"))
    with pytest.raises(DataError, match="empty"):
        to_panel(pd.DataFrame({"unique_id": [], "ds": [], "y": []}))


def test_all_nan_series():
    with pytest.raises(DataError, match="no observations"):
        to_panel(pd.Series([np.nan] * 4, index=pd.date_range("2024", periods=4, freq="D")))


def test_series_too_short_for_the_model_says_how_long():
    y = hourly(10)
    with pytest.raises(DataError, match=r"SeasonalNaive\(season_length=24\) needs at least 25 observations.*'load' \(10\)"):
        af.SeasonalNaive(24).fit(y)


@pytest.mark.parametrize("h", [0, -1, 1.5, "3", True])
def test_bad_horizon(h):
    model = af.Naive().fit(hourly())
    with pytest.raises(ValueError, match="horizon h must be a positive integer"):
        model.predict(h)


def test_mixed_frequencies_in_long_frame():
    a = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2024", periods=5, freq="D"), "y": 1.0})
    b = pd.DataFrame({"unique_id": "b", "ds": pd.date_range("2024", periods=5, freq="h"), "y": 1.0})
    with pytest.raises(DataError, match="'b' has frequency 'h' but other series have 'D'"):
        to_panel(pd.concat([a, b]))


def test_unparsable_time_column():
    df = pd.DataFrame({"unique_id": ["a"] * 3, "ds": ["x", "y", "z"], "y": [1.0, 2, 3]})
    with pytest.raises(DataError, match="neither timestamps nor integers"):
        to_panel(df)


def test_not_pandas():
    with pytest.raises(DataError, match="expected a pandas Series or DataFrame"):
        to_panel([1, 2, 3])


def test_predict_before_fit():
    with pytest.raises(af.NotFittedError, match="not fitted yet"):
        af.Naive().predict(3)


def test_recondition_on_unknown_series_for_local_model_errors_cleanly():
    model = af.Naive().fit(hourly(name="a"))
    fc = model.predict(2, y=hourly(name="other"))  # baselines are computed from the given history
    assert fc.mean["mean"].iloc[0] == 30.0


# ---------------------------------------------------------------- never mutate input
@pytest.mark.parametrize("make", [
    lambda: hourly(),
    lambda: pd.DataFrame({"a": np.arange(30.0), "b": np.r_[np.nan, np.arange(29.0)]},
                         index=pd.date_range("2024", periods=30, freq="D")),
    lambda: pd.DataFrame({"unique_id": np.repeat(["u", "v"], 30), "ds": np.tile(pd.date_range("2024", periods=30, freq="D"), 2),
                          "y": np.arange(60.0)}).iloc[np.r_[30:60, 0:30]].reset_index(drop=True),
])
def test_inputs_are_never_mutated(make):
    y = make()
    before = y.copy(deep=True)
    for model in [af.Naive(), af.SeasonalNaive(7), af.Naive2(7), af.Mean(), af.Drift()]:
        fc = model.fit(y).predict(3, num_samples=10, seed=0)
        fc.to_frame(levels=[0.9])
    if isinstance(y, pd.Series):
        pd.testing.assert_series_equal(y, before)
    else:
        pd.testing.assert_frame_equal(y, before)
