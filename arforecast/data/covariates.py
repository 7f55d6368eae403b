"""Covariates (exogenous regressors) checked and laid out on a panel's calendar.

Three kinds (docs/covariates.md):

* **future-known** (the default): known for the forecast horizon too (calendar, prices set in
  advance, an operator's load forecast); ``predict`` needs their values on the ``h`` future
  timestamps (``X_future``);
* **past-only** (named in ``past_only=``): observed up to the forecast origin only; their future
  values are never read, even when given (a backtest masks them after each cut-off);
* **static** (``static=``): one value per series (a frame indexed by series id, or with the id
  column).

Layouts of ``X`` (and ``X_future``), matching the target's:

* a ``pd.Series`` target: a DataFrame on the same (time) index, one column per covariate;
* a long target: a long frame with the id and time columns plus one column per covariate
  (statsforecast's ``X_df``);
* a wide target: a dict ``{covariate: wide frame}`` (each like the target: time index, one column
  per series), or a long frame keyed by id and time;
* any layout: a frame indexed by time without an id column holds covariates **shared by every
  series** (a calendar, a market-wide forecast).

:class:`Covariates` holds the values of every series from its first observation on, on the
panel's calendar grid (row ``r`` of series ``i`` is at calendar position ``origins[i] + r``), so
backtests cut it with the same positions as the target.

Example:
    >>> import numpy as np, pandas as pd
    >>> from arforecast.data.frames import to_panel
    >>> t = pd.date_range("2024-01-01", periods=4, freq="D")
    >>> y = pd.Series([1.0, 2.0, 3.0, 4.0], index=t)
    >>> X = pd.DataFrame({"temp": [10.0, 11.0, 12.0, 13.0]}, index=t)
    >>> Xf = pd.DataFrame({"temp": [14.0, 15.0]}, index=pd.date_range("2024-01-05", periods=2, freq="D"))
    >>> cov = build_covariates(to_panel(y), X, X_future=Xf, h=2)
    >>> cov.names, cov.series(0)[:, 0].tolist()
    (('temp',), [10.0, 11.0, 12.0, 13.0, 14.0, 15.0])
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np
import pandas as pd

from arforecast.data.frequency import calendar_positions
from arforecast.data.panel import Panel, rows_of_ids, within_series
from arforecast.exceptions import DataError


@dataclass(frozen=True)
class Covariates:
    """Covariate values of a panel's series on its calendar grid.

    Attributes:
        names: the time-varying covariates, in column order.
        past_only: ``[k]`` bool, True for past-only covariates.
        ids: series ids, in the panel's order.
        origins: ``[n]`` calendar position of each series' first row.
        values: ``[total, k]`` float64, the rows of every series concatenated (NaN: unknown).
        indptr: ``[n + 1]`` offsets of each series' rows in ``values``.
        static_names: the static covariates; static: ``[n, s]`` their values.
    """

    names: tuple
    past_only: np.ndarray
    ids: np.ndarray
    origins: np.ndarray
    values: np.ndarray
    indptr: np.ndarray
    static_names: tuple = ()
    static: np.ndarray | None = None

    @property
    def k(self) -> int:
        return len(self.names)

    @property
    def n_series(self) -> int:
        return len(self.ids)

    @property
    def ends(self) -> np.ndarray:
        """``[n]`` calendar position after each series' last row."""
        return self.origins + np.diff(self.indptr)

    def series(self, i: int) -> np.ndarray:
        """Rows of series ``i``: ``[rows, k]`` (a view)."""
        return self.values[self.indptr[i]:self.indptr[i + 1]]

    def spec(self) -> dict:
        """What a fitted model remembers: names, kinds and static names."""
        return {"names": tuple(self.names), "past_only": tuple(bool(b) for b in self.past_only),
                "static_names": tuple(self.static_names)}

    def block(self, first: np.ndarray, count: int, rows: np.ndarray | None = None) -> np.ndarray:
        """``[len(rows), count, k]``: values at calendar positions ``first[j] .. first[j] + count - 1``
        of series ``rows[j]`` (all series by default), NaN where none is held."""
        rows = np.arange(self.n_series) if rows is None else np.asarray(rows, dtype=np.int64)
        first = np.broadcast_to(np.asarray(first, dtype=np.int64), rows.shape)
        out = np.full((len(rows), int(count), self.k), np.nan)
        if count <= 0 or not len(rows):
            return out
        offset = first - self.origins[rows]                             # row of each block's start
        r = offset[:, None] + np.arange(count)[None, :]
        size = np.diff(self.indptr)[rows][:, None]
        ok = (r >= 0) & (r < size)
        src = self.indptr[rows][:, None] + np.where(ok, r, 0)
        out[ok] = self.values[src[ok]]
        return out

    def subset(self, rows: Sequence[int]) -> "Covariates":
        """The series ``rows`` (in that order)."""
        rows = np.asarray(rows, dtype=np.int64)
        lengths = np.diff(self.indptr)[rows]
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        src = np.repeat(self.indptr[rows], lengths) + within_series(indptr)
        return replace(self, ids=self.ids[rows], origins=self.origins[rows], values=self.values[src], indptr=indptr,
                       static=None if self.static is None else self.static[rows])

    def for_ids(self, ids: Sequence[Any], what: str = "X") -> "Covariates":
        """The series ``ids`` (in that order); an error names the ids it lacks."""
        rows, missing = rows_of_ids(self.ids, ids)
        if missing:
            raise DataError(f"{what} has no covariates for series {missing[:5]}")
        if len(rows) == self.n_series and np.all(rows == np.arange(self.n_series)):
            return self
        return self.subset(rows)

    def masked_after(self, positions: np.ndarray) -> "Covariates":
        """A copy where past-only covariates are NaN from calendar ``positions[i]`` of each series on
        (what a forecast made at that origin may know)."""
        if not np.any(self.past_only):
            return self
        lengths = np.diff(self.indptr)
        pos = np.repeat(self.origins, lengths) + within_series(self.indptr)
        late = pos >= np.repeat(np.asarray(positions, dtype=np.int64), lengths)
        values = self.values.copy()
        values[np.ix_(late, self.past_only)] = np.nan
        return replace(self, values=values)

    def extended(self, other: "Covariates") -> "Covariates":
        """These covariates with ``other``'s rows appended to the series of the same ids; each of
        ``other``'s series must continue its series here (start where it ends). Static values stay.

        Example:
            >>> import numpy as np, pandas as pd
            >>> from arforecast.data import to_panel
            >>> def daily(start, values):
            ...     return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="D"))
            >>> old = daily("2024-01-01", np.arange(8.0))
            >>> cov = build_covariates(to_panel(old), old.to_frame("temp"))
            >>> new = daily("2024-01-09", [8.0, 9.0])
            >>> more = build_covariates(to_panel(new), new.to_frame("temp"))
            >>> cov.extended(more).values[-3:, 0]
            array([7., 8., 9.])
        """
        rows, missing = rows_of_ids(self.ids, other.ids)
        if missing:
            raise DataError(f"covariates for series {missing[:5]} that were not fitted")
        if tuple(other.names) != tuple(self.names):
            raise DataError(f"covariates {list(other.names)} differ from those of fit {list(self.names)}")
        if np.any(other.origins != self.ends[rows]):
            bad = int(np.flatnonzero(other.origins != self.ends[rows])[0])
            raise DataError(f"covariates of series {other.ids[bad]!r} must continue at the end of those held")
        old, add = np.diff(self.indptr), np.zeros(self.n_series, dtype=np.int64)
        add[rows] = np.diff(other.indptr)
        indptr = np.concatenate([[0], np.cumsum(old + add)]).astype(np.int64)
        values = np.empty((int(indptr[-1]), self.k))
        values[np.repeat(indptr[:-1], old) + within_series(self.indptr)] = self.values
        values[np.repeat(indptr[rows] + old[rows], add[rows]) + within_series(other.indptr)] = other.values
        return replace(self, values=values, indptr=indptr)

    def window(self, first: np.ndarray, count: int) -> "Covariates":
        """Each series' rows from calendar ``first[i]`` for ``count`` steps (NaN outside what is held)."""
        block = self.block(first, count)
        indptr = np.arange(self.n_series + 1, dtype=np.int64) * int(count)
        return replace(self, origins=np.asarray(first, dtype=np.int64).copy(),
                       values=block.reshape(-1, self.k), indptr=indptr)


