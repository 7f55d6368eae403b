"""Training: random windows across series, a budgeted AdamW loop, early stopping, a NaN guard.

* :class:`WindowSampler` cuts windows that imitate a forecast -- ``context`` values, then
  ``targets`` values to predict -- at random places of random series, and the fixed
  *validation* windows whose targets are the last ``validation_length`` values of each series
  (carved from the end of the training data; training windows never reach them).
* :func:`train` runs AdamW with linear warm-up and cosine decay over the budget (``max_steps``
  optimizer steps or ``time_limit`` seconds, whichever ends first: the schedule follows the
  fraction of the budget used), clips gradients, keeps an exponential moving average of the
  weights (checkpoint averaging) if asked, validates every ``val_every`` steps, stops after
  ``patience`` validations without improvement and restores the best weights. A loss or
  gradient that turns NaN stops training with :class:`~arforecast.exceptions.TrainingError`,
  and a ``KeyboardInterrupt`` stops it too; either way the module is left holding the best
  checkpoint so far (the best validated weights; without validation, those of the last finite
  step) and the exception carries the :class:`TrainResult` as ``train_result``.

Example:
    >>> import numpy as np
    >>> s = WindowSampler([np.arange(100.0)], context=20, targets=8, validation_length=10)
    >>> b = s.sample(2, np.random.default_rng(0))
    >>> b["values"].shape, b["positions"].shape, b["scale"].shape, b["mask"].shape
    ((2, 28), (2, 27), (2,), (2, 8))
    >>> float(s.validation()["values"][0, -1])       # validation targets end the series
    99.0
"""
from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from arforecast.exceptions import TrainingError
from arforecast.progress import progress_enabled


