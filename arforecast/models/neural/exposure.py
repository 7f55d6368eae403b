"""Training objectives against exposure bias: scheduled sampling and a short multi-step rollout.

Teacher forcing trains every step on the true values before it; a forecast feeds the model its
own. Two options of :class:`~arforecast.models.neural.config.Training` bring the model's own
values into training (both off by default):

* **Scheduled sampling** (``scheduled_sampling=p``): the target-side inputs of a window (the
  values after the forecast origin that the later targets are predicted from) are replaced, each
  with probability ``share``, by the model's own one-step prediction of that value -- a draw from
  its predictive law (``sampling_feed="sample"``) or its mean (``"mean"``) -- and the targets are
  scored with the true values as before. ``share`` grows over the training budget from 0 to
  ``p`` (:func:`sampling_share`: linear, or an inverse sigmoid that stays low for the first half).
  The predictions come from a first, gradient-free teacher-forced pass (parallel scheduled
  sampling: one pass for every position, so it works alike for the conv and the transformer
  backbone); the loss is that of a second pass over the mixed inputs.
* **Multi-step objective** (``rollout_steps=k``, ``rollout_weight=w``): from each window's
  origin the mean path is rolled out ``k`` steps (one causal pass per step, the mean fed back
  with its gradient; quantized values pass their bin centre straight through), and
  ``w`` times its absolute error, in units of the first step's predicted scale, is added to the
  teacher-forced loss.

With ``share = 0`` and ``w = 0`` the loss is the teacher-forced loss exactly.

Example:
    >>> [round(sampling_share(p, 0.5, "linear"), 3) for p in (0.0, 0.5, 1.0)]
    [0.0, 0.25, 0.5]
    >>> [round(sampling_share(p, 0.5, "sigmoid"), 3) for p in (0.0, 0.5, 1.0)]
    [0.0, 0.041, 0.5]
"""
from __future__ import annotations

import math
from typing import Any

import torch

from arforecast.models.neural.config import SAMPLING_FEEDS as FEEDS
from arforecast.models.neural.config import SAMPLING_SCHEDULES as SCHEDULES


def sampling_share(progress: float, final: float, schedule: str = "linear") -> float:
    """The share of target-side inputs fed the model's own values at ``progress`` (fraction of
    the budget used, 0..1), rising from 0 to ``final``.

    ``"sigmoid"``: the inverse-sigmoid decay of teacher forcing (Bengio et al., 2015) rescaled to
    start at 0 and end at ``final``; it keeps training nearly teacher-forced for the first half.
    """
    p = min(max(float(progress), 0.0), 1.0)
    if schedule == "linear":
        return final * p
    if schedule == "sigmoid":
        k = 10.0                                            # steepness: the rise sits in the last half

        def rise(x: float) -> float:
            return 1.0 / (1.0 + math.exp(-k * (x - 0.75)))
        return final * (rise(p) - rise(0.0)) / (rise(1.0) - rise(0.0))
    raise ValueError(f"sampling_schedule must be one of {SCHEDULES}, got {schedule!r}")


def _params(model: Any, w: dict[str, Any], z: torch.Tensor, tokens: torch.Tensor | None,
            obs: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Head parameters of input columns ``first .. N - 1`` of ``z [B, N]``."""
    net, first, last = model.network_, w["first"], z.shape[1]
    exog = None if w["exog"] is None else w["exog"][:, :last - first]
    obs = w["obs"][:, :last] if obs is None else obs
    return net(z, obs, w["positions"][:, :last - first], first, w["coef"], tokens, exog)


def _as_input(model: Any, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Scaled values as the network reads them: quantized values become their bin centre (the
    gradient passes straight through); also their tokens (quantized values)."""
    q = model.quantizer_
    if q is None:
        return z, None
    tokens = q.bin_of(z.detach())
    centre = q.dequantize(tokens, torch.float64).to(z.dtype)
    return z + (centre - z).detach(), tokens


def window_nll(model: Any, w: dict[str, Any], z: torch.Tensor | None = None,
               tokens: torch.Tensor | None = None) -> torch.Tensor:
    """Teacher-forced NLL ``[B, W]`` of the window's targets given the inputs ``z`` (default: the true ones)."""
    if z is None:
        z, tokens = w["z"], w["tokens"]
    params = _params(model, w, z, tokens)
    W = w["target"].shape[1]
    params = {k: v[:, -W:] for k, v in params.items()}
    return model.network_.head.nll(params, torch.nan_to_num(w["target"]))


def sampled_inputs(model: Any, w: dict[str, Any], share: float, feed: str = "sample",
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The window's inputs with each observed target-side input replaced, with probability
    ``share``, by the model's one-step prediction of it (a draw or the mean), without gradient."""
    z, tokens, F = w["z"], w["tokens"], w["context"]
    if feed not in FEEDS:
        raise ValueError(f"sampling_feed must be one of {FEEDS}, got {feed!r}")
    if share <= 0 or z.shape[1] <= F:
        return z, tokens
    net = model.network_
    with torch.no_grad():
        params = _params(model, w, z, tokens)
        n_in = z.shape[1] - F                                 # target-side inputs: columns F .. N-2
        params = {k: v[:, -(n_in + 1):-1] for k, v in params.items()}   # predictions of those values
        law = net.head.distribution(params, torch.ones_like(params["loc"]))
        own = law.sample(generator) if feed == "sample" else law.mean
        own, own_tokens = _as_input(model, own.to(z.dtype))
        u = torch.rand(own.shape, generator=generator, dtype=torch.float64).to(z.device)
        swap = (u < share) & (w["obs"][:, F:] > 0)
        z = torch.cat([z[:, :F], torch.where(swap, own, z[:, F:])], 1)
        if tokens is not None and own_tokens is not None:
            tokens = torch.cat([tokens[:, :F], torch.where(swap, own_tokens, tokens[:, F:])], 1)
    return z, tokens


def rollout_loss(model: Any, w: dict[str, Any], steps: int) -> torch.Tensor:
    """Mean absolute error of the ``steps``-step mean path from each window's origin (the mean
    fed back with its gradient), in units of the first step's predicted scale; ``[]``."""
    F, net = w["context"], model.network_
    target = w["target"][:, :steps]
    steps = target.shape[1]
    z, tokens = w["z"][:, :F], None if w["tokens"] is None else w["tokens"][:, :F]
    obs = w["obs"][:, :F]
    errors, unit = [], None
    for j in range(steps):
        params = {k: v[:, -1] for k, v in _params(model, w, z, tokens, obs).items()}
        mean = net.head.distribution(params, torch.ones_like(params["loc"])).mean
        if unit is None:
            unit = params["scale"].detach()
        errors.append((torch.nan_to_num(target[:, j]) - mean).abs() / unit)
        if j + 1 < steps:
            fed, fed_tokens = _as_input(model, mean[:, None].to(z.dtype))
            z = torch.cat([z, fed], 1)
            obs = torch.cat([obs, torch.ones_like(fed)], 1)          # a fed-back value is observed
            if tokens is not None and fed_tokens is not None:
                tokens = torch.cat([tokens, fed_tokens], 1)
    err = torch.stack(errors, 1)
    mask = ~torch.isnan(target)
    return (err * mask).sum() / mask.sum().clamp_min(1)
