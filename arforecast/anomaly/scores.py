"""Tail-probability scores: how surprising is an observation under a predictive distribution?

The score of an observation ``y`` under the forecast made before it arrived is
``-log10(p)`` with ``p`` the **two-sided tail probability** ``p = min(1, 2 min(P(Y <= y), P(Y >= y)))``:
``p = 0.01`` gives a score of 2, ``p = 1e-6`` a score of 6, whatever the model. A point is flagged
when it falls outside the central ``level`` interval, which for a continuous predictive is the
same as ``p < 1 - level``.

``p`` comes from the model's distribution when it has one:

* ``cdf`` when the distribution offers it (exact; for Normal and Student-t forecasts the score is
  computed in log space, so it keeps ranking points far beyond where ``p`` underflows);
* otherwise by bisection on its ``icdf`` (``P(Y <= y) = sup {u : icdf(u) <= y}``, 24 halvings,
  so such scores saturate near 7);
* from sample paths (``[B, S]``) when there is no distribution: ``P(Y <= y)`` is estimated by
  ``(#{s <= y} + 1) / (S + 1)``, which never reaches 0, so that a score is never infinite.

:class:`Recalibrated` corrects a forecast whose tails are too thin or too wide (an
overconfident model): the *normal scores* ``z = Phi^-1(P(Y <= y))`` of past observations, which
are standard Normal for a calibrated model, are fitted by a scaled Student-t ``s * t_nu``
(:func:`fit_student_t`), and new points are judged by that law instead.

Example:
    >>> import torch
    >>> from arforecast.distributions import Normal
    >>> pred = DistributionPredictive(Normal(torch.tensor([0.0]), torch.tensor([1.0])))
    >>> round(float(pred.tail_probability(np.array([1.959964]))[0]), 4)
    0.05
    >>> tail_score(np.array([0.05, 1e-6])).round(3).tolist()
    [1.301, 6.0]
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy import special, stats

from arforecast.distributions import Normal, StudentT

#: smallest tail probability reported (scores are capped at ``-log10`` of it).
P_FLOOR = 1e-300
_BISECTIONS = 24
_MIXTURE_BISECTIONS = 30  # the bracket is already narrow: between the paths' own quantiles
_SYMMETRIC = (Normal, StudentT)


def tail_score(p: np.ndarray) -> np.ndarray:
    """``-log10(p)``, NaN where ``p`` is NaN (nothing was scored)."""
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.log10(np.clip(p, P_FLOOR, 1.0)) + 0.0  # + 0.0: no negative zero


def _np(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def _two_sided(below: np.ndarray, above: np.ndarray) -> np.ndarray:
    return np.clip(2.0 * np.minimum(below, above), 0.0, 1.0)


class Predictive:
    """What the detector needs of a forecast for one step of a batch of ``B`` series.

    Subclasses give ``mean``, ``below_above(y) = (P(Y <= y), P(Y >= y))`` and ``quantile(u)``
    (``u`` one probability per row); intervals, tail probabilities, scores and normal scores
    follow.
    """

    @property
    def mean(self) -> np.ndarray:  # [B]
        raise NotImplementedError

    def below_above(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # ([B], [B])
        raise NotImplementedError

    def quantile(self, u: np.ndarray) -> np.ndarray:  # [B]
        raise NotImplementedError

    def quantile_normal(self, z: np.ndarray) -> np.ndarray:  # [B]
        """The quantile at probability ``Phi(z)``; subclasses keep far tails exact."""
        return self.quantile(special.ndtr(np.asarray(z, dtype=np.float64)))

    def interval(self, level: float) -> tuple[np.ndarray, np.ndarray]:  # ([B], [B])
        lo = np.full(len(self.mean), (1 - level) / 2)
        return self.quantile(lo), self.quantile(1 - lo)

    def tail_probability(self, y: np.ndarray) -> np.ndarray:  # [B]
        y = np.asarray(y, dtype=np.float64)
        return _degenerate(_two_sided(*self.below_above(y)), y, self.mean)

    def score(self, y: np.ndarray) -> np.ndarray:  # [B]
        """``-log10`` of the tail probability."""
        return tail_score(self.tail_probability(y))

    def normal_score(self, y: np.ndarray) -> np.ndarray:  # [B]
        """``Phi^-1(P(Y <= y))``, from the smaller tail (so that far tails keep their sign and size);
        0 where the forecast is a point mass at ``y``."""
        y = np.asarray(y, dtype=np.float64)
        below, above = self.below_above(y)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(below < above, special.ndtri(below), -special.ndtri(above))
        return np.where(np.isnan(z) & np.isclose(y, self.mean, rtol=1e-9, atol=1e-12), 0.0, z)


class DistributionPredictive(Predictive):
    """A predictive from a batched :class:`~arforecast.distributions.Distribution` of shape
    ``[B]`` (or ``[B, h]`` with ``column`` picking one step)."""

    def __init__(self, dist: Any, column: int | None = None) -> None:
        self.dist = dist
        self.column = column

    def _pick(self, x: Any) -> np.ndarray:
        x = _np(x)
        return x if self.column is None else x[:, self.column]

    def _full(self, y: np.ndarray, fill: Any = None) -> torch.Tensor:
        """``y`` as a tensor of the distribution's batch shape (other steps: ``fill``, or the mean)."""
        ref = self.dist.mean
        y = torch.as_tensor(np.asarray(y, dtype=np.float64), dtype=ref.dtype, device=ref.device)
        if self.column is None:
            return y
        full = ref.detach().clone() if fill is None else torch.full_like(ref, fill)
        full[:, self.column] = y
        return full

    def _params(self) -> tuple[np.ndarray, ...]:
        d = self.dist
        parts = (d.loc, d.scale, d.df) if isinstance(d, StudentT) else (d.loc, d.scale)
        return tuple(self._pick(x) for x in torch.broadcast_tensors(*parts))

    @property
    def mean(self) -> np.ndarray:
        return self._pick(self.dist.mean)

    def below_above(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        below, above = cdf_pair(self.dist, self._full(y))
        return self._pick(below), self._pick(above)

    def quantile(self, u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=np.float64)
        if isinstance(self.dist, StudentT):  # scipy's t quantile: exact and much faster
            loc, scale, df = self._params()
            return loc + scale * special.stdtrit(df, u)
        return self._pick(self.dist.icdf(self._full(u, fill=0.5)))

    def quantile_normal(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        if isinstance(self.dist, Normal):
            loc, scale = self._params()
            return loc + scale * z
        if isinstance(self.dist, StudentT):  # by symmetry, from the lower tail: no rounding at 1
            loc, scale, df = self._params()
            return loc - np.sign(z) * scale * special.stdtrit(df, special.ndtr(-np.abs(z)))
        return super().quantile_normal(z)

    def score(self, y: np.ndarray) -> np.ndarray:
        """``-log10 p`` computed in log space for Normal and Student-t forecasts, so that scores
        keep ordering points far beyond where ``p`` itself underflows."""
        if not isinstance(self.dist, _SYMMETRIC):
            return tail_score(self.tail_probability(y))
        y = np.asarray(y, dtype=np.float64)
        params = self._params()
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.abs(y - params[0]) / params[1]
        log_tail = stats.t.logsf(z, params[2]) if len(params) == 3 else special.log_ndtr(-z)
        out = np.maximum(-(np.log(2.0) + log_tail) / np.log(10.0), 0.0) + 0.0
        bad = ~np.isfinite(out) & ~np.isnan(y)  # zero-width forecast: see _degenerate
        return np.where(bad, tail_score(self.tail_probability(y)), out)

    def normal_score(self, y: np.ndarray) -> np.ndarray:
        if not isinstance(self.dist, Normal):
            return super().normal_score(y)
        loc, scale = self._params()
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (np.asarray(y, dtype=np.float64) - loc) / scale
        return np.where(np.isnan(z) & np.isclose(y, loc, rtol=1e-9, atol=1e-12), 0.0, z)


def cdf_pair(dist: Any, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(P(Y <= y), P(Y >= y))`` elementwise, from ``cdf`` or by bisection on ``icdf``."""
    if isinstance(dist, StudentT):  # scipy's t CDF: exact in both tails and much faster
        loc, scale, df = (_np(x) for x in torch.broadcast_tensors(dist.loc, dist.scale, dist.df))
        z = (_np(y) - loc) / scale
        return torch.from_numpy(special.stdtr(df, z)), torch.from_numpy(special.stdtr(df, -z))
    if isinstance(dist, _SYMMETRIC):
        # P(Y >= y) = P(Y <= 2 loc - y): no cancellation in 1 - cdf far in the upper tail
        return dist.cdf(y), dist.cdf(2 * dist.loc - y)
    if hasattr(dist, "cdf"):
        try:
            below = dist.cdf(y)
            left = dist.cdf_left(y) if hasattr(dist, "cdf_left") else below  # P(Y < y)
            return below, 1.0 - left
        except NotImplementedError:
            pass
    return _bisect_cdf(dist, y, strict=False), 1.0 - _bisect_cdf(dist, y, strict=True)


def _bisect_cdf(dist: Any, y: torch.Tensor, strict: bool) -> torch.Tensor:
    """``sup {u : icdf(u) <= y}`` (``< y`` when strict) by bisection, elementwise."""
    lo = torch.zeros_like(y, dtype=torch.float64)
    hi = torch.ones_like(y, dtype=torch.float64)
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2
        x = dist.icdf(mid.to(y.dtype))
        ok = (x < y) if strict else (x <= y)
        lo = torch.where(ok, mid, lo)
        hi = torch.where(ok, hi, mid)
    return lo


def _degenerate(p: np.ndarray, y: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """A zero-width predictive (a flat series) gives 0/0: the point is either the forecast (p=1)
    or impossible under it (p=0)."""
    bad = np.isnan(p) & ~np.isnan(y)
    if bad.any():
        same = np.isclose(y, mean, rtol=1e-9, atol=1e-12)
        p = np.where(bad, np.where(same, 1.0, 0.0), p)
    return p


class SamplePredictive(Predictive):
    """A predictive from draws ``[B, S]`` (sample paths at one step); quantiles are type 7."""

    def __init__(self, samples: np.ndarray) -> None:
        self.samples = np.asarray(samples, dtype=np.float64)

    @property
    def mean(self) -> np.ndarray:
        return self.samples.mean(axis=1)

    def quantile(self, u: np.ndarray) -> np.ndarray:
        return np.array([np.quantile(row, q, method="linear") for row, q in zip(self.samples, np.asarray(u))])

    def below_above(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = np.asarray(y, dtype=np.float64)[:, None]
        n = self.samples.shape[1]
        below = ((self.samples <= y).sum(axis=1) + 1) / (n + 1)
        above = ((self.samples >= y).sum(axis=1) + 1) / (n + 1)
        return np.where(np.isnan(y[:, 0]), np.nan, below), np.where(np.isnan(y[:, 0]), np.nan, above)


class MixturePredictive(Predictive):
    """An ``h``-step predictive from ``S`` sample paths per series: the equal mixture of the
    one-step distributions at the end of each path (``dist`` has batch ``[B * S]``, rows of a
    series contiguous). Tail probabilities average the paths' CDFs (Rao-Blackwellised, far less
    noisy than counting draws); quantiles solve ``mixture CDF = u`` by bisection, or, without a
    ``cdf``, are type-7 quantiles of one draw per path."""

    def __init__(self, dist: Any, n_paths: int, draws: torch.Tensor) -> None:
        self.dist = dist
        self.n_paths = int(n_paths)
        self.draws = _np(draws).reshape(-1, self.n_paths)

    @property
    def mean(self) -> np.ndarray:
        return _np(self.dist.mean).reshape(-1, self.n_paths).mean(axis=1)

    def below_above(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ref = self.dist.mean
        rep = torch.as_tensor(np.repeat(np.asarray(y, dtype=np.float64), self.n_paths), dtype=ref.dtype,
                              device=ref.device)
        below, above = cdf_pair(self.dist, rep)
        return (_np(below).reshape(-1, self.n_paths).mean(axis=1),
                _np(above).reshape(-1, self.n_paths).mean(axis=1))

    def quantile(self, u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=np.float64)
        if not hasattr(self.dist, "cdf"):
            return SamplePredictive(self.draws).quantile(u)
        ref = self.dist.mean
        each = self.dist.icdf(torch.as_tensor(np.repeat(u, self.n_paths), dtype=ref.dtype, device=ref.device))
        each = _np(each).reshape(-1, self.n_paths)
        lo, hi = each.min(axis=1), each.max(axis=1)  # the mixture quantile lies in between
        for _ in range(_MIXTURE_BISECTIONS):
            mid = (lo + hi) / 2
            ok = self.below_above(mid)[0] < u
            lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
        return (lo + hi) / 2


class Recalibrated(Predictive):
    """``base`` judged through the law of its past normal scores: ``z ~ s * t_nu`` (per row).

    ``P(Y <= y) = T_nu(z(y) / s)`` with ``z(y)`` the base normal score; quantiles invert it
    (``base.quantile_normal(s * T_nu^-1(u))``). With ``s = 1`` and a large ``nu`` nothing changes.
    """

    def __init__(self, base: Predictive, s: np.ndarray, nu: np.ndarray) -> None:
        self.base, self.s, self.nu = base, np.asarray(s, dtype=np.float64), np.asarray(nu, dtype=np.float64)

    @property
    def mean(self) -> np.ndarray:
        return self.base.mean

    def quantile(self, u: np.ndarray) -> np.ndarray:
        return self.base.quantile_normal(self.s * special.stdtrit(self.nu, np.asarray(u, dtype=np.float64)))

    def below_above(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = self.base.normal_score(y) / self.s
        return special.stdtr(self.nu, z), special.stdtr(self.nu, -z)

    def score(self, y: np.ndarray) -> np.ndarray:
        z = np.abs(self.base.normal_score(y)) / self.s
        with np.errstate(divide="ignore"):
            out = -(np.log(2.0) + stats.t.logsf(z, self.nu)) / np.log(10.0)
        return np.maximum(out, 0.0) + 0.0

    def normal_score(self, y: np.ndarray) -> np.ndarray:
        below, above = self.below_above(y)
        return np.where(below < above, special.ndtri(below), -special.ndtri(above))


_NU_GRID = np.array([1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 20.0, 40.0, 100.0, 1000.0])


def fit_student_t(z: np.ndarray, min_count: int = 30) -> tuple[float, float]:
    """Maximum-likelihood ``(s, nu)`` of ``z ~ s * t_nu`` (centred), ``nu`` on a grid from 1 to
    1000, ``s`` by EM at each ``nu``; ``(1, 1000)`` (about standard Normal) with too few points.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> s, nu = fit_student_t(2.0 * rng.standard_t(4, size=20000))
        >>> round(s, 1), nu
        (2.0, 4.0)
    """
    z = np.asarray(z, dtype=np.float64)
    z = z[np.isfinite(z)]
    if len(z) < min_count:
        return 1.0, float(_NU_GRID[-1])
    z2 = z * z
    best = (-np.inf, 1.0, float(_NU_GRID[-1]))
    for nu in _NU_GRID:
        s2 = max(float(np.mean(z2)), 1e-300)
        for _ in range(30):
            w = (nu + 1.0) / (nu + z2 / s2)
            s2 = max(float(np.mean(w * z2)), 1e-300)
        ll = float(np.sum(stats.t.logpdf(z / np.sqrt(s2), nu))) - 0.5 * len(z) * np.log(s2)
        if ll > best[0]:
            best = (ll, float(np.sqrt(s2)), float(nu))
    return best[1], best[2]
