"""The local AR path's lags and its pooled prior, chosen on the validation windows.

A NeuralAR's local AR is fitted to each context alone; on a short context (a few seasons, or a
series of 20 values) it is noisy. :func:`choose_local_ar` fits one AR to all training series at
once (:func:`~arforecast.nn.local_ar.pooled_prior`, validation values left out) and pulls each
context's AR towards it with a weight in equations, ``ar_prior_``. The weight, and the local
AR's lags when ``Inputs.ar_lags`` is ``None``, are those whose AR forecasts of the validation
windows (the last ``validation_length_`` values of each series, from the context before them)
have the lowest mean ``|y - yhat| / scale``, averaged over :data:`ORIGINS` forecast origins per
series (the last ``validation_length_`` values, and those before them). Candidates:

* weights :data:`PRIOR_WEIGHTS`: from 0 (each context alone: the local AR of earlier versions)
  to ``1e6`` (the pooled AR's dynamics, each context's own level);
* lags: the frequency's set (:func:`~arforecast.models.neural.defaults.ar_lags_for`) and the
  same set made dense, every lag from 1 to two main seasons
  (:func:`~arforecast.models.neural.defaults.dense_ar_lags`): many lags are too many for one
  context but not for a pooled fit.

The forecasts are the AR's own (an untrained network's, on unquantized values), so the choice
costs a few least-squares solves, not network rollouts. On the simulated hourly panel of issue
15 (context 96) the dense lags with the pooled AR alone were chosen (validation MAE of the
untrained model 0.366 against 0.514 for the frequency's lags, each context alone; seasonal
naive 0.422); on M4 Hourly the frequency's lags, each context alone (the earlier model).

Example:
    >>> import numpy as np
    >>> from arforecast.datasets import simulate_ar
    >>> from arforecast.data import to_panel
    >>> panel = to_panel(simulate_ar([0.6, -0.2], n_series=6, length=80, intercept=5.0, seed=0))
    >>> local = choose_local_ar(panel, context=32, validation_length=8, candidates=[(1, 2)])
    >>> local.lags, local.weight in PRIOR_WEIGHTS, tuple(local.prior.shape)
    ((1, 2), True, (2, 2))
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
import torch

from arforecast.data.panel import Panel
from arforecast.data.scaling import MeanScaler
from arforecast.models.neural.config import Inputs
from arforecast.models.neural.defaults import dense_ar_lags
from arforecast.nn.local_ar import LocalAR, pooled_prior
from arforecast.nn.training import WindowSampler

#: prior weights (equations) tried on the validation windows
PRIOR_WEIGHTS = (0.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 1e6)
#: forecast origins per series the candidates are scored from: the last ``validation_length``
#: values, and the ``validation_length`` before them (one origin alone chose differently from
#: one period to the next on M3 quarterly; the earlier window's targets are also among the
#: values the pooled prior is fitted to, one series among all)
ORIGINS = 2


class LocalChoice(NamedTuple):
    """The chosen lags, pooled prior ``[k, k]`` and weight, and every candidate's score."""

    lags: tuple[int, ...]
    prior: torch.Tensor
    weight: float
    scores: dict[tuple[tuple[int, ...], float], float]


def _scaled(batch: dict[str, np.ndarray], context: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scaled contexts (0 where missing), their observed flags and scaled targets of the rows whose
    context holds at least two values (a forecast from nothing scores nothing)."""
    values = torch.from_numpy(batch["values"])
    ctx = values[:, :context]
    obs = ~torch.isnan(ctx)
    rows = obs.sum(1) >= 2
    ctx, obs, values = ctx[rows], obs[rows].double(), values[rows]
    scale = MeanScaler().scale(ctx)
    return torch.nan_to_num(ctx / scale[:, None]) * obs, obs, values[:, context:] / scale[:, None]


def ar_forecast_errors(local: LocalAR, z: torch.Tensor, obs: torch.Tensor, target: torch.Tensor,
                       prior: torch.Tensor, weights: Sequence[float]) -> list[float]:
    """Mean ``|target - forecast|`` of the local AR's recursive forecasts from contexts ``z`` (scaled),
    for each prior weight."""
    out = []
    for coef in local.fit_many(z, obs, prior, list(weights)):
        err = (local.forecast(z, coef, target.shape[1]) - target).abs()
        ok = torch.isfinite(err)
        out.append(float(err[ok].mean()) if ok.any() else float("inf"))
    return out


def choose_local_ar(panel: Panel, context: int, validation_length: int, candidates: Sequence[tuple[int, ...]],
                    weight: float | None = None, ridge: float = 1e-6) -> LocalChoice:
    """The best of ``candidates`` (lag sets) and of :data:`PRIOR_WEIGHTS` (or the given ``weight``).

    Without validation values (``validation_length`` 0) nothing can be compared: the first
    candidate, and a prior worth as many equations as the context (unless ``weight`` is given).
    """
    series = [panel.series(i) for i in range(panel.n_series)]
    v = int(validation_length)
    kept = [s[:len(s) - v] if v else s for s in series]
    weights = PRIOR_WEIGHTS if weight is None else (float(weight),)
    candidates = list(dict.fromkeys(tuple(c) for c in candidates))
    if v <= 0 or (len(candidates) == 1 and len(weights) == 1):
        lags = candidates[0]
        w = float(context) if weight is None else float(weight)
        return LocalChoice(lags, pooled_prior(kept, lags, ridge), w, {})
    sampler = WindowSampler(series, context=context, targets=v, validation_length=v, origins=panel.origins)
    windows = [_scaled(sampler.validation(shift=v * j), context) for j in range(ORIGINS)]
    scores: dict[tuple[tuple[int, ...], float], float] = {}
    priors = {}
    for lags in candidates:
        local = LocalAR(lags, ridge)
        priors[lags] = pooled_prior(kept, lags, ridge)
        errs = np.array([ar_forecast_errors(local, z, obs, target, priors[lags], weights)
                         for z, obs, target in windows])
        for w, e in zip(weights, errs.mean(0)):
            scores[(lags, w)] = float(e)
    lags, w = min(scores, key=scores.get)
    return LocalChoice(lags, priors[lags], w, scores)


def choose(panel: Panel, chosen: dict, inputs: Inputs) -> tuple[dict, LocalChoice | None]:
    """``chosen`` (the settings of :func:`~arforecast.models.neural.defaults.choose`) with the
    local AR's lags and prior weight (``ar_lags_``, ``ar_prior_``) chosen here, and the choice
    (``None`` without a local AR path)."""
    lags = chosen["ar_lags_"]
    if not lags:
        return {**chosen, "ar_prior_": 0.0}, None
    candidates = [lags]
    if inputs.ar_lags is None:
        candidates.append(dense_ar_lags(tuple(int(s) for s in panel.season_lengths), chosen["context_length_"]))
    local = choose_local_ar(panel, chosen["context_length_"], chosen["validation_length_"], candidates,
                            inputs.ar_prior, ridge=max(float(inputs.ar_ridge), 1e-6))
    return {**chosen, "ar_lags_": local.lags, "ar_prior_": local.weight}, local


def apply(model, local: LocalChoice | None) -> None:
    """Give ``model.network_`` the chosen prior; keep every candidate's score in ``ar_prior_scores_``."""
    model.ar_prior_scores_ = {} if local is None else local.scores
    if local is not None:
        model.network_.set_ar_prior(local.prior, local.weight)
