"""Predictive distributions, batched torch objects in the original units of the series.

Every distribution has a batch shape (``[B]`` for one rollout step, ``[n, h]`` for a forecast's
marginals) and offers ``mean``, ``mode``, ``log_prob(x)``, ``quantile(q)`` and
``icdf(u)``. Sampling is ``icdf(u)`` of uniforms that the rollout engine draws up front, so
that a seed gives the same paths whatever the chunking.
"""
from __future__ import annotations

import math

import torch


class Distribution:
    """Base class: subclasses implement ``mean``, ``mode``, ``log_prob``, ``icdf``."""

    @property
    def mean(self) -> torch.Tensor:
        raise NotImplementedError

    @property
    def mode(self) -> torch.Tensor:
        raise NotImplementedError

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def icdf(self, u: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def quantile(self, q: float | torch.Tensor) -> torch.Tensor:
        """Quantile ``q`` for every element of the batch."""
        ref = self.mean
        return self.icdf(torch.as_tensor(q, dtype=ref.dtype, device=ref.device).expand_as(ref))

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One draw per batch element (inverse-CDF of fresh uniforms)."""
        ref = self.mean
        u = torch.rand(ref.shape, generator=generator, dtype=torch.float64).to(ref.device, ref.dtype)
        return self.icdf(u)


class Normal(Distribution):
    """Normal(loc, scale).

    Example:
        >>> d = Normal(torch.tensor([0.0]), torch.tensor([1.0]))
        >>> round(float(d.quantile(0.975)), 4)
        1.96
    """

    def __init__(self, loc: torch.Tensor, scale: torch.Tensor) -> None:
        self.loc, self.scale = torch.broadcast_tensors(torch.as_tensor(loc), torch.as_tensor(scale))

    @property
    def mean(self) -> torch.Tensor:
        return self.loc

    @property
    def mode(self) -> torch.Tensor:
        return self.loc

    @property
    def variance(self) -> torch.Tensor:
        return self.scale ** 2

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.loc) / self.scale
        return -0.5 * z ** 2 - torch.log(self.scale) - 0.5 * math.log(2 * math.pi)

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        return torch.special.ndtr((x - self.loc) / self.scale)

    def icdf(self, u: torch.Tensor) -> torch.Tensor:
        return self.loc + self.scale * torch.special.ndtri(u.to(self.loc.dtype))
