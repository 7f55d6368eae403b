"""The vectorized conversion of a sorted long frame into a Panel: array work only, no loop over series.

:func:`arforecast.data.frames.to_panel` tries this first. It checks the same things as the
per-series path (numeric values, leading and trailing NaNs trimmed, no infinite value inside a series,
strictly increasing time, one frequency and no gaps, one integer step, magnitudes float64 can
carry) on whole arrays at once,
and returns ``None`` when any check fails or the input is unusual; the per-series path then runs
and raises its error, naming the series. So the errors are the per-series path's, and the fast
path only has to decide "all clear".

Example:
    >>> import pandas as pd
    >>> codes = np.array([0, 0, 0, 1, 1, 1])
    >>> times = pd.DatetimeIndex(pd.date_range("2024-01-01", periods=3, freq="h").tolist() * 2)
    >>> p = panel_from_sorted(codes, times, np.arange(6.0), np.array(["a", "b"], dtype=object), None,
    ...                       Layout("long"))
    >>> p.lengths.tolist(), p.freq.freqstr
    ([3, 3], 'h')
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from arforecast.data.panel import Layout, Panel

#: values beyond this magnitude (or non-zero series entirely below its inverse) are refused: sums of
#: squares, which every model's spread needs, would overflow (or underflow) float64
MAX_MAGNITUDE = 1e100


def panel_from_sorted(codes: np.ndarray, times: pd.Index | np.ndarray, values: np.ndarray, ids: np.ndarray,
                      freq: Any, layout: Layout, missing: str = "allow") -> Panel | None:
    """A Panel from rows grouped by series (``codes`` non-decreasing, time order kept within each
    series), or ``None`` when the per-series path must decide. Leading and trailing NaNs of each
    series are trimmed; NaNs inside are missing values (``None`` with ``missing="raise"``)."""
    if values.dtype.kind not in "iuf":
        return None
    values = values.astype(np.float64, copy=False)
    n_series = len(ids)
    bounds = np.searchsorted(codes, np.arange(n_series + 1))
    counts = np.diff(bounds)
    if n_series == 0 or np.any(counts == 0):
        return None
    # leading NaNs are trimmed: the first observed row of each series
    observed = ~np.isnan(values)
    big = len(values)
    first_obs = np.minimum.reduceat(np.where(observed, np.arange(big), big), bounds[:-1])
    if np.any(first_obs >= bounds[1:]):
        return None                                   # a series with no observation
    last_obs = np.maximum.reduceat(np.where(observed, np.arange(big), -1), bounds[:-1])
    if np.array_equal(first_obs, bounds[:-1]) and np.array_equal(last_obs, bounds[1:] - 1):
        keep = slice(None)                            # nothing to trim (the usual case): no copy
        if not np.isfinite(values).all() and (missing == "raise" or np.isinf(values).any()):
            return None
        new_bounds, lengths, series_values = bounds, counts, values
    else:
        pos = np.arange(big)
        keep = (pos >= np.repeat(first_obs, counts)) & (pos <= np.repeat(last_obs, counts))
        inside = values[keep]
        if np.isinf(inside).any() or (missing == "raise" and np.isnan(inside).any()):
            return None                               # inf (or a refused NaN) inside a series
        new_bounds = np.searchsorted(codes[keep], np.arange(n_series + 1))
        lengths = np.diff(new_bounds)
        series_values = values[keep]
    if not _magnitudes_ok(series_values, new_bounds):
        return None
    if isinstance(times, pd.DatetimeIndex):
        t = times[keep]
        out_freq = _datetime_freq(t, new_bounds, lengths, freq)
        if out_freq is None:
            return None
        starts = tuple(t[new_bounds[:-1]])
        step = 1
    else:
        t = np.asarray(times, dtype=np.int64)[keep]
        step = _integer_step(t, new_bounds)
        if step is None:
            return None
        out_freq, starts = None, tuple(int(s) for s in t[new_bounds[:-1]])
    indptr = new_bounds.astype(np.int64)
    return Panel(np.ascontiguousarray(series_values), indptr, ids, starts, out_freq, step, layout)


def _magnitudes_ok(values: np.ndarray, bounds: np.ndarray) -> bool:
    """Every series' largest ``|value|`` within what float64 maths can carry (see ``MAX_MAGNITUDE``)."""
    size = np.fmax.reduceat(np.abs(values), bounds[:-1].astype(np.intp))       # fmax: NaN (missing) ignored
    return not np.any((size > MAX_MAGNITUDE) | ((size > 0) & (size < 1.0 / MAX_MAGNITUDE)))


def _inner(bounds: np.ndarray, n: int) -> np.ndarray:
    """Mask of the differences ``x[1:] - x[:-1]`` that lie inside one series."""
    inner = np.ones(max(n - 1, 0), dtype=bool)
    cut = bounds[1:-1] - 1
    inner[cut[(cut >= 0) & (cut < n - 1)]] = False
    return inner


def _integer_step(t: np.ndarray, bounds: np.ndarray) -> int | None:
    diffs = np.diff(t)[_inner(bounds, len(t))]
    if len(diffs) == 0:
        return 1
    step = int(diffs[0])
    if step <= 0 or np.any(diffs != step):
        return None
    return step


def _datetime_freq(t: pd.DatetimeIndex, bounds: np.ndarray, lengths: np.ndarray, given: Any) -> Any:
    """The panel's frequency if every series follows it without a gap, else ``None``."""
    if given is not None:
        offset = pd.tseries.frequencies.to_offset(given)
    else:
        longest = int(np.argmax(lengths))
        if lengths[longest] < 3:
            return None
        try:
            inferred = pd.infer_freq(t[bounds[longest]:bounds[longest + 1]])
        except (ValueError, TypeError):
            return None
        if inferred is None:
            return None
        offset = pd.tseries.frequencies.to_offset(inferred)
    inner = _inner(bounds, len(t))
    nanos = _tick_nanos(offset)
    if nanos is not None:                 # a fixed step: integer arithmetic, every start is on the grid
        steps = np.diff(t.asi8)[inner]
        return offset if np.all(steps == nanos * _unit_per_nano(t)) else None
    with warnings.catch_warnings():       # offsets without a vectorized form warn and loop
        warnings.simplefilter("ignore")
        try:
            following = t[:-1] + offset
            on_offset = (t[bounds[:-1]] + offset) - offset
        except (TypeError, ValueError, OverflowError):
            return None
    if not np.array_equal(np.asarray(following)[inner], np.asarray(t[1:])[inner]):
        return None
    if not np.array_equal(np.asarray(on_offset), np.asarray(t[bounds[:-1]])):
        return None                       # a start the frequency would move (not on its grid)
    return offset


def _tick_nanos(offset: Any) -> int | None:
    """Nanoseconds of a fixed-length offset (hours, minutes, ...; days count as 24 h here, as
    pandas' ``Day`` does), ``None`` for calendar offsets (months, weeks anchored on a weekday, ...)."""
    if isinstance(offset, pd.offsets.Tick):
        return int(offset.nanos)
    return None


def _unit_per_nano(t: pd.DatetimeIndex) -> float:
    """``t.asi8`` counts in ``t.unit``: how many of those a nanosecond is (for comparing steps)."""
    return {"ns": 1, "us": 1e-3, "ms": 1e-6, "s": 1e-9}[t.unit]
