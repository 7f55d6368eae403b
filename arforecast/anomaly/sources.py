"""Rolling forecasts for the detector: the forecast of each point made before it arrived.

A *source* turns a fitted model into a running state for a group of series that move in
lockstep (one new value per series per step). It keeps the ``horizon`` pending predictives
(targets ``n .. n + horizon - 1`` when ``n`` values have been seen) and, on each step, consumes one
value per series and makes the predictive for the target ``horizon`` steps later.

* :class:`StepperSource` uses the rollout protocol (:mod:`arforecast.rollout.protocol`): one
  ``start`` from the history, then ``distribution`` / ``advance`` per value, so each step costs one
  model step. ``horizon = 1`` uses the model's one-step distribution exactly; ``horizon > 1``
  rolls ``num_samples`` sample paths ``horizon - 1`` steps ahead and mixes the final one-step
  distributions (:class:`~arforecast.anomaly.scores.MixturePredictive`). Uniforms are drawn per
  series and target position from the seed, so results do not depend on how series are batched.
* :class:`PredictSource` is the fallback for models without the protocol: every predictive is a
  ``model.predict(horizon, y=history)`` call (a rolling-origin backtest with one step between
  origins), reading the ``horizon``-th step's marginal (or samples).
"""
from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import Any, Callable

import numpy as np
import torch

from arforecast.anomaly.scores import (DistributionPredictive, MixturePredictive, Predictive,
                                       SamplePredictive)
from arforecast.exceptions import DataError
from arforecast.rollout.protocol import Context, map_state


def stream_covariates(covariates: Any, rows: np.ndarray, first: np.ndarray, count: int) -> np.ndarray:
    """``[len(rows), count, k (+ s)]``: series ``rows``' covariates from calendar ``first`` on, static
    ones repeated (the layout models read from :attr:`Context.covariates`)."""
    block = covariates.block(first, count, rows=rows)
    if covariates.static is not None and len(covariates.static_names):
        block = np.concatenate([block, np.repeat(covariates.static[rows][:, None, :], count, axis=1)], axis=2)
    return block


