"""pandas in: a Series, a wide DataFrame or the long format, checked and turned into a Panel.

Rules, the same for every model and tool:

* A ``pd.Series`` needs a ``DatetimeIndex`` whose frequency is set or can be inferred, or an
  integer index with a constant step (a ``RangeIndex``).
* A wide ``DataFrame`` has one column per series over a shared time index; each column's leading
  and trailing NaNs are trimmed, so series of different lengths can share one frame.
* A long ``DataFrame`` has ``unique_id``, ``ds``, ``y`` columns (names configurable); it is
  recognised by having all three. Rows may come in any order (the library sorts them, stably, by
  series and time; the caller's frame is not touched). A frame with a column named like the
  time or id column but not all three is an error that lists the columns it has.
* Leading and trailing NaNs of a series are trimmed (a series runs from its first to its last
  observation). A NaN inside a series is a *missing value*: kept, and handled by every model
  (docs/data.md), unless ``missing="raise"``. An infinite value is an error, as are non-numeric
  values, empty series and frequencies that differ between series.
* Messy timestamps (docs/data.md): duplicates, stamps off the frequency's grid and gaps are
  errors that name the series, the timestamp and the option that fixes them; ``duplicates=``,
  ``off_grid=`` and ``gaps=`` fix them as :func:`~arforecast.data.regularize.regularize` does
  (``gaps="mark"`` leaves missing values). ``fit``, ``predict(y=...)``, ``backtest``,
  ``detect_anomalies`` and the CLI take the same options.

The caller's object is never modified.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from arforecast.data.panel import Layout, Panel
from arforecast.data import vectorized
from arforecast.data.regularize import _DUPLICATES, _GAPS, _OFF_GRID, regularize
from arforecast.data.vectorized import MAX_MAGNITUDE, panel_from_sorted
from arforecast.exceptions import DataError

PandasInput = "pd.Series | pd.DataFrame"


#: the data-layer options (docs/data.md) and their defaults: refuse messy timestamps, keep missing values
DATA_OPTIONS = {"duplicates": "raise", "off_grid": "raise", "gaps": "raise", "missing": "allow"}
_MISSING = ("allow", "raise")


def to_panel(y: Any, *, freq: Any = None, id_col: str = "unique_id", time_col: str = "ds",
             target_col: str = "y", duplicates: str = "raise", off_grid: str = "raise", gaps: str = "raise",
             missing: str = "allow") -> Panel:
    """Check ``y`` and lay it out as a :class:`Panel`.

    Args:
        y: a ``pd.Series``, a wide ``pd.DataFrame`` or a long ``pd.DataFrame``.
        freq: pandas frequency to use when it cannot be read from the index (e.g. ``"h"``).
        id_col: series id column of the long format.
        time_col: time column of the long format.
        target_col: value column of the long format.
        duplicates: several values at one timestamp: ``"raise"`` (default), ``"first"``, ``"last"``
            or ``"mean"``.
        off_grid: timestamps between the grid points of the frequency: ``"raise"``, ``"floor"`` or
            ``"nearest"`` (moved to the grid point before, or the closest one).
        gaps: grid points without a row: ``"raise"``, ``"mark"`` (a missing value), ``"ffill"`` or
            ``"interpolate"``.
        missing: NaN inside a series: ``"allow"`` (default; every model handles them) or ``"raise"``.

    The fixing options need a fixed-length frequency (seconds to days; see
    :func:`~arforecast.data.regularize.regularize`). The options used are kept in the panel's
    layout, so a fitted model reads new histories (``predict(y=...)``) the same way.

    Example:
        >>> s = pd.Series([1.0, 2.0, 3.0], index=pd.date_range("2024-01-01", periods=3, freq="D"))
        >>> p = to_panel(s)
        >>> p.n_series, p.future_index(0, 2)[0]
        (1, Timestamp('2024-01-04 00:00:00'))
        >>> messy = pd.Series([1.0, 2.0, 4.0, np.nan, 5.0],
        ...                   index=pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-02", "2024-01-03",
        ...                                         "2024-01-05"]))
        >>> to_panel(messy, duplicates="mean", gaps="mark").values.tolist()
        [1.0, 3.0, nan, nan, 5.0]
    """
    if isinstance(y, Panel):
        return y
    options = check_data_options(duplicates=duplicates, off_grid=off_grid, gaps=gaps, missing=missing)
    if gaps == "mark" and missing == "raise":
        raise ValueError("gaps='mark' leaves missing values, which missing='raise' refuses: choose one")
    y = tidy(y, freq, id_col=id_col, time_col=time_col, target_col=target_col, duplicates=duplicates,
             off_grid=off_grid, gaps=gaps)
    kept = tuple((k, v) for k, v in options.items() if v != DATA_OPTIONS[k])
    if isinstance(y, pd.Series):
        layout = Layout("series", name=y.name, options=kept)
        return _build([("series" if y.name is None else y.name, y.index, y.to_numpy())], freq, layout, missing)
    if isinstance(y, pd.DataFrame):
        if _is_long(y, id_col, time_col, target_col):
            return _from_long(y, freq, id_col, time_col, target_col, missing, kept)
        if len(y.columns) == 0:
            raise DataError("the DataFrame has no columns: expected one column per series (wide) "
                            f"or the long columns {id_col!r}, {time_col!r}, {target_col!r}")
        layout = Layout("wide", name=y.columns.name, options=kept)
        fast = _wide_fast(y, freq, layout, missing)
        if fast is not None:
            return fast
        items = []
        for col in y.columns:
            values = y[col].to_numpy()
            items.append((col, y.index, values))
        return _build(items, freq, layout, missing)
    if isinstance(y, np.ndarray) and y.ndim == 1:
        return to_panel(pd.Series(y), freq=freq, missing=missing)
    raise DataError(f"expected a pandas Series or DataFrame, got {type(y).__name__}")


def check_data_options(**options: str) -> dict[str, str]:
    """The data-layer options (:data:`DATA_OPTIONS`) checked against their choices."""
    choices = {"duplicates": _DUPLICATES, "off_grid": _OFF_GRID, "gaps": _GAPS, "missing": _MISSING}
    for name, value in options.items():
        if value not in choices[name]:
            raise ValueError(f"{name} must be one of {choices[name]}, got {value!r}")
    return options


def split_data_options(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``kwargs`` split into the data-layer options and the rest."""
    data = {k: v for k, v in kwargs.items() if k in DATA_OPTIONS}
    return data, {k: v for k, v in kwargs.items() if k not in DATA_OPTIONS}


