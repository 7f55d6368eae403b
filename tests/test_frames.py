"""The frame contract: every accessor returns one documented shape whatever the input layout,
with the caller's column names; ``layout=`` asks for another arrangement (docs/data.md)."""
import numpy as np
import pandas as pd
import pytest

import arforecast as af

IDX = pd.date_range("2024-01-01", periods=40, freq="h")
VALUES = {"north": 10 + np.sin(np.arange(40) / 3), "south": 5 + np.cos(np.arange(40) / 4)}


def series_input():
    return pd.Series(VALUES["north"], index=IDX, name="north")


def wide_input():
    return pd.DataFrame(VALUES, index=IDX).rename_axis(columns="site")


def long_input():
    return pd.concat([pd.DataFrame({"store": k, "when": IDX, "sales": v}) for k, v in VALUES.items()],
                     ignore_index=True)


INPUTS = {
    # name: (make, fit kwargs, id column, time column, ids, wide columns' name)
    "series": (series_input, {}, "unique_id", "ds", ["north"], "unique_id"),
    "wide": (wide_input, {}, "unique_id", "ds", ["north", "south"], "site"),
    "long": (long_input, {"id_col": "store", "time_col": "when", "target_col": "sales"}, "store", "when",
             ["north", "south"], "store"),
}
H = 3


@pytest.fixture(params=sorted(INPUTS))
def case(request):
    make, kwargs, id_col, time_col, ids, wide_name = INPUTS[request.param]
    fc = af.AR(p=2).fit(make(), **kwargs).predict(H)
    return fc, id_col, time_col, ids, wide_name


# accessor -> (call, value columns); every one is checked in every layout for every input
ACCESSORS = {
    "mean": (lambda fc, **kw: fc.to_frame(**kw) if kw else fc.mean, ["mean"]),
    "median": (lambda fc, **kw: fc.median, ["median"]),
    "quantile(q)": (lambda fc, **kw: fc.quantile(0.1, **kw), ["q0.1"]),
    "quantile([q, q])": (lambda fc, **kw: fc.quantile([0.1, 0.9], **kw), ["q0.1", "q0.9"]),
    "interval lower": (lambda fc, **kw: fc.interval(0.8, **kw)[0], ["lower"]),
    "interval upper": (lambda fc, **kw: fc.interval(80, **kw)[1], ["upper"]),
    "to_frame": (lambda fc, **kw: fc.to_frame(quantiles=[0.5], levels=[80], **kw), ["mean", "q0.1", "q0.5", "q0.9"]),
}
SINGLE = {"median", "quantile(q)", "interval lower", "interval upper"}


@pytest.mark.parametrize("accessor", sorted(ACCESSORS))
def test_default_is_a_long_frame_with_the_callers_names(case, accessor):
    fc, id_col, time_col, ids, _ = case
    call, values = ACCESSORS[accessor]
    out = call(fc)
    assert isinstance(out, pd.DataFrame)
    assert out.columns.tolist() == [id_col, time_col] + values
    assert out[id_col].tolist() == [i for i in ids for _ in range(H)]
    assert out[time_col].tolist() == list(pd.date_range(IDX[-1], periods=H + 1, freq="h")[1:]) * len(ids)


@pytest.mark.parametrize("accessor", sorted(set(ACCESSORS) - {"median"}))
def test_wide_layout_is_time_by_series(case, accessor):
    fc, id_col, time_col, ids, wide_name = case
    call, values = ACCESSORS[accessor]
    out = call(fc, layout="wide")
    assert isinstance(out, pd.DataFrame) and out.index.name == time_col and len(out) == H
    if accessor in SINGLE:
        assert out.columns.tolist() == ids and out.columns.name == wide_name
    else:       # several values (or to_frame): columns (value, series)
        assert out.columns.tolist() == [(v, i) for v in values for i in ids]
        assert out.columns.names == ["value", wide_name]
        long = call(fc)
        np.testing.assert_array_equal(out[values[-1]].to_numpy().T.ravel(), long[values[-1]].to_numpy())


@pytest.mark.parametrize("accessor", sorted(set(ACCESSORS) - {"median"}))
def test_series_layout_is_for_one_series(case, accessor):
    fc, id_col, time_col, ids, _ = case
    call, values = ACCESSORS[accessor]
    if len(ids) > 1:
        with pytest.raises(ValueError, match=f"layout='series' needs a forecast of one series, this one has {len(ids)}"):
            call(fc, layout="series")
        return
    out = call(fc, layout="series")
    if accessor in SINGLE:
        assert isinstance(out, pd.Series) and out.name == values[0]
    else:
        assert isinstance(out, pd.DataFrame) and out.columns.tolist() == values
    assert out.index.name == time_col and len(out) == H


def test_unknown_layout_names_what_was_passed(case):
    fc = case[0]
    with pytest.raises(ValueError, match=r"layout must be one of \('long', 'wide', 'series'\), got 'tall'"):
        fc.quantile(0.5, layout="tall")


def test_levels_are_fractions_or_percentages():
    fc = af.AR(p=2).fit(long_input(), id_col="store", time_col="when", target_col="sales").predict(H)
    pd.testing.assert_frame_equal(fc.to_frame(levels=[80, 95]), fc.to_frame(levels=[0.8, 0.95]))
    for a, b in zip(fc.interval(95), fc.interval(0.95)):
        pd.testing.assert_frame_equal(a, b)
    assert fc.to_frame(levels=99.5).columns.tolist()[-2:] == ["q0.0025", "q0.9975"]
    for bad in (1, 100, 0, -5, 150):
        with pytest.raises(ValueError, match=f"interval level {bad!r} is neither a fraction"):
            fc.to_frame(levels=[80, bad])
    with pytest.raises(ValueError, match="quantile 1.5 must lie strictly between 0 and 1"):
        fc.quantile([0.1, 1.5])
    with pytest.raises(ValueError, match="must be a number, got 'x'"):
        fc.quantile(["x"])


def test_other_library_frames_keep_the_callers_names():
    df = long_input()
    cols = {"id_col": "store", "time_col": "when", "target_col": "sales"}
    res = af.backtest(af.SeasonalNaive(12), df, h=3, n_windows=2, levels=[80], progress=False, **cols)
    assert res.forecasts.columns.tolist()[:4] == ["store", "cutoff", "when", "sales"]
    assert res.metrics(by="unique_id").index.name == "store"
    assert "coverage_80" in res.metrics().columns
    flags = af.detect_anomalies(af.AR(p=2), df, level=99, start=20, **cols)
    assert flags.columns.tolist()[:3] == ["store", "when", "sales"] and flags.attrs["level"] == 0.99
    assert af.to_panel(df, **cols).to_long().columns.tolist() == ["store", "when", "y"]
