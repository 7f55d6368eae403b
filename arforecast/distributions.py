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
        # erfc keeps full relative accuracy in the lower tail, where ndtr loses digits.
        return 0.5 * torch.special.erfc(-(x - self.loc) / (self.scale * math.sqrt(2)))

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
        return (_t_log_norm(df) - torch.log(self.scale) - (df + 1) / 2 * torch.log1p(z ** 2 / df))

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.loc) / self.scale
        lower = _t_lower_tail(-z.abs(), self.df)   # P(T <= -|z|), accurate in the tails
        return torch.where(z < 0, lower, 1 - lower)

    def icdf(self, u: torch.Tensor) -> torch.Tensor:
        z = _t_quantile(u.to(torch.float64), self.df.to(torch.float64))   # float64 inside, always
        return self.loc + self.scale * z.to(self.loc.dtype)


def _t_log_norm(df: torch.Tensor) -> torch.Tensor:
    """``log Gamma((df+1)/2) - log Gamma(df/2) - log(df * pi) / 2``, the Student-t log density at 0.

    For large ``df`` the two log-gammas nearly cancel; there we use the asymptotic series
    ``Gamma(x + 1/2) / Gamma(x) = sqrt(x) (1 - 1/(8x) + 1/(128x^2) + 5/(1024x^3) - ...)``.
    """
    x = df / 2
    exact = torch.lgamma(x + 0.5) - torch.lgamma(x)
    xs = x.clamp_min(1.0)
    series = 0.5 * torch.log(xs) + torch.log1p(-1 / (8 * xs) + 1 / (128 * xs ** 2) + 5 / (1024 * xs ** 3)
                                               - 21 / (32768 * xs ** 4))
    return torch.where(x > 1e3, series, exact) - 0.5 * torch.log(df * math.pi)


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
    # Each element stops updating once its own fraction has converged, so that its value never
    # depends on the other elements of the batch (bit-identical samples whatever the chunking).
    active = torch.ones_like(xx, dtype=torch.bool)
    for m in range(1, max_iter + 1):
        for num in (m * (bb - m) * xx / ((aa + 2 * m - 1) * (aa + 2 * m)),
                    -(aa + m) * (aa + bb + m) * xx / ((aa + 2 * m) * (aa + 2 * m + 1))):
            d = 1 + num * d
            d = 1 / torch.where(d.abs() < tiny, torch.full_like(d, tiny), d)
            c = 1 + num / c
            c = torch.where(c.abs() < tiny, torch.full_like(c, tiny), c)
            delta = c * d
            h = torch.where(active, h * delta, h)
        active = active & ((delta - 1).abs() > eps)
        if m % 4 == 0 and not bool(active.any()):
            break
    value = torch.exp(log_front) * h / aa
    value = torch.where(xx <= 0, torch.zeros_like(value), value)
    return torch.where(swap, 1 - value, value)


def _t_lower_tail(t: torch.Tensor, df: torch.Tensor) -> torch.Tensor:
    """``P(T <= t)`` for ``t <= 0`` (standard Student-t): ``I_x(df/2, 1/2) / 2``, ``x = df/(df+t^2)``."""
    t2 = t * t
    x = df / (df + t2)
    return 0.5 * _betainc(df / 2, torch.full_like(df, 0.5), x, t2 / (df + t2))


def _t_quantile(u: torch.Tensor, df: torch.Tensor, newton_steps: int = 6) -> torch.Tensor:
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
    # Below df = 1 Hill's formula breaks down: start from the power-law tail instead.
    log_norm = _t_log_norm(df)
    q_tail = torch.exp((log_norm + (df - 1) / 2 * torch.log(df) - torch.log(tail)) / df)
    q = torch.where(df < 1, q_tail, q)
    q = torch.nan_to_num(q, nan=0.0, posinf=1e300).clamp_min(0)
    # Newton on log F(-q) (well behaved in the tails, where log F is nearly linear in log q).
    log_target = torch.log(tail)
    active = torch.ones_like(q, dtype=torch.bool)   # per element, as in _betainc
    for _ in range(newton_steps):
        t = -q
        F = _t_lower_tail(t, df)
        log_pdf = log_norm - (df + 1) / 2 * torch.log1p(t * t / df)
        step = (torch.log(F) - log_target) * F / torch.exp(log_pdf)   # d log F / dt = f / F
        q_new = q + step                                                # F(-q) falls as q grows
        q_new = torch.where(torch.isfinite(q_new), torch.where(q_new > 0, q_new, q / 2), q)
        converged = (q_new - q).abs() <= 1e-14 * q.abs().clamp_min(1)
        q = torch.where(active, q_new, q)
        active = active & ~converged
        if not bool(active.any()):
            break
    q = torch.where((df == 1) | (df == 2), torch.where(df == 1, 1 / torch.tan(math.pi * two_sided / 2),
                                                       torch.sqrt(2 / (two_sided * (2 - two_sided)) - 2)), q)
    q = torch.where(tail == 0.5, torch.zeros_like(q), q)
    return torch.where(u < 0.5, -q, q)


