"""Parametric laws for the far tail of absolute normal scores ``|z|``, where too few past points
are as extreme to count them.

:class:`~arforecast.anomaly.scores.CalibrationLaw` ranks a new ``|z|`` among the past ones while
at least ten are as large, and extrapolates beyond with one of these laws. Each gives
``log T(x)``, the log of the two-sided tail ``P(|Z| >= x)`` of a scaled Student-t ``s t_nu``, and
its inverse; the conformal law only uses ratios ``T(x) / T(anchor)``.

* :class:`StudentTTail` fits ``(s, nu)`` to all past ``z`` (:func:`fit_student_t`): its tail
  follows the body.
* :class:`TopStudentTTail` fits them to the largest 10% of ``|z|``: the tail is learnt from
  the tail. For Laplace errors (a peaked centre, an exponential tail) a fit to all points is
  driven by the centre and picks a small ``nu`` whose power-law tail puts the 0.999 bound far
  out: it flags 16% of the points it should, the top fit 94% (2,000 past scores,
  ``tests/test_anomaly.py``). A generalised Pareto law fitted to the same top points (the usual
  peaks-over-threshold choice) was tried and flagged too often: its shape estimate is noisy
  and leans towards bounded tails for Normal data.

Example:
    >>> rng = np.random.default_rng(0)
    >>> tail = TopStudentTTail(np.abs(rng.laplace(size=5000)))
    >>> tail.nu < 20  # an exponential tail is far heavier than a Normal one
    True
    >>> x = np.array([5.0, 10.0])
    >>> bool(np.allclose(tail.isf_log(tail.log_sf(x)), x))
    True
"""
from __future__ import annotations

import math

import numpy as np
from scipy import optimize, special, stats

_NU_GRID = np.array([1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 20.0, 40.0, 100.0, 1000.0])
#: share of the largest past ``|z|`` that :class:`TopStudentTTail` is fitted to, and the fewest.
TOP_FRACTION = 0.1
TOP_MIN_COUNT = 20


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


#: below ``P(t_nu > x) = exp(FAR_LOG_SF)`` scipy's t tail routines are not to be trusted (``logsf``
#: of ``t_1`` is -inf beyond x = 1e154, where x^2 overflows, though the tail is only exp(-355)
#: there; ``isf`` returns -inf or saturates below about exp(-600) for some ``nu``). Beyond the
#: point ``x_far`` where the tail is that small, it goes on as the power law ``(x / x_far)^-nu``
#: of the t's tail, anchored there, so that both directions stay finite, continuous and monotone.
FAR_LOG_SF = -300.0


def _x_far(nu: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", under="ignore"):
        return stats.t.isf(np.exp(FAR_LOG_SF), nu)


def t_log_sf(x: np.ndarray, nu: np.ndarray) -> np.ndarray:
    """``log P(t_nu > x)``, finite however far ``x`` is (see :data:`FAR_LOG_SF`).

    Example:
        >>> t_log_sf(np.array([1e200]), 1.0)  # scipy's t.logsf gives -inf here
        array([-461.66...])
        >>> np.allclose(t_isf_log(t_log_sf(np.array([3.0, 1e200]), 1.0), 1.0), [3.0, 1e200])
        True
    """
    x, nu = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(nu, dtype=np.float64))
    x_far = _x_far(nu)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        return np.where(x > x_far, FAR_LOG_SF - nu * np.log(x / x_far), stats.t.logsf(x, nu))


def t_isf_log(log_sf: np.ndarray, nu: np.ndarray) -> np.ndarray:
    """``x`` with ``t_log_sf(x, nu) = log_sf``: scipy's ``isf`` down to ``exp(FAR_LOG_SF)``, the
    anchored power law beyond."""
    log_sf, nu = np.broadcast_arrays(np.asarray(log_sf, dtype=np.float64), np.asarray(nu, dtype=np.float64))
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        near = stats.t.isf(np.exp(np.maximum(log_sf, FAR_LOG_SF)), nu)
        far = _x_far(nu) * np.exp((FAR_LOG_SF - log_sf) / nu)
    return np.where((log_sf > FAR_LOG_SF) & np.isfinite(near) & (near >= 0), near, far)


class StudentTTail:
    """Two-sided tail of ``s t_nu`` fitted to the signed scores ``z``."""

    def __init__(self, z: np.ndarray, min_count: int = 30) -> None:
        self.s, self.nu = fit_student_t(z, min_count=min_count)

    def log_sf(self, x: np.ndarray) -> np.ndarray:
        """``log P(|s t_nu| >= x)``, finite however far ``x`` is (:func:`t_log_sf`)."""
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            r = np.asarray(x, dtype=np.float64) / self.s
        return np.minimum(np.log(2.0) + t_log_sf(r, self.nu), 0.0)

    def isf_log(self, log_sf: np.ndarray) -> np.ndarray:
        """``x >= 0`` with ``log_sf(x) = log_sf``."""
        return self.s * t_isf_log(np.asarray(log_sf, dtype=np.float64) - np.log(2.0), self.nu)


class TopStudentTTail(StudentTTail):
    """Two-sided tail of ``s t_nu`` fitted to the largest 10% of the past ``|z|`` only (at least
    20): maximum likelihood of those points given that they exceed the next largest one, ``u``
    (``nu`` on the same grid, ``s`` by a bounded search at each ``nu``), so that the centre of
    the distribution does not decide the shape of its tail."""

    def __init__(self, abs_z: np.ndarray, fraction: float = TOP_FRACTION,
                 min_count: int = TOP_MIN_COUNT) -> None:
        x = np.sort(np.abs(np.asarray(abs_z, dtype=np.float64)))
        x = x[np.isfinite(x)]
        n = len(x)
        m = int(min(max(math.ceil(fraction * n), min_count), n - 1))
        self.s, self.nu = 1.0, float(_NU_GRID[-1])
        if m < 2 or x[n - 1] <= 0.0:
            return
        u, top = float(x[n - m - 1]), x[n - m:]
        smallest = max(u, float(top[top > 0][0]))  # the scale search starts below the top points
        lo, hi = math.log(smallest) - 8.0, math.log(top[-1]) + 4.0
        best = -np.inf
        for nu in _NU_GRID:
            # scipy.stats.t's logpdf/logsf in closed form: the same numbers without its per-call
            # argument checks, which dominated detection on many series
            const = special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2) - 0.5 * math.log(nu * math.pi)

            def nll(log_s: float, nu: float = nu, const: float = const) -> float:
                s = math.exp(log_s)
                logpdf = const - (nu + 1) / 2 * np.log1p((top / s) ** 2 / nu)
                return -(float(np.sum(logpdf)) - m * log_s - m * float(np.log(special.stdtr(nu, -u / s))))
            with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
                res = optimize.minimize_scalar(nll, bounds=(lo, hi), method="bounded")
            if np.isfinite(res.fun) and -res.fun > best:
                best, self.s, self.nu = -res.fun, math.exp(res.x), float(nu)
