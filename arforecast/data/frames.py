"""pandas in: a Series, a wide DataFrame or the long format, checked and turned into a Panel.

Rules, the same for every model and tool:

* A ``pd.Series`` needs a ``DatetimeIndex`` whose frequency is set or can be inferred, or an
  integer index with a constant step (a ``RangeIndex``).
* A wide ``DataFrame`` has one column per series over a shared time index; each column's leading
  and trailing NaNs are trimmed, so series of different lengths can share one frame.
* A long ``DataFrame`` has ``unique_id``, ``ds``, ``y`` columns (names configurable); it is
  recognised by having all three. Rows may come in any order of series but must be in time
  order within each series.
* Leading NaNs of a series are trimmed (the series starts at its first observation). Any other
  NaN or an infinite value is an error, as are duplicate or unsorted timestamps, gaps that break
  the frequency, non-numeric values, empty series and frequencies that differ between series.

The caller's object is never modified.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from arforecast.data.panel import Layout, Panel
from arforecast.data import vectorized
from arforecast.data.vectorized import MAX_MAGNITUDE, panel_from_sorted
from arforecast.exceptions import DataError

PandasInput = "pd.Series | pd.DataFrame"


def to_panel(y: Any, *, freq: Any = None, id_col: str = "unique_id", time_col: str = "ds",
             target_col: str = "y") -> Panel:
    """Check ``y`` and lay it out as a :class:`Panel`.

    Args:
        y: a ``pd.Series``, a wide ``pd.DataFrame`` or a long ``pd.DataFrame``.
        freq: pandas frequency to use when it cannot be read from the index (e.g. ``"h"``).
        id_col: series id column of the long format.
        time_col: time column of the long format.
        target_col: value column of the long format.

    Example:
        >>> s = pd.Series([1.0, 2.0, 3.0], index=pd.date_range("2024-01-01", periods=3, freq="D"))
        >>> p = to_panel(s)
        >>> p.n_series, p.future_index(0, 2)[0]
        (1, Timestamp('2024-01-04 00:00:00'))
    """
    if isinstance(y, Panel):
        return y
    if isinstance(y, pd.Series):
        layout = Layout("series", name=y.name)
        return _build([("series" if y.name is None else y.name, y.index, y.to_numpy())], freq, layout)
    if isinstance(y, pd.DataFrame):
        if {id_col, time_col, target_col}.issubset(y.columns):
            return _from_long(y, freq, id_col, time_col, target_col)
        if len(y.columns) == 0:
            raise DataError("the DataFrame has no columns: expected one column per series (wide) "
                            f"or the long columns {id_col!r}, {time_col!r}, {target_col!r}")
        if id_col in y.columns or time_col in y.columns:
            # a long frame that lacks a column would otherwise be read as wide: its id or time
            # column would become a series of its own
            missing = [c for c in (id_col, time_col, target_col) if c not in y.columns]
            raise DataError(f"long-format frame is missing column(s) {missing} (it has {list(y.columns)[:6]}); "
                            "a long frame needs a series id, a time and a value column: name them with "
                            "id_col=, time_col=, target_col= (add a constant id column for one series)")
        layout = Layout("wide", name=y.columns.name)
        fast = _wide_fast(y, freq, layout)
        if fast is not None:
            return fast
        items = []
        for col in y.columns:
            values = y[col].to_numpy()
            items.append((col, y.index, _trim_trailing(values, col)))
        return _build(items, freq, layout)
    if isinstance(y, np.ndarray) and y.ndim == 1:
        return to_panel(pd.Series(y), freq=freq)
    raise DataError(f"expected a pandas Series or DataFrame, got {type(y).__name__}")


def check_horizon(h: Any) -> int:
    """``h`` as a positive int, or a clear error."""
    if isinstance(h, (bool, np.bool_)) or not isinstance(h, (int, np.integer)) or h < 1:
        raise ValueError(f"the horizon h must be a positive integer, got {h!r}")
    return int(h)


def check_min_length(panel: Panel, min_length: int, what: str) -> None:
    """Raise a DataError naming every series shorter than ``min_length``."""
    short = np.flatnonzero(panel.lengths < min_length)
    if len(short):
        names = ", ".join(f"{panel.ids[i]!r} ({panel.lengths[i]})" for i in short[:5])
        more = f" and {len(short) - 5} more" if len(short) > 5 else ""
        raise DataError(f"{what} needs at least {min_length} observations per series; "
                        f"too short: {names}{more}")


# ---------------------------------------------------------------------- internals
def _from_long(df: pd.DataFrame, freq: Any, id_col: str, time_col: str, target_col: str) -> Panel:
    layout = Layout("long", id_col=id_col, time_col=time_col, target_col=target_col)
    if len(df) == 0:
        raise DataError("the long-format frame is empty")
    times = df[time_col]
    if pd.api.types.is_float_dtype(times):
        # integer time read as floats (e.g. after a merge): keep it integer, never as nanoseconds
        as_int = np.round(times.to_numpy())
        if np.isnan(as_int).any() or not np.array_equal(as_int, times.to_numpy()):
            raise DataError(f"column {time_col!r} holds non-integer numbers; time must be timestamps or "
                            "integer steps")
        times = pd.Series(as_int.astype(np.int64), index=times.index)
    if not (pd.api.types.is_datetime64_any_dtype(times) or pd.api.types.is_integer_dtype(times)):
        try:
            with warnings.catch_warnings():  # pandas warns when it falls back to dateutil
                warnings.simplefilter("ignore", UserWarning)
                times = pd.to_datetime(times)
        except (ValueError, TypeError) as err:
            raise DataError(f"column {time_col!r} holds values that are neither timestamps nor "
                            f"integers: {err}") from None
    # factorize gives codes in order of first appearance whatever the dtype (a Categorical's own
    # category order must not decide which values belong to which id)
    codes, uniques = pd.factorize(df[id_col], sort=False)
    if (codes < 0).any():                      # factorize codes a missing id as -1
        raise DataError(f"column {id_col!r} has missing series ids")
    ids = np.asarray(uniques, dtype=object)
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    v_all = df[target_col].to_numpy()[order]
    if pd.api.types.is_datetime64_any_dtype(times):
        fast = panel_from_sorted(sorted_codes, pd.DatetimeIndex(times)[order], v_all, ids, freq, layout)
    else:
        fast = panel_from_sorted(sorted_codes, np.asarray(times)[order], v_all, ids, freq, layout)
    if fast is not None:
        return fast
    # something is off: the per-series path finds it and names the series
    bounds = np.searchsorted(sorted_codes, np.arange(len(ids) + 1))
    t_all = np.asarray(times)[order]
    items = [(uid, pd.Index(t_all[bounds[k]:bounds[k + 1]]), v_all[bounds[k]:bounds[k + 1]])
             for k, uid in enumerate(ids)]
    return _build(items, freq, layout)


def _wide_fast(y: pd.DataFrame, freq: Any, layout: Layout) -> Panel | None:
    """A wide frame of numbers over a datetime or integer index as whole arrays (each column's
    trailing NaNs cut here, leading ones by :func:`panel_from_sorted`), or ``None``: the per-column
    path then decides and names what is wrong."""
    index = y.index
    is_dt = isinstance(index, pd.DatetimeIndex)
    if not (is_dt or pd.api.types.is_integer_dtype(index)) or len(index) == 0:
        return None
    if not all(dtype.kind in "iuf" for dtype in y.dtypes) or y.columns.has_duplicates:
        return None
    matrix = y.to_numpy(dtype=np.float64).T                       # [series, time]
    if np.isfinite(matrix).all():                 # complete columns share the index: check it once
        panel = _wide_complete(matrix, index, is_dt, freq, layout, np.asarray(list(y.columns), dtype=object))
        if panel is not None:
            return panel
    observed = ~np.isnan(matrix)
    if not observed.any(axis=1).all():
        return None
    length = matrix.shape[1]
    last = length - np.argmax(observed[:, ::-1], axis=1)           # one past each column's last value
    if (last == length).all():
        keep = None
        values = matrix.reshape(-1)
        codes = np.repeat(np.arange(matrix.shape[0]), length)
        pos = np.tile(np.arange(length), matrix.shape[0])
    else:
        mask = np.arange(length)[None, :] < last[:, None]
        values = matrix[mask]
        codes = np.repeat(np.arange(matrix.shape[0]), last)
        pos = np.nonzero(mask)[1]
    ids = np.asarray(list(y.columns), dtype=object)
    times = index[pos] if is_dt else np.asarray(index, dtype=np.int64)[pos]
    return panel_from_sorted(codes, times, values, ids, freq, layout)


def _wide_complete(matrix: np.ndarray, index: pd.Index, is_dt: bool, freq: Any, layout: Layout,
                   ids: np.ndarray) -> Panel | None:
    """A wide frame without any NaN: one frequency check on the shared index, one magnitude check
    per column, no per-row timestamps (``None`` sends the frame down the general path)."""
    n_series, length = matrix.shape
    one = np.array([0, length])
    if is_dt:
        out_freq = vectorized._datetime_freq(index, one, np.array([length]), freq)
        if out_freq is None:
            return None
        step, start = 1, index[0]
    else:
        step = vectorized._integer_step(np.asarray(index, dtype=np.int64), one)
        if step is None:
            return None
        out_freq, start = None, int(index[0])
    size = np.abs(matrix).max(axis=1)
    if np.any((size > vectorized.MAX_MAGNITUDE) | ((size > 0) & (size < 1.0 / vectorized.MAX_MAGNITUDE))):
        return None
    indptr = np.arange(n_series + 1, dtype=np.int64) * length
    return Panel(np.ascontiguousarray(matrix).reshape(-1), indptr, ids, (start,) * n_series, out_freq, step, layout)


def _trim_trailing(values: np.ndarray, name: Any) -> np.ndarray:
    if values.dtype.kind not in "biuf":
        return values  # reported by _build with the series name
    finite_or_inf = ~np.isnan(values.astype(np.float64))
    if not finite_or_inf.any():
        return values
    last = np.flatnonzero(finite_or_inf)[-1]
    return values[:last + 1]


def _numeric(values: np.ndarray, name: Any) -> np.ndarray:
    if values.dtype.kind == "b" or not (values.dtype.kind in "iuf" or
                                        pd.api.types.is_numeric_dtype(values.dtype)):
        raise DataError(f"series {name!r} has non-numeric values (dtype {values.dtype}); "
                        "convert them with pd.to_numeric first")
    return np.asarray(values, dtype=np.float64)


def _build(items: list, freq: Any, layout: Layout) -> Panel:
    """items: (id, index, values) per series -> validated Panel with one shared frequency."""
    arrays, ids, starts = [], [], []
    panel_freq = pd.tseries.frequencies.to_offset(freq) if freq is not None else None
    step = None
    datetime_kind = None
    for uid, index, raw in items:
        values = _numeric(np.asarray(raw), uid)
        index = pd.Index(index[:len(values)])
        if len(values) == 0:
            raise DataError(f"series {uid!r} is empty")
        finite = ~np.isnan(values)
        if not finite.any():
            raise DataError(f"series {uid!r} has no observations (all values are NaN)")
        first = int(np.argmax(finite))  # leading NaNs are trimmed
        values, index = values[first:], index[first:]
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            what = "inf" if np.isinf(values[bad[0]]) else "NaN"
            raise DataError(f"series {uid!r} has a {what} value at {index[bad[0]]!r} "
                            f"({len(bad)} non-finite value(s) in all); fill or drop them first")
        _check_magnitude(uid, values)
        is_dt = isinstance(index, pd.DatetimeIndex)
        if not is_dt and not pd.api.types.is_integer_dtype(index):
            raise DataError(f"series {uid!r} has an index of type {type(index).__name__}; "
                            "use a DatetimeIndex or an integer (Range) index")
        if datetime_kind is None:
            datetime_kind = is_dt
        elif datetime_kind != is_dt:
            raise DataError("the series mix timestamp and integer time indexes")
        if index.has_duplicates:
            dup = index[index.duplicated()][0]
            raise DataError(f"series {uid!r} has duplicate timestamps (first: {dup!r}); "
                            "aggregate or drop them first")
        if not index.is_monotonic_increasing:
            pos = int(np.flatnonzero(~(index[1:] > index[:-1]))[0])
            raise DataError(f"series {uid!r} has unsorted timestamps ({index[pos]!r} is followed by "
                            f"{index[pos + 1]!r}); sort by time first")
        if is_dt:
            panel_freq = _check_datetime_freq(uid, index, panel_freq, freq)
        else:
            step = _check_integer_step(uid, index, step)
        arrays.append(values)
        ids.append(uid)
        starts.append(index[0] if is_dt else int(index[0]))
    if datetime_kind and panel_freq is None:
        raise DataError("could not infer the frequency of any series (each has fewer than 3 "
                        "timestamps); pass freq=..., e.g. freq='h'")
    panel = Panel.from_arrays(arrays, ids=ids, starts=starts, layout=layout)
    return Panel(panel.values, panel.indptr, panel.ids, panel.starts,
                 panel_freq if datetime_kind else None, step or 1, layout)


def _check_magnitude(uid: Any, values: np.ndarray) -> None:
    size = float(np.max(np.abs(values))) if len(values) else 0.0
    if size > MAX_MAGNITUDE or 0.0 < size < 1.0 / MAX_MAGNITUDE:
        raise DataError(f"series {uid!r} has values of magnitude {size:.1e}, outside what forecasts can be "
                        f"computed on exactly (1e-100 .. 1e100); rescale it (e.g. divide by {size:.0e}) "
                        "and multiply the forecasts back")


def _check_datetime_freq(uid: Any, index: pd.DatetimeIndex, panel_freq: Any, given: Any) -> Any:
    own = index.freq
    if own is None and len(index) >= 3:
        try:
            inferred = pd.infer_freq(index)
        except ValueError:
            inferred = None
        own = pd.tseries.frequencies.to_offset(inferred) if inferred else None
    if given is None and own is not None and panel_freq is not None and own != panel_freq:
        raise DataError(f"series {uid!r} has frequency {own.freqstr!r} but other series have "
                        f"{panel_freq.freqstr!r}; one panel holds one frequency")
    freq = panel_freq or own
    if freq is None:
        if len(index) >= 3:
            raise DataError(f"the frequency of series {uid!r} cannot be inferred (irregular "
                            "timestamps?); pass freq=..., e.g. freq='h', or regularize the data")
        return None
    expected = pd.date_range(start=index[0], periods=len(index), freq=freq)
    found = pd.DatetimeIndex(index).as_unit(expected.unit).asi8
    mism = np.flatnonzero(expected.asi8 != found)
    if len(mism):
        k = int(mism[0])
        raise DataError(f"series {uid!r} does not follow frequency {freq.freqstr!r}: expected "
                        f"{expected[k]!r} but found {index[k]!r} (a gap or irregular step); "
                        "fill the gaps or pass the right freq")
    return freq


def _check_integer_step(uid: Any, index: pd.Index, step: int | None) -> int | None:
    arr = np.asarray(index, dtype=np.int64)
    if len(arr) < 2:
        return step                 # one value says nothing about the step
    diffs = np.diff(arr)
    own = int(diffs[0])
    if own <= 0 or np.any(diffs != own):
        raise DataError(f"series {uid!r} has an integer index without a constant positive step")
    if step is not None and own != step:
        raise DataError(f"series {uid!r} steps by {own} but other series by {step}")
    return own
