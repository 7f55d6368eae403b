"""Forecast accuracy metrics, vectorized over series.

Arrays are ``[n_series, h]`` (``y`` the actuals, ``yhat`` a forecast); quantile forecasts are
``[n_quantiles, n_series, h]``; samples ``[n_series, num_samples, h]``. Each metric returns one
value per series (average over the horizon) unless it says otherwise; average over series for
the panel figure (that is how M4 reports sMAPE, MASE and MSIS). A missing actual (NaN) is not
scored: averages run over the observed values.

Scaled metrics (MASE, MSIS) divide by the in-sample mean absolute seasonal difference
``mean(|y_t - y_{t-m}|)`` of each training series, as in M4.

Example:
    >>> import numpy as np
    >>> y, f = np.array([[1.0, 2.0]]), np.array([[1.0, 4.0]])
    >>> float(mae(y, f)[0]), round(float(smape(y, f)[0]), 4)
    (1.0, 33.3333)
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from arforecast.data.panel import Panel, lag_abs_means


def _nanmean(a: np.ndarray, axis: int) -> np.ndarray:
    """Mean over the values that are not NaN (missing actuals are not scored); NaN where none is."""
    a = np.asarray(a, dtype=np.float64)
    if not np.isnan(a).any():
        return np.mean(a, axis=axis)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(a, axis=axis)


def _pair(y: np.ndarray, yhat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y, yhat = np.atleast_2d(np.asarray(y, dtype=np.float64)), np.atleast_2d(np.asarray(yhat, dtype=np.float64))
    if y.shape != yhat.shape:
        raise ValueError(f"actuals {y.shape} and forecasts {yhat.shape} differ in shape")
    return y, yhat


def mae(y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
    """Mean absolute error per series."""
    y, yhat = _pair(y, yhat)
    return _nanmean(np.abs(y - yhat), axis=1)


def rmse(y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
    """Root mean squared error per series."""
    y, yhat = _pair(y, yhat)
    return np.sqrt(_nanmean((y - yhat) ** 2, axis=1))


def smape(y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
    """M4's symmetric MAPE in percent: ``200 * mean(|y - f| / (|y| + |f|))`` (0 where both are 0)."""
    y, yhat = _pair(y, yhat)
    denom = np.abs(y) + np.abs(yhat)
    ratio = np.divide(np.abs(y - yhat), denom, out=np.zeros_like(denom), where=denom > 0)
    ratio[np.isnan(denom)] = np.nan                      # a missing actual is not scored
    return 200.0 * _nanmean(ratio, axis=1)


