"""The network of a NeuralAR: inputs -> backbone -> head, on top of a local AR path.

:class:`ARNetwork` holds the input features, the backbone (WaveNet or transformer), the head
and the local AR; :func:`build_network` assembles one from plain settings. The head's base
location is the local AR's one-step prediction and its output layer starts at zero, so an
untrained network forecasts exactly as the per-series AR does.

Example:
    >>> import torch
    >>> net = build_network("conv", "continuous", d_model=8, n_layers=3, lags=(), periods=(),
    ...                     ar_lags=(1, 2))
    >>> z = torch.rand(2, 30) + 1
    >>> obs = torch.ones_like(z)
    >>> ar = net.fit_ar(z, obs)
    >>> out = net(z, obs, torch.arange(30).repeat(2, 1), 0, ar)
    >>> torch.allclose(out["loc"], net.base(z, ar, 0))        # untrained: the local AR
    True
"""
from __future__ import annotations

import torch
from torch import nn

from arforecast.data.scaling import Quantizer
from arforecast.nn.features import InputFeatures
from arforecast.nn.heads import make_head
from arforecast.nn.local_ar import LocalAR
from arforecast.nn.transformer import Transformer
from arforecast.nn.wavenet import WaveNet


class ARNetwork(nn.Module):
    """Inputs -> backbone -> head, with a local AR path as the head's base location (and scale).

    ``span`` is the number of context columns the backbone reads before a forecast origin (the
    conv stack's receptive field, or the transformer's attention context). With ``ar_scale`` the
    head's scale is a multiple of the local AR's residual spread over the context, so each series
    starts from its own noise level rather than a global one.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, features: InputFeatures,
                 local_ar: LocalAR | None, span: int, ar_scale: bool = False, n_exog: int = 0) -> None:
        super().__init__()
        self.features, self.backbone, self.head = features, backbone, head
        # covariates of each input column (the forecast step's future-known values, the column's
        # own past-only and static ones), projected and added to the input features
        self.exog = nn.Linear(int(n_exog), features.proj.out_features) if n_exog else None
        self.local_ar, self.span = local_ar, int(span)
        self.ar_scale = bool(ar_scale) and local_ar is not None
        self.history = max(features.history, local_ar.order if local_ar is not None else 1)
        # the local AR's prior (a pooled AR of the training panel) and its weight in equations;
        # weight 0: each context's own least squares alone
        n_ar = len(local_ar.lags) if local_ar is not None else 0
        self.register_buffer("ar_prior", torch.zeros(n_ar, n_ar, dtype=torch.float64))
        self.register_buffer("ar_prior_weight", torch.zeros((), dtype=torch.float64))

    def set_ar_prior(self, prior: torch.Tensor, weight: float) -> None:
        """Pull every context's local AR towards ``prior`` (``[k, k]``, see
        :func:`~arforecast.nn.local_ar.pooled_prior`) with the weight of ``weight`` equations."""
        with torch.no_grad():
            self.ar_prior.copy_(torch.as_tensor(prior, dtype=torch.float64))
            self.ar_prior_weight.fill_(float(weight))

    def fit_ar(self, z: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        """The local AR of each row of the context ``z [B, N]``: ``[B, k + 1]`` coefficients and
        intercept, then (with ``ar_scale``) its residual spread; ``[B, 0]`` without an AR path."""
        if self.local_ar is None:
            return z.new_zeros(z.shape[0], 0)
        weight = float(self.ar_prior_weight)
        coef = self.local_ar.fit(z, observed, self.ar_prior if weight > 0 else None, weight)
        if self.ar_scale:
            spread = self.local_ar.residual_spread(z, observed, coef, prior_weight=weight)
            coef = torch.cat([coef, spread[:, None]], 1)
        return coef

    def split_ar(self, ar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``fit_ar``'s output -> (coefficients with intercept, residual spread or ``None``)."""
        return (ar[:, :-1], ar[:, -1]) if self.ar_scale else (ar, None)

    def base(self, z: torch.Tensor, ar: torch.Tensor, first: int) -> torch.Tensor:
        """The local AR's one-step predictions ``[B, T]`` for columns ``first..N-1`` (0 without one)."""
        if self.local_ar is None:
            return torch.zeros_like(z[:, first:])
        return self.local_ar.predict(z, self.split_ar(ar)[0], first)

    def _inputs(self, z: torch.Tensor, observed: torch.Tensor, base: torch.Tensor, positions: torch.Tensor,
                first: int, tokens: torch.Tensor | None, exog: torch.Tensor | None) -> torch.Tensor:
        x = self.features(z, observed, base, positions, first, tokens)     # (B, T, C)
        if self.exog is not None:
            if exog is None:
                raise ValueError("this network was built with covariates: pass exog")
            x = x + self.exog(exog.to(x.dtype))
        return x

    def forward(self, z: torch.Tensor, observed: torch.Tensor, positions: torch.Tensor, first: int,
                ar: torch.Tensor, tokens: torch.Tensor | None = None,
                exog: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Head parameters for the targets of columns ``first .. N-1`` of ``z [B, N]`` (``exog
        [B, N - first, n_exog]``: the covariate inputs of those columns)."""
        base = self.base(z, ar, first)                                     # (B, T)
        x = self._inputs(z, observed, base, positions, first, tokens, exog)
        spread = self.split_ar(ar)[1]
        return self.head(self.backbone(x), base, None if spread is None else spread[:, None])

    def start(self, z: torch.Tensor, observed: torch.Tensor, positions: torch.Tensor, first: int,
              ar: torch.Tensor, tokens: torch.Tensor | None = None,
              exog: torch.Tensor | None = None) -> tuple[dict[str, torch.Tensor], dict]:
        base = self.base(z, ar, first)
        x = self._inputs(z, observed, base, positions, first, tokens, exog)
        h, state = self.backbone.start(x)
        return self.head(h, base[:, -1], self.split_ar(ar)[1]), state

    def step(self, z: torch.Tensor, observed: torch.Tensor, positions: torch.Tensor, backbone_state: dict,
             ar: torch.Tensor, tokens: torch.Tensor | None = None,
             exog: torch.Tensor | None = None) -> tuple[dict[str, torch.Tensor], dict]:
        """One position: ``z, observed [B, history]`` end with the new value; ``positions [B, 1]``."""
        first = z.shape[1] - 1
        base = self.base(z, ar, first)
        x = self._inputs(z, observed, base, positions, first, tokens, exog)
        h, state = self.backbone.step(x[:, 0], backbone_state)
        return self.head(h, base[:, 0], self.split_ar(ar)[1]), state


def default_layers(backbone: str) -> int:
    """Depth when none is given: 7 conv layers (receptive field 128), 3 transformer blocks."""
    return 7 if backbone == "conv" else 3


def build_network(backbone: str, values: str, *, d_model: int, n_layers: int | None = None, n_heads: int = 4,
                  attention_context: int = 128, lags: tuple[int, ...] = (), periods: tuple[int, ...] = (),
                  ar_lags: tuple[int, ...] = (), ar_ridge: float = 1e-6, ar_scale: bool = False,
                  ar_prior: float | None = None,
                  likelihood: str = "student_t", quantizer: Quantizer | None = None,
                  embed_tokens: bool = False, n_exog: int = 0) -> ARNetwork:
    """An :class:`ARNetwork` from settings (``quantizer`` is required for ``values="quantized"``).

    ``ar_prior`` is not used here: the prior and its weight come from the training data
    (:meth:`ARNetwork.set_ar_prior`); the network starts without one."""
    if values == "quantized" and quantizer is None:
        raise ValueError("quantized values need a Quantizer")
    q = quantizer if values == "quantized" else None
    C, layers = int(d_model), int(n_layers) if n_layers is not None else default_layers(backbone)
    features = InputFeatures(C, tuple(lags), tuple(periods),
                             vocab_size=q.vocab_size if (q is not None and embed_tokens) else None)
    local_ar = LocalAR(tuple(ar_lags), float(ar_ridge)) if len(ar_lags) else None
    if backbone == "conv":
        body: nn.Module = WaveNet(C, layers)
        span = body.receptive_field
    else:
        body = Transformer(C, layers, int(n_heads))
        span = int(attention_context)
    head = make_head("categorical" if q is not None else likelihood, C, q)
    return ARNetwork(body, head, features, local_ar, span, ar_scale=bool(ar_scale), n_exog=int(n_exog))
