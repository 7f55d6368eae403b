"""The automatic choices of ``AR()``: differencing, seasonal adjustment, seasonal lags, largest order.

Every choice comes from the series themselves, their length and the panel's frequency:

* **Seasonal adjustment** (series with a season ``m > 1``): when the M4 seasonality test finds
  the season (autocorrelation at lag ``m`` beyond its 90% limit; series of at least ``3 m``
  positive values), the series is divided by the indices of a classical multiplicative
  decomposition, the same adjustment as the Naive2 benchmark, and forecasts are multiplied back.
  Indices are stored by calendar phase, so a new history is adjusted by its own timestamps.
* **Differencing** ``d`` (0 or 1): the KPSS test of level stationarity (Kwiatkowski et al. 1992)
  at 5%, with ``trunc(3 sqrt(n) / 13)`` Bartlett lags, on the adjusted series, as auto.arima does.
* **Largest order**: ``max(1, (n_w - 2) // LENGTH_PER_LAG)`` for a series of ``n_w`` values
  after differencing, and no more than its values can estimate; AICc picks the order below it.
* **Seasonal AR lags**: the frequency's longer periods (``arforecast.data.frequency``; hourly:
  168), each where the series holds ``MIN_CYCLES`` of them; the main period is handled by the
  adjustment.

* **Missing values**: the tests (KPSS, seasonality) and the seasonal indices read each series with
  its holes filled by linear interpolation (:func:`interpolated`): they only choose. The orders
  are compared on the rows complete for the largest one and the chosen order is estimated on its
  own complete rows (:mod:`arforecast.models.ar_kernels`); an order is allowed only where those rows
  leave the degrees of freedom an estimate needs (:func:`complete_row_caps`). (Choosing the order
  on the interpolated series instead was worse on validation windows of M3 monthly and M4 Hourly.)

The thresholds were chosen on validation windows cut from the training part of M3 and M4 Hourly
(the last ``h`` training values of every series), never on their test parts (docs/ar.md).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> walk, noise = np.cumsum(rng.normal(size=200)), rng.normal(size=200)
    >>> choose_d(np.r_[walk, noise], np.array([0, 200, 400])).tolist()
    [1, 0]
"""
from __future__ import annotations

import numpy as np

from arforecast.models.seasonality import deseasonalize

#: KPSS critical values of the level-stationarity test (Kwiatkowski et al. 1992, Table 1)
KPSS_CRITICAL = {0.10: 0.347, 0.05: 0.463, 0.025: 0.574, 0.01: 0.739}
KPSS_LEVEL = 0.05
#: the largest order a series can choose grows by one per this many values (validated on M3/M4)
LENGTH_PER_LAG = 20
#: a seasonal AR lag is used where the series holds at least this many of its cycles
MIN_CYCLES = 3


def kpss_lags(n: int) -> int:
    """Bartlett lags of the KPSS long-run variance: ``trunc(3 sqrt(n) / 13)`` (auto.arima's short rule)."""
    return int(3.0 * np.sqrt(n) / 13.0)


def kpss_statistic(y: np.ndarray, lags: int | None = None) -> float:
    """The KPSS statistic of level stationarity, as statsmodels ``kpss(y, "c", nlags=lags)``.

    ``eta = sum_t S_t^2 / (n^2 lrv)`` with ``S`` the partial sums of ``y - mean(y)`` and ``lrv``
    the Bartlett-weighted long-run variance. 0 for a constant series.

    Example:
        >>> round(kpss_statistic(np.arange(50.0)), 3)     # a trend: far beyond the 5% value 0.463
        2.578
    """
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    lags = kpss_lags(n) if lags is None else int(lags)
    e = y - y.mean()
    lrv = np.dot(e, e) / n
    for k in range(1, min(lags, n - 1) + 1):
        lrv += 2.0 * (1.0 - k / (lags + 1.0)) * np.dot(e[k:], e[:-k]) / n
    if not lrv > 1e-300:
        return 0.0
    s = np.cumsum(e)
    return float(np.dot(s, s) / (n * n * lrv))


def choose_d(values: np.ndarray, indptr: np.ndarray, max_d: int = 1, level: float = KPSS_LEVEL) -> np.ndarray:
    """Differences each series needs: difference while KPSS rejects level stationarity, up to ``max_d``.

    Series of fewer than 5 values are left undifferenced (too short for the test).
    """
    crit = KPSS_CRITICAL[level]
    out = np.zeros(len(indptr) - 1, dtype=np.int64)
    for i in range(len(out)):
        y = interpolated(values[indptr[i]:indptr[i + 1]])
        while out[i] < max_d and len(y) >= 5 and kpss_statistic(y) > crit:
            y = np.diff(y)
            out[i] += 1
    return out


def interpolated(y: np.ndarray) -> np.ndarray:
    """``y`` with its NaNs filled by linear interpolation (the nearest value beyond the ends); ``y``
    itself when it has none.

    Example:
        >>> interpolated(np.array([1.0, np.nan, 3.0, np.nan])).tolist()
        [1.0, 2.0, 3.0, 3.0]
    """
    holes = np.isnan(y)
    if not holes.any() or holes.all():
        return y
    grid = np.arange(len(y))
    out = y.copy()
    out[holes] = np.interp(grid[holes], grid[~holes], y[~holes])
    return out