def tidy(y: Any, freq: Any = None, *, id_col: str = "unique_id", time_col: str = "ds", target_col: str = "y",
         duplicates: str = "raise", off_grid: str = "raise", gaps: str = "raise") -> Any:
    """``y`` in time order and, when an option asks, on a regular grid: a new pandas object of the
    same kind (``y`` itself when nothing needed changing; the caller's object is never modified).

    Long frames must name their columns (a frame with a time or id column but not all three is an
    error listing its columns). With every option at ``"raise"``, only the order changes: rows are
    sorted by time within each series; duplicates, off-grid stamps and gaps are left for
    :func:`to_panel` to report.

    Example:
        >>> df = pd.DataFrame({"unique_id": ["a", "a", "a"], "ds": [3, 1, 2], "y": [3.0, 1.0, 2.0]})
        >>> tidy(df)["y"].tolist(), df["y"].tolist()
        ([1.0, 2.0, 3.0], [3.0, 1.0, 2.0])
    """
    fixing = (duplicates, off_grid, gaps) != ("raise", "raise", "raise")
    if isinstance(y, pd.DataFrame):
        long = _is_long(y, id_col, time_col, target_col)
        if fixing:
            return regularize(y, freq, sort=True, duplicates=duplicates, gaps=gaps, off_grid=off_grid,
                              id_col=id_col, time_col=time_col, target_col=target_col)
        if long:
            return _sorted_long(y, id_col, time_col)
        if _sortable(y.index) and not y.index.is_monotonic_increasing:
            return y.sort_index(kind="stable")
        return y
    if isinstance(y, pd.Series):
        if fixing:
            return regularize(y, freq, sort=True, duplicates=duplicates, gaps=gaps, off_grid=off_grid)
        if _sortable(y.index) and not y.index.is_monotonic_increasing:
            return y.sort_index(kind="stable")
    return y


