"""Real-world time axes made regular, by explicit choice, before :func:`arforecast.to_panel`.

:func:`~arforecast.data.frames.to_panel` refuses unsorted, duplicated or gappy timestamps with a
clear error. Real logs have all three (a clock going back, a repeated hour at a daylight-saving
change, a sensor off for a week). :func:`regularize` fixes them, each quirk by an option that
says what to do; every option defaults to ``"raise"`` (or ``False``), so nothing is changed
silently:

========== ===================================================== =============================
option     what it handles                                       choices
========== ===================================================== =============================
sort       timestamps that go backwards                          ``False`` (raise), ``True``
off_grid   timestamps between the grid points of ``freq``         ``"raise"``, ``"floor"``,
                                                                 ``"nearest"``
duplicates several values on one grid point                      ``"raise"``, ``"first"``,
                                                                 ``"last"``, ``"mean"``
gaps       grid points without a value                            ``"raise"``, ``"mark"`` (NaN),
                                                                 ``"ffill"``, ``"interpolate"``
========== ===================================================== =============================

The grid of a series starts at its first (earliest) timestamp and steps by ``freq`` (inferred
as the most common step when not given). ``gaps="mark"`` leaves NaN where nothing was observed:
:func:`arforecast.detect_anomalies` accepts such NaNs (it does not score them and feeds the
forecast forward), while ``to_panel`` and the forecasters want them filled. ``"ffill"`` is
causal (it only uses the past); ``"interpolate"`` looks at the value after the gap, so do not
use it on data you will score online.

The caller's object is never modified; the result has the caller's layout (Series, wide or
long frame).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from arforecast.exceptions import DataError

_DUPLICATES = ("raise", "first", "last", "mean")
_GAPS = ("raise", "mark", "ffill", "interpolate")
_OFF_GRID = ("raise", "floor", "nearest")


def regularize(y: Any, freq: Any = None, *, sort: bool = False, duplicates: str = "raise",
               gaps: str = "raise", off_grid: str = "raise", id_col: str = "unique_id",
               time_col: str = "ds", target_col: str = "y") -> Any:
    """Put each series of ``y`` on a regular time grid, handling quirks as the options say.

    Args:
        y: a ``pd.Series`` with a ``DatetimeIndex`` (or integer index), a wide DataFrame (one
            column per series over a shared index) or a long frame ``unique_id, ds, y``.
        freq: the grid step (e.g. ``"5min"``); inferred per series as the most common step.
        sort: sort by time (stable) instead of raising on timestamps that go backwards.
        duplicates: what to do with several values on one grid point.
        gaps: what to do with grid points that have no value.
        off_grid: what to do with timestamps between grid points (``"floor"`` moves them to the
            grid point before, ``"nearest"`` to the closest one).
        id_col, time_col, target_col: column names of the long format.

    Returns:
        A new object of the same kind as ``y`` on the regular grid.

    Example:
        >>> ts = pd.to_datetime(["2024-01-01 00:00", "2024-01-01 02:00", "2024-01-01 01:00",
        ...                      "2024-01-01 01:00", "2024-01-01 04:00"])
        >>> s = pd.Series([1.0, 3.0, 2.0, 4.0, 5.0], index=ts)
        >>> regularize(s, "h", sort=True, duplicates="mean", gaps="mark").tolist()
        [1.0, 3.0, 3.0, nan, 5.0]
    """
    _check_choice("duplicates", duplicates, _DUPLICATES)
    _check_choice("gaps", gaps, _GAPS)
    _check_choice("off_grid", off_grid, _OFF_GRID)
    opts = dict(freq=freq, sort=bool(sort), duplicates=duplicates, gaps=gaps, off_grid=off_grid)
    if isinstance(y, pd.Series):
        frame = _regularize_one(y.to_frame(name="__v"), "series" if y.name is None else y.name, **opts)
        return frame["__v"].rename(y.name)
    if isinstance(y, pd.DataFrame):
        if {id_col, time_col, target_col}.issubset(y.columns):
            return _regularize_long(y, id_col, time_col, target_col, opts)
        return _regularize_one(y, "wide frame", **opts)
    raise DataError(f"regularize expects a pandas Series or DataFrame, got {type(y).__name__}")


def _check_choice(name: str, value: str, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _regularize_long(df: pd.DataFrame, id_col: str, time_col: str, target_col: str,
                     opts: dict) -> pd.DataFrame:
    times = df[time_col]
    if not (pd.api.types.is_datetime64_any_dtype(times) or pd.api.types.is_integer_dtype(times)):
        try:
            times = pd.to_datetime(times)
        except (ValueError, TypeError) as err:
            raise DataError(f"column {time_col!r} holds values that are neither timestamps nor "
                            f"integers: {err}") from None
    pieces = []
    for uid, rows in df.assign(**{time_col: times}).groupby(id_col, sort=False):
        one = rows[[target_col]].set_axis(pd.Index(rows[time_col].to_numpy()), axis=0)
        out = _regularize_one(one, uid, **opts)
        pieces.append(pd.DataFrame({id_col: uid, time_col: out.index, target_col: out[target_col].to_numpy()}))
    return pd.concat(pieces, ignore_index=True)


def _regularize_one(frame: pd.DataFrame, name: Any, *, freq: Any, sort: bool, duplicates: str,
                    gaps: str, off_grid: str) -> pd.DataFrame:
    """One time index (shared by the columns of ``frame``) made regular."""
    index = frame.index
    if isinstance(index, pd.DatetimeIndex) or pd.api.types.is_datetime64_any_dtype(index):
        index = pd.DatetimeIndex(index)
        if index.hasnans:
            raise DataError(f"series {name!r} has missing timestamps (NaT); drop those rows first")
        if index.tz is not None:
            raise DataError(f"series {name!r} has time-zone aware timestamps; convert them "
                            "(e.g. index.tz_convert(None)) so that the grid is unambiguous")
        ticks = index.asi8.astype(np.int64)
        step = _datetime_step(name, index, ticks, freq)
    elif pd.api.types.is_integer_dtype(index):
        ticks = np.asarray(index, dtype=np.int64)
        step = int(freq) if freq is not None else _mode_step(name, ticks)
    else:
        raise DataError(f"series {name!r} has an index of type {type(index).__name__}; use a "
                        "DatetimeIndex or an integer index")
    if len(ticks) == 0:
        raise DataError(f"series {name!r} is empty")
    values = frame.to_numpy(dtype=np.float64, copy=True) if _numeric(frame) else None
    if values is None:
        raise DataError(f"series {name!r} has non-numeric values; convert them with pd.to_numeric first")

    backwards = np.flatnonzero(np.diff(ticks) < 0)
    if len(backwards):
        if not sort:
            k = int(backwards[0])
            raise DataError(f"series {name!r} goes back in time ({index[k]!r} is followed by "
                            f"{index[k + 1]!r}); pass sort=True to sort by time")
        order = np.argsort(ticks, kind="stable")
        ticks, values, index = ticks[order], values[order], index[order]

    origin = ticks[0]
    offset = (ticks - origin) / step
    if off_grid == "raise":
        bad = np.flatnonzero(offset != np.floor(offset))
        if len(bad):
            raise DataError(f"series {name!r} has timestamps off its grid (step {_describe(step, index)} "
                            f"from {index[0]!r}); first: {index[bad[0]]!r}. Pass off_grid='floor' "
                            "or 'nearest', or the right freq")
        slot = offset.astype(np.int64)
    elif off_grid == "floor":
        slot = np.floor(offset).astype(np.int64)
    else:
        slot = np.floor(offset + 0.5).astype(np.int64)

    repeated = np.flatnonzero(np.diff(slot) == 0)
    if len(repeated) and duplicates == "raise":
        k = int(repeated[0])
        raise DataError(f"series {name!r} has several values at {index[k + 1]!r} (or on one grid "
                        "point); pass duplicates='first', 'last' or 'mean'")
    uniq, first_pos = np.unique(slot, return_index=True)
    if duplicates in ("raise", "first"):
        kept = values[first_pos]
    elif duplicates == "last":
        last_pos = np.r_[first_pos[1:], len(slot)] - 1
        kept = values[last_pos]
    else:
        kept = np.stack([np.add.reduceat(values[:, j], first_pos) / np.diff(np.r_[first_pos, len(slot)])
                         for j in range(values.shape[1])], axis=1)

    n_slots = int(uniq[-1]) + 1
    missing = n_slots - len(uniq)
    if missing and gaps == "raise":
        k = int(np.flatnonzero(np.diff(uniq) > 1)[0])
        raise DataError(f"series {name!r} has {missing} missing grid point(s) (first gap after "
                        f"{_grid_time(index, origin, step, int(uniq[k]))!r}); pass gaps='mark', "
                        "'ffill' or 'interpolate'")
    out = np.full((n_slots, values.shape[1]), np.nan)
    out[uniq] = kept
    if missing and gaps in ("ffill", "interpolate"):
        observed = np.zeros(n_slots, dtype=bool)
        observed[uniq] = True
        grid = np.arange(n_slots)
        for j in range(out.shape[1]):
            if gaps == "ffill":
                last = np.maximum.accumulate(np.where(observed, grid, 0))
                out[~observed, j] = out[last[~observed], j]
            else:
                out[~observed, j] = np.interp(grid[~observed], uniq, kept[:, j])
    new_index = _grid_index(index, origin, step, n_slots, freq)
    return pd.DataFrame(out, index=new_index, columns=frame.columns)


def _numeric(frame: pd.DataFrame) -> bool:
    return all(pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t) for t in frame.dtypes)


def _datetime_step(name: Any, index: pd.DatetimeIndex, ticks: np.ndarray, freq: Any) -> int:
    unit_ns = np.timedelta64(1, index.unit).astype("timedelta64[ns]").astype(np.int64)
    if freq is None:
        return _mode_step(name, ticks)
    offset = pd.tseries.frequencies.to_offset(freq)
    try:
        # pandas 3 no longer converts a Day offset (a calendar day there) to a Timedelta
        delta = pd.Timedelta(days=offset.n) if isinstance(offset, pd.offsets.Day) else pd.Timedelta(offset)
    except (ValueError, TypeError):
        raise DataError(f"regularize needs a fixed-length freq (e.g. '5min', 'h', 'D'), got "
                        f"{offset.freqstr!r}") from None
    return int(delta.value // unit_ns)


def _mode_step(name: Any, ticks: np.ndarray) -> int:
    diffs = np.diff(np.sort(ticks))
    diffs = diffs[diffs > 0]
    if len(diffs) == 0:
        raise DataError(f"cannot infer the step of series {name!r} (fewer than two distinct "
                        "timestamps); pass freq=...")
    values, counts = np.unique(diffs, return_counts=True)
    return int(values[np.argmax(counts)])


def _describe(step: int, index: pd.Index) -> str:
    if isinstance(index, pd.DatetimeIndex):
        return str(pd.Timedelta(step, unit=index.unit))
    return str(step)


def _grid_time(index: pd.Index, origin: int, step: int, slot: int) -> Any:
    tick = origin + step * slot
    if isinstance(index, pd.DatetimeIndex):
        return pd.Timestamp(np.datetime64(int(tick), index.unit))
    return int(tick)


def _grid_index(index: pd.Index, origin: int, step: int, n: int, freq: Any) -> pd.Index:
    ticks = origin + step * np.arange(n, dtype=np.int64)
    if isinstance(index, pd.DatetimeIndex):
        out = pd.DatetimeIndex(ticks.astype(f"datetime64[{index.unit}]"))
        if n >= 3 or freq is not None:
            out.freq = pd.tseries.frequencies.to_offset(freq) if freq is not None else \
                pd.tseries.frequencies.to_offset(pd.Timedelta(step, unit=index.unit))
        return out
    return pd.RangeIndex(int(origin), int(origin) + step * n, step) if n else pd.RangeIndex(0)