def observed_counts(values: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Observed (non-NaN) values of each series of a packed panel."""
    if len(values) == 0:
        return np.zeros(len(indptr) - 1, dtype=np.int64)
    return np.add.reduceat((~np.isnan(values)).astype(np.int64), indptr[:-1]) * (np.diff(indptr) > 0)


def seasonal_indices(values: np.ndarray, indptr: np.ndarray, origins: np.ndarray,
                     season_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Multiplicative seasonal indices by calendar phase, ``[n, season_length]``, and which series have them.

    Column ``j`` multiplies the values at calendar positions ``j`` modulo the season; rows of
    series that fail the seasonality test (or are not positive, or shorter than ``3 m``) are ones.
    """
    m = int(season_length)
    n = len(indptr) - 1
    table = np.ones((n, max(m, 1)))
    adjusted = np.zeros(n, dtype=bool)
    if m <= 1:
        return table, adjusted
    for i in range(n):
        y = interpolated(values[indptr[i]:indptr[i + 1]])
        si, _ = deseasonalize(y, m, 1)
        if np.all(si == 1.0):
            continue
        last = np.arange(len(y) - m, len(y))
        table[i, (origins[i] + last) % m] = si[last]
        adjusted[i] = True
    return table, adjusted


def adjust(values: np.ndarray, indptr: np.ndarray, origins: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``values`` divided by their series' seasonal index at each value's calendar phase."""
    m = table.shape[1]
    lengths = np.diff(indptr)
    rows = np.repeat(np.arange(len(lengths)), lengths)
    step = np.arange(len(values)) - np.repeat(indptr[:-1], lengths)
    return values / table[rows, (origins[rows] + step) % m]


def order_caps(lengths: np.ndarray, n_deterministic: int, n_seasonal: np.ndarray,
               seasonal_reach: np.ndarray, max_p: int | None, spare: int = 2) -> np.ndarray:
    """Largest order each series may choose (``-1``: not even order 0 fits).

    ``max_p`` (if given) bounds it; without it, the length rule ``max(1, (n - 2) // LENGTH_PER_LAG)``
    does. A series takes that bound when its sample after holding back ``max(bound, seasonal
    lags)`` values keeps ``spare`` more values than the model has regressors (1 leaves a residual
    degree of freedom, statsmodels' minimum; AICc needs 2). A shorter series gets the largest order
    it can estimate with at least two equations per regressor (no thin fit).

    Example:
        >>> order_caps(np.array([200, 30, 6]), 1, np.zeros(3), np.zeros(3), max_p=8, spare=1).tolist()
        [8, 8, 1]
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    rule = np.maximum(1, (lengths - 2) // LENGTH_PER_LAG) if max_p is None else np.full(len(lengths), int(max_p))
    caps = np.full(len(lengths), -1, dtype=np.int64)
    for i, n in enumerate(lengths):
        reach, n_s = int(seasonal_reach[i]), int(n_seasonal[i])
        top = int(rule[i])
        if n - max(top, reach) >= top + n_s + n_deterministic + spare:
            caps[i] = top
            continue
        for k in range(top - 1, -1, -1):
            regressors = k + n_s + n_deterministic
            sample = n - max(k, reach)
            if sample >= regressors + spare and sample >= 2 * regressors:
                caps[i] = k
                break
    return caps


def complete_row_caps(values: np.ndarray, indptr: np.ndarray, caps: np.ndarray, seasonal: list[tuple[int, ...]],
                      n_deterministic: int, spare: int, length_rule: bool) -> np.ndarray:
    """``caps`` lowered for series with missing values: order ``k`` is estimated on the rows whose
    target and lags ``1..k`` (and seasonal lags) are all observed, so the length rule and the
    degrees of freedom of :func:`order_caps` count those rows, not timestamps.

    Example:
        >>> y = np.ones(200); y[::10] = np.nan           # a hole every 10 values: no row has 10 lags
        >>> complete_row_caps(y, np.array([0, 200]), np.array([9]), [()], 1, 2, True).tolist()
        [4]
    """
    caps = np.array(caps, dtype=np.int64)
    if len(values) == 0 or not np.isnan(values).any():
        return caps
    for i in np.flatnonzero(np.isnan(np.add.reduceat(values, indptr[:-1]))):
        observed = ~np.isnan(values[indptr[i]:indptr[i + 1]])
        n = len(observed)
        run = np.zeros(n, dtype=np.int64)                  # observed values in a row ending at t
        count = 0
        for t in range(n):
            count = count + 1 if observed[t] else 0
            run[t] = count
        extra = np.ones(n, dtype=bool)
        for lag in seasonal[i]:
            extra[lag:] &= observed[:-lag]
            extra[:lag] = False
        reach = max(seasonal[i], default=0)
        for k in range(int(caps[i]), -1, -1):
            rows = int(np.sum((run[max(k, reach):] > k) & extra[max(k, reach):]))
            regressors = k + len(seasonal[i]) + n_deterministic
            rule = max(1, (rows - 2) // LENGTH_PER_LAG) if length_rule else k
            if rows >= regressors + spare and rows >= 2 * regressors and k <= rule:
                break
        else:
            k = -1
        caps[i] = min(caps[i], k)
    return caps


def seasonal_lags_for(periods: tuple[int, ...], lengths: np.ndarray) -> list[tuple[int, ...]]:
    """Per series, the seasonal AR lags of the automatic model: the periods after the main one that
    the series covers ``MIN_CYCLES`` times."""
    extra = tuple(int(p) for p in periods[1:])
    return [tuple(p for p in extra if n >= MIN_CYCLES * p) for n in np.asarray(lengths)]