# ---------------------------------------------------------------------------- building
def build_covariates(panel: Panel, X: Any = None, *, X_future: Any = None, h: int = 0, static: Any = None,
                     past_only: Sequence[str] = (), spec: dict | None = None, fallback: Covariates | None = None,
                     history: bool = True) -> Covariates:
    """Check ``X`` (history), ``X_future`` (the ``h`` steps after each series) and ``static`` and lay
    them out on ``panel``'s calendar: each series from its first observation to ``h`` steps past its
    last.

    Args:
        panel: the target, as :func:`arforecast.data.frames.to_panel` made it (its layout decides
            how ``X`` is read).
        X, X_future: see the module docstring; either may also be a :class:`Covariates`.
        h: future steps to lay out (0 in ``fit``).
        static: per-series values (frame indexed by id, or with the id column).
        past_only: names of the past-only covariates (``fit``; ``predict`` takes them from ``spec``).
        spec: the names and kinds a fitted model expects (:meth:`Covariates.spec`).
        fallback: covariates kept at fit time, read where ``X`` is not given.
        history: whether every history value must be present (``fit``); forecasts check what they read.

    Raises:
        DataError: a covariate missing, misaligned (no value at a needed timestamp), NaN, not
        numeric, of another name than in ``fit``, or a past-only name that is not a column.
    """
    n, lengths = panel.n_series, panel.lengths
    first, count = panel.origins, int(lengths.max(initial=0)) + int(h)
    spans = lengths + int(h)
    names = None if spec is None else tuple(spec["names"])
    sources = []                                          # (Covariates over the span, positions it may supply)
    for source, role in ((X, "X"), (X_future, "X_future")):
        if source is None:
            continue
        got = source.for_ids(panel.ids, role) if isinstance(source, Covariates) else \
            _from_pandas(source, panel, role)
        if names is None:
            names = tuple(got.names)
        sources.append((got, role))
    if names is None:
        names = ()
    if spec is None:
        unknown = [c for c in past_only if c not in names]
        if unknown:
            raise DataError(f"past_only names {unknown} are not columns of X (it has {list(names)})")
        is_past = np.array([c in set(past_only) for c in names], dtype=bool)
        for source in (X, X_future):                      # a Covariates knows its own kinds
            if isinstance(source, Covariates):
                is_past |= np.array([c in {m for m, p in zip(source.names, source.past_only) if p} for c in names],
                                    dtype=bool)
    else:
        is_past = np.asarray(spec["past_only"], dtype=bool)
    k = len(names)
    out = np.full((n, count, k), np.nan)
    if fallback is not None and k:                       # series seen in fit: what was kept of them
        rows, _ = rows_of_ids(fallback.ids, panel.ids)
        known = rows >= 0
        if known.any():
            kept = fallback.block(first[known], count, rows=rows[known])
            out[known] = kept[:, :, _column_order(fallback.names, names, "the covariates kept at fit")]
    step = np.arange(count)[None, :]
    for got, role in sources:
        optional = set(np.asarray(names)[is_past]) if role == "X_future" else set()   # never read there
        cols = _column_order(got.names, names, role, optional)
        block = got.block(first, count)[:, :, np.maximum(cols, 0)]
        block[:, :, np.asarray(cols) < 0] = np.nan
        if role == "X_future":                           # the future steps only
            where = (step >= lengths[:, None]) & (step < spans[:, None])
        elif X_future is not None:                       # X gives the history, X_future the future
            where = step < lengths[:, None]
        else:
            where = step < spans[:, None]
        out = np.where(where[:, :, None] & ~np.isnan(block), block, out)
    # a past-only covariate is never read after the origin, even when given
    out[:, :, is_past] = np.where(np.arange(count)[None, :, None] < lengths[:, None, None], out[:, :, is_past], np.nan)
    if history and k:
        _require(out, lengths, np.zeros(n, dtype=np.int64), lengths, names, panel, "X", "on every timestamp of y")
    if h and k and (~is_past).any():
        _require(out[:, :, ~is_past], lengths, lengths, spans, tuple(c for c, p in zip(names, is_past) if not p), panel, "X_future",
                 f"on the h={h} timestamps after each series' end")
    mask = np.arange(count)[None, :] < spans[:, None]
    indptr = np.concatenate([[0], np.cumsum(spans)]).astype(np.int64)
    static_names, static_values = _static(static, panel, spec)
    return Covariates(names, is_past, panel.ids, np.asarray(first, dtype=np.int64).copy(), out[mask], indptr,
                      static_names, static_values)


