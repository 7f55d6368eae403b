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
overconfident model, bounded noise under a Gaussian model): the *normal scores*
``z = Phi^-1(P(Y <= y))`` of past observations, which are standard Normal for a calibrated model,
define a :class:`CalibrationLaw` by which new points are judged instead: by default the rank of
``|z|`` among the past ones (split-conformal) in the body, and a scaled Student-t ``s * t_nu``
fitted to the largest past ``|z|`` (:mod:`arforecast.anomaly.tails`), anchored at the 10th
largest, in the far tail.

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

from arforecast.anomaly.tails import StudentTTail, TopStudentTTail, t_isf_log
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
        if isinstance(self.dist, StudentT):  # by symmetry, from the upper tail, in log space
            loc, scale, df = self._params()
            return loc + np.sign(z) * scale * t_isf_log(special.log_ndtr(-np.abs(z)), df)
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
    """A predictive from draws ``[B, S]`` (sample paths at one step); quantiles are type 6 (as in Forecast)."""

    def __init__(self, samples: np.ndarray) -> None:
        self.samples = np.asarray(samples, dtype=np.float64)

    @property
    def mean(self) -> np.ndarray:
        return self.samples.mean(axis=1)

    def quantile(self, u: np.ndarray) -> np.ndarray:
        return np.array([np.quantile(row, q, method="weibull") for row, q in zip(self.samples, np.asarray(u))])

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
    ``cdf``, are type-6 quantiles of one draw per path."""

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


#: the conformal body of :class:`CalibrationLaw` reaches down to the ``TAIL_ANCHOR``-th largest
#: past ``|z|``; beyond it a fitted tail law extrapolates. 10 order statistics pin the anchor's
#: tail probability to about 1/sqrt(10) ~ 30% (a 0.14 error in score) and keep the 1% level
#: distribution-free once the window holds 1100 scores. It also decides how often a large error
#: may recur before it counts as ordinary: with ranks up to the largest score (1), spikes injected
#: every 197 points were learnt as ordinary after a few (4 of 48 found at level 0.999 in
#: benchmarks/robust_feedback.py's simulations, against 47-48 with 10), although a daily
#: recurring error on NAB's anomaly-free square waves was then flagged less often.
TAIL_ANCHOR = 10
#: fewer past scores than this: the base predictive is used as it is.
MIN_CALIBRATION = 30
CALIBRATION_MODES = ("conformal", "student_t")
#: tail laws of the conformal mode (:mod:`arforecast.anomaly.tails`).
TAILS = ("top", "all")


class CalibrationLaw:
    """The law of one series' past absolute normal scores ``|z_i|`` (``n`` finite ones), which
    turns a new ``|z|`` into a calibrated two-sided tail probability ``p``.

    ``mode="conformal"`` (semi-parametric): with ``c = #{|z_i| >= |z|}``,

    * ``p = (c + 1) / (n + 1)`` while ``c >= k`` (split-conformal: distribution-free, and exact
      in the sense that ``P(p <= a) <= a`` for exchangeable scores);
    * beyond the anchor ``a_k`` (the ``k``-th largest ``|z_i|``) a tail law ``T`` fitted to the
      past scores extrapolates: ``p = (k + 1) / (n + 1) * T(|z|) / T(a_k)``, which meets the body
      at ``a_k`` and keeps ranking points whose ``p`` underflows (``log p`` is computed).
      ``T`` is the two-sided tail of a scaled Student-t fitted to the largest 10% of the ``|z_i|``
      (``tail="top"``, default: :class:`~arforecast.anomaly.tails.TopStudentTTail`) or to all of
      them (``tail="all"``: :class:`~arforecast.anomaly.tails.StudentTTail`).

    ``mode="student_t"``: ``p = T(|z|)`` of the fitted Student-t everywhere (fully parametric).
    With fewer than :data:`MIN_CALIBRATION` scores, ``p = 2 Phi(-|z|)``: the base predictive is
    unchanged. ``p`` is non-increasing in ``|z|``; :meth:`threshold` inverts it.

    Example:
        >>> law = CalibrationLaw(np.linspace(-2, 2, 401))
        >>> float(law.log_p(np.array([0.0]))[0])  # every past |z| is >= 0
        0.0
        >>> round(float(np.exp(law.log_p(np.array([1.5]))[0])), 3)  # (102 + 1) / 402: 102 of 401 are >= 1.5
        0.256
    """

    def __init__(self, z: np.ndarray, mode: str = "conformal", k: int = TAIL_ANCHOR,
                 tail: str = "top") -> None:
        if mode not in CALIBRATION_MODES:
            raise ValueError(f"calibration mode must be one of {CALIBRATION_MODES}, got {mode!r}")
        if tail not in TAILS:
            raise ValueError(f"tail must be one of {TAILS}, got {tail!r}")
        z = np.asarray(z, dtype=np.float64)
        z = z[np.isfinite(z)]
        self.mode, self.n = mode, len(z)
        self.k = int(min(k, self.n))
        self.identity = self.n < MIN_CALIBRATION
        self.sorted_ = np.sort(np.abs(z))  # ascending
        if mode == "student_t" or tail == "all" or self.identity:
            self.tail = StudentTTail(z, min_count=MIN_CALIBRATION)
        else:
            self.tail = TopStudentTTail(self.sorted_)
        if not self.identity and mode == "conformal":
            self.anchor = float(self.sorted_[self.n - self.k])
            self.log_p_anchor = float(np.log((self.k + 1) / (self.n + 1)))
            self.log_t_anchor = float(self.tail.log_sf(np.array(self.anchor)))
        self._thresholds: dict[float, float] = {}

    def log_p(self, z: np.ndarray) -> np.ndarray:
        """``log p`` of normal scores ``z`` (NaN stays NaN)."""
        x = np.abs(np.asarray(z, dtype=np.float64))
        if self.identity:
            return np.minimum(np.log(2.0) + special.log_ndtr(-x), 0.0)
        if self.mode == "student_t":
            return self.tail.log_sf(x)
        c = self.n - np.searchsorted(self.sorted_, np.nan_to_num(x, nan=0.0), side="left")
        body = np.log((c + 1.0) / (self.n + 1.0))
        tail = self.log_p_anchor + self.tail.log_sf(x) - self.log_t_anchor
        out = np.where(x > self.anchor, np.minimum(tail, self.log_p_anchor), body)
        return np.where(np.isnan(x), np.nan, out)

    def threshold(self, alpha: float) -> float:
        """``z* >= 0`` with ``p(|z|) < alpha`` exactly when ``|z| > z*``."""
        alpha = float(alpha)
        if alpha not in self._thresholds:
            self._thresholds[alpha] = self._threshold(alpha)
        return self._thresholds[alpha]

    def _threshold(self, alpha: float) -> float:
        if alpha >= 1.0:
            return 0.0 if self.identity or self.mode == "student_t" else float(self.sorted_[0])
        if alpha <= 0.0:
            return np.inf
        if self.identity:
            return float(-special.ndtri(alpha / 2))
        if self.mode == "student_t":
            return float(self.tail.isf_log(np.log(alpha)))
        if np.log(alpha) <= self.log_p_anchor:  # in the tail: T(z*) = alpha / p_a * T(a_k)
            log_target = np.log(alpha) - self.log_p_anchor + self.log_t_anchor
            return max(float(self.tail.isf_log(np.array(log_target))), self.anchor)
        # in the body: p < alpha  <=>  c <= m, m the largest integer below alpha (n + 1) - 1,
        # <=>  |z| above the (m + 1)-th largest |z_i|
        m = int(np.ceil(alpha * (self.n + 1) - 1)) - 1
        return float(self.sorted_[self.n - 1 - m])


class Recalibrated(Predictive):
    """``base`` judged through per-row :class:`CalibrationLaw` s of its past normal scores.

    The two-sided tail probability of ``y`` is the law's ``p`` of the base normal score
    ``z(y)``, split evenly by the side of ``y`` (``P(Y <= y) = p / 2`` below the median); the
    quantile at ``u`` is ``base.quantile_normal(+-z*)`` with ``z*`` the law's threshold at
    ``2 min(u, 1 - u)``, so that a point lies outside the central ``level`` interval exactly when
    ``p < 1 - level``.
    """

    def __init__(self, base: Predictive, laws: list[CalibrationLaw]) -> None:
        self.base, self.laws = base, list(laws)

    @property
    def mean(self) -> np.ndarray:
        return self.base.mean

    def _log_p(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = self.base.normal_score(np.asarray(y, dtype=np.float64))
        log_p = np.array([float(law.log_p(z[j:j + 1])[0]) for j, law in enumerate(self.laws)])
        return z, log_p

    def quantile(self, u: np.ndarray) -> np.ndarray:
        u = np.broadcast_to(np.asarray(u, dtype=np.float64), (len(self.laws),))
        z = np.array([law.threshold(2 * min(q, 1 - q)) for q, law in zip(u, self.laws)])
        return self.base.quantile_normal(np.sign(u - 0.5) * z)

    def below_above(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z, log_p = self._log_p(y)
        half = np.exp(log_p) / 2
        below = np.where(z < 0, half, 1 - half)
        above = np.where(z > 0, half, 1 - half)
        return np.where(np.isnan(z), np.nan, below), np.where(np.isnan(z), np.nan, above)

    def tail_probability(self, y: np.ndarray) -> np.ndarray:
        return np.exp(self._log_p(y)[1])

    def score(self, y: np.ndarray) -> np.ndarray:
        """``-log10 p``, from ``log p`` (no underflow)."""
        return np.maximum(-self._log_p(y)[1] / np.log(10.0), 0.0) + 0.0

    def normal_score(self, y: np.ndarray) -> np.ndarray:
        below, above = self.below_above(y)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(below < above, special.ndtri(below), -special.ndtri(above))
