"""The M4 seasonality test and classical multiplicative seasonal adjustment (used by Naive2)."""
from __future__ import annotations

import numpy as np
from statsmodels.tsa.seasonal import seasonal_decompose


def acf_m4(y: np.ndarray, k: int) -> float:
    """Autocorrelation at lag ``k`` as the M4 benchmark code computes it (full-sample mean and variance)."""
    d = y - y.mean()
    return float(np.dot(d[k:], d[:len(d) - k]) / np.dot(d, d))


def is_seasonal(y: np.ndarray, m: int) -> bool:
    """M4's 90% test: ``|acf_m| > 1.645 * sqrt((1 + 2 * sum_{k=1}^{m-1} acf_k**2) / T)``.

    Example:
        >>> bool(is_seasonal(np.tile([1.0, 5.0, 2.0, 8.0], 20), 4))
        True
    """
    if m <= 1 or len(y) < 3 * m:
        return False
    s = sum(acf_m4(y, k) ** 2 for k in range(1, m))
    limit = 1.645 * np.sqrt((1 + 2 * s) / len(y))
    return abs(acf_m4(y, m)) > limit


def deseasonalize(y: np.ndarray, m: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Seasonal indices in-sample (``len(y)``) and for the next ``h`` steps (ones if not seasonal).

    The indices come from statsmodels' classical multiplicative decomposition; the future ones
    repeat the last full season.
    """
    y = np.asarray(y, dtype=np.float64)
    if not is_seasonal(y, m) or np.any(y <= 0):
        return np.ones(len(y)), np.ones(h)
    si = np.asarray(seasonal_decompose(y, model="multiplicative", period=m).seasonal)
    last_season = si[-m:]
    return si, last_season[np.arange(h) % m]