def _column_order(have: Sequence[str], want: Sequence[str], role: str, optional: set = frozenset()) -> list[int]:
    """Column of each of ``want`` in ``have`` (-1 for an absent ``optional`` one)."""
    have = list(have)
    missing = [c for c in want if c not in have and c not in optional]
    if missing:
        raise DataError(f"{role} lacks covariate(s) {missing} (it has {have}; the model was fitted with {list(want)})")
    return [have.index(c) if c in have else -1 for c in want]


def _require(values: np.ndarray, lengths: np.ndarray, lo: np.ndarray, hi: np.ndarray, names: tuple, panel: Panel,
             role: str, where: str) -> None:
    """Raise if any value in steps ``[lo[i], hi[i])`` of series ``i`` is NaN, naming the first."""
    step = np.arange(values.shape[1])[None, :]
    inside = (step >= lo[:, None]) & (step < hi[:, None])
    bad = np.isnan(values) & inside[:, :, None]
    if not bad.any():
        return
    i, s, c = (int(v) for v in np.argwhere(bad)[0])
    when = panel.time_after(i, s)
    total = int(bad.sum())
    raise DataError(f"{role} has no value of covariate {names[c]!r} for series {panel.ids[i]!r} at {when!r} "
                    f"({total} missing or NaN value(s) in all); give every covariate {where}"
                    + ("" if role == "X" else " (misaligned timestamps show up as missing ones)"))


