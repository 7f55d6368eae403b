"""Training a NeuralAR: windows, the loss, the starting spread, validation by rollout.

:func:`fit_network` is the body of ``NeuralAR.fit`` once the network is built: random windows
across all series (:class:`~arforecast.nn.training.WindowSampler`), every target of a window
scored in one teacher-forced pass, the head's scale started at the local AR's one-step error
spread, the budgeted AdamW loop of :func:`~arforecast.nn.training.train` with validation on the
last ``validation_length`` values of each series, then optional spread calibration. With the
exposure-bias options of ``Training`` (scheduled sampling, a multi-step rollout objective) the
loss comes from :mod:`~arforecast.models.neural.exposure` instead of the teacher-forced pass.
"""
from __future__ import annotations

import contextlib
import math
import time
from typing import Any

import numpy as np
import torch

from arforecast.data.panel import Panel
from arforecast.models.neural import exposure
from arforecast.nn.training import WindowSampler, train
from arforecast.rollout.protocol import Context



@contextlib.contextmanager
def seeded(seed: int | None):
    """Fork torch's global RNG and seed it (initialization draws from it); restore afterwards."""
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(int(seed))
        yield


def window_forecast(model: Any, batch: dict[str, np.ndarray], context: int
                    ) -> tuple[Context, torch.Tensor, torch.Tensor]:
    """A window batch as a forecast: the context of its first ``context`` columns, the targets
    after them ``[B, W]`` and each row's scale ``[B, 1]``."""
    values = torch.from_numpy(batch["values"])
    ctx_values = values[:, :context]
    lengths = (~torch.isnan(ctx_values)).sum(1)
    origins = torch.from_numpy(batch["positions"][:, context - 1]).to(torch.int64)
    cov = None
    if "covariates" in batch:               # past-only ones are not known after the origin: carried forward
        cov = batch["covariates"].copy()
        past = np.asarray(model.exog_past_, dtype=bool)
        cov[:, context:, past] = cov[:, context - 1:context, past]
        cov = torch.from_numpy(cov)
    ctx = Context(ctx_values, lengths, torch.arange(len(values)), origins, cov)
    return ctx, values[:, context:], model.scaler_.scale(ctx_values)[:, None]


def rollout_error(model: Any, batch: dict[str, np.ndarray], context: int) -> float:
    """Mean-path forecast error ``mean |y - yhat| / scale`` of the windows' targets (windows whose
    context holds fewer than two values are left out)."""
    from arforecast.rollout.engine import rollout
    ctx, target, scale = window_forecast(model, batch, context)
    point = rollout(model, ctx, target.shape[1], decoding="mean").point
    err = (point - target).abs() / scale
    err[ctx.lengths < 2] = float("nan")          # a series with no context before its validation values
    return float(err[torch.isfinite(err)].mean())


def init_scale(model: Any, sampler: WindowSampler, rng: np.random.Generator, n_windows: int = 256) -> None:
    """Start the head's scale at the spread of the local AR's one-step errors on training windows
    (relative to each window's in-context residual spread with ``ar_scale``)."""
    net = model.network_
    batch = sampler.sample(n_windows, rng)
    values = torch.from_numpy(batch["values"]).to(model.device_)
    F = sampler.context
    scale = model.scaler_.scale(values[:, :F])
    z, obs, _ = model._encode(values[:, :-1], scale)
    ar = net.fit_ar(z[:, :F], obs[:, :F])
    pred = net.base(z, ar, F - 1)
    err = (values[:, F:] / scale[:, None]).to(model.dtype_) - pred
    spread = net.split_ar(ar)[1]
    if spread is not None:
        err = err / spread[:, None]                                 # in units of each row's own spread
    err = err[torch.isfinite(err)]
    if err.numel() < 2:
        return
    spread = float(err.abs().median() * 1.4826)                    # robust standard deviation
    if model.values == "continuous" and model.config_.output.likelihood == "student_t":
        spread *= math.sqrt(3 / 5)                                  # Student-t(5) scale for that spread
    net.head.set_init_scale(spread)
    model.ar_residual_spread_ = spread


