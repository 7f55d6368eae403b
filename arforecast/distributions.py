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


class StudentT(Distribution):
    """Student's t with location ``loc``, scale ``scale`` and ``df`` degrees of freedom.

    ``icdf`` has no closed form in torch: it starts from Hill's (1970) approximation and polishes
    it with Newton steps on the exact CDF (a continued fraction for the incomplete beta
    function), to about 1e-10 relative error.

    Example:
        >>> d = StudentT(torch.tensor([0.0]), torch.tensor([1.0]), torch.tensor([5.0]))
        >>> round(float(d.quantile(0.975)), 4)
        2.5706
    """

    def __init__(self, loc: torch.Tensor, scale: torch.Tensor, df: torch.Tensor | float) -> None:
        loc, scale, df = (torch.as_tensor(v) for v in (loc, scale, df))
        dtype = torch.promote_types(torch.promote_types(loc.dtype, scale.dtype), df.dtype)
        if not dtype.is_floating_point:
            dtype = torch.get_default_dtype()
        self.loc, self.scale, self.df = torch.broadcast_tensors(loc.to(dtype), scale.to(dtype), df.to(dtype))

    @property
    def mean(self) -> torch.Tensor:
        """``loc`` where ``df > 1``; NaN otherwise (the mean does not exist)."""
        return torch.where(self.df > 1, self.loc, torch.full_like(self.loc, float("nan")))

    @property
    def mode(self) -> torch.Tensor:
        return self.loc

    @property
    def variance(self) -> torch.Tensor:
        """``scale**2 * df / (df - 2)`` where ``df > 2``; inf for ``1 < df <= 2``; NaN for ``df <= 1``."""
        var = self.scale ** 2 * self.df / (self.df - 2)
        var = torch.where(self.df > 2, var, torch.full_like(var, float("inf")))
        return torch.where(self.df > 1, var, torch.full_like(var, float("nan")))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.loc) / self.scale
        df = self.df
        return (torch.lgamma((df + 1) / 2) - torch.lgamma(df / 2) - 0.5 * torch.log(df * math.pi)
                - torch.log(self.scale) - (df + 1) / 2 * torch.log1p(z ** 2 / df))

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.loc) / self.scale
        lower = _t_lower_tail(-z.abs(), self.df)   # P(T <= -|z|), accurate in the tails
        return torch.where(z < 0, lower, 1 - lower)

    def icdf(self, u: torch.Tensor) -> torch.Tensor:
        u = u.to(self.loc.dtype)
        return self.loc + self.scale * _t_quantile(u, self.df)


def _betainc(a: torch.Tensor, b: torch.Tensor, x: torch.Tensor, one_minus_x: torch.Tensor,
             max_iter: int = 300, eps: float = 1e-15) -> torch.Tensor:
    """Regularized incomplete beta ``I_x(a, b)`` by Lentz's continued fraction.

    The fraction converges fast for ``x < (a + 1) / (a + b + 2)``; elsewhere we use
    ``I_x(a, b) = 1 - I_{1-x}(b, a)``. ``one_minus_x`` is passed in to avoid cancellation.
    """
    swap = x > (a + 1) / (a + b + 2)
    aa, bb = torch.where(swap, b, a), torch.where(swap, a, b)
    xx, yy = torch.where(swap, one_minus_x, x), torch.where(swap, x, one_minus_x)
    tiny = 1e-300 if xx.dtype == torch.float64 else 1e-30
    log_front = (torch.lgamma(aa + bb) - torch.lgamma(aa) - torch.lgamma(bb)
                 + aa * torch.log(xx) + bb * torch.log(yy))
    c = torch.ones_like(xx)
    d = 1 - (aa + bb) * xx / (aa + 1)
    d = 1 / torch.where(d.abs() < tiny, torch.full_like(d, tiny), d)
    h = d.clone()
    for m in range(1, max_iter + 1):
        for num in (m * (bb - m) * xx / ((aa + 2 * m - 1) * (aa + 2 * m)),
                    -(aa + m) * (aa + bb + m) * xx / ((aa + 2 * m) * (aa + 2 * m + 1))):
            d = 1 + num * d
            d = 1 / torch.where(d.abs() < tiny, torch.full_like(d, tiny), d)
            c = 1 + num / c
            c = torch.where(c.abs() < tiny, torch.full_like(c, tiny), c)
            delta = c * d
            h = h * delta
        if m % 8 == 0 and bool(((delta - 1).abs() <= eps).all()):
            break
    value = torch.exp(log_front) * h / aa
    value = torch.where(xx <= 0, torch.zeros_like(value), value)
    return torch.where(swap, 1 - value, value)