def _numeric_matrix(frame: pd.DataFrame, role: str) -> np.ndarray:
    bad = [c for c in frame.columns if not (pd.api.types.is_numeric_dtype(frame[c]) and
                                            not pd.api.types.is_bool_dtype(frame[c]))]
    if bad:
        raise DataError(f"{role} column(s) {bad[:5]} are not numeric; encode them as numbers first "
                        "(e.g. one-hot columns for a category)")
    values = frame.to_numpy(dtype=np.float64)
    if np.isinf(values).any():
        raise DataError(f"{role} holds infinite values")
    return values


def _positions(times: Any, panel: Panel, role: str) -> np.ndarray:
    """Calendar positions of ``times`` on the panel's grid (an error for stamps off the grid)."""
    if panel.freq is None:
        t = np.asarray(times)
        if not pd.api.types.is_integer_dtype(t):
            raise DataError(f"{role} must be indexed by integer time like y, got {t.dtype}")
        t = t.astype(np.int64)
        start = int(panel.starts[0]) if panel.n_series else 0
        if np.any((t - start) % panel.step):
            raise DataError(f"{role} has integer times off y's step of {panel.step}")
        return np.floor_divide(t, int(panel.step))
    try:
        index = pd.DatetimeIndex(times)
    except (TypeError, ValueError) as err:
        raise DataError(f"{role} must be indexed by timestamps like y: {err}") from None
    pos = calendar_positions(index, panel.freq)
    if len(pos) and isinstance(panel.freq, pd.offsets.Tick):
        step = int(panel.freq.nanos)
        ref = pd.DatetimeIndex(list(panel.starts[:1])).as_unit("ns").asi8[0] % step
        ns = (index.tz_localize(None) if index.tz is not None else index).as_unit("ns").asi8
        off = np.flatnonzero(ns % step != ref)
        if len(off):
            raise DataError(f"{role} has timestamps off y's {panel.freq.freqstr!r} grid, e.g. {index[off[0]]!r}")
    return pos


def _from_pandas(X: Any, panel: Panel, role: str) -> Covariates:
    """``X`` in the caller's layout -> a :class:`Covariates` holding exactly the rows given."""
    lay = panel.layout
    id_col, time_col = lay.id_col, lay.time_col
    if isinstance(X, pd.Series):
        X = X.to_frame()
    if isinstance(X, dict):
        if lay.kind != "wide":
            raise DataError(f"{role} as a dict of wide frames goes with a wide y; this y is {lay.kind!r}: give a "
                            + ("DataFrame on y's index" if lay.kind == "series" else "long frame keyed by id and time"))
        names = tuple(X)
        pieces = []
        for name in names:
            frame = X[name]
            if not isinstance(frame, pd.DataFrame):
                raise DataError(f"{role}[{name!r}] must be a wide DataFrame (one column per series)")
            stacked = frame.stack(future_stack=True) if hasattr(frame, "stack") else frame.stack()
            pieces.append(stacked.rename(name))
        long = pd.concat(pieces, axis=1)
        ids, times = long.index.get_level_values(1), long.index.get_level_values(0)
        return _table(ids, times, _numeric_matrix(long, role), names, panel, role)
    if not isinstance(X, pd.DataFrame):
        raise DataError(f"{role} must be a pandas DataFrame (see docs/covariates.md), got {type(X).__name__}")
    if id_col in X.columns:
        if time_col not in X.columns:
            raise DataError(f"{role} has an id column {id_col!r} but no time column {time_col!r} "
                            f"(it has {list(X.columns)[:8]})")
        cols = [c for c in X.columns if c not in (id_col, time_col)]
        return _table(X[id_col].to_numpy(), X[time_col], _numeric_matrix(X[cols], role), tuple(cols), panel, role)
    if time_col in X.columns and lay.kind == "long":         # shared by every series, keyed by time
        cols = [c for c in X.columns if c != time_col]
        values, times = _numeric_matrix(X[cols], role), X[time_col]
    else:
        if lay.kind == "long" and not isinstance(X.index, pd.DatetimeIndex) \
                and not pd.api.types.is_integer_dtype(X.index):
            raise DataError(f"{role} for a long y needs the columns {id_col!r} and {time_col!r} (or a time index "
                            f"for covariates shared by every series); it has {list(X.columns)[:8]}")
        cols = list(X.columns)
        values, times = _numeric_matrix(X, role), X.index
    m = len(values)
    ids = np.repeat(panel.ids, m)
    return _table(ids, pd.Index(times).repeat(0) if m == 0 else _tile(times, panel.n_series),
                  np.tile(values, (panel.n_series, 1)), tuple(str(c) if not isinstance(c, str) else c for c in cols),
                  panel, role)


