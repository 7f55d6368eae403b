"""Where a rolling-origin backtest cuts each series: cut-offs, training windows and refit blocks.

A window is one forecast origin. For series ``i`` and window ``w``, ``ends[i, w]`` is the number
of observations the model may see (the cut-off is the last of them) and ``sizes[i, w]`` how many
of those it trains on or conditions on: all of them for an expanding window, at most
``window_size`` for a sliding one. The ``h`` values after the cut-off are scored, so every
window lies wholly inside the observed series.

* ``n_windows`` counts windows back from the end of **each** series (statsforecast's
  ``cross_validation`` convention): the last window ends at the series' last observation and
  window ``w`` is cut ``(n_windows - 1 - w) * step`` steps earlier. Series of different lengths
  therefore have different cut-off timestamps.
* ``start`` puts the first cut-off at a time (a timestamp, or an integer time for integer-indexed
  panels; every series is cut at the same calendar times) or at a fraction of each series'
  length (a float in (0, 1)); cut-offs then follow every ``step`` steps while ``h`` values
  remain. Windows before a series has the model's ``min_length`` observations are skipped for
  that series (``ends == -1``).

Example:
    >>> from arforecast.data.panel import Panel
    >>> p = Panel.from_arrays([range(20), range(15)], ids=["a", "b"])
    >>> win = rolling_windows(p, h=3, n_windows=2, step=2)
    >>> win.ends.tolist()
    [[15, 17], [10, 12]]
    >>> refit_blocks(5, 2)
    [[0, 1], [2, 3], [4]]
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from arforecast.data.panel import Panel
from arforecast.exceptions import DataError

WINDOW_MODES = ("expanding", "sliding")


@dataclass(frozen=True)
class Windows:
    """Cut-offs of every series: ``ends``/``sizes`` are ``[n_series, n_windows]`` (-1: no window)."""

    ends: np.ndarray
    sizes: np.ndarray
    h: int
    step: int

    @property
    def n_windows(self) -> int:
        return int(self.ends.shape[1])

    @property
    def present(self) -> np.ndarray:
        """``[n_series, n_windows]`` mask of the windows that exist."""
        return self.ends >= 0


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _names(panel: Panel, rows: np.ndarray, detail: list[str]) -> str:
    shown = ", ".join(f"{panel.ids[i]!r} ({d})" for i, d in zip(rows[:5], detail[:5]))
    return shown + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")


def rolling_windows(panel: Panel, h: int, n_windows: int | None = None, step: int | None = None,
                    start: Any = None, window: str = "expanding", window_size: int | None = None,
                    min_length: int = 1, model_name: str = "the model") -> Windows:
    """The cut-offs of a backtest of ``panel`` (see the module docstring for the conventions).

    Args:
        h: forecast horizon of every window.
        n_windows: windows per series, counted back from each series' end (default 1 when
            ``start`` is not given).
        step: steps between consecutive cut-offs (default ``h``: windows that do not overlap).
        start: first cut-off: a timestamp / integer time, or a fraction of each series' length.
        window: ``"expanding"`` (all history) or ``"sliding"`` (the last ``window_size`` values).
        min_length: observations the model needs in a training window.
    """
    h = _positive_int(h, "h")
    step = h if step is None else _positive_int(step, "step")
    if window not in WINDOW_MODES:
        raise ValueError(f"window must be one of {WINDOW_MODES}, got {window!r}")
    if window == "sliding":
        if window_size is None:
            raise ValueError("window='sliding' needs window_size=<number of training values>")
        window_size = _positive_int(window_size, "window_size")
        if window_size < min_length:
            raise ValueError(f"window_size={window_size} is shorter than the {min_length} observations "
                             f"{model_name} needs; use window_size >= {min_length}")
    elif window_size is not None:
        raise ValueError("window_size only applies to window='sliding'")
    if n_windows is not None and start is not None:
        raise ValueError("give either n_windows (counted back from each series' end) or start, not both")
    if start is None:
        ends = _from_end(panel, h, 1 if n_windows is None else _positive_int(n_windows, "n_windows"),
                         step, min_length, model_name)
    else:
        ends = _from_start(panel, h, start, step, min_length, model_name)
    sizes = ends.copy() if window == "expanding" else np.where(ends >= 0, np.minimum(ends, window_size), -1)
    return Windows(ends=ends, sizes=sizes, h=h, step=step)


def _from_end(panel: Panel, h: int, n_windows: int, step: int, min_length: int, model_name: str) -> np.ndarray:
    lengths = panel.lengths
    first = lengths - h - (n_windows - 1) * step
    short = np.flatnonzero(first < min_length)
    if len(short):
        need = min_length + h + (n_windows - 1) * step
        detail = [f"{lengths[i]} observations, {need - lengths[i]} short" for i in short]
        raise DataError(
            f"{n_windows} window(s) of h={h} every {step} step(s) need {h + (n_windows - 1) * step} "
            f"values to score plus {min_length} to fit the first window ({model_name}'s min_length), "
            f"{need} per series; too short: {_names(panel, short, detail)}. Use fewer windows, a smaller "
            "step or h, or drop those series.")
    return first[:, None] + step * np.arange(n_windows)[None, :]


def _from_start(panel: Panel, h: int, start: Any, step: int, min_length: int, model_name: str) -> np.ndarray:
    lengths = panel.lengths
    if isinstance(start, (float, np.floating)) and not isinstance(start, bool):
        if not 0 < start < 1:
            raise ValueError(f"a fractional start must lie strictly between 0 and 1, got {start}")
        base = np.floor(start * lengths).astype(np.int64)  # training length at the first cut-off
    else:
        base = np.array([_offset(panel, i, start) for i in range(panel.n_series)], dtype=np.int64) + 1
    # window g cuts series i after base[i] + g * step values; keep g where it trains and scores
    g_first = np.maximum(0, -((base - min_length) // step))  # ceil((min_length - base) / step)
    g_last = np.floor_divide(lengths - h - base, step)
    count = g_last - g_first + 1
    none = np.flatnonzero(count < 1)
    if len(none):
        detail = [f"{lengths[i]} observations" for i in none]
        raise DataError(
            f"start={start!r} leaves no window for {_names(panel, none, detail)}: a window needs "
            f"{min_length} values before its cut-off ({model_name}'s min_length) and h={h} after it. "
            "Start earlier, shorten h, or drop those series.")
    n_windows = int(g_last.max()) + 1
    g = np.arange(n_windows)[None, :]
    ends = base[:, None] + step * g
    ok = (g >= g_first[:, None]) & (g <= g_last[:, None])
    return np.where(ok, ends, -1)


def _offset(panel: Panel, i: int, when: Any) -> int:
    """Steps from series ``i``'s first timestamp to ``when`` (negative if it lies before)."""
    if panel.freq is None:
        if isinstance(when, (bool, np.bool_)) or not isinstance(when, (int, np.integer)):
            raise ValueError(f"start must be an integer time (or a fraction in (0, 1)) for an "
                             f"integer-indexed panel, got {when!r}")
        delta = int(when) - int(panel.starts[i])
        if delta % panel.step:
            raise ValueError(f"start={when} is not on series {panel.ids[i]!r}'s time grid "
                             f"(it starts at {panel.starts[i]} and steps by {panel.step})")
        return delta // panel.step
    try:
        when = pd.Timestamp(when)
    except (TypeError, ValueError):
        raise ValueError(f"start must be a timestamp (or a fraction in (0, 1)), got {when!r}") from None
    first = pd.Timestamp(panel.starts[i])
    lo, hi = (first, when) if when >= first else (when, first)
    grid = pd.date_range(start=lo, end=hi, freq=panel.freq)
    if len(grid) == 0 or grid[0] != lo or grid[-1] != hi:
        raise ValueError(f"start={when} is not on series {panel.ids[i]!r}'s time grid "
                         f"(it starts at {first} with frequency {panel.freq.freqstr!r})")
    return (len(grid) - 1) * (1 if when >= first else -1)


def refit_blocks(n_windows: int, refit: bool | int) -> list[list[int]]:
    """Windows grouped by the fit they use: each block is fitted at its first window.

    ``refit=True`` fits at every window, ``False`` once at the first, an int ``k`` every ``k``
    windows (so ``1`` is ``True`` and ``k >= n_windows`` is ``False``).
    """
    if isinstance(refit, (bool, np.bool_)):
        k = 1 if refit else n_windows
    elif isinstance(refit, (int, np.integer)) and refit >= 1:
        k = int(refit)
    else:
        raise ValueError(f"refit must be True, False or a positive integer k (refit every k windows), got {refit!r}")
    k = max(1, min(k, n_windows))
    return [list(range(b, min(b + k, n_windows))) for b in range(0, n_windows, k)]
