"""Messy timestamps as data-layer options: the same named error by default and the same documented
result with each option, through to_panel, fit, predict(y=...), backtest, detect_anomalies and the
CLI; the caller's frame is never modified; the 18 raw NAB files run with one option set."""
from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

import arforecast as af
from arforecast.cli.main import main
from arforecast.datasets import simulate_ar
from conftest import requires_nab

T = pd.Timestamp


def long_frame(n: int = 48) -> pd.DataFrame:
    df = simulate_ar([0.5], n_series=2, length=n, intercept=10.0, seed=0)
    df["ds"] = np.tile(pd.date_range("2024-01-01", periods=n, freq="h"), 2)
    return df


def duplicated() -> pd.DataFrame:           # a repeated hour in series 's1' (a clock change)
    df = long_frame()
    extra = df.iloc[[60]].assign(y=100.0)
    return pd.concat([df, extra], ignore_index=True)


def off_grid() -> pd.DataFrame:             # one stamp 20 minutes late in series 's0'
    df = long_frame()
    df.loc[10, "ds"] = df.loc[10, "ds"] + pd.Timedelta("20min")
    return df


def gappy() -> pd.DataFrame:                # three hours missing in series 's0'
    return long_frame().drop(index=[20, 21, 22]).reset_index(drop=True)


CASES = {
    "duplicates": (duplicated, r"series 's1' has 1 duplicate timestamp.*2024-01-01 12:00.*duplicates='first', 'last' or "
                               r"'mean'"),
    "off_grid": (off_grid, r"series 's0' has a timestamp off the grid of frequency 'h': Timestamp\('2024-01-01 10:20"
                           r".*off_grid='floor' or 'nearest'"),
    "gaps": (gappy, r"series 's0' has a gap: 3 missing timestamp.*2024-01-01 20:00.*gaps='mark'"),
}


@pytest.mark.parametrize("case", CASES)
def test_each_messy_case_gets_its_named_error_everywhere(case):
    make, message = CASES[case]
    df = make()
    before = df.copy()
    with pytest.raises(af.DataError, match=message):
        af.to_panel(df, freq="h" if case != "gaps" else None)
    with pytest.raises(af.DataError, match=message):
        af.AR(p=1).fit(df, freq="h")
    with pytest.raises(af.DataError, match=message):
        af.backtest(af.Naive(), df, h=2, n_windows=2, progress=False, freq="h")
    with pytest.raises(af.DataError, match=message):
        af.detect_anomalies(af.AR(p=1), df, freq="h")
    fitted = af.Naive().fit(long_frame())
    with pytest.raises(af.DataError, match=message):
        fitted.predict(2, y=df)
    pd.testing.assert_frame_equal(df, before)


@pytest.mark.parametrize("option, expected", [
    ("first", None), ("last", 100.0), ("mean", "mean"),
])
def test_duplicates_are_aggregated_as_asked(option, expected):
    df = duplicated()
    before = df.copy()
    p = af.to_panel(df, duplicates=option)
    assert p.lengths.tolist() == [48, 48]
    original = df.loc[60, "y"]
    want = {None: original, 100.0: 100.0, "mean": (original + 100.0) / 2}[expected]
    assert p.series(1)[12] == want
    assert dict(p.layout.options) == {"duplicates": option}
    pd.testing.assert_frame_equal(df, before)


@pytest.mark.parametrize("option, slot", [("floor", 10), ("nearest", 10)])
def test_off_grid_stamps_are_moved_to_the_grid(option, slot):
    df = off_grid()
    p = af.to_panel(df, off_grid=option, gaps="mark")
    assert p.lengths.tolist() == [48, 48] and p.series(0)[slot] == df.loc[10, "y"]
    late = df.copy()
    late.loc[10, "ds"] = T("2024-01-01 10:40")          # nearest moves it up, leaving hour 10 empty
    q = af.to_panel(late, off_grid=option, gaps="mark", duplicates="mean")
    if option == "nearest":
        assert np.isnan(q.series(0)[10]) and q.series(0)[11] == (df.loc[10, "y"] + df.loc[11, "y"]) / 2


@pytest.mark.parametrize("option", ["mark", "ffill", "interpolate"])
def test_gaps_are_marked_or_filled(option):
    df = gappy()
    p = af.to_panel(df, gaps=option)
    s0 = p.series(0)
    assert p.lengths.tolist() == [48, 48]
    if option == "mark":
        assert np.isnan(s0[20:23]).all() and not np.isnan(np.delete(s0, [20, 21, 22])).any()
    elif option == "ffill":
        assert (s0[20:23] == s0[19]).all()
    else:
        np.testing.assert_allclose(s0[20:23], s0[19] + (s0[23] - s0[19]) * np.arange(1, 4) / 4)
    fc = af.AR(p=2).fit(df, gaps=option).predict(3)          # every model takes the marked holes
    assert np.isfinite(fc.point).all()


