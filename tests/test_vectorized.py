"""The vectorized long-frame conversion equals the per-series one, and defers to it on bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import arforecast as af
from arforecast.data import frames
from arforecast.data.panel import Layout


def _slow(df, freq=None):
    """The per-series path on the same frame (what to_panel did before the fast path)."""
    codes, uniques = pd.factorize(df["unique_id"], sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    t, v = np.asarray(df["ds"])[order], df["y"].to_numpy()[order]
    items = [(u, pd.Index(t[bounds[k]:bounds[k + 1]]), v[bounds[k]:bounds[k + 1]])
             for k, u in enumerate(np.asarray(uniques, dtype=object))]
    return frames._build(items, freq, Layout("long"))


def _same(a, b):
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.indptr, b.indptr)
    assert list(a.ids) == list(b.ids) and a.starts == b.starts
    assert a.freq == b.freq and a.step == b.step


FREQS = ["h", "30min", "D", "B", "W-SUN", "MS", "ME", "QS", "YS", None]


@settings(max_examples=60, deadline=None)
@given(freq=st.sampled_from(FREQS), lengths=st.lists(st.integers(1, 30), min_size=1, max_size=6),
       lead_nan=st.integers(0, 2), shuffle_series=st.booleans(), seed=st.integers(0, 1000))
def test_fast_path_equals_the_per_series_path(freq, lengths, lead_nan, shuffle_series, seed):
    rng = np.random.default_rng(seed)
    parts = []
    for k, n in enumerate(lengths):
        if freq is None:
            ds = np.arange(n) * 2 + int(rng.integers(0, 50)) * 2
        else:
            ds = pd.date_range(pd.Timestamp("2001-01-01") + pd.Timedelta(days=int(rng.integers(0, 400))),
                               periods=n, freq=freq)
        y = rng.normal(size=n)
        y[:min(lead_nan, n - 1)] = np.nan
        parts.append(pd.DataFrame({"unique_id": f"s{k}", "ds": ds, "y": y}))
    df = pd.concat(parts, ignore_index=True)
    if shuffle_series:         # series interleaved, time order kept within each
        df = df.iloc[np.argsort(rng.random(len(df)) + 0.0 * df.index.to_numpy(), kind="stable")]
        df = df.sort_values("ds", kind="stable")
    try:
        slow = _slow(df)
    except af.DataError as err:
        try:
            fast = af.to_panel(df)
        except af.DataError as got:
            assert str(got) == str(err)
            return
        # The per-series path infers each series' frequency alone and can call a three-day
        # business-day series daily; the whole-panel check accepts it when every series follows
        # the panel's frequency exactly, which is what it must verify.
        assert "frequency" in str(err)
        for i in range(fast.n_series):
            rows = df[df["unique_id"] == fast.ids[i]].dropna(subset=["y"])
            assert list(fast.time_index(i)) == list(pd.Index(rows["ds"]))
        return
    _same(af.to_panel(df), slow)


@pytest.mark.parametrize("mutate,match", [
    (lambda d: d.drop(index=5), "has a gap"),
    (lambda d: d.assign(y=d["y"].replace(d["y"].iloc[7], np.inf)), "inf value"),
    (lambda d: pd.concat([d, d.iloc[[3]]]).sort_values(["unique_id", "ds"], kind="stable"), "duplicate"),
    (lambda d: d.assign(y=d["y"].astype(object).where(d.index != 2, "x")), "non-numeric"),
])
def test_bad_input_gets_the_per_series_message(mutate, match):
    df = pd.DataFrame({"unique_id": np.repeat(["a", "b"], 10),
                       "ds": list(pd.date_range("2024", periods=10, freq="h")) * 2, "y": np.arange(20.0)})
    with pytest.raises(af.DataError, match=match):
        af.to_panel(mutate(df))


@settings(max_examples=40, deadline=None)
@given(freq=st.sampled_from(["h", "D", "W-SUN", "ME", "QE-DEC", "YE-DEC", "MS", "B", "30min"]),
       lengths=st.lists(st.integers(0, 12), min_size=1, max_size=5),
       shifts=st.lists(st.integers(0, 40), min_size=5, max_size=5),
       tz=st.sampled_from([None, "Europe/Paris"]))
def test_observed_times_equal_each_series_time_index(freq, lengths, shifts, tz):
    """The whole-array timestamps of every observation equal those pandas gives series by series."""
    from arforecast.data.panel import Panel
    base = pd.date_range("2020-01-01", periods=60, freq=freq, tz=tz)
    starts = [base[s] for s in shifts[:len(lengths)]]
    p = Panel.from_arrays([np.arange(float(n)) for n in lengths], starts=starts, freq=freq)
    pieces = [p.time_index(i) for i in range(p.n_series)]
    expected = pieces[0].append(pieces[1:])
    got = p.observed_times()
    assert len(got) == len(p.values)
    assert list(got) == list(expected)


def test_observed_times_integer_steps():
    from arforecast.data.panel import Panel
    p = Panel.from_arrays([[1.0, 2.0], [3.0, 4.0, 5.0]], starts=[10, 0], freq=None)
    assert list(p.observed_times()) == [10, 11, 0, 1, 2]
