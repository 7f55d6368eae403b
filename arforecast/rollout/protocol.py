"""The contract between a model and the rollout engine.

A model that can be rolled out implements three methods (the :class:`Stepper` protocol):

* ``start(context) -> state``: read a batch of histories once and build the incremental state
  (AR keeps its last ``p`` values, a transformer its key/value cache, a causal conv stack its
  per-layer input queues).
* ``distribution(state) -> Distribution``: the predictive distribution of the next value, one per
  row of the batch, in the original units of the series.
* ``advance(state, value) -> state``: append one chosen value per row; costs one step of work.

A state is a (nested) ``dict`` of tensors whose first dimension is the batch.  The engine
repeats, slices and reorders rows of a state itself (:func:`map_state`), so a model never writes
code for sample paths, chunking or beam search.

A model whose state is a function of its last few values may also say so with an integer
attribute ``context_width``: ``start`` on the last ``context_width`` values (and the right
``positions``) gives the same state as ``start`` on the whole history followed by ``advance``.
Consumers may then compute many one-step forecasts at once, one row per prefix (the anomaly
detector re-scores its window that way after a refit). AR and the rolling z-score declare it;
neural models do not (their state also holds the scale of the context they started from).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Protocol, runtime_checkable

import torch

State = dict[str, Any]


@dataclass(frozen=True)
class Context:
    """A batch of histories to forecast from, in original units.

    Attributes:
        values: ``[B, T]`` float64, right-aligned: column ``T-1`` is each row's latest observation;
            rows shorter than ``T`` are left-padded with NaN.
        lengths: ``[B]`` int64, number of real observations in each row.
        series: ``[B]`` int64, index of the fitted series each row continues (AR keeps one set of
            coefficients per series; global models ignore it).
        positions: ``[B]`` int64, calendar position of the first value to forecast: its step
            on the panel's calendar grid (:attr:`arforecast.data.Panel.origins` plus the values
            before it; :meth:`arforecast.data.Panel.next_positions` for whole series). Drives
            seasonal phases (``position % season`` is a calendar phase) and, relative to a
            model's own fitted origin, trend terms. ``from_list`` defaults it to the lengths
            (integer time starting at 0).
        covariates: optional ``[B, T + F, k]`` float64 covariates: columns ``0..T-1`` sit beside
            ``values`` (the history), columns ``T..T+F-1`` are the ``F`` future steps. A model reads
            the covariates of its next step at column ``values.shape[1]``; :meth:`append` moves
            that boundary by one, so a context grown by the engine stays aligned.

    Example:
        >>> ctx = Context.from_list([[1.0, 2.0, 3.0], [5.0, 6.0]])
        >>> ctx.values.shape, ctx.lengths.tolist(), ctx.positions.tolist()
        (torch.Size([2, 3]), [3, 2], [3, 2])
    """

    values: torch.Tensor
    lengths: torch.Tensor
    series: torch.Tensor
    positions: torch.Tensor
    covariates: torch.Tensor | None = None

    @staticmethod
    def from_list(rows: list, series: list[int] | None = None,
                  positions: list[int] | None = None) -> "Context":
        """Build a context from a list of 1-D arrays (oldest value first)."""
        rows = [torch.as_tensor(r, dtype=torch.float64).reshape(-1) for r in rows]
        lengths = torch.tensor([len(r) for r in rows], dtype=torch.int64)
        width = int(lengths.max()) if len(rows) else 0
        values = torch.full((len(rows), width), float("nan"), dtype=torch.float64)
        for i, r in enumerate(rows):
            if len(r):
                values[i, width - len(r):] = r
        series_t = torch.arange(len(rows)) if series is None else torch.as_tensor(series, dtype=torch.int64)
        pos_t = lengths.clone() if positions is None else torch.as_tensor(positions, dtype=torch.int64)
        return Context(values, lengths, series_t, pos_t)

    @property
    def batch_size(self) -> int:
        return int(self.values.shape[0])

    def append(self, step_values: torch.Tensor) -> "Context":
        """The context one step later: ``step_values`` (``[B]``) appended to every row."""
        values = torch.cat([self.values, step_values.to(self.values.dtype).unsqueeze(1)], dim=1)
        return replace(self, values=values, lengths=self.lengths + 1, positions=self.positions + 1)

    def rows(self, index: torch.Tensor) -> "Context":
        """The rows ``index`` of this context (repeats allowed)."""
        return Context(self.values[index], self.lengths[index], self.series[index], self.positions[index],
                       None if self.covariates is None else self.covariates[index])


@runtime_checkable
class Stepper(Protocol):
    """What a model implements to be rolled out (see module docstring)."""

    def start(self, context: Context) -> State: ...

    def distribution(self, state: State): ...

    def advance(self, state: State, value: torch.Tensor) -> State: ...


def map_state(state: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """Apply ``fn`` to every tensor of a nested dict/list/tuple state (batch-first tensors)."""
    if isinstance(state, torch.Tensor):
        return fn(state)
    if isinstance(state, dict):
        return {k: map_state(v, fn) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(map_state(v, fn) for v in state)
    return state
