"""Reliability: inputs that used to give silent wrong answers now give the right one or a clear error."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import arforecast as af
from arforecast.anomaly.baselines import RollingZScore


def _long(ids, n=30, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for k, uid in enumerate(ids):
        level = 10.0 ** k
        frames.append(pd.DataFrame({"unique_id": uid,
                                    "ds": pd.date_range("2024-01-01", periods=n, freq="h"),
                                    "y": level * (1 + 0.1 * rng.standard_normal(n))}))
    return pd.concat(frames, ignore_index=True)


@settings(max_examples=20, deadline=None)
@given(order=st.permutations(["s1", "s2", "s3"]), unused=st.booleans(), kind=st.sampled_from(["str", "cat", "int"]))
def test_ids_of_any_dtype_keep_their_own_values(order, unused, kind):
    """A Categorical id column whose category order differs from the rows (or that has an unused
    category) gives each series its own forecasts: the same as with plain string ids."""
    plain = _long(["s1", "s2", "s3"])
    ids = plain["unique_id"]
    if kind == "cat":
        cats = list(order) + (["zz"] if unused else [])
        ids = pd.Categorical(ids, categories=cats)
    elif kind == "int":
        ids = ids.str[1:].astype(int)
    frame = plain.assign(unique_id=ids)
    expect = af.Naive().fit(plain).predict(2).mean
    got = af.Naive().fit(frame).predict(2).mean
    assert got["unique_id"].astype(str).str[-1].tolist() == expect["unique_id"].str[-1].tolist()
    np.testing.assert_array_equal(got["mean"].to_numpy(), expect["mean"].to_numpy())
    res = af.backtest(af.Naive(), frame, h=2, n_windows=1, progress=False)
    by_id = {str(k)[-1]: v for k, v in res.forecasts.groupby("unique_id", observed=True)["y"]}
    truth = {k[-1]: v.iloc[-2:].to_numpy() for k, v in plain.groupby("unique_id")["y"]}
    for k in truth:
        np.testing.assert_array_equal(by_id[k].to_numpy(), truth[k])


def test_integer_time_stored_as_floats_stays_integer():
    df = pd.DataFrame({"unique_id": "a", "ds": np.arange(40, 50, dtype=float), "y": np.arange(10.0)})
    fc = af.Naive().fit(df).predict(2)
    assert fc.mean["ds"].tolist() == [50, 51]
    with pytest.raises(af.DataError, match="non-integer"):
        af.to_panel(df.assign(ds=df["ds"] + 0.5))


@pytest.mark.parametrize("drop", ["ds", "unique_id"])
def test_a_long_frame_missing_a_column_is_refused(drop):
    df = pd.DataFrame({"unique_id": 1, "ds": np.arange(10), "y": np.arange(10.0)}).drop(columns=drop)
    with pytest.raises(af.DataError, match="are not among its columns"):
        af.Naive().fit(df)


def test_unused_category_is_not_reported_as_an_empty_series():
    df = _long(["a", "b"])
    df["unique_id"] = pd.Categorical(df["unique_id"], categories=["b", "ghost", "a"])
    panel = af.to_panel(df)
    assert list(panel.ids) == ["a", "b"]
    assert RollingZScore(window=5).fit(df).predict(1).mean["unique_id"].tolist() == ["a", "b"]


@pytest.mark.parametrize("freq", ["h", "D", "MS"])
def test_backtest_of_a_time_zone_aware_series_keeps_its_time_zone(freq):
    idx = pd.date_range("2021-03-01", periods=80, freq=freq, tz="Europe/Berlin")
    y = pd.Series(np.random.default_rng(0).normal(10, 1, 80), index=idx)
    res = af.backtest(af.Naive(), y, h=4, n_windows=2, progress=False)
    frame = res.forecasts
    assert str(frame["ds"].dt.tz) == "Europe/Berlin"
    np.testing.assert_array_equal(frame["y"].to_numpy(), y.iloc[-8:].to_numpy())
    assert frame["ds"].tolist() == list(idx[-8:])


def test_a_forecast_that_cannot_fit_in_memory_is_refused_before_allocating():
    from arforecast.resources import MemoryRequestError, set_memory_budget
    model = af.Naive().fit(_long(["a", "b"]))
    set_memory_budget("100MB")
    try:
        with pytest.raises(MemoryRequestError, match="budget of 0.1 GB.*set_memory_budget"):
            model.predict(10 ** 5, num_samples=10 ** 4)
        model.predict(10, num_samples=100)          # small requests still run
    finally:
        set_memory_budget(None)


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_seed_must_be_a_non_negative_integer(bad):
    with pytest.raises(ValueError, match="seed"):
        af.Naive().fit(_long(["a"])).predict(2, num_samples=5, seed=bad)


def test_quantile_nan_is_refused():
    fc = af.Naive().fit(_long(["a"])).predict(2)
    with pytest.raises(ValueError, match="between 0 and 1"):
        fc.quantile(float("nan"))
    with pytest.raises(ValueError, match=r"interval level nan is neither a fraction in \(0, 1\)"):
        fc.to_frame(levels=[float("nan")])


def _csv(tmp_path, text):
    path = tmp_path / "in.csv"
    path.write_text(text)
    return str(path)


def test_cli_keeps_ids_with_leading_zeros(tmp_path):
    from arforecast.cli import main
    rows = "".join(f"007,2024-01-{d:02d},{d}.0\n" for d in range(1, 21))
    out = tmp_path / "fc.csv"
    assert main(["forecast", "--input", _csv(tmp_path, "unique_id,ds,y\n" + rows), "--model", "naive",
                 "--output", str(out)]) == 0
    assert pd.read_csv(out, dtype={"unique_id": str})["unique_id"].unique().tolist() == ["007"]


def test_cli_reads_a_day_first_column_one_way(tmp_path):
    from arforecast.cli.io import read_series_csv
    text = "unique_id,ds,y\n" + "".join(f"a,{d:02d}/01/2024,{d}\n" for d in range(1, 20))
    frame = read_series_csv(_csv(tmp_path, text))
    assert frame["ds"].tolist() == list(pd.date_range("2024-01-01", periods=19, freq="D"))
    ambiguous = "unique_id,ds,y\na,03/01/2024,1\na,04/01/2024,2\n"
    with pytest.warns(UserWarning, match="month-first or day-first"):
        read_series_csv(_csv(tmp_path, ambiguous))


@pytest.mark.parametrize("args", [["backtest", "--step", "0"], ["detect", "--history", "-3"], ["forecast", "--horizon", "0"]])
def test_cli_refuses_non_positive_counts(tmp_path, args):
    from arforecast.cli import main
    example = _csv(tmp_path, "unique_id,ds,y\n" + "".join(f"a,2024-01-{d:02d},{d}.0\n" for d in range(1, 29)))
    with pytest.raises(SystemExit) as exc:
        main([args[0], "--input", example, "--output", str(tmp_path / "o.csv")] + args[1:])
    assert exc.value.code == 2


def test_detect_refuses_a_history_longer_than_the_series():
    y = pd.Series(np.random.default_rng(0).normal(size=50), index=pd.date_range("2024", periods=50, freq="h"))
    with pytest.raises(af.DataError, match="no point to score"):
        af.detect_anomalies(RollingZScore(window=5), y, start=100)


def _scale_models():
    return [af.Naive(), af.SeasonalNaive(), af.Naive2(), af.Mean(), af.Drift(), af.AR(),
            af.AR(p=3, trend="ct"), af.AR(p="aic", max_p=5), RollingZScore()]


@pytest.mark.parametrize("scale", [1e-12, 1e-6, 1e6, 1e12])
def test_forecasts_are_scale_equivariant(scale):
    rng = np.random.default_rng(0)
    idx = pd.date_range("2024", periods=200, freq="h")
    y = pd.DataFrame({"a": 10 + np.sin(np.arange(200) / 4) + 0.3 * rng.normal(size=200),
                      "b": 5 + 0.1 * rng.normal(size=200).cumsum()}, index=idx)
    for model in _scale_models():
        base = model.fit(y).predict(5, num_samples=50, seed=0)
        got = model.fit(y * scale).predict(5, num_samples=50, seed=0)
        np.testing.assert_allclose(got.point / scale, base.point, rtol=1e-6, err_msg=type(model).__name__)
        np.testing.assert_allclose(np.diff(got.interval_values(0.9), axis=0) / scale,
                                   np.diff(base.interval_values(0.9), axis=0), rtol=1e-6)
        np.testing.assert_allclose(got.samples / scale, base.samples, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_values_too_small_or_large_for_float64_maths_are_refused(scale):
    y = pd.Series(np.random.default_rng(0).normal(10, 1, 50), index=pd.date_range("2024", periods=50, freq="h"))
    with pytest.raises(af.DataError, match="rescale"):
        af.AR().fit(y * scale)


@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_long_frames_out_of_range_are_refused_too(scale):
    """The vectorized long-frame path skipped the magnitude check (found by benchmarks/probe.py)."""
    df = _long(["a", "b"])
    with pytest.raises(af.DataError, match="rescale"):
        af.Naive().fit(df.assign(y=df["y"] * scale))
    wide = df.pivot(index="ds", columns="unique_id", values="y")
    with pytest.raises(af.DataError, match="rescale"):
        af.Naive().fit(wide * scale)


def test_a_horizon_beyond_the_step_budget_is_refused_at_once():
    import time

    from arforecast.resources import MemoryRequestError, set_max_horizon
    model = af.AR(p=2).fit(_long(["a"]))
    start = time.perf_counter()
    with pytest.raises(MemoryRequestError, match="set_max_horizon"):
        model.predict(10 ** 7)
    assert time.perf_counter() - start < 1.0
    set_max_horizon(5)
    try:
        with pytest.raises(MemoryRequestError, match="budget of 5"):
            model.predict(6)
        assert model.predict(5).point.shape == (1, 5)
    finally:
        set_max_horizon(None)


@pytest.mark.parametrize("model", [af.Naive(), af.AR(p=2)])
def test_daily_series_in_a_time_zone_keep_midnight_across_a_clock_change(model):
    """A day in a time zone is a calendar day: forecasts of a daily series that crossed the
    spring clock change stay at midnight (24-hour arithmetic put them at 01:00)."""
    idx = pd.date_range("2024-02-01", periods=100, freq="D", tz="Europe/Berlin")
    y = pd.Series(np.random.default_rng(0).normal(10, 1, 100), index=idx)
    got = model.fit(y).predict(3).mean["ds"].tolist()
    assert got == list(pd.date_range(idx[-1], periods=4, freq="D")[1:])
    assert af.to_panel(y).tail(5).starts[0] == idx[-5]