def seasonal_scale(insample: Panel | Sequence[np.ndarray], season_length: int) -> np.ndarray:
    """``mean(|y_t - y_{t-m}|)`` over each training series, ``m = season_length`` (the MASE/MSIS
    denominator); pairs with a missing value are skipped."""
    m = int(season_length)
    if isinstance(insample, Panel):
        values, starts, lengths = insample.values, insample.indptr[:-1], insample.lengths
    else:
        series = [np.asarray(s, dtype=np.float64).ravel() for s in insample]
        lengths = np.array([len(s) for s in series], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        values = np.concatenate(series) if series else np.empty(0)
    short = np.flatnonzero(lengths <= m)
    if len(short):
        i = int(short[0])
        raise ValueError(f"series {i} has {lengths[i]} in-sample values; MASE with season_length={m} needs more than {m}")
    return lag_abs_means(values, starts, lengths, m)


def mase(y: np.ndarray, yhat: np.ndarray, insample: Panel | Sequence[np.ndarray], season_length: int) -> np.ndarray:
    """Mean absolute scaled error per series (in-sample seasonal-naive scaling)."""
    return mae(y, yhat) / seasonal_scale(insample, season_length)


def owa(smape_value: float, mase_value: float, smape_baseline: float, mase_baseline: float) -> float:
    """M4's overall weighted average: ``(sMAPE/sMAPE_b + MASE/MASE_b) / 2`` on panel averages."""
    return 0.5 * (smape_value / smape_baseline + mase_value / mase_baseline)


def pinball_loss(y: np.ndarray, qhat: np.ndarray, quantiles: Sequence[float]) -> np.ndarray:
    """Quantile (pinball) loss ``[n_quantiles, n_series]``, averaged over the horizon.

    ``rho_q(y, f) = max(q (y - f), (q - 1)(y - f))``.
    """
    y = np.atleast_2d(np.asarray(y, dtype=np.float64))
    qhat = np.asarray(qhat, dtype=np.float64).reshape((len(quantiles),) + y.shape)
    q = np.asarray(quantiles, dtype=np.float64)[:, None, None]
    diff = y[None] - qhat
    return np.mean(np.maximum(q * diff, (q - 1) * diff), axis=2)


def weighted_quantile_loss(y: np.ndarray, qhat: np.ndarray, quantiles: Sequence[float]) -> float:
    """Weighted quantile loss of a whole panel, as in the Chronos paper (one number).

    ``WQL = mean_q [ 2 * sum_{i,t} rho_q(y_it, f_it^q) / sum_{i,t} |y_it| ]``.
    """
    y = np.atleast_2d(np.asarray(y, dtype=np.float64))
    diff = y[None] - np.asarray(qhat, dtype=np.float64).reshape((len(quantiles),) + y.shape)
    q = np.asarray(quantiles, dtype=np.float64).reshape((-1,) + (1,) * y.ndim)
    total = np.nansum(np.maximum(q * diff, (q - 1) * diff), axis=2)     # sums over the horizon (observed)
    return float(np.mean(2.0 * total.sum(axis=1) / np.nansum(np.abs(y))))


def coverage(y: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Share of actuals inside ``[lower, upper]`` per series."""
    y, lower = _pair(y, lower)
    _, upper = _pair(y, upper)
    inside = ((y >= lower) & (y <= upper)).astype(np.float64)
    inside[np.isnan(y)] = np.nan
    return _nanmean(inside, axis=1)


def interval_score(y: np.ndarray, lower: np.ndarray, upper: np.ndarray, level: float = 0.95) -> np.ndarray:
    """Interval score of a central ``level`` interval per value, ``[n, h]`` (NaN where ``y`` is).

    ``U - L + 2/alpha (L - y) 1{y < L} + 2/alpha (y - U) 1{y > U}`` with ``alpha = 1 - level``.

    Example:
        >>> interval_score(np.array([[0.0, 3.0]]), np.array([[-1.0, -1.0]]), np.array([[1.0, 1.0]]), level=0.9)
        array([[ 2., 42.]])
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1 (a fraction), got {level!r}")
    alpha = 1.0 - level
    y, lower = _pair(y, lower)
    _, upper = _pair(y, upper)
    return (upper - lower) + (2.0 / alpha) * (lower - y) * (y < lower) + (2.0 / alpha) * (y - upper) * (y > upper)


def msis(y: np.ndarray, lower: np.ndarray, upper: np.ndarray, insample: Panel | Sequence[np.ndarray],
         season_length: int, level: float = 0.95) -> np.ndarray:
    """M4's mean scaled interval score per series, for a central ``level`` interval (M4's
    ``alpha`` is ``1 - level``): the mean :func:`interval_score` over the horizon divided by the
    series' seasonal scale."""
    return _nanmean(interval_score(y, lower, upper, level), axis=1) / seasonal_scale(insample, season_length)


def crps_per_step(y: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Continuous ranked probability score of each value ``[n, h]`` from sample paths ``[n, S, h]``.

    Uses the energy form ``E|X - y| - 0.5 E|X - X'|`` with the sorted-sample identity for the
    second term (exact for the empirical distribution of the samples); NaN where ``y`` is.

    Example:
        >>> crps_per_step(np.array([[0.0, np.nan]]), np.array([[[-1.0, 0.0]], [[1.0, 0.0]]]).reshape(1, 2, 2))
        array([[0.5, nan]])
    """
    y = np.atleast_2d(np.asarray(y, dtype=np.float64))
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 3 or (x.shape[0], x.shape[2]) != y.shape:
        raise ValueError(f"samples {x.shape} must be [n, S, h] for actuals [n, h] {y.shape}")
    x = np.sort(x, axis=1)
    S = x.shape[1]
    term1 = np.mean(np.abs(x - y[:, None, :]), axis=1)
    weights = (2 * np.arange(1, S + 1) - S - 1)[None, :, None]
    term2 = np.sum(weights * x, axis=1) / (S * S)
    return term1 - term2


def crps_from_samples(y: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Continuous ranked probability score per series from sample paths ``[n, S, h]``: the mean
    :func:`crps_per_step` over the horizon."""
    return _nanmean(crps_per_step(y, samples), axis=1)
