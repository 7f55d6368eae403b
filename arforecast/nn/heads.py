"""Distribution heads: backbone features -> the next value's distribution (GluonTS' style).

A head is ``args_dim`` (how many raw outputs it needs), ``domain_map`` (raw outputs -> valid
parameters), ``nll`` (the training loss, a negative log *density* in scaled units) and
``distribution`` (the predictive distribution in original units, for the rollout engine). The
backbone never knows which head sits on top, so any backbone goes with any head.

Every head is a correction of a *base* location-scale law: ``loc = base_loc + delta`` where
``base_loc`` is the local AR path's prediction, and the scale starts at ``init_scale`` (the
local AR's residual spread). The raw projection starts at zero, so an untrained head predicts
exactly the local AR model and training only has to learn what the network adds to it.

* :class:`NormalHead`, :class:`StudentTHead`: continuous values.
* :class:`CategoricalHead`: ``n_bins`` quantized values; logits are the log mass of a base
  law (a Normal mixed with a little Student-t(3)) in each bin plus free per-bin corrections.
  Its ``nll`` divides each bin's mass by the bin's width, so it is a density and comparable
  with the continuous heads.

Example:
    >>> import torch
    >>> head = StudentTHead(d_model=8)
    >>> params = head(torch.zeros(2, 8), base_loc=torch.tensor([1.0, 2.0]))
    >>> params["loc"].tolist()
    [1.0, 2.0]
    >>> d = head.distribution(params, scale=torch.tensor([10.0, 10.0]))
    >>> d.mean.tolist()
    [10.0, 20.0]
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from arforecast.data.scaling import Quantizer
from arforecast.distributions import Categorical, Distribution, Normal, StudentT

_MIN_SCALE = 1e-4


def _inv_softplus(y: float) -> float:
    return y + math.log(-math.expm1(-y))


class Head(nn.Module):
    """Base class: a zero-initialized projection to ``sum(args_dim)`` raw outputs."""

    args_dim: dict[str, int] = {}

    def __init__(self, d_model: int, init_scale: float = 1.0) -> None:
        super().__init__()
        self.proj = nn.Linear(d_model, sum(self.args_dim.values()))
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)
        self.scale_bias = nn.Parameter(torch.tensor(_inv_softplus(init_scale)))

    def set_init_scale(self, scale: float) -> None:
        """Start the predictive scale at ``scale`` (e.g. the local AR's residual spread)."""
        with torch.no_grad():
            self.scale_bias.fill_(_inv_softplus(max(float(scale), 10 * _MIN_SCALE)))

    def forward(self, h: torch.Tensor, base_loc: torch.Tensor,
                base_scale: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``h [..., d_model]``, ``base_loc [...]`` -> parameters, each ``[...]`` (or ``[..., K]``).

        ``base_scale`` (broadcastable to ``base_loc``) multiplies the learned scale.
        """
        raw = torch.split(self.proj(h), list(self.args_dim.values()), dim=-1)
        return self.domain_map(dict(zip(self.args_dim, raw)), base_loc, base_scale)

    def domain_map(self, raw: dict[str, torch.Tensor], base_loc: torch.Tensor,
                   base_scale: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        loc = base_loc + raw["loc"].squeeze(-1)
        scale = F.softplus(raw["scale"].squeeze(-1) + self.scale_bias)
        scale = (scale if base_scale is None else scale * base_scale) + _MIN_SCALE
        return {"loc": loc, "scale": scale}

    def nll(self, params: dict[str, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
        """Negative log density of the scaled targets ``z`` (elementwise)."""
        raise NotImplementedError

    def distribution(self, params: dict[str, torch.Tensor], scale: torch.Tensor,
                     spread: float = 1.0) -> Distribution:
        """The predictive distribution in original units, given each row's ``scale``.

        ``spread`` multiplies the law's spread around its location (a calibration factor).
        """
        raise NotImplementedError


class NormalHead(Head):
    """Normal(loc, scale) on scaled values."""

    args_dim = {"loc": 1, "scale": 1}

    def nll(self, params: dict[str, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
        return -Normal(params["loc"], params["scale"]).log_prob(z)

    def distribution(self, params: dict[str, torch.Tensor], scale: torch.Tensor,
                     spread: float = 1.0) -> Distribution:
        return Normal(params["loc"] * scale, params["scale"] * scale * spread)


class StudentTHead(Head):
    """Student-t(loc, scale, df) on scaled values, ``df = 2 + softplus(.)`` (finite variance)."""

    args_dim = {"loc": 1, "scale": 1, "df": 1}

    def __init__(self, d_model: int, init_scale: float = 1.0, init_df: float = 5.0) -> None:
        super().__init__(d_model, init_scale)
        self.df_bias = nn.Parameter(torch.tensor(_inv_softplus(init_df - 2.0)))

    def domain_map(self, raw: dict[str, torch.Tensor], base_loc: torch.Tensor,
                   base_scale: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        out = super().domain_map(raw, base_loc, base_scale)
        out["df"] = 2.0 + F.softplus(raw["df"].squeeze(-1) + self.df_bias)
        return out

    def nll(self, params: dict[str, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
        return -StudentT(params["loc"], params["scale"], params["df"]).log_prob(z)

    def distribution(self, params: dict[str, torch.Tensor], scale: torch.Tensor,
                     spread: float = 1.0) -> Distribution:
        return StudentT(params["loc"] * scale, params["scale"] * scale * spread, params["df"])


class CategoricalHead(Head):
    """Categorical over the quantizer's bins: base (Normal + 1% Student-t(3)) bin masses plus learned corrections."""

    def __init__(self, d_model: int, quantizer: Quantizer, init_scale: float = 1.0) -> None:
        self.args_dim = {"loc": 1, "scale": 1, "logits": quantizer.n_bins}
        super().__init__(d_model, init_scale)
        self.quantizer = quantizer
        self.tail_logit = nn.Parameter(torch.tensor(math.log(0.01 / 0.99)))
        self.register_buffer("centers", quantizer.centers(torch.float32), persistent=False)
        self.register_buffer("log_widths", quantizer.widths(torch.float32).log(), persistent=False)

    def domain_map(self, raw: dict[str, torch.Tensor], base_loc: torch.Tensor,
                   base_scale: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        out = super().domain_map(raw, base_loc, base_scale)
        out["logits"] = self.base_logits(out["loc"], out["scale"]) + raw["logits"]
        return out

    def base_logits(self, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """``[..., K]`` log-mass of each bin under the base law about ``loc`` with ``scale``: a
        Normal mixed with a little Student-t(3) (weight learned, starting at 1%), so that an
        outlier (or a clipped edge bin) cannot dominate the cross-entropy."""
        z = (self.centers - loc.unsqueeze(-1)) / scale.unsqueeze(-1)
        normal = -0.5 * z * z - 0.5 * math.log(2 * math.pi)
        t3 = -2.0 * torch.log1p(z * z / 3.0) + (math.lgamma(2.0) - math.lgamma(1.5) - 0.5 * math.log(3 * math.pi))
        w = F.logsigmoid(torch.stack([-self.tail_logit, self.tail_logit]))
        return torch.logaddexp(w[0] + normal, w[1] + t3) - scale.log().unsqueeze(-1) + self.log_widths

    def nll(self, params: dict[str, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
        k = self.quantizer.bin_of(z)
        logp = torch.log_softmax(params["logits"], dim=-1).gather(-1, k.unsqueeze(-1)).squeeze(-1)
        return self.log_widths[k] - logp

    def distribution(self, params: dict[str, torch.Tensor], scale: torch.Tensor,
                     spread: float = 1.0) -> Distribution:
        # logits / spread^2 widens a Gaussian-shaped law by `spread` around its mode
        logits = params["logits"] if spread == 1.0 else params["logits"] / (spread * spread)
        return Categorical(logits, self.centers * scale.unsqueeze(-1))


def make_head(kind: str, d_model: int, quantizer: Quantizer | None = None) -> Head:
    """The head named ``kind``: ``"normal"``, ``"student_t"`` or ``"categorical"``."""
    if kind == "normal":
        return NormalHead(d_model)
    if kind == "student_t":
        return StudentTHead(d_model)
    if kind == "categorical":
        if quantizer is None:
            raise ValueError("a categorical head needs a Quantizer")
        return CategoricalHead(d_model, quantizer)
    raise ValueError(f"unknown head {kind!r}; use 'normal', 'student_t' or 'categorical'")