def _t_lower_tail(t: torch.Tensor, df: torch.Tensor) -> torch.Tensor:
    """``P(T <= t)`` for ``t <= 0`` (standard Student-t): ``I_x(df/2, 1/2) / 2``, ``x = df/(df+t^2)``."""
    t2 = t * t
    x = df / (df + t2)
    return 0.5 * _betainc(df / 2, torch.full_like(df, 0.5), x, t2 / (df + t2))


def _t_quantile(u: torch.Tensor, df: torch.Tensor, newton_steps: int = 4) -> torch.Tensor:
    """Standard Student-t quantile of ``u`` (Hill 1970 start, then Newton on the exact CDF)."""
    u, df = torch.broadcast_tensors(u, df)
    tail = torch.minimum(u, 1 - u)              # solve P(T <= -q) = tail for q >= 0
    two_sided = (2 * tail).clamp_min(torch.finfo(u.dtype).tiny)
    # Hill's Algorithm 396 (the "usual case" branch, also used by R's qt) as the starting point.
    a = 1 / (df - 0.5)
    b = 48 / (a * a)
    c = ((20700 * a / b - 98) * a - 16) * a + 96.36
    d = ((94.5 / (b + c) - 3) / b + 1) * torch.sqrt(a * math.pi / 2) * df
    y = (d * two_sided) ** (2 / df)
    x = torch.special.ndtri(0.5 * two_sided)
    c2 = torch.where(df < 5, c + 0.3 * (df - 4.5) * (x + 0.6), c)
    c2 = (((0.05 * d * x - 5) * x - 7) * x - 2) * x + b + c2
    y_norm = (((((0.4 * x * x + 6.3) * x * x + 36) * x * x + 94.5) / c2 - x * x - 3) / b + 1) * x
    q_normal = torch.sqrt(df * torch.expm1(a * y_norm * y_norm))
    y_safe = y.clamp_min(torch.finfo(u.dtype).tiny)
    y_small = ((1 / (((df + 6) / (df * y_safe) - 0.089 * d - 0.822) * (df + 2) * 3) + 0.5 / (df + 4))
               * y_safe - 1) * (df + 1) / (df + 2) + 1 / y_safe
    q_small = torch.sqrt(df * y_small)
    use_normal = ((df < 2.1) & (two_sided > 0.5)) | (y > 0.05 + a)
    q = torch.where(use_normal, q_normal, q_small)
    # Closed forms for df = 1 (Cauchy) and df = 2.
    q = torch.where(df == 1, 1 / torch.tan(math.pi * two_sided / 2), q)
    q = torch.where(df == 2, torch.sqrt(2 / (two_sided * (2 - two_sided)) - 2), q)
    q = torch.nan_to_num(q, nan=0.0, posinf=1e300).clamp_min(0)
    # Newton on log F(-q) (well behaved in the tails, where log F is nearly linear in log q).
    log_target = torch.log(tail)
    log_norm = torch.lgamma((df + 1) / 2) - torch.lgamma(df / 2) - 0.5 * torch.log(df * math.pi)
    for _ in range(newton_steps):
        t = -q
        F = _t_lower_tail(t, df)
        log_pdf = log_norm - (df + 1) / 2 * torch.log1p(t * t / df)
        step = (torch.log(F) - log_target) * F / torch.exp(log_pdf)   # d log F / dt = f / F
        q_new = q + step                                                # F(-q) falls as q grows
        q = torch.where(torch.isfinite(q_new), torch.where(q_new > 0, q_new, q / 2), q)
    q = torch.where((df == 1) | (df == 2), torch.where(df == 1, 1 / torch.tan(math.pi * two_sided / 2),
                                                       torch.sqrt(2 / (two_sided * (2 - two_sided)) - 2)), q)
    q = torch.where(tail == 0.5, torch.zeros_like(q), q)
    return torch.where(u < 0.5, -q, q)
