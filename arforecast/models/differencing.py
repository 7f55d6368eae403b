"""Differencing a panel and integrating an AR model back to the levels.

An integrated AR fits ``phi(B) w_t = c + e_t`` to ``w = (1 - B)^d (1 - B^m)^D y`` (``B`` the lag
operator). On the levels this is one AR with the product polynomial
``a(B) = phi(B) (1 - B)^d (1 - B^m)^D``, so every forecast tool of a plain AR (the rollout of
sample paths, the MA(infinity) weights ``psi`` of ``a`` for the exact Normal intervals,
re-conditioning on a new history) integrates back exactly, with no extra step.

Example:
    >>> import numpy as np
    >>> coef, lags = level_polynomial(np.array([[0.5]]), np.array([1]), np.array([1]), np.array([0]), 1)
    >>> lags.tolist(), coef.round(3).tolist()        # (1 - 0.5 B)(1 - B) = 1 - 1.5 B + 0.5 B^2
    ([1, 2], [[1.5, -0.5]])
"""
from __future__ import annotations

import numpy as np


def difference(values: np.ndarray, indptr: np.ndarray, d: np.ndarray, D: np.ndarray,
               season_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Each series differenced ``d[i]`` times at lag 1 and ``D[i]`` times at ``season_length``.

    Returns the new ``(values, indptr)``; series ``i`` loses ``d[i] + D[i] * season_length`` values.

    Example:
        >>> v, ip = difference(np.array([1.0, 2.0, 4.0, 7.0, 5.0, 5.0]), np.array([0, 4, 6]),
        ...                    np.array([1, 0]), np.array([0, 0]), 1)
        >>> v.tolist(), ip.tolist()
        ([1.0, 2.0, 3.0, 5.0, 5.0], [0, 3, 5])
    """
    out = []
    for i in range(len(indptr) - 1):
        y = values[indptr[i]:indptr[i + 1]]
        for _ in range(int(D[i])):
            y = y[season_length:] - y[:-season_length]
        if d[i]:
            y = np.diff(y, n=int(d[i]))
        out.append(y)
    lengths = np.array([len(y) for y in out], dtype=np.int64)
    return (np.concatenate(out) if out else np.zeros(0)), np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def loss(d: np.ndarray, D: np.ndarray, season_length: int) -> np.ndarray:
    """Values each series loses to its differencing: ``d + D * season_length``."""
    return np.asarray(d, dtype=np.int64) + np.asarray(D, dtype=np.int64) * int(season_length)


def level_polynomial(coef: np.ndarray, lags: np.ndarray, d: np.ndarray, D: np.ndarray,
                     season_length: int) -> tuple[np.ndarray, np.ndarray]:
    """AR coefficients on the levels of ``phi(B) (1 - B)^d (1 - B^m)^D y_t = c + e_t``.

    Args:
        coef: ``[n, k]`` coefficients ``phi_l`` of the differenced series at ``lags``.
        d, D: ``[n]`` orders of differencing of each series; ``season_length``: ``m``.

    Returns ``(level_coef [n, L], level_lags)`` with ``level_lags = 1..L``, ``L`` the largest
    lag any series needs, so that ``y_t = c + sum_l level_coef[i, l-1] y_{t-l} + e_t``.
    """
    coef = np.atleast_2d(np.asarray(coef, dtype=np.float64))
    lags = np.asarray(lags, dtype=np.int64)
    n = coef.shape[0]
    top = int(lags.max()) if len(lags) else 0
    width = 1 + top + int(np.max(loss(d, D, season_length), initial=0))
    poly = np.zeros((n, width))
    poly[:, 0] = 1.0
    poly[:, lags] -= coef
    for i in range(n):
        row = poly[i, :1 + top]
        for _ in range(int(d[i])):
            row = np.convolve(row, [1.0, -1.0])
        for _ in range(int(D[i])):
            seasonal = np.zeros(season_length + 1)
            seasonal[0], seasonal[-1] = 1.0, -1.0
            row = np.convolve(row, seasonal)
        poly[i, :len(row)] = row
    used = np.flatnonzero(np.any(poly[:, 1:] != 0, axis=0))
    size = int(used.max()) + 1 if len(used) else 0
    return -poly[:, 1:1 + size], np.arange(1, size + 1, dtype=np.int64)
