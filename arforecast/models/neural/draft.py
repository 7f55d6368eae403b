"""NeuralAR's own local AR path as a draft model for speculative decoding.

Every NeuralAR with local AR lags (``inputs.ar_lags``) starts its head from a ridge AR fitted
to each series' context (:class:`~arforecast.nn.local_ar.LocalAR`): a classical model that
costs a few multiply-adds per step and is often close to the network's forecast.
:class:`LocalARDraft` rolls that path out on its own, as a Normal law with the AR's residual
spread, so that ``rollout(model, ..., decoding="speculative", draft=LocalARDraft(model))``
(or ``model.predict(h, num_samples, decoding="speculative", draft="local_ar")``) lets the
network check several of its steps in one pass.

Example:
    >>> import arforecast as af
    >>> from arforecast.datasets import simulate_ar
    >>> y = simulate_ar([0.6, -0.2], n_series=2, length=120, intercept=5.0, seed=0)
    >>> model = af.NeuralAR("conv", "continuous", context_length=32, max_steps=5, seed=0, progress=False,
    ...                     architecture=dict(d_model=8, n_layers=3),
    ...                     inputs=dict(lags=(), periods=(), ar_lags=(1, 2)),
    ...                     training=dict(window_length=8, batch_size=8, validation_length=8, val_every=5)).fit(y)
    >>> fc = model.predict(6, num_samples=50, seed=0, decoding="speculative", draft="local_ar", draft_steps=3)
    >>> fc.samples.shape
    (2, 50, 6)
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from arforecast.distributions import Normal
from arforecast.rollout.protocol import Context, State


class LocalARDraft:
    """The local AR path of a fitted NeuralAR as a Stepper (a Normal law per step).

    Its state per path is the scale, the AR coefficients and spread, and the last ``order``
    scaled values: a fixed size, as speculative decoding needs of a draft.
    """

    def __init__(self, model: Any) -> None:
        net = model.network_
        if net.local_ar is None:
            raise ValueError("this NeuralAR has no local AR path (inputs.ar_lags is empty): give another draft "
                             "model, e.g. a fitted AR")
        self.model = model

    def start(self, context: Context) -> State:
        m = self.model
        net, dev = m.network_, m.device_
        values = context.values.to(dev, torch.float64)
        T = values.shape[1]
        Fc = min(T, int(m.context_length_))
        scale = m.scaler_.scale(values[:, :Fc])
        first_obs = (T - context.lengths.to(dev)).clamp_min(0)
        z, obs, _ = m._encode(values, scale, first_obs)
        coef, spread = net.split_ar(net.fit_ar(z[:, :Fc], obs[:, :Fc]))
        if spread is None:
            spread = net.local_ar.residual_spread(z[:, :Fc], obs[:, :Fc], coef)
        width = net.local_ar.order
        pad = max(width - T, 0)
        return {"scale": scale, "coef": coef, "spread": spread * float(getattr(m, "spread_", 1.0)),
                "z": F.pad(z, (pad, 0))[:, -width:]}

    def distribution(self, state: State) -> Normal:
        m = self.model
        z = state["z"]
        loc = m.network_.local_ar.predict(z, state["coef"], z.shape[1] - 1)[:, 0]
        scale = state["scale"].to(z.dtype)
        return Normal(loc * scale, state["spread"] * scale)

    def advance(self, state: State, value: torch.Tensor) -> State:
        z_new, _, _ = self.model._encode(value.to(self.model.device_, torch.float64).reshape(-1, 1), state["scale"])
        return {**state, "z": torch.cat([state["z"][:, 1:], z_new], 1)}
