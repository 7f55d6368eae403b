"""Per-series scaling and the value quantizer of the neural models.

Both follow Chronos' tokenizer contract: the per-series ``scale`` is computed from the context only
and then carried as explicit state, so that every later value (labels in training, sampled
values in a rollout) is encoded with the same scale and decoded back to original units.

* :class:`MeanScaler` -- ``scale = mean(|x|)`` over the observed context values (1 where that is 0
  or undefined); scaled values are ``x / scale``. No centering, so the sign and the zero of the
  series are kept, and a series and any positive multiple of it look the same to the network.
* :class:`Quantizer` -- ``n_bins`` bins over ``[low, high]`` of the *scaled* value, uniform or
  uniform after mu-law companding (finer near 0), plus two special tokens ``PAD`` (no value:
  before a series starts) and ``MISSING`` (a NaN inside a series). Values outside the range fall
  in the edge bins.

Example:
    >>> import torch
    >>> x = torch.tensor([[1.0, 3.0, 2.0, 2.0]], dtype=torch.float64)
    >>> scale = MeanScaler().scale(x)
    >>> scale.tolist()
    [2.0]
    >>> q = Quantizer(n_bins=8, low=-2.0, high=2.0)
    >>> tokens = q.encode(x, scale)
    >>> tokens.tolist()
    [[5, 7, 6, 6]]
    >>> q.decode(tokens, scale).tolist()
    [[1.5, 3.5, 2.5, 2.5]]
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class MeanScaler:
    """Mean absolute scaling (as in Chronos): ``scale = mean(|x|)`` over non-NaN values.

    Args:
        minimum: scales not above this (an all-zero or empty context) are replaced by 1. It is 0
            so that scaling stays relative: a series multiplied by ``c`` (even ``c = 1e-12``) is
            scaled to the same values; a fixed floor such as 1e-10 would treat small-unit data as
            all-zero.
    """

    minimum: float = 0.0

    def scale(self, values: torch.Tensor) -> torch.Tensor:
        """``[B]`` scale of each row of ``values [B, T]`` (NaN marks padding or missing values)."""
        observed = ~torch.isnan(values)
        total = torch.where(observed, values.abs(), torch.zeros_like(values)).sum(-1)
        count = observed.sum(-1)
        scale = total / count.clamp_min(1)
        return torch.where((scale > self.minimum) & torch.isfinite(scale), scale, torch.ones_like(scale))

    def transform(self, values: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """``values / scale`` with ``scale [B]`` broadcast over the trailing axis."""
        return values / scale.reshape(scale.shape + (1,) * (values.dim() - scale.dim()))

    def inverse(self, scaled: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return scaled * scale.reshape(scale.shape + (1,) * (scaled.dim() - scale.dim()))


@dataclass(frozen=True)
class Quantizer:
    """Bins over the scaled range ``[low, high]``, optionally mu-law companded, plus special tokens.

    Tokens ``0 .. n_bins-1`` are value bins; ``PAD = n_bins`` and ``MISSING = n_bins + 1``.
    With ``mu`` set, bin edges are uniform in ``u = R sign(z) log(1 + mu |z| / R) / log(1 + mu)``
    (``R = max(|low|, |high|)``), which puts more, narrower bins near zero.
    A bin's center is the midpoint of its edges, so ``decode(encode(x))`` is within half a bin
    width of ``x`` for every ``x`` inside the range.

    Args:
        n_bins: number of value bins.
        low, high: range of the scaled values that the bins cover.
        mu: mu-law parameter (e.g. 255) or None for uniform bins.
    """

    n_bins: int = 1024
    low: float = -15.0
    high: float = 15.0
    mu: float | None = None

    @property
    def pad_token(self) -> int:
        return self.n_bins

    @property
    def missing_token(self) -> int:
        return self.n_bins + 1

    @property
    def vocab_size(self) -> int:
        return self.n_bins + 2

    # ------------------------------------------------------------------ companding
    def _radius(self) -> float:
        return max(abs(self.low), abs(self.high))

    def compress(self, z: torch.Tensor) -> torch.Tensor:
        if self.mu is None:
            return z
        r = self._radius()
        return torch.sign(z) * r * torch.log1p(self.mu * z.abs() / r) / math.log1p(self.mu)

    def expand(self, u: torch.Tensor) -> torch.Tensor:
        if self.mu is None:
            return u
        r = self._radius()
        return torch.sign(u) * r * torch.expm1(u.abs() / r * math.log1p(self.mu)) / self.mu

    # ------------------------------------------------------------------ bins
    def edges(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """``[n_bins + 1]`` bin edges in scaled units."""
        lo, hi = self.compress(torch.tensor([self.low, self.high], dtype=torch.float64)).tolist()
        return self.expand(torch.linspace(lo, hi, self.n_bins + 1, dtype=torch.float64)).to(dtype)

    def centers(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """``[n_bins]`` bin centers (midpoints of the edges) in scaled units."""
        e = self.edges(torch.float64)
        return ((e[1:] + e[:-1]) / 2).to(dtype)

    def widths(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """``[n_bins]`` bin widths in scaled units (used to turn bin masses into densities)."""
        return self.edges(torch.float64).diff().to(dtype)

    def bin_of(self, z: torch.Tensor) -> torch.Tensor:
        """Bin index of scaled values ``z`` (clipped to the edge bins; NaN gives ``MISSING``)."""
        lo, hi = self.compress(torch.tensor([self.low, self.high], dtype=torch.float64)).tolist()
        u = self.compress(z.to(torch.float64))
        k = torch.floor((u - lo) / (hi - lo) * self.n_bins).clamp(0, self.n_bins - 1)
        k = torch.where(torch.isnan(z), torch.full_like(k, self.missing_token), k)
        return k.to(torch.long)

    # ------------------------------------------------------------------ encode / decode
    def encode(self, values: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """Tokens of ``values`` (original units) given each row's ``scale [B]``; NaN -> ``MISSING``."""
        shape = scale.shape + (1,) * (values.dim() - scale.dim())
        z = values.to(torch.float64) / scale.to(torch.float64).reshape(shape)
        return self.bin_of(z)

    def decode(self, tokens: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """Values (original units) of ``tokens``: bin centers times ``scale``; special tokens -> NaN."""
        z = self.dequantize(tokens, torch.float64)
        return z * scale.to(torch.float64).reshape(scale.shape + (1,) * (tokens.dim() - scale.dim()))

    def dequantize(self, tokens: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Scaled value (bin center) of each token; special tokens -> NaN."""
        table = torch.cat([self.centers(dtype), torch.full((2,), float("nan"), dtype=dtype)]).to(tokens.device)
        return table[tokens]