def _tile(times: Any, n: int) -> Any:
    index = pd.Index(times)
    return index.append([index] * (n - 1)) if n > 1 else index


def _table(ids: Any, times: Any, values: np.ndarray, names: tuple, panel: Panel, role: str) -> Covariates:
    """Rows keyed by (id, time) -> per-series rows from each series' first to last given position."""
    if len(set(names)) != len(names):
        raise DataError(f"{role} has duplicate covariate names {list(names)}")
    rows, _ = rows_of_ids(panel.ids, list(ids))
    keep = rows >= 0                                         # rows of other series are ignored
    rows, values = rows[keep], values[keep]
    pos = _positions(pd.Index(times)[keep] if len(times) else times, panel, role) if keep.any() \
        else np.zeros(0, dtype=np.int64)
    order = np.lexsort((pos, rows))
    rows, pos, values = rows[order], pos[order], values[order]
    dup = np.flatnonzero((rows[1:] == rows[:-1]) & (pos[1:] == pos[:-1]))
    if len(dup):
        i = int(rows[dup[0]])
        raise DataError(f"{role} has two rows for series {panel.ids[i]!r} at one timestamp "
                        f"(calendar step {int(pos[dup[0]])}); give one row per series and time")
    n = panel.n_series
    lo = np.full(n, 0, dtype=np.int64)
    hi = np.full(n, 0, dtype=np.int64)
    present = np.zeros(n, dtype=bool)
    if len(rows):
        starts = np.searchsorted(rows, np.arange(n), side="left")
        stops = np.searchsorted(rows, np.arange(n), side="right")
        present = stops > starts
        lo[present] = pos[starts[present]]
        hi[present] = pos[stops[present] - 1] + 1
    lengths = hi - lo
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    out = np.full((int(indptr[-1]), len(names)), np.nan)
    out[indptr[rows] + pos - lo[rows]] = values
    return Covariates(names, np.zeros(len(names), dtype=bool), panel.ids, lo, out, indptr)


def _static(static: Any, panel: Panel, spec: dict | None) -> tuple[tuple, np.ndarray | None]:
    want = () if spec is None else tuple(spec.get("static_names", ()))
    if static is None:
        if want:
            raise DataError(f"the model was fitted with static covariates {list(want)}: pass static= again")
        return (), None
    if isinstance(static, Covariates):
        names, table = static.static_names, static.for_ids(panel.ids, "static").static
        return names, table
    if not isinstance(static, pd.DataFrame):
        raise DataError(f"static must be a DataFrame indexed by series id (or with the id column), "
                        f"got {type(static).__name__}")
    id_col = panel.layout.id_col
    frame = static.set_index(id_col) if id_col in static.columns else static
    if frame.index.has_duplicates:
        raise DataError("static has several rows for one series id")
    names = tuple(frame.columns)
    if want and names != want:
        frame = frame[[c for c in want if c in frame.columns]]
        if tuple(frame.columns) != want:
            raise DataError(f"static lacks {[c for c in want if c not in names]} (fitted with {list(want)})")
        names = want
    values = _numeric_matrix(frame, "static")
    rows, missing = rows_of_ids(list(frame.index), panel.ids)
    if missing:
        raise DataError(f"static has no row for series {missing[:5]}")
    table = values[rows]
    if np.isnan(table).any():
        i, c = (int(v) for v in np.argwhere(np.isnan(table))[0])
        raise DataError(f"static covariate {names[c]!r} is NaN for series {panel.ids[i]!r}")
    return names, table
