"""Missing values in a forecast's context: filled by the model itself, path by path.

A context row may hold NaN among its real observations (a series with holes). The engine then
starts the model on the values *before the row's first hole* and replays the rest of the context
through the model: an observed value is fed back as it is, a missing one is replaced by the
model's own choice at that step, the mean with ``decoding="mean"`` (the mean path) and the
path's own draw with ``decoding="sample"`` (every sample path fills the holes its own way, so the
uncertainty of the fill reaches the forecast). The forecast starts after the last context value,
as without holes. A context row whose first real values are missing starts at its first observed
value (leading NaN are padding, as in the data layer).

A model that reads only its last ``w`` values (``context_width``) fills a hole exactly when its
context holds ``w`` observed values before the first hole: :func:`replay_lengths` gives the
history each series needs for that.

Example:
    >>> import torch
    >>> from arforecast.rollout.protocol import Context
    >>> ctx = Context.from_list([[1.0, 2.0, float("nan"), 4.0], [5.0, 6.0]])
    >>> plan = plan_replay(ctx)
    >>> plan.context.lengths.tolist(), plan.steps.tolist(), plan.teacher.tolist()
    ([2, 2], [2, 0], [[nan, 4.0], [nan, nan]])
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from arforecast.rollout.protocol import Context


@dataclass(frozen=True)
class Replay:
    """The start context (each row cut before its first hole, right-aligned), the values to replay
    ``teacher [B, K]`` (left-aligned; NaN where the model chooses) and each row's replay length
    ``steps [B]`` (0 for rows without holes)."""

    context: Context
    teacher: torch.Tensor
    steps: torch.Tensor

    @property
    def width(self) -> int:
        return int(self.teacher.shape[1])


def plan_replay(context: Context) -> Replay | None:
    """How to forecast from ``context`` when some rows have NaN among their observations, or
    ``None`` when none has (the usual case: nothing changes)."""
    values = context.values
    B, T = values.shape
    if B == 0 or T == 0:
        return None
    cols = torch.arange(T)
    nan = torch.isnan(values)
    real = cols[None, :] >= (T - context.lengths)[:, None]
    # leading holes of a row are padding: its real part starts at its first observed value
    first_obs = torch.where(real & ~nan, cols[None, :], T).min(dim=1).values
    lengths = torch.clamp(T - first_obs, min=0)
    holes = nan & (cols[None, :] >= first_obs[:, None])
    if not bool(holes.any()):
        if torch.equal(lengths, context.lengths):
            return None
        return Replay(replace(context, lengths=lengths), torch.zeros(B, 0, dtype=values.dtype),
                      torch.zeros(B, dtype=torch.int64))
    first_hole = torch.where(holes, cols[None, :], T).min(dim=1).values
    steps = T - first_hole                                              # [B] values to replay
    K = int(steps.max())
    # start context: columns before the first hole, moved right by `steps` (NaN-padded on the left)
    src = cols[None, :] - steps[:, None]
    start = torch.where(src >= 0, values.gather(1, src.clamp_min(0)), torch.full_like(values, float("nan")))
    start_lengths = torch.clamp(first_hole - first_obs, min=0)
    start = torch.where(cols[None, :] >= T - start_lengths[:, None], start, torch.full_like(start, float("nan")))
    # values to replay: columns first_hole .. T-1, left-aligned in K columns
    k = torch.arange(K)
    take = (first_hole[:, None] + k[None, :]).clamp_max(T - 1)
    teacher = torch.where(k[None, :] < steps[:, None], values.gather(1, take),
                          torch.full((B, K), float("nan"), dtype=values.dtype))
    ctx = replace(context, values=start, lengths=start_lengths, positions=context.positions - steps,
                  covariates=_shifted(context.covariates, steps, K))
    return Replay(ctx, teacher, steps)


def _shifted(covariates: torch.Tensor | None, steps: torch.Tensor, K: int) -> torch.Tensor | None:
    """Covariates ``[B, T + F, k]`` of a replayed context: ``K`` more future columns, each row moved
    right by its replay length, so that column ``c`` of row ``r`` holds what column ``c - steps[r]``
    held (the rollout starts ``steps[r]`` values earlier and runs ``K`` steps more)."""
    if covariates is None:
        return None
    B, C = covariates.shape[:2]
    cols = torch.arange(C + K)
    src = (cols[None, :] - steps[:, None]).clamp(0, C - 1)                       # [B, C + K]
    index = src[:, :, None].expand(B, C + K, covariates.shape[2])
    return covariates.gather(1, index)


#: a replay reaches back at most this many context widths: where no ``width`` observed values in a
#: row precede the holes (frequent holes, long lags), the first fills start from a shorter prefix
#: (its earliest value stands in for the values before it) and their error fades through the
#: observed values of the next widths; an unbounded replay would run through the whole history
MAX_REPLAY_WIDTHS = 4


def replay_lengths(values: np.ndarray, indptr: np.ndarray, width: int,
                   max_widths: int | None = MAX_REPLAY_WIDTHS) -> np.ndarray:
    """Values of each series' end a model reading its last ``width`` values needs so that every
    hole among them is filled from ``width`` observed values before the first one (all of the
    series when it has too few, at most ``max_widths * width``); ``width`` for a series without
    holes there.

    Example:
        >>> y = np.array([1.0, 2.0, 3.0, np.nan, 5.0, 6.0, 7.0, 8.0])
        >>> [replay_lengths(y, np.array([0, 8]), w).tolist() for w in (2, 4, 5)]
        [[2], [4], [8]]
        >>> replay_lengths(y, np.array([0, 8]), 2, max_widths=2).tolist()
        [2]
    """
    width = max(int(width), 1)
    lengths = np.diff(indptr)
    out = np.minimum(lengths, width)
    if len(values) == 0 or not np.isnan(values).any():
        return out
    for i in np.flatnonzero(np.isnan(np.add.reduceat(values, indptr[:-1]))):
        y = values[indptr[i]:indptr[i + 1]]
        n = len(y)
        start = max(n - width, 0)
        floor = 0 if max_widths is None else max(n - max_widths * width, 0)
        holes = np.flatnonzero(np.isnan(y[start:]))
        while len(holes) and start > floor:
            first = start + int(holes[0])
            start = max(first - width, floor)
            holes = np.flatnonzero(np.isnan(y[start:first]))
        out[i] = n - start
    return out