class RowView(Predictive):
    """Rows ``idx`` of a predictive made for a larger batch (used when a group splits)."""

    def __init__(self, base: Predictive, idx: np.ndarray) -> None:
        self.base, self.idx = base, np.asarray(idx, dtype=np.int64)

    def _full(self, values: np.ndarray, fill: np.ndarray) -> np.ndarray:
        full = np.array(fill, dtype=np.float64, copy=True)
        full[self.idx] = values
        return full

    @property
    def mean(self) -> np.ndarray:
        return self.base.mean[self.idx]

    def below_above(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        below, above = self.base.below_above(self._full(y, self.base.mean))
        return below[self.idx], above[self.idx]

    def quantile(self, u: np.ndarray) -> np.ndarray:
        return self.base.quantile(self._full(u, np.full(len(self.base.mean), 0.5)))[self.idx]

    def quantile_normal(self, z: np.ndarray) -> np.ndarray:
        return self.base.quantile_normal(self._full(z, np.zeros(len(self.base.mean))))[self.idx]

    def score(self, y: np.ndarray) -> np.ndarray:
        return self.base.score(self._full(y, self.base.mean))[self.idx]

    def normal_score(self, y: np.ndarray) -> np.ndarray:
        return self.base.normal_score(self._full(y, self.base.mean))[self.idx]


class Group:
    """Series (``rows``: indices into the detector's series) that advance together."""

    def __init__(self, rows: np.ndarray, lengths: np.ndarray, handle: Any, pending: deque) -> None:
        self.rows = rows
        self.lengths = lengths  # values seen per row
        self.handle = handle
        self.pending = pending  # Predictive per upcoming target, oldest first

    def subset(self, idx: np.ndarray, source: "Source") -> "Group":
        pending = deque(RowView(p, idx) for p in self.pending)
        return Group(self.rows[idx], self.lengths[idx], source.subset(self.handle, idx), pending)


class Source:
    """Interface shared by the stepper and the predict fallback."""

    def __init__(self, model: Any, horizon: int, num_samples: int, seed: int) -> None:
        self.model, self.horizon, self.num_samples, self.seed = model, horizon, num_samples, seed

    def open(self, rows: np.ndarray, histories: list[np.ndarray]) -> Group:
        h = self.horizon
        lengths = np.array([len(x) for x in histories], dtype=np.int64)
        handle = self._start(rows, [x[:len(x) - h + 1] for x in histories])
        pending: deque = deque()
        for j in range(h):
            seen = lengths - h + 1 + j
            pending.append(self._predictive(handle, rows, seen))
            if j < h - 1:
                handle = self._advance(handle, np.array([x[s] for x, s in zip(histories, seen)]))
        return Group(rows, lengths, handle, pending)

    def step(self, group: Group, values: np.ndarray) -> None:
        """Consume one value per row and queue the predictive ``horizon`` steps ahead."""
        group.pending.popleft()
        group.handle = self._advance(group.handle, values)
        group.lengths = group.lengths + 1
        group.pending.append(self._predictive(group.handle, group.rows, group.lengths))

    def next_mean(self, group: Group) -> np.ndarray:
        """Mean of the next value given everything seen (what robust mode feeds back)."""
        if self.horizon == 1:
            return group.pending[0].mean
        return self._one_step_mean(group.handle)

    # implemented by subclasses
    def _start(self, rows: np.ndarray, histories: list[np.ndarray]) -> Any: ...
    def _advance(self, handle: Any, values: np.ndarray) -> Any: ...
    def _predictive(self, handle: Any, rows: np.ndarray, seen: np.ndarray) -> Predictive: ...
    def _one_step_mean(self, handle: Any) -> np.ndarray: ...
    def subset(self, handle: Any, idx: np.ndarray) -> Any: ...


class StepperSource(Source):
    """Rolling predictives through the model's ``start`` / ``distribution`` / ``advance``.

    ``origins[r]`` is the calendar position of series ``r``'s first value (the panel's
    :attr:`~arforecast.data.Panel.origins`), so contexts carry calendar positions.
    """

    def __init__(self, model: Any, horizon: int, num_samples: int, seed: int,
                 origins: np.ndarray | None = None, covariates: Any = None) -> None:
        super().__init__(model, horizon, num_samples, seed)
        self.origins = origins
        self.covariates = covariates
        if covariates is not None and horizon > 1 and np.any(covariates.past_only):
            raise DataError("anomaly detection with past-only covariates scores one-step forecasts only "
                            "(h=1): a forecast h > 1 steps ahead would read their values after its origin")

    def _start(self, rows: np.ndarray, histories: list[np.ndarray]) -> Any:
        lengths = np.array([len(x) for x in histories], dtype=np.int64)
        offset = 0 if self.origins is None else np.asarray(self.origins)[rows]
        ctx = Context.from_list(histories, series=rows.tolist(), positions=(offset + lengths).tolist())
        if self.covariates is not None:
            # every covariate from the context's first column to the end of what is known: a
            # stream forecasts one step at a time, so a past-only value is read only once observed
            width = ctx.values.shape[1]
            first = offset + lengths - width
            ahead = int(np.max(self.covariates.ends[rows] - (offset + lengths), initial=0))
            ctx = replace(ctx, covariates=torch.from_numpy(
                stream_covariates(self.covariates, rows, first, width + max(ahead, 1))))
        return self.model.start(ctx)

    def _advance(self, handle: Any, values: np.ndarray) -> Any:
        return self.model.advance(handle, torch.as_tensor(np.asarray(values, dtype=np.float64)))

    def subset(self, handle: Any, idx: np.ndarray) -> Any:
        index = torch.as_tensor(idx, dtype=torch.long)
        return map_state(handle, lambda t: t[index])

    def _one_step_mean(self, handle: Any) -> np.ndarray:
        return DistributionPredictive(self.model.distribution(handle)).mean

    def _predictive(self, handle: Any, rows: np.ndarray, seen: np.ndarray) -> Predictive:
        if self.horizon == 1:
            return DistributionPredictive(self.model.distribution(handle))
        s, h = self.num_samples, self.horizon
        u = self._uniforms(rows, seen + h - 1)  # [B * S, h]
        index = torch.arange(len(rows)).repeat_interleave(s)
        paths = map_state(handle, lambda t: t[index])
        for j in range(h - 1):
            dist = self.model.distribution(paths)
            paths = self.model.advance(paths, dist.icdf(u[:, j].to(dist.mean.dtype)).double())
        dist = self.model.distribution(paths)
        return MixturePredictive(dist, s, dist.icdf(u[:, h - 1].to(dist.mean.dtype)))

    def _uniforms(self, rows: np.ndarray, targets: np.ndarray) -> torch.Tensor:
        out = []
        for r, t in zip(rows.tolist(), targets.tolist()):
            gen = torch.Generator().manual_seed((int(self.seed) * 1_000_003 + r * 7_919 + t) % (2 ** 63))
            out.append(torch.rand((self.num_samples, self.horizon), generator=gen, dtype=torch.float64))
        u = torch.cat(out) if out else torch.zeros((0, self.horizon), dtype=torch.float64)
        return u.clamp(1e-12, 1 - 1e-12)


class PredictSource(Source):
    """Rolling predictives from ``model.predict(horizon, y=history)`` (no stepping protocol).

    ``make_panel(rows, arrays)`` builds the panel of those histories (ids, start times, freq).
    """

    def __init__(self, model: Any, horizon: int, num_samples: int, seed: int,
                 make_panel: Callable[[np.ndarray, list[np.ndarray]], Any], covariates: Any = None) -> None:
        super().__init__(model, horizon, num_samples, seed)
        self.make_panel = make_panel
        self.covariates = covariates

    def _start(self, rows: np.ndarray, histories: list[np.ndarray]) -> Any:
        return {"rows": rows, "values": [np.asarray(x, dtype=np.float64).copy() for x in histories]}

    def _advance(self, handle: Any, values: np.ndarray) -> Any:
        vals = [np.append(x, v) for x, v in zip(handle["values"], np.asarray(values, dtype=np.float64))]
        return {"rows": handle["rows"], "values": vals}

    def subset(self, handle: Any, idx: np.ndarray) -> Any:
        return {"rows": handle["rows"][idx], "values": [handle["values"][i] for i in idx]}

    def _forecast(self, handle: Any, h: int, samples: bool) -> Any:
        panel = self.make_panel(handle["rows"], handle["values"])
        extra = {}
        if self.covariates is not None:       # predict masks past-only ones after each history's end
            extra = {"X": self.covariates.subset(handle["rows"])}
        return self.model.predict(h, num_samples=self.num_samples if samples else None,
                                  seed=self.seed, y=panel, **extra)

    def _one_step_mean(self, handle: Any) -> np.ndarray:
        return self._forecast(handle, 1, samples=False).point[:, 0]

    def _predictive(self, handle: Any, rows: np.ndarray, seen: np.ndarray) -> Predictive:
        h = self.horizon
        fc = self._forecast(handle, h, samples=False)
        if fc.marginals is not None:
            return DistributionPredictive(fc.marginals, column=h - 1)
        fc = self._forecast(handle, h, samples=True)
        return SamplePredictive(fc.samples[:, :, h - 1])
