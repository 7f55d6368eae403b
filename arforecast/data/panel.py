"""Many series as one array plus offsets, with the time axis of each and the caller's layout.

Every model and tool goes through :func:`to_panel` (pandas in) and :meth:`Panel.to_pandas`
(pandas out), so input checks and future timestamps live in one place.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Sequence

import numpy as np
import pandas as pd

from arforecast.data.frequency import calendar_positions, season_lengths, shift_times

LONG_COLUMNS = ("unique_id", "ds", "y")


@dataclass(frozen=True)
class Layout:
    """How the caller's data looked, so that outputs come back the same way.

    ``kind`` is ``"series"`` (a ``pd.Series``), ``"wide"`` (one column per series) or ``"long"``
    (``unique_id``, ``ds``, ``y`` columns; names configurable). ``options`` holds the data-layer
    options (``(name, value)`` pairs, e.g. ``(("gaps", "mark"),)``) the data was read with, so that
    new histories of a fitted model are read the same way.
    """

    kind: str
    name: Any = None
    id_col: str = "unique_id"
    time_col: str = "ds"
    target_col: str = "y"
    options: tuple = ()


def pack(arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """1-D float arrays -> ``(values, indptr)``: one concatenated array plus offsets."""
    lengths = np.array([len(a) for a in arrays], dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    values = np.concatenate(arrays).astype(np.float64, copy=False) if len(arrays) else np.zeros(0)
    return values, indptr


def within_series(indptr: np.ndarray) -> np.ndarray:
    """Each row's index within its series (``0 .. length - 1``), for rows laid out by ``indptr``.

    Example:
        >>> within_series(np.array([0, 2, 5])).tolist()
        [0, 1, 0, 1, 2]
    """
    return np.arange(int(indptr[-1])) - np.repeat(indptr[:-1], np.diff(indptr))


def rows_of_ids(known: Sequence[Any], wanted: Sequence[Any]) -> tuple[np.ndarray, list[Any]]:
    """Position of each of ``wanted`` in ``known``, and the ids of ``wanted`` not in ``known``
    (the rows are only meaningful when that list is empty).

    Example:
        >>> rows, unknown = rows_of_ids(["a", "b", "c"], ["c", "a", "z"])
        >>> rows.tolist()[:2], unknown
        ([2, 0], ['z'])
    """
    lookup = {uid: k for k, uid in enumerate(known)}
    unknown = [uid for uid in wanted if uid not in lookup]
    return np.array([lookup.get(uid, -1) for uid in wanted], dtype=np.int64), unknown


@dataclass(frozen=True)
class Panel:
    """A panel of series stored as one float64 array plus offsets (statsforecast's layout).

    Series ``i`` is ``values[indptr[i]:indptr[i+1]]``; its timestamps start at ``starts[i]`` and
    advance by ``freq`` (a pandas offset) or, for integer time, by ``step``.

    The panel owns time: :attr:`origins` places every series on one calendar grid of its
    frequency (steps since 1970 for timestamps, the integer time divided by ``step`` otherwise),
    so observation ``k`` of series ``i`` sits at calendar position ``origins[i] + k`` and
    ``position % season`` is a calendar phase (:mod:`arforecast.data.frequency`). Models take
    positions and phases from here, never from series lengths.

    Example:
        >>> p = Panel.from_arrays([[1.0, 2.0, 3.0], [4.0, 5.0]], ids=["a", "b"])
        >>> p.n_series, p.lengths.tolist(), p.series(1).tolist()
        (2, [3, 2], [4.0, 5.0])
    """

    values: np.ndarray
    indptr: np.ndarray
    ids: np.ndarray
    starts: tuple
    freq: Any = None
    step: int = 1
    layout: Layout = field(default_factory=lambda: Layout("long"))

    # ------------------------------------------------------------------ construction
    @staticmethod
    def from_arrays(arrays: Sequence[Sequence[float]], ids: Sequence | None = None,
                    starts: Sequence | None = None, freq: Any = None,
                    layout: Layout | None = None) -> "Panel":
        """A panel from a list of 1-D arrays: integer time starting at 0, or timestamps from
        ``starts`` advancing by ``freq`` (both needed for timestamps: no start date is assumed)."""
        arrays = [np.asarray(a, dtype=np.float64).reshape(-1) for a in arrays]
        values, indptr = pack(arrays)
        ids = np.asarray(list(range(len(arrays))) if ids is None else list(ids), dtype=object)
        if freq is not None and starts is None:
            raise ValueError("Panel.from_arrays: timestamps need both freq and starts (the first "
                             "timestamp of each series); give starts, or neither for integer time")
        if starts is None:
            starts = tuple(0 for _ in arrays)
        freq = pd.tseries.frequencies.to_offset(freq) if freq is not None else None
        return Panel(values, indptr, ids, tuple(starts), freq, 1, layout or Layout("long"))

    # ------------------------------------------------------------------ access
    @property
    def n_series(self) -> int:
        return len(self.ids)

    @cached_property
    def lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    @cached_property
    def origins(self) -> np.ndarray:
        """``[n_series]`` int64: calendar position of each series' first observation.

        Example:
            >>> p = Panel.from_arrays([[1.0], [2.0]], starts=[pd.Timestamp("1970-01-02"),
            ...                       pd.Timestamp("1970-01-01 03:00")], freq="h")
            >>> p.origins.tolist()
            [24, 3]
        """
        if self.freq is None:
            return np.floor_divide(np.asarray(self.starts, dtype=np.int64), int(self.step))
        return calendar_positions(pd.DatetimeIndex(list(self.starts)), self.freq)

    def next_positions(self) -> np.ndarray:
        """``[n_series]`` int64: calendar position of the value after each series' last one."""
        return self.origins + self.lengths

    @property
    def season_lengths(self) -> tuple[int, ...]:
        """Seasonal periods of the panel's frequency (``()`` for integer time or yearly data)."""
        return season_lengths(self.freq)

    @property
    def season_length(self) -> int:
        """The main seasonal period of the panel's frequency, 1 when it has none."""
        return self.season_lengths[0] if self.season_lengths else 1

    def series(self, i: int) -> np.ndarray:
        """Values of series ``i`` (a view; do not write to it)."""
        return self.values[self.indptr[i]:self.indptr[i + 1]]

    def padded(self, width: int | None = None, fill: float = np.nan) -> np.ndarray:
        """``[n_series, width]`` right-aligned matrix of the last ``width`` values, left-padded with ``fill``."""
        lengths = self.lengths
        width = int(lengths.max()) if width is None else int(width)
        out = np.full((self.n_series, width), fill, dtype=np.float64)
        for i in range(self.n_series):
            tail = self.series(i)[-width:] if width > 0 else self.series(i)[:0]
            if len(tail):
                out[i, width - len(tail):] = tail
        return out

    def time_index(self, i: int) -> pd.Index:
        """The observed timestamps (or integer steps) of series ``i``."""
        return self._index_from(self.starts[i], int(self.lengths[i]))

    def observed_times(self) -> pd.Index:
        """Every observation's timestamp (or integer step), flat and aligned with ``values``: whole-array
        work like :meth:`future_times`, series by series only for time zones or off-grid starts.

        Example:
            >>> p = Panel.from_arrays([[1.0, 2.0], [3.0]], starts=[pd.Timestamp("2024-01-31"),
            ...                       pd.Timestamp("2024-05-31")], freq="ME")
            >>> print(" ".join(str(t.date()) for t in p.observed_times()))
            2024-01-31 2024-02-29 2024-05-31
        """
        lengths = self.lengths
        rows = np.repeat(np.arange(self.n_series), lengths)
        steps = np.arange(len(self.values)) - np.repeat(self.indptr[:-1], lengths)
        if self.freq is None:
            return pd.Index(np.asarray(self.starts, dtype=np.int64)[rows] + steps * self.step)
        if self.n_series == 0 or len(rows) == 0:
            return pd.DatetimeIndex([])
        starts = pd.DatetimeIndex(list(self.starts))
        if starts.tz is None:
            times = _times_on_grid(starts, self.freq, rows, steps, self.origins)
            if times is not None:
                return times
        pieces = [self.time_index(i) for i in range(self.n_series)]
        return pieces[0].append(pieces[1:])

    def last_time(self, i: int) -> Any:
        return self.time_index(i)[-1]

    def future_index(self, i: int, h: int) -> pd.Index:
        """The ``h`` timestamps that follow series ``i``, continuing its frequency."""
        n = int(self.lengths[i])
        if self.freq is None:
            first = int(self.starts[i]) + n * self.step
            return pd.RangeIndex(first, first + h * self.step, self.step)
        # starts lie on the frequency (checked by to_panel), so n steps land on the next timestamp
        return pd.date_range(start=self.time_after(i, n), periods=h, freq=self.freq)

    def time_after(self, i: int, k: int) -> Any:
        """The time ``k`` steps after series ``i``'s first one (its ``k``-th observation's time)."""
        if self.freq is None:
            return int(self.starts[i]) + int(k) * self.step
        return shift_times(pd.DatetimeIndex([self.starts[i]]), int(k), self.freq)[0]

    def future_times(self, h: int) -> pd.Index:
        """The ``h`` timestamps (or integer steps) after every series, flat: series ``i``'s are
        ``[i * h, (i + 1) * h)``; the same values as :meth:`future_index` of each series, built on
        whole arrays (integer arithmetic for fixed steps, one ``date_range`` over the panel's calendar
        for the others).

        Example:
            >>> p = Panel.from_arrays([[1.0, 2.0], [3.0]], starts=[pd.Timestamp("2024-01-31"),
            ...                       pd.Timestamp("2024-05-31")], freq="ME")
            >>> print(" ".join(str(t.date()) for t in p.future_times(2)))
            2024-03-31 2024-04-30 2024-06-30 2024-07-31
        """
        n, steps = self.n_series, np.arange(h)
        if n == 0:
            return pd.Index([])
        ahead = self.lengths[:, None] + steps[None, :]                      # [n, h] steps after each start
        if self.freq is None:
            first = np.asarray(self.starts, dtype=np.int64)[:, None]
            return pd.Index((first + ahead * self.step).reshape(-1))
        starts = pd.DatetimeIndex(list(self.starts))
        if starts.tz is None:
            times = _times_on_grid(starts, self.freq, np.repeat(np.arange(n), h), ahead.reshape(-1), self.origins)
            if times is not None:
                return times
        return self.future_index(0, h).append([self.future_index(i, h) for i in range(1, n)])

    def _index_from(self, start: Any, periods: int) -> pd.Index:
        if self.freq is None:
            return pd.RangeIndex(int(start), int(start) + periods * self.step, self.step)
        return pd.date_range(start=start, periods=periods, freq=self.freq)

    # ------------------------------------------------------------------ reshaping
    def subset(self, rows: Sequence[int]) -> "Panel":
        """The panel restricted to series ``rows`` (in that order)."""
        rows = np.asarray(rows, dtype=np.int64)
        return self.with_values(rows, [self.series(i) for i in rows])

    def with_values(self, rows: Sequence[int], arrays: Sequence[np.ndarray]) -> "Panel":
        """Series ``rows`` of this panel (same ids and start times) holding ``arrays`` instead.

        Example:
            >>> import pandas as pd
            >>> from arforecast.data.frames import to_panel
            >>> p = to_panel(pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]},
            ...                           index=pd.date_range("2024", periods=3, freq="D")))
            >>> q = p.with_values([1], [np.array([7.0, 8.0])])
            >>> list(q.ids), q.series(0).tolist(), q.starts[0] == p.starts[1]
            (['b'], [7.0, 8.0], True)
        """
        rows = np.asarray(rows, dtype=np.int64)
        values, indptr = pack(arrays)
        return Panel(values, indptr, self.ids[rows], tuple(self.starts[i] for i in rows),
                     self.freq, self.step, self.layout)

    def head(self, lengths: Sequence[int] | np.ndarray) -> "Panel":
        """Each series cut to its first ``lengths[i]`` values (time-ordered truncation; no leakage)."""
        lengths = np.broadcast_to(np.asarray(lengths, dtype=np.int64), (self.n_series,))
        if np.any(lengths < 0) or np.any(lengths > self.lengths):
            raise ValueError("head(): lengths must lie between 0 and each series' length")
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        values = self.values[np.repeat(self.indptr[:-1], lengths) + within_series(indptr)]
        return Panel(values, indptr, self.ids, self.starts, self.freq, self.step, self.layout)

    def tail(self, lengths: Sequence[int] | np.ndarray | int) -> "Panel":
        """Each series cut to its last ``lengths[i]`` values (all of it when shorter), start times
        moved on: whole-array work, one time shift per distinct cut (a panel from a wide frame has
        one), so calendar positions and future timestamps stay those of the full panel.

        Example:
            >>> p = Panel.from_arrays([[1.0, 2.0, 3.0], [4.0]], starts=[pd.Timestamp("2024-01-31"),
            ...                       pd.Timestamp("2024-03-31")], freq="ME")
            >>> q = p.tail(2)
            >>> q.series(0).tolist(), q.starts[0], bool((q.next_positions() == p.next_positions()).all())
            ([2.0, 3.0], Timestamp('2024-02-29 00:00:00'), True)
        """
        keep = np.minimum(np.broadcast_to(np.asarray(lengths, dtype=np.int64), (self.n_series,)), self.lengths)
        keep = np.maximum(keep, 0)
        shift = np.where(keep > 0, self.lengths - keep, 0)          # an emptied series keeps its start
        indptr = np.concatenate([[0], np.cumsum(keep)]).astype(np.int64)
        values = self.values[np.repeat(self.indptr[1:] - keep, keep) + within_series(indptr)]
        if self.freq is None:
            starts = tuple(int(s) + int(k) * self.step for s, k in zip(self.starts, shift))
        else:
            moved = pd.DatetimeIndex(list(self.starts))
            out = list(moved)
            for k in np.unique(shift[shift > 0]):
                rows = np.flatnonzero(shift == k)
                for r, t in zip(rows, shift_times(moved[rows], int(k), self.freq)):
                    out[r] = t
            starts = tuple(out)
        return Panel(values, indptr, self.ids, starts, self.freq, self.step, self.layout)

    def to_long(self, name: str = "y") -> pd.DataFrame:
        """The observed data as a long frame ``unique_id, ds, <name>``."""
        lay = self.layout
        return pd.DataFrame({
            lay.id_col: np.repeat(self.ids, self.lengths),
            lay.time_col: np.asarray(self.observed_times()) if self.n_series else [],
            name: self.values.copy(),
        })

    def to_pandas(self, blocks: dict[str, np.ndarray], indexes: list[pd.Index]) -> Any:
        """Arrays ``[n_series, h]`` (one per named column) back into the caller's layout.

        ``series`` layout gets a ``pd.Series`` (one block) or a DataFrame (several); ``wide`` gets
        one DataFrame per block (a dict if several); ``long`` gets one long frame with a column
        per block.
        """
        lay = self.layout
        if lay.kind == "long":
            frame = {lay.id_col: np.repeat(self.ids, [len(ix) for ix in indexes]),
                     lay.time_col: np.concatenate([np.asarray(ix) for ix in indexes]) if indexes else []}
            for key, arr in blocks.items():
                frame[key] = np.concatenate([arr[i, :len(ix)] for i, ix in enumerate(indexes)]) if indexes else []
            return pd.DataFrame(frame)
        if lay.kind == "series":
            if len(blocks) == 1:
                (arr,) = blocks.values()
                return pd.Series(arr[0, :len(indexes[0])], index=indexes[0], name=lay.name)
            return pd.DataFrame({k: a[0, :len(indexes[0])] for k, a in blocks.items()}, index=indexes[0])
        out = {}
        for key, arr in blocks.items():
            cols = {self.ids[i]: pd.Series(arr[i, :len(ix)], index=ix) for i, ix in enumerate(indexes)}
            df = pd.DataFrame(cols)
            df.columns = pd.Index(list(self.ids), name=lay.name)
            out[key] = df
        return out[next(iter(out))] if len(out) == 1 else out


def lag_abs_means(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray, lag: int) -> np.ndarray:
    """``mean(|y_t - y_{t-lag}|)`` over each segment ``values[starts[i]:starts[i] + lengths[i]]``,
    the pairs with a missing value skipped (NaN where a segment has no observed pair), on whole arrays.

    Segments may overlap (a backtest's windows of one series) and must be longer than ``lag``.
    This is the MASE/MSIS scale; :func:`in_sample_scales` and the metrics share it.

    Example:
        >>> lag_abs_means(np.array([1.0, 2.0, 4.0, 10.0, 10.0]), np.array([0, 3]), np.array([3, 2]), 1).tolist()
        [1.5, 0.0]
    """
    starts, lengths = np.asarray(starts, dtype=np.int64), np.asarray(lengths, dtype=np.int64)
    if len(starts) == 0:
        return np.empty(0)
    if lag < 1 or np.any(lengths <= lag):
        raise ValueError(f"every segment needs more than lag={lag} values")
    diffs = np.abs(values[lag:] - values[:-lag])     # pairs across two segments are never summed below
    seen = ~np.isnan(diffs)
    # reduceat sums [bounds[2i], bounds[2i+1]): each segment's pairs; the odd slices are discarded
    bounds = np.stack([starts, starts + lengths - lag], axis=1).ravel()
    padded = np.append(np.where(seen, diffs, 0.0), 0.0)
    sums = np.add.reduceat(padded, bounds)[::2]
    counts = np.add.reduceat(np.append(seen, False).astype(np.int64), bounds)[::2]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def in_sample_scales(panel: Panel) -> dict[int, np.ndarray]:
    """``{m: mean(|y_t - y_{t-m}|) per series}`` for ``m`` = 1 and the panel's main season (the MASE
    scales), for the series long enough; what a lean fitted model keeps for ``score()``."""
    lengths = panel.lengths
    return {m: lag_abs_means(panel.values, panel.indptr[:-1], lengths, m)
            for m in sorted({1, panel.season_length}) if np.all(lengths > m)}


#: most steps of one calendar grid :meth:`Panel.future_times` and :meth:`Panel.observed_times` build before going series by series
MAX_GRID = 10 ** 7


def _times_on_grid(starts: pd.DatetimeIndex, freq: Any, rows: np.ndarray, steps: np.ndarray,
                   origins: np.ndarray) -> pd.Index | None:
    """The time ``steps[j]`` steps after series ``rows[j]``'s start, for tz-naive series, on whole
    arrays (nanosecond arithmetic for fixed steps, one calendar grid otherwise), or ``None`` when
    unsure (a grid too long, starts off the grid); the first element is checked against pandas."""
    if len(rows) == 0:
        return pd.DatetimeIndex([])
    reference = shift_times(starts[rows[:1]], int(steps[0]), freq)
    if isinstance(freq, pd.offsets.Tick):                     # fixed steps: nanosecond arithmetic
        nanos = starts.as_unit("ns").asi8[rows] + steps * int(freq.nanos)
        out = pd.DatetimeIndex(nanos.view("M8[ns]")).as_unit(reference.unit)
    else:                                                     # calendar steps: one grid over all positions
        low = int(np.argmin(origins))
        span = int(max(origins.max(), (origins[rows] + steps).max()) - origins[low]) + 1
        if span > MAX_GRID:
            return None
        grid = pd.date_range(start=starts[low], periods=span, freq=freq)
        if not np.array_equal(grid.asi8[origins - origins[low]], starts.as_unit(grid.unit).asi8):
            return None                                       # starts off the grid (times of day differ)
        out = grid[origins[rows] - origins[low] + steps]
    if not out[:1].equals(reference):
        return None
    return out