class Categorical(Distribution):
    """A distribution over ``K`` bins, each standing for one real value (its center).

    ``logits`` is ``[..., K]``; ``centers`` (increasing along the last axis) broadcasts against it,
    so a neural model that scales each series passes one row of centers per series. The values
    of this distribution are the centers themselves: ``icdf``, ``mode`` and sampling return
    centers, and ``log_prob(x)`` is the log *mass* of the bin that ``x`` falls in, the bins being
    cut halfway between neighbouring centers (so ``x`` is scored by its nearest center).
    ``with_temperature``, ``top_k`` and ``top_p`` return new, reshaped distributions for sampling.

    Example:
        >>> d = Categorical(torch.log(torch.tensor([0.2, 0.5, 0.3])), torch.tensor([10.0, 20.0, 30.0]))
        >>> float(d.mode), round(float(d.mean), 6), float(d.icdf(torch.tensor(0.1)))
        (20.0, 21.0, 10.0)
        >>> d.top_k(2).probs.tolist()
        [0.0, 0.625, 0.375]
    """

    def __init__(self, logits: torch.Tensor, centers: torch.Tensor) -> None:
        self.logits = torch.as_tensor(logits)
        self.centers = torch.as_tensor(centers).to(self.logits.dtype).expand_as(self.logits)

    @property
    def num_bins(self) -> int:
        return int(self.logits.shape[-1])

    @property
    def probs(self) -> torch.Tensor:
        return torch.softmax(self.logits, dim=-1)

    @property
    def log_probs(self) -> torch.Tensor:
        """``[..., K]`` log-probabilities of the bins."""
        return torch.log_softmax(self.logits, dim=-1)

    @property
    def mean(self) -> torch.Tensor:
        return (self.probs * self.centers).sum(-1)

    @property
    def mode(self) -> torch.Tensor:
        return self.centers.gather(-1, self.logits.argmax(-1, keepdim=True)).squeeze(-1)

    @property
    def variance(self) -> torch.Tensor:
        return (self.probs * (self.centers - self.mean.unsqueeze(-1)) ** 2).sum(-1)

    def bin_of(self, x: torch.Tensor) -> torch.Tensor:
        """Index of the bin each ``x`` falls in (nearest center; edges halfway between centers)."""
        edges = (self.centers[..., 1:] + self.centers[..., :-1]) / 2
        x = torch.as_tensor(x, dtype=edges.dtype, device=edges.device).expand(edges.shape[:-1])
        return torch.searchsorted(edges.contiguous(), x.unsqueeze(-1).contiguous()).squeeze(-1)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Log mass of the bin ``x`` falls in (see :meth:`bin_of`); a mass, not a density."""
        return self.log_probs.gather(-1, self.bin_of(x).unsqueeze(-1)).squeeze(-1)

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        """``P(X <= x)`` over the bin centers."""
        x = torch.as_tensor(x, dtype=self.centers.dtype, device=self.centers.device)
        return (self.probs * (self.centers <= x.unsqueeze(-1))).sum(-1)

    def icdf(self, u: torch.Tensor) -> torch.Tensor:
        """The first center whose cumulative mass reaches ``u`` (bins with zero mass are never hit).

        The search runs in two levels (blocks of bins, then bins of the chosen block), which
        avoids a cumulative sum over all ``K`` bins of every row.
        """
        index = _inverse_cdf_index(self.logits, u)
        return self.centers.gather(-1, index.unsqueeze(-1)).squeeze(-1)

    def with_temperature(self, temperature: float) -> "Categorical":
        """Logits divided by ``temperature`` (< 1 sharpens towards the mode, > 1 flattens)."""
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        return Categorical(self.logits / temperature, self.centers)

    def top_k(self, k: int) -> "Categorical":
        """Keep the ``k`` most likely bins of every row (exactly ``k``; ties broken by index)."""
        if int(k) < 1:
            raise ValueError(f"top_k must be a positive integer, got {k}")
        k = min(int(k), self.num_bins)
        top = self.logits.topk(k, dim=-1, sorted=False)
        logits = torch.full_like(self.logits, float("-inf")).scatter_(-1, top.indices, top.values)
        return Categorical(logits, self.centers)

    def top_p(self, p: float) -> "Categorical":
        """Nucleus: keep the smallest set of most likely bins whose mass reaches ``p``.

        A bin is kept when the mass of the bins more likely than it is still below ``p``
        (up to a rounding tolerance of 1e-9 for float64, 1e-6 for lower precision).
        """
        if not 0 < p <= 1:
            raise ValueError(f"top_p must lie in (0, 1], got {p}")
        all_probs = self.probs
        tol = 1e-9 if all_probs.dtype == torch.float64 else 1e-6
        # Sorting all K bins is the slow part; the nucleus is usually small, so look at the
        # k most likely bins first and widen k only while some row has not reached p.
        k = min(64, self.num_bins)
        while True:
            probs, order = all_probs.topk(k, dim=-1)      # sorted, most likely first
            before = probs.cumsum(-1) - probs
            if k == self.num_bins or bool((before[..., -1] >= p - tol).all()):
                break
            k = min(4 * k, self.num_bins)
        keep_sorted = before < p - tol
        keep_sorted[..., 0] = True
        keep = torch.zeros_like(all_probs, dtype=torch.bool).scatter_(-1, order, keep_sorted)
        return Categorical(self.logits.masked_fill(~keep, float("-inf")), self.centers)


def _inverse_cdf_index(logits: torch.Tensor, u: torch.Tensor, block: int = 64) -> torch.Tensor:
    """Index of the first bin whose cumulative mass reaches ``u`` (``logits [..., K]``, ``u [...]``).

    Works on unnormalised masses ``exp(logits - max)`` and scales ``u`` by their total, so that
    rounding can never select a bin of zero mass (a left search skips them, and the target is
    always positive and at most the total).
    """
    K = logits.shape[-1]
    w = (logits - logits.amax(-1, keepdim=True)).exp_()   # in place: one [..., K] buffer
    shape = w.shape[:-1]
    u = torch.as_tensor(u, device=w.device).to(w.dtype).expand(shape)
    u = u.clamp(min=torch.finfo(w.dtype).tiny, max=1.0)
    if K <= 2 * block:
        cdf = w.cumsum(-1)
        target = (u * cdf[..., -1]).unsqueeze(-1)
        return torch.searchsorted(cdf.contiguous(), target.contiguous()).squeeze(-1).clamp_max(K - 1)
    n_blocks = -(-K // block)
    if n_blocks * block != K:
        w = torch.nn.functional.pad(w, (0, n_blocks * block - K))
    w = w.reshape(*shape, n_blocks, block)
    block_mass = w.sum(-1)
    block_cdf = block_mass.cumsum(-1)
    target = u * block_cdf[..., -1]
    j = torch.searchsorted(block_cdf.contiguous(), target.unsqueeze(-1).contiguous()).clamp_max(n_blocks - 1)
    before = torch.where(j > 0, block_cdf.gather(-1, (j - 1).clamp_min(0)), torch.zeros_like(target.unsqueeze(-1)))
    # Position of the target inside block j, as a fraction of the block's mass, re-scaled to the
    # block's own cumulative sum (whose rounding differs from block_cdf's).
    frac = ((target.unsqueeze(-1) - before) / block_mass.gather(-1, j)).clamp(max=1.0)
    inner = w.gather(-2, j.unsqueeze(-1).expand(*shape, 1, block)).squeeze(-2).cumsum(-1)
    k = torch.searchsorted(inner.contiguous(), (frac * inner[..., -1:]).contiguous()).clamp_max(block - 1)
    return (j * block + k).squeeze(-1).clamp_max(K - 1)


class Empirical(Distribution):
    """``loc`` plus one of a set of equally likely residuals (the bootstrap's predictive law).

    ``residuals`` is ``[..., R]`` and broadcasts against ``loc`` (one shared set per row, e.g. a
    series' in-sample residuals). Alternatively pass a table ``residuals [n, R]`` with ``index``
    (``loc``'s shape): row ``b`` then uses table row ``index[b]``, without copying the table per
    row. Series with fewer residuals than ``R`` give ``counts`` (``[n]`` or residuals' batch
    shape); entries past a row's count are ignored (e.g. NaN padding).

    ``icdf(u)`` picks the sorted residual ``ceil(u * count) - 1`` (0-based): as a function of a
    uniform it is a uniform draw of one residual, and it is the inverse of the empirical CDF,
    ``inf{x: F(x) >= u}``, so quantiles are the type-1 (inverted CDF) sample quantiles. There is no density and no
    unique mode: ``mode`` returns the median (``icdf(0.5)``).

    Example:
        >>> d = Empirical(torch.tensor([100.0]), torch.tensor([-2.0, 1.0, 0.0, 3.0]))
        >>> float(d.mean), float(d.icdf(torch.tensor(0.0))), float(d.quantile(0.99))
        (100.5, 98.0, 103.0)
        >>> table = torch.tensor([[-1.0, 1.0, float("nan")], [-5.0, 0.0, 5.0]])
        >>> d = Empirical(torch.tensor([0.0, 0.0, 10.0]), table, counts=torch.tensor([2, 3]),
        ...               index=torch.tensor([1, 0, 0]))
        >>> d.icdf(torch.tensor([0.99, 0.99, 0.2])).tolist(), d.mean.tolist()
        ([5.0, 1.0, 9.0], [0.0, 0.0, 10.0])
    """

    def __init__(self, loc: torch.Tensor, residuals: torch.Tensor, presorted: bool = False,
                 counts: torch.Tensor | None = None, index: torch.Tensor | None = None) -> None:
        self.loc = torch.as_tensor(loc)
        residuals = torch.as_tensor(residuals).to(self.loc.dtype)
        if residuals.shape[-1] == 0:
            raise ValueError("Empirical needs at least one residual")
        if index is not None and residuals.dim() != 2:
            raise ValueError("with index=, residuals must be a [n, R] table")
        if not presorted:
            if counts is not None:   # entries past the count sort last
                pad = torch.arange(residuals.shape[-1], device=residuals.device) >= counts.unsqueeze(-1)
                residuals = residuals.masked_fill(pad, float("inf"))
            residuals = residuals.sort(dim=-1).values
        self.residuals, self.counts, self.index = residuals, counts, index

    @property
    def num_residuals(self) -> int:
        return int(self.residuals.shape[-1])

    def _per_row(self, table_value: torch.Tensor) -> torch.Tensor:
        return table_value if self.index is None else table_value.index_select(0, self.index)

    def _counts(self) -> torch.Tensor:
        if self.counts is None:
            return torch.full(self.residuals.shape[:-1], self.num_residuals, dtype=torch.int64,
                              device=self.residuals.device)
        return torch.as_tensor(self.counts, device=self.residuals.device)

    @property
    def mean(self) -> torch.Tensor:
        n = self._counts()
        valid = torch.arange(self.num_residuals, device=n.device) < n.unsqueeze(-1)
        avg = torch.where(valid, self.residuals, torch.zeros_like(self.residuals)).sum(-1) / n
        return self.loc + self._per_row(avg)

    @property
    def mode(self) -> torch.Tensor:
        return self.icdf(torch.full_like(self.loc, 0.5))

    @property
    def variance(self) -> torch.Tensor:
        n = self._counts()
        valid = torch.arange(self.num_residuals, device=n.device) < n.unsqueeze(-1)
        avg = torch.where(valid, self.residuals, torch.zeros_like(self.residuals)).sum(-1, keepdim=True) / n.unsqueeze(-1)
        dev = torch.where(valid, self.residuals - avg, torch.zeros_like(self.residuals))
        return self._per_row((dev ** 2).sum(-1) / n).expand_as(self.loc)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("an Empirical (bootstrap) distribution has no density")

    def icdf(self, u: torch.Tensor) -> torch.Tensor:
        u = torch.as_tensor(u, device=self.loc.device).to(torch.float64)
        n = self._per_row(self._counts())
        k = torch.minimum((u * n).ceil().long() - 1, n - 1).clamp_min(0)   # inf{x: F(x) >= u}
        if self.index is not None:
            flat = self.index * self.num_residuals + k
            return self.loc + self.residuals.reshape(-1).index_select(0, flat.reshape(-1)).reshape(flat.shape)
        shape = torch.broadcast_shapes(self.loc.shape, k.shape, self.residuals.shape[:-1])
        res = self.residuals.expand(*shape, self.num_residuals)
        return self.loc + res.gather(-1, k.expand(shape).unsqueeze(-1)).squeeze(-1)