def fit_network(model: Any, panel: Panel, covariates: list[np.ndarray] | None = None, spent: float = 0.0) -> None:
    """Train ``model.network_`` on ``panel`` (sets ``training_``, and ``spread_`` when calibrating);
    ``covariates``: each series' ``[length, k]`` covariates (static ones as constant columns);
    ``spent``: seconds of ``time_limit`` already used choosing settings."""
    from arforecast.models.neural.calibration import calibrate_spread
    cfg, net, device = model.config_.training, model.network_, model.device_
    rng = np.random.default_rng(model.seed)
    F = int(model.context_length_)
    series = [panel.series(i) for i in range(panel.n_series)]
    sampler = WindowSampler(series, context=F, targets=int(model.window_length_),
                            validation_length=int(model.validation_length_), origins=panel.origins,
                            covariates=covariates)

    def batch_loss(batch: dict[str, np.ndarray]) -> torch.Tensor:
        values = torch.from_numpy(batch["values"]).to(device)
        positions = torch.from_numpy(batch["positions"]).to(device)
        if "covariates" in batch:
            nll, _ = model._window_nll(values, positions, F, torch.from_numpy(batch["covariates"]))
        else:
            nll, _ = model._window_nll(values, positions, F)
        mask = torch.from_numpy(batch["mask"]).to(device)
        return (nll * mask).sum() / mask.sum().clamp_min(1)

    # exposure-bias options (exposure.py): scheduled sampling's share follows the budget used
    budget = {"fraction": 0.0}
    # its own stream (not drawn from rng: the options at 0 leave the training windows as they were)
    generator = torch.Generator().manual_seed(int(np.random.SeedSequence(model.seed).generate_state(1)[0]))
    exposed = cfg.scheduled_sampling > 0 or (cfg.rollout_steps > 0 and cfg.rollout_weight > 0)

    def exposed_loss(batch: dict[str, np.ndarray]) -> torch.Tensor:
        cov = torch.from_numpy(batch["covariates"]) if "covariates" in batch else None
        w = model._encode_window(torch.from_numpy(batch["values"]).to(device),
                                 torch.from_numpy(batch["positions"]).to(device), F, cov)
        share = exposure.sampling_share(budget["fraction"], float(cfg.scheduled_sampling), cfg.sampling_schedule)
        z, tokens = exposure.sampled_inputs(model, w, share, cfg.sampling_feed, generator)
        mask = torch.from_numpy(batch["mask"]).to(device)
        loss = (exposure.window_nll(model, w, z, tokens) * mask).sum() / mask.sum().clamp_min(1)
        if cfg.rollout_steps > 0 and cfg.rollout_weight > 0:
            loss = loss + float(cfg.rollout_weight) * exposure.rollout_loss(model, w, int(cfg.rollout_steps))
        return loss

    vbatch = sampler.validation() if model.validation_length_ > 0 else None
    t0 = time.perf_counter()
    if net.local_ar is not None:
        init_scale(model, sampler, rng)
    spent += time.perf_counter() - t0

    def loss_fn() -> torch.Tensor:
        batch = sampler.sample(int(cfg.batch_size), rng)
        return exposed_loss(batch) if exposed else batch_loss(batch)

    val_fn = None
    if vbatch is not None:

        def val_fn() -> float:
            net.eval()
            with torch.no_grad():
                if cfg.val_metric == "nll":
                    return float(batch_loss(vbatch))
                return rollout_error(model, vbatch, F)

    with seeded(model.seed):
        model.training_ = train(
            net, loss_fn, max_steps=int(model.max_steps),
            time_limit=None if model.time_limit is None else max(model.time_limit - spent, 1e-3),
            learning_rate=float(cfg.learning_rate), weight_decay=float(cfg.weight_decay),
            warmup_steps=int(cfg.warmup_steps), grad_clip=float(cfg.grad_clip), val_fn=val_fn,
            val_every=int(cfg.val_every), patience=cfg.patience, ema_decay=cfg.ema_decay,
            progress=bool(model.progress), on_step=lambda fraction: budget.update(fraction=fraction))
    net.eval()
    if cfg.calibrate is not None and val_fn is not None:
        with torch.no_grad():
            model.spread_, model.calibration_ = calibrate_spread(model, vbatch, F, cfg.calibrate)