def _sorted_long(y: pd.DataFrame, id_col: str, time_col: str) -> pd.DataFrame:
    """A long frame with each series' rows in time order (``y`` itself when they already are)."""
    times = y[time_col]
    if not (pd.api.types.is_datetime64_any_dtype(times) or pd.api.types.is_integer_dtype(times)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                times = pd.to_datetime(times)
        except (ValueError, TypeError):
            return y                                 # to_panel reports the column
    codes, uniques = pd.factorize(y[id_col], sort=False)
    _, _, order = _long_order(y[id_col], codes, uniques, times)
    if np.array_equal(order, np.arange(len(order))):
        return y
    return y.iloc[order]


def _sortable(index: pd.Index) -> bool:
    return isinstance(index, pd.DatetimeIndex) or pd.api.types.is_integer_dtype(index)


def _is_long(y: pd.DataFrame, id_col: str, time_col: str, target_col: str) -> bool:
    """Whether ``y`` is a long frame; a frame that looks long but lacks a column is an error."""
    cols = set(y.columns)
    if {id_col, time_col, target_col}.issubset(cols):
        return True
    looks_long = (id_col in cols or time_col in cols
                  or (isinstance(y.index, pd.RangeIndex) and any(not pd.api.types.is_numeric_dtype(t)
                                                                   or pd.api.types.is_datetime64_any_dtype(t)
                                                                   for t in y.dtypes)))
    if looks_long:
        # a long frame read as wide would turn its id or time column into a series of its own
        missing = [c for c in (id_col, time_col, target_col) if c not in cols]
        seen = list(y.columns)
        raise DataError(f"this looks like a long-format frame, but column(s) {missing} are not among its "
                        f"columns {seen[:20]}{' ...' if len(seen) > 20 else ''}; name the series id, time and "
                        "value columns with id_col=, time_col=, target_col= (add a constant id column for one "
                        "series), or pass a wide frame: a time index and one numeric column per series")
    return False


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
def _from_long(df: pd.DataFrame, freq: Any, id_col: str, time_col: str, target_col: str,
               missing: str = "allow", options: tuple = ()) -> Panel:
    layout = Layout("long", id_col=id_col, time_col=time_col, target_col=target_col, options=options)
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
    codes, uniques, order = _long_order(df[id_col], codes, uniques, times)
    ids = np.asarray(uniques, dtype=object)
    sorted_codes = codes[order]
    v_all = df[target_col].to_numpy()[order]
    if pd.api.types.is_datetime64_any_dtype(times):
        fast = panel_from_sorted(sorted_codes, pd.DatetimeIndex(times)[order], v_all, ids, freq, layout, missing)
    else:
        fast = panel_from_sorted(sorted_codes, np.asarray(times)[order], v_all, ids, freq, layout, missing)
    if fast is not None:
        return fast
    # something is off: the per-series path finds it and names the series
    bounds = np.searchsorted(sorted_codes, np.arange(len(ids) + 1))
    t_all = np.asarray(times)[order]
    items = [(uid, pd.Index(t_all[bounds[k]:bounds[k + 1]]), v_all[bounds[k]:bounds[k + 1]])
             for k, uid in enumerate(ids)]
    return _build(items, freq, layout, missing)


def _long_order(id_values: pd.Series, codes: np.ndarray, uniques: Any, times: Any) -> tuple[np.ndarray, Any, np.ndarray]:
    """Series codes, their ids and the row order (grouped by series, time order within each).

    Series come in order of first appearance; when rows were out of time order (a shuffled
    frame), in sorted id order instead (where ids sort), so that the panel does not depend on how
    the rows were shuffled."""
    order = np.argsort(codes, kind="stable")
    resorted = _time_order(order, codes[order], times)
    if resorted is order:
        return codes, uniques, order
    try:
        codes, uniques = pd.factorize(id_values, sort=True)
    except TypeError:                          # ids of mixed types: first appearance
        return codes, uniques, resorted
    order = np.argsort(codes, kind="stable")
    return codes, uniques, _time_order(order, codes[order], times)


def _time_order(order: np.ndarray, sorted_codes: np.ndarray, times: Any) -> np.ndarray:
    """``order`` (rows grouped by series) re-ordered by time within each series (stable), when needed.

    Rows may come in any order: the library sorts them, never the caller's frame."""
    t = np.asarray(pd.DatetimeIndex(times).asi8 if pd.api.types.is_datetime64_any_dtype(times) else times)
    if t.dtype.kind not in "iu":
        return order                           # NaT or odd types: the per-series path reports them
    ts = t[order]
    same = sorted_codes[1:] == sorted_codes[:-1]
    if not np.any(same & (ts[1:] < ts[:-1])):
        return order
    return order[np.lexsort((ts, sorted_codes))]


def _wide_fast(y: pd.DataFrame, freq: Any, layout: Layout, missing: str = "allow") -> Panel | None:
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
    return panel_from_sorted(codes, times, values, ids, freq, layout, missing)


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


def _build(items: list, freq: Any, layout: Layout, missing: str = "allow") -> Panel:
    """items: (id, index, values) per series -> validated Panel with one shared frequency."""
    arrays, ids, starts = [], [], []
    panel_freq = pd.tseries.frequencies.to_offset(freq) if freq is not None else _first_inferable(items)
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
        first = int(np.argmax(finite))  # leading and trailing NaNs are trimmed
        last = len(finite) - int(np.argmax(finite[::-1]))
        values, index = values[first:last], index[first:last]
        bad = np.flatnonzero(np.isinf(values))
        if len(bad):
            raise DataError(f"series {uid!r} has an inf value at {index[bad[0]]!r} "
                            f"({len(bad)} infinite value(s) in all); replace them (e.g. by NaN, a missing value)")
        holes = np.flatnonzero(np.isnan(values))
        if len(holes) and missing == "raise":
            raise DataError(f"series {uid!r} has a missing value (NaN) at {index[holes[0]]!r} "
                            f"({len(holes)} in all) and missing='raise'; fill or drop them, or pass "
                            "missing='allow' (the default: every model handles them)")
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
            dups = index[index.duplicated()].unique()
            raise DataError(f"series {uid!r} has {len(dups)} duplicate timestamp(s) (first: {dups[0]!r}); "
                            "pass duplicates='first', 'last' or 'mean' (CLI: --duplicates) to keep one value "
                            "per timestamp")
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


def _first_inferable(items: list) -> Any:
    """The frequency of the first series whose timestamps give one (so that a series with a gap or
    an off-grid stamp is measured against it and its error says which), or ``None``."""
    for _, index, _ in items:
        if isinstance(index, pd.DatetimeIndex) and len(index) >= 3 and index.is_monotonic_increasing:
            try:
                inferred = index.freq or pd.infer_freq(index)
            except (ValueError, TypeError):
                continue
            if inferred:
                return pd.tseries.frequencies.to_offset(inferred)
    return None


def _check_magnitude(uid: Any, values: np.ndarray) -> None:
    size = float(np.nanmax(np.abs(values))) if len(values) else 0.0
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
                            "timestamps?); pass freq=..., e.g. freq='h'; for gaps, duplicates or stamps off the grid also "
                            "gaps=, duplicates=, off_grid= (docs/data.md)")
        return None
    expected = pd.date_range(start=index[0], periods=len(index), freq=freq)
    found = pd.DatetimeIndex(index).as_unit(expected.unit).asi8
    mism = np.flatnonzero(expected.asi8 != found)
    if len(mism):
        k = int(mism[0])
        grid = pd.date_range(start=index[0], end=index[-1], freq=freq).as_unit(expected.unit).asi8
        if np.isin(found, grid).all():           # every stamp on the grid: rows are missing
            n_gaps = len(grid) - len(index)
            raise DataError(f"series {uid!r} has a gap: {n_gaps} missing timestamp(s) of frequency {freq.freqstr!r}, "
                            f"the first at {expected[k]!r} (the next row is at {index[k]!r}); pass gaps='mark' "
                            "(missing values, which every model handles), 'ffill' or 'interpolate' (CLI: --gaps)")
        raise DataError(f"series {uid!r} has a timestamp off the grid of frequency {freq.freqstr!r}: "
                        f"{index[k]!r} where {expected[k]!r} was expected; pass off_grid='floor' or 'nearest' "
                        "(CLI: --off-grid) to move such stamps to the grid, or the right freq=")
    return freq


def _check_integer_step(uid: Any, index: pd.Index, step: int | None) -> int | None:
    arr = np.asarray(index, dtype=np.int64)
    if len(arr) < 2:
        return step                 # one value says nothing about the step
    diffs = np.diff(arr)
    own = int(diffs.min())
    if own > 0 and np.all(diffs == own):
        if step is not None and own != step:
            raise DataError(f"series {uid!r} steps by {own} but other series by {step}")
        return own
    want = step or own
    k = int(np.flatnonzero(diffs != want)[0]) if want > 0 else 0
    kind = "a gap" if want > 0 and diffs[k] % want == 0 else "a time off the grid"
    raise DataError(f"series {uid!r} has an integer index without a constant step {want}: {kind} between "
                    f"{arr[k]} and {arr[k + 1]}; pass gaps='mark', 'ffill' or 'interpolate', or "
                    "off_grid='floor' or 'nearest' (CLI: --gaps, --off-grid)")