class WindowSampler:
    """Training and validation windows over a list of series (1-D float arrays, NaN = missing).

    A window imitates one forecast: ``context`` values up to a forecast origin, then ``targets``
    values after it. A batch is a dict of numpy arrays: ``values [B, context + targets]`` (NaN
    before a series starts), ``positions [B, context + targets - 1]`` (calendar position of the
    target of each input column: ``origins[i]`` is that of series ``i``'s first value), ``scale [B]`` (mean absolute value of the context) and ``mask [B,
    targets]`` (observed targets), and ``covariates [B, context + targets, k]`` beside the values when
    the sampler has them. Training origins are drawn uniformly over the places where
    all targets lie before the validation split.
    """

    def __init__(self, series: list[np.ndarray], context: int, targets: int, validation_length: int = 0,
                 origins: np.ndarray | None = None, covariates: list[np.ndarray] | None = None) -> None:
        self.context, self.targets = int(context), int(targets)
        self.origins = np.zeros(len(series), dtype=np.int64) if origins is None else np.asarray(origins, np.int64)
        self.validation_length = int(validation_length)
        pad = self.context + max(self.targets, self.validation_length) + 1
        self.pad = pad
        self.lengths = np.array([len(s) for s in series], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths + pad)])[:-1]
        self.flat = np.concatenate([np.concatenate([np.full(pad, np.nan), s]) for s in series])
        # optional covariates of every value ([len, k] per series): batches get them beside the values
        self.flat_cov = None if covariates is None else np.concatenate(
            [np.concatenate([np.full((pad, c.shape[1]), np.nan), c]) for c in covariates])
        # origin = number of values in the context part; targets are values origin .. origin+W-1
        self.last_origin = self.lengths - self.validation_length - self.targets
        self.first_origin = np.minimum(1, self.last_origin)
        self.n_windows = np.maximum(self.last_origin - self.first_origin + 1, 0)
        if self.n_windows.sum() <= 0:
            raise ValueError("the series are too short for training windows after the validation split; "
                             "lower validation_length or window_length")

    def _batch(self, rows: np.ndarray, origins: np.ndarray, targets: int) -> dict[str, np.ndarray]:
        width = self.context + targets
        start = self.offsets[rows] + self.pad + origins - self.context
        values = self.flat[start[:, None] + np.arange(width)[None, :]]
        positions = (self.origins[rows] + origins - self.context + 1)[:, None] + np.arange(width - 1)[None, :]
        ctx = values[:, :self.context]
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)       # a context inside a long gap: scale 1
            scale = np.nanmean(np.abs(ctx), axis=1) if ctx.size else np.ones(len(rows))
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)     # relative: no absolute floor
        mask = ~np.isnan(values[:, self.context:])
        batch = {"values": values, "positions": positions, "scale": scale, "mask": mask}
        if self.flat_cov is not None:
            batch["covariates"] = self.flat_cov[start[:, None] + np.arange(width)[None, :]]   # [B, width, k]
        return batch

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``batch_size`` random training windows (series drawn in proportion to their windows)."""
        p = self.n_windows / self.n_windows.sum()
        rows = rng.choice(len(self.lengths), size=batch_size, p=p)
        origins = self.first_origin[rows] + (rng.random(batch_size) * self.n_windows[rows]).astype(np.int64)
        return self._batch(rows, origins, self.targets)

    def validation(self, shift: int = 0) -> dict[str, np.ndarray]:
        """One window per series whose targets are its last ``validation_length`` values (``shift``:
        the window that many values earlier)."""
        if self.validation_length <= 0:
            raise ValueError("no validation split: validation_length is 0")
        rows = np.arange(len(self.lengths))
        return self._batch(rows, self.lengths - self.validation_length - int(shift), self.validation_length)


@dataclass
class TrainResult:
    """What happened in :func:`train`."""

    steps: int = 0
    seconds: float = 0.0
    best_step: int = 0
    best_val: float = math.inf
    stopped: str = "budget"
    history: list = field(default_factory=list)      # (step, seconds, train loss, val loss)


def lr_factor(progress: float, step: int, warmup_steps: int, final: float = 0.1,
              warmup_fraction: float = 0.1) -> float:
    """Linear warm-up, then cosine decay to ``final`` at ``progress = 1`` (the fraction of the budget used).

    The warm-up ends after ``warmup_steps`` steps or ``warmup_fraction`` of the budget, whichever
    comes first, so that a short budget (a few hundred steps) is not spent mostly warming up.

    Example:
        >>> [round(lr_factor(p, step, 50), 3) for p, step in [(0.0, 0), (0.05, 9), (0.1, 20), (0.5, 2000)]]
        [0.02, 0.497, 0.978, 0.55]
    """
    warm = min(1.0, max((step + 1) / max(warmup_steps, 1), progress / warmup_fraction if warmup_fraction else 0.0))
    return warm * (final + (1 - final) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def train(model: nn.Module, loss_fn: Callable[[], torch.Tensor], *, max_steps: int,
          time_limit: float | None = None, learning_rate: float = 3e-3, weight_decay: float = 0.01,
          warmup_steps: int = 50, grad_clip: float = 1.0, val_fn: Callable[[], float] | None = None,
          val_every: int = 50, patience: int | None = None, ema_decay: float | None = None,
          progress: bool = True, on_step: Callable[[float], None] | None = None) -> TrainResult:
    """Minimize ``loss_fn()`` (which draws its own batch) by AdamW within the budget.

    ``val_fn()`` returns the validation loss (evaluated on the averaged weights when
    ``ema_decay`` is set); the best validated weights are restored at the end.

    ``time_limit`` counts everything this function does: setting up the optimizer, the first validation, the steps, the
    periodic validations and the last one. A step starts only if it and a validation after it
    (their durations measured as training goes) still fit in the limit, so training ends a
    little before the limit rather than after it; at least one step is always taken. The
    progress bar counts steps up to whichever budget binds: ``max_steps``, or the steps the
    time left allows at the measured pace (its total is revised as training goes).
    ``progress`` is subject to the library-wide switch (:mod:`arforecast.progress`).
    ``on_step(fraction)`` is called before each step with the fraction of the budget used (what
    the learning-rate schedule follows), for losses that change over training.
    """
    # the clock starts first: building the optimizer imports torch._dynamo (about 2 s the first
    # time in a process), and that is part of the time training takes
    t0 = time.perf_counter()
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=learning_rate)
    ema = [p.detach().clone() for p in params] if ema_decay else None
    result = TrainResult()
    best_state = copy.deepcopy(model.state_dict())
    bad_evals = 0
    bar = None
    if progress_enabled(progress):
        from tqdm.auto import tqdm
        bar = tqdm(total=max_steps, desc="training", unit="step", leave=False)
    pace = {"step": 0.0, "val": 0.0}          # measured seconds per step and per validation

    def evaluate() -> float:
        start = time.perf_counter()
        try:
            return _evaluate()
        finally:
            pace["val"] = time.perf_counter() - start

    def _evaluate() -> float:
        if val_fn is None:
            return math.nan
        if ema is None:
            return float(val_fn())
        live = [p.detach().clone() for p in params]
        with torch.no_grad():
            for p, e in zip(params, ema):
                p.copy_(e)
        try:
            return float(val_fn())
        finally:
            with torch.no_grad():
                for p, v in zip(params, live):
                    p.copy_(v)

    def checkpoint() -> dict:
        state = copy.deepcopy(model.state_dict())
        if ema is not None:
            names = {id(p): n for n, p in model.named_parameters()}
            for p, e in zip(params, ema):
                state[names[id(p)]] = e.clone()
        return state

    last_good = [p.detach().clone() for p in params]
    train_loss = math.nan
    step = 0
    try:
        if val_fn is not None:      # the starting point (e.g. the classical path alone) is a candidate
            result.best_val = evaluate()
            result.history.append((0, time.perf_counter() - t0, math.nan, result.best_val))
            best_state = checkpoint()
        for step in range(max_steps):
            elapsed = time.perf_counter() - t0
            if time_limit is not None and step > 0 and elapsed + pace["step"] + pace["val"] >= time_limit:
                result.stopped = "time_limit"       # the next step and a last validation would not fit
                break
            step_start = time.perf_counter()
            frac = max(step / max_steps, elapsed / time_limit if time_limit else 0.0)
            for group in opt.param_groups:
                group["lr"] = learning_rate * lr_factor(frac, step, warmup_steps)
            if on_step is not None:
                on_step(frac)
            model.train()
            loss = loss_fn()
            if not torch.isfinite(loss):
                _restore(params, last_good)
                raise TrainingError(f"training loss became {float(loss.detach())} at step {step}: stopped, keeping "
                                    "the best weights so far (validated, or of the last step with a finite "
                                    "loss); lower learning_rate "
                                    "or check the data for extreme values")
            _copy_into(last_good, params)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(params, grad_clip)
            if not torch.isfinite(norm):
                raise TrainingError(f"the gradient became {float(norm)} at step {step}: stopped, keeping the "
                                    "best weights so far (validated, or of the last finite step); lower "
                                    "learning_rate")
            opt.step()
            if ema is not None:
                with torch.no_grad():
                    d = min(ema_decay, (1 + step) / (10 + step))
                    torch._foreach_lerp_(ema, [p.detach() for p in params], 1 - d)
            lv = float(loss.detach())
            train_loss = lv if step == 0 else 0.95 * train_loss + 0.05 * lv
            result.steps = step + 1
            took = time.perf_counter() - step_start
            pace["step"] = took if step == 0 else 0.9 * pace["step"] + 0.1 * took
            if bar is not None:
                if time_limit is not None:
                    bar.total = _projected_steps(step + 1, max_steps, time_limit - (time.perf_counter() - t0),
                                                 pace["step"], pace["val"] if val_fn is not None else 0.0, val_every)
                bar.update(1)
            if val_fn is not None and ((step + 1) % val_every == 0):
                val = evaluate()
                result.history.append((step + 1, time.perf_counter() - t0, train_loss, val))
                if bar is not None:
                    bar.set_postfix(loss=f"{train_loss:.4f}", val=f"{val:.4f}")
                if val < result.best_val:
                    result.best_val, result.best_step, bad_evals = val, step + 1, 0
                    best_state = checkpoint()
                else:
                    bad_evals += 1
                    if patience is not None and bad_evals >= patience:
                        result.stopped = "early_stopping"
                        break
        if val_fn is not None and (not result.history or result.history[-1][0] != result.steps):
            val = evaluate()
            result.history.append((result.steps, time.perf_counter() - t0, train_loss, val))
            if val < result.best_val:
                result.best_val, result.best_step = val, result.steps
                best_state = checkpoint()
        if val_fn is None:
            best_state = checkpoint()
            result.best_step = result.steps
        model.load_state_dict(best_state)
    except (KeyboardInterrupt, TrainingError) as err:
        # keep the best checkpoint so far: the best validated weights, or without validation the
        # weights at the start of the last step (an interrupt may land inside an optimizer step)
        result.stopped = "interrupted" if isinstance(err, KeyboardInterrupt) else "not_finite"
        if val_fn is None:
            _restore(params, last_good)
            best_state = copy.deepcopy(model.state_dict())
            result.best_step = result.steps
        model.load_state_dict(best_state)
        err.train_result = result          # type: ignore[union-attr]
        raise
    finally:
        if bar is not None:
            bar.total = result.steps                # the budget that bound, reached
            bar.refresh()
            bar.close()
        result.seconds = time.perf_counter() - t0
    return result


def _projected_steps(done: int, max_steps: int, seconds_left: float, step_seconds: float, val_seconds: float,
                     val_every: int) -> int:
    """Steps training will end at: ``max_steps`` or what the time left allows at the measured pace.

    Example:
        >>> _projected_steps(10, 1000, seconds_left=5.0, step_seconds=0.1, val_seconds=1.0, val_every=50)
        43
    """
    per_step = step_seconds + val_seconds / max(val_every, 1)
    if per_step <= 0:
        return max_steps
    fits = max(0.0, seconds_left - val_seconds) / per_step
    return int(min(max_steps, done + fits))


def _copy_into(dst: list[torch.Tensor], src: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for d, s in zip(dst, src):
            d.copy_(s)


def _restore(params: list[torch.Tensor], saved: list[torch.Tensor]) -> None:
    _copy_into(params, saved)
