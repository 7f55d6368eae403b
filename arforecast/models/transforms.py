"""Per-series variance-stabilising transforms of ``AR``: log and Box-Cox (lambda by Guerrero's method).

Box-Cox: ``z = (y^lambda - 1) / lambda`` (``log y`` at ``lambda = 0``), for positive values only.
A series with a zero, a negative or a missing value gets no transform (lambda NaN) and a recorded
reason; so does a series too short for Guerrero's method (two subseries of the season's length).

**Guerrero's method** (Guerrero 1993, as R's ``forecast::BoxCox.lambda``): cut the series' last
``k * s`` values into ``k`` subseries of ``s = max(2, season_length)`` values, and choose the
``lambda`` in ``[lower, upper]`` that minimises the coefficient of variation of
``sd_j / mean_j^(1 - lambda)`` over the subseries.

**Back-transform.** The model is Normal on the transformed scale, so each sampled path
back-transforms exactly, and so does every quantile (the transform is monotone): the back-transformed
mean path is the **median** of the forecast distribution. Its mean is higher; with
``bias_adjust=True`` the point forecast is the mean instead: exact for the log
(``exp(mu + sigma^2 / 2)``), the second-order approximation
``inv(mu) (1 + sigma^2 (1 - lambda) / (2 (lambda mu + 1)^2))`` for Box-Cox (Hyndman & Athanasopoulos,
FPP3 5.6).

Example:
    >>> import numpy as np
    >>> y = np.array([1.0, 4.0, 9.0])
    >>> z = boxcox(y, 0.5)
    >>> z.round(12).tolist(), inv_boxcox(z, 0.5).round(12).tolist()
    ([0.0, 2.0, 4.0], [1.0, 4.0, 9.0])
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import minimize_scalar

from arforecast.distributions import Distribution

#: default search range of lambda (R's forecast package)
LOWER, UPPER = -0.9, 2.0
#: the range ``AR(transform="boxcox")`` searches: between the log and no transform. A negative
#: lambda bounds the back-transform's range (``lambda z + 1 > 0``), so a forecast with a drift
#: reaches infinity in a few steps (seen on M3 validation windows); above 1 it amplifies the tails
AR_LOWER, AR_UPPER = 0.0, 1.0


#: lambdas closer to 0 than this are the log transform (the two differ by about lam * log(y)^2 / 2)
LOG_LAMBDA = 1e-12


def boxcox(y: np.ndarray, lam: float) -> np.ndarray:
    """The Box-Cox transform of positive ``y`` (``log y`` at ``lam = 0``)."""
    y = np.asarray(y, dtype=np.float64)
    # expm1 keeps (y^lam - 1) / lam accurate as lam approaches 0 (the log); below LOG_LAMBDA the
    # product lam * log(y) would lose digits (subnormal numbers) while the log is exact to 1e-12
    return np.log(y) if abs(lam) < LOG_LAMBDA else np.expm1(lam * np.log(y)) / lam


def inv_boxcox(z: np.ndarray, lam: float) -> np.ndarray:
    """The inverse of :func:`boxcox`. Values beyond the transform's range (``lam z + 1 <= 0``)
    map to its edge: 0 for ``lam > 0``, ``+inf`` for ``lam < 0``."""
    z = np.asarray(z, dtype=np.float64)
    if abs(lam) < LOG_LAMBDA:
        return np.exp(z)
    base = np.maximum(lam * z, -1.0)
    with np.errstate(divide="ignore"):
        return np.exp(np.log1p(base) / lam)


def guerrero_cv(y: np.ndarray, lam: float, season_length: int) -> float:
    """Guerrero's criterion: the coefficient of variation of ``sd_j / mean_j^(1 - lam)`` over
    subseries of ``max(2, season_length)`` values (the last whole ones)."""
    s = max(2, int(season_length))
    k = len(y) // s
    block = np.asarray(y, dtype=np.float64)[len(y) - k * s:].reshape(k, s)
    ratio = block.std(axis=1, ddof=1) / block.mean(axis=1) ** (1.0 - lam)
    return float(ratio.std(ddof=1) / ratio.mean())


def guerrero_lambda(y: np.ndarray, season_length: int, lower: float = LOWER, upper: float = UPPER) -> float:
    """Box-Cox lambda of a positive series by Guerrero's method (bounded Brent search).

    Example:
        >>> t = np.arange(1, 61)
        >>> y = np.exp(0.05 * t) * (1 + 0.1 * np.sin(t))       # multiplicative: lambda near 0
        >>> abs(guerrero_lambda(y, 4)) < 0.3
        True
    """
    res = minimize_scalar(lambda lam: guerrero_cv(y, lam, season_length), bounds=(lower, upper),
                          method="bounded", options={"xatol": 1e-8})
    return float(res.x)


def choose_lambdas(values: np.ndarray, indptr: np.ndarray, method: str, season_length: int,
                   lower: float = LOWER, upper: float = UPPER) -> tuple[np.ndarray, list[str]]:
    """Per series: lambda (``0`` for ``"log"``, Guerrero's for ``"boxcox"``; NaN: no transform) and
    why a series got none (``""`` when it got one)."""
    n = len(indptr) - 1
    lambdas, reasons = np.full(n, np.nan), [""] * n
    s = max(2, int(season_length))
    for i in range(n):
        y = values[indptr[i]:indptr[i + 1]]
        if not np.all(np.isfinite(y)):
            reasons[i] = "missing or infinite values"
        elif np.any(y <= 0):
            reasons[i] = "zero or negative values"
        elif method == "log":
            lambdas[i] = 0.0
        elif len(y) < 2 * s:
            reasons[i] = f"fewer than {2 * s} values for Guerrero's method"
        elif np.ptp(y) == 0:
            reasons[i] = "constant series"
        else:
            lam = guerrero_lambda(y, season_length, lower, upper)
            if np.isfinite(lam):
                lambdas[i] = lam
            else:
                reasons[i] = "Guerrero's criterion undefined (a constant subseries)"
    return lambdas, reasons


def transform(values: np.ndarray, indptr: np.ndarray, lambdas: np.ndarray) -> np.ndarray:
    """Each series transformed by its lambda (unchanged where it is NaN)."""
    out = np.array(values, dtype=np.float64, copy=True)
    for i in np.flatnonzero(np.isfinite(lambdas)):
        out[indptr[i]:indptr[i + 1]] = boxcox(out[indptr[i]:indptr[i + 1]], float(lambdas[i]))
    return out


def back_transform(z: np.ndarray, lambdas: np.ndarray) -> np.ndarray:
    """``z`` ``[n, ...]`` back to the original scale, row ``i`` by ``lambdas[i]`` (NaN: unchanged)."""
    out = np.array(z, dtype=np.float64, copy=True)
    for i in np.flatnonzero(np.isfinite(lambdas)):
        out[i] = inv_boxcox(out[i], float(lambdas[i]))
    return out


def bias_adjusted_mean(mu: np.ndarray, sd: np.ndarray, lambdas: np.ndarray) -> np.ndarray:
    """The mean of ``inv_boxcox(N(mu, sd^2))`` per row (exact for the log, FPP3's approximation otherwise)."""
    out = np.array(mu, dtype=np.float64, copy=True)
    for i in np.flatnonzero(np.isfinite(lambdas)):
        lam = float(lambdas[i])
        if lam == 0:
            out[i] = np.exp(mu[i] + sd[i] ** 2 / 2.0)
        else:
            base = np.maximum(lam * mu[i] + 1.0, 1e-12)
            out[i] = inv_boxcox(mu[i], lam) * (1.0 + sd[i] ** 2 * (1.0 - lam) / (2.0 * base ** 2))
    return out


class BackTransformed(Distribution):
    """``inv_boxcox(X)`` with ``X ~ base`` (a Normal or Student-t of batch ``[n, h]``), row ``i`` by
    ``lambdas[i]`` (NaN: no transform).

    Quantiles are exact (the transform is monotone); ``mean`` is the point forecast the model chose
    (the median ``inv_boxcox(loc)``, or the bias-adjusted mean), given as ``center``.
    """

    def __init__(self, base: Distribution, lambdas: np.ndarray, center: torch.Tensor) -> None:
        self.normal = base
        self.lambdas = np.asarray(lambdas, dtype=np.float64)
        self.center = center

    def _inverse(self, z: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(back_transform(z.detach().cpu().numpy(), self.lambdas)).to(z.dtype)

    @property
    def mean(self) -> torch.Tensor:
        return self.center

    @property
    def mode(self) -> torch.Tensor:
        return self.icdf(torch.full_like(self.center, 0.5))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Density of the back-transformed variable: the base density at ``boxcox(x)`` plus ``(lambda - 1) log x``."""
        x = x.to(torch.float64)
        lam = torch.from_numpy(np.nan_to_num(self.lambdas, nan=1.0)).reshape((-1,) + (1,) * (x.dim() - 1))
        raw = torch.from_numpy(np.isnan(self.lambdas)).reshape(lam.shape)
        z = torch.where(lam == 0, torch.log(x), (x.pow(lam) - 1) / torch.where(lam == 0, 1.0, lam))
        z = torch.where(raw, x, z)
        jac = torch.where(raw, torch.zeros_like(x), (lam - 1) * torch.log(x))
        return self.normal.log_prob(z) + jac

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        """``P(Y <= x)``: the base CDF at the transformed ``x`` (the transform is increasing; 0 for
        ``x <= 0`` of a transformed row)."""
        x = x.to(torch.float64)
        lam = torch.from_numpy(np.nan_to_num(self.lambdas, nan=1.0)).reshape((-1,) + (1,) * (x.dim() - 1))
        raw = torch.from_numpy(np.isnan(self.lambdas)).reshape(lam.shape)
        pos = x.clamp_min(1e-300)
        z = torch.where(lam == 0, torch.log(pos), (pos.pow(lam) - 1) / torch.where(lam == 0, 1.0, lam))
        out = self.normal.cdf(torch.where(raw, x, z))
        return torch.where(raw | (x > 0) | torch.isnan(x), out, torch.zeros_like(out))

    def icdf(self, u: torch.Tensor) -> torch.Tensor:
        return self._inverse(self.normal.icdf(u))