def test_shuffled_long_frames_are_sorted_and_forecast_as_the_sorted_frame():
    df = long_frame()
    shuffled = df.sample(frac=1.0, random_state=0)
    before = shuffled.copy()
    a = af.AR(p=2).fit(df).predict(4).point
    b = af.AR(p=2).fit(shuffled).predict(4).point
    np.testing.assert_array_equal(a, b)
    res = af.backtest(af.AR(p=1), shuffled, h=2, n_windows=2, progress=False)
    assert len(res.forecasts) == 8
    out = af.detect_anomalies(af.AR(p=1), shuffled)
    assert len(out) == len(df)
    pd.testing.assert_frame_equal(shuffled, before)


def test_the_options_of_fit_read_new_histories_the_same_way():
    model = af.AR(p=1).fit(gappy(), gaps="mark")
    fc = model.predict(2, y=gappy())                         # no option: the fitted ones apply
    assert np.isfinite(fc.point).all()


def test_backtest_scores_only_observed_actuals():
    res = af.backtest(af.Naive(), gappy(), h=4, n_windows=8, step=2, progress=False, gaps="mark")
    assert np.isfinite(res.metrics()["MAE"]).all()


def test_a_long_frame_with_unknown_columns_is_an_error_listing_its_columns():
    df = long_frame().rename(columns={"unique_id": "store", "ds": "when", "y": "sales"})
    with pytest.raises(af.DataError, match=r"column\(s\) \['unique_id', 'ds', 'y'\] are not among its columns "
                                           r"\['store', 'when', 'sales'\].*id_col="):
        af.AR(p=1).fit(df)
    p = af.to_panel(df, id_col="store", time_col="when", target_col="sales")
    assert p.n_series == 2
    with pytest.raises(af.DataError, match=r"\['unique_id'\] are not among"):
        af.to_panel(long_frame().drop(columns="unique_id"))


def test_options_are_checked():
    with pytest.raises(ValueError, match="duplicates must be one of"):
        af.to_panel(long_frame(), duplicates="sum")
    with pytest.raises(ValueError, match="gaps='mark' leaves missing values"):
        af.to_panel(gappy(), gaps="mark", missing="raise")


# ---------------------------------------------------------------------- the command line
def _cli(capsys, *args):
    try:
        code = main([str(a) for a in args])
    except SystemExit as stop:
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case, flags", [("duplicates", ["--duplicates", "mean"]), ("off_grid", ["--off-grid", "floor"]),
                                         ("gaps", ["--gaps", "mark"])])
def test_cli_flags_have_the_same_choices(tmp_path, capsys, case, flags):
    make, message = CASES[case]
    src = tmp_path / "in.csv"
    make().sample(frac=1.0, random_state=1).to_csv(src, index=False)      # shuffled rows too
    for command in ("forecast", "backtest", "detect"):
        extra = ["--horizon", "2"] if command != "detect" else []
        code, _, err = _cli(capsys, command, "--input", src, "--model", "naive", "--freq", "h", *extra,
                            "--output", tmp_path / f"{command}-refused.csv", "-q")
        assert code == 2 and "Traceback" not in err and flags[0].lstrip("-").replace("-", "_") in err, err
        code, _, err = _cli(capsys, command, "--input", src, "--model", "naive", *extra, *flags,
                            "--output", tmp_path / f"{command}.csv", "-q")
        assert code == 0, err
        assert len(pd.read_csv(tmp_path / f"{command}.csv")) > 0


# ---------------------------------------------------------------------- NAB raw files
#: the one option set NAB files need (docs/data.md): a repeated hour averaged, late stamps floored,
#: gaps marked as missing values
NAB_OPTIONS = {"duplicates": "mean", "off_grid": "floor", "gaps": "mark"}


@requires_nab
@pytest.mark.slow
def test_every_raw_nab_file_runs_through_detection_with_one_option_set(tmp_path, capsys):
    """The 18 files as they are through ``detect_anomalies`` (default model) and ``arforecast detect``:
    104 s measured (both), hence ``slow``."""
    from arforecast.datasets_nab import load_nab_file, nab_files, nab_root
    files = nab_files()
    assert len(files) == 18
    for name in files:
        raw = load_nab_file(name)
        before = raw.copy()
        y = pd.Series(raw["value"].to_numpy(), index=pd.DatetimeIndex(raw["timestamp"]))
        out = af.detect_anomalies(af.AR(), y, **NAB_OPTIONS)
        assert out["is_anomaly"].any() or "NoAnomaly" in name or "flatline" in name
        pd.testing.assert_frame_equal(raw, before)
        code, _, err = _cli(capsys, "detect", "--input", nab_root() / name, "--time-col", "timestamp",
                            "--duplicates", "mean", "--off-grid", "floor", "--gaps", "mark",
                            "--output", tmp_path / "out.csv", "-q")
        assert code == 0, f"{name}: {err}"
