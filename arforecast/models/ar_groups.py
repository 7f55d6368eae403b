"""Order selection and estimation when series differ in their largest order or seasonal lags.

The batched kernels (:mod:`arforecast.models.ar_kernels`) compare orders ``0..max_p`` on one
common sample per call and take one list of seasonal lags. A panel whose series may afford
different largest orders (capped by their lengths) or different seasonal lags is split into groups
sharing both; each group is one batched call, and the results are scattered into one coefficient
matrix over the union of the lags. A panel of one group is exactly one call, as before.

Example:
    >>> import numpy as np
    >>> y = np.random.default_rng(0).normal(size=300)
    >>> est = estimate(y, np.array([0, 200, 300]), "c", "aic", np.array([4, 2]), [(), ()])
    >>> est.criteria.shape, bool(np.isnan(est.criteria[1, 3:]).all())     # the second series: orders 0..2
    ((2, 5), True)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arforecast.models import ar_kernels as K


@dataclass(frozen=True)
class Estimate:
    """Per-series fit over the union of lag columns ``lags`` (zero where a series lacks a lag)."""

    lags: np.ndarray          # sorted union of every series' lags
    coef: np.ndarray          # [n, len(lags)]
    intercept: np.ndarray
    trend_coef: np.ndarray
    sigma2: np.ndarray
    ssr: np.ndarray
    nobs: np.ndarray
    hold_back: np.ndarray
    orders: np.ndarray
    n_regressors: np.ndarray  # lag columns each series uses (seasonal included)
    criteria: np.ndarray | None   # [n, max cap + 1], NaN past a series' cap (selection only)
    deficient: np.ndarray


def subset(values: np.ndarray, indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The series ``rows`` of a packed panel, packed."""
    lengths = np.diff(indptr)[rows]
    sub_indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    take = np.arange(sub_indptr[-1]) + np.repeat(indptr[rows] - sub_indptr[:-1], lengths)
    return values[take], sub_indptr


def estimate(values: np.ndarray, indptr: np.ndarray, trend: str, criterion: str | None,
             caps: np.ndarray, seasonal: list[tuple[int, ...]]) -> Estimate:
    """Choose each series' order in ``0..caps[i]`` by ``criterion`` (or take ``caps`` as the orders when
    ``criterion`` is None), always with its seasonal lags ``seasonal[i]``, and fit it.

    A cap below 0 means order 0 without comparison.
    """
    n = len(indptr) - 1
    caps = np.asarray(caps, dtype=np.int64)
    seasonal = [tuple(sorted(set(int(s) for s in lags))) for lags in seasonal]
    # one batched call per group of series sharing a cap and seasonal lags: every lag column a
    # group's calls form then lies inside each of its series (no all-zero, collinear columns)
    groups = [(lags, np.flatnonzero((caps == cap) & np.array([s == lags for s in seasonal])))
              for cap, lags in sorted({(int(c), s) for c, s in zip(caps, seasonal)})]
    orders = np.maximum(caps, 0)
    criteria = None
    if criterion is not None:
        criteria = np.full((n, int(max(caps.max(initial=0), 0)) + 1), np.nan)
        for lags, rows in groups:
            cap = int(caps[rows[0]])
            if cap < 1:
                orders[rows] = 0
                continue
            sub = (values, indptr) if len(rows) == n else subset(values, indptr, rows)
            chosen, table, _ = K.select_orders(*sub, trend, cap, criterion, lags)
            orders[rows] = chosen
            criteria[rows, :cap + 1] = table
    union = sorted(set().union(*map(set, seasonal)) | set(range(1, int(orders.max(initial=0)) + 1)))
    lags_all = np.array(union, dtype=np.int64)
    coef = np.zeros((n, len(lags_all)))
    out = {k: np.zeros(n) for k in ("intercept", "trend_coef", "sigma2", "ssr")}
    nobs, hold_back = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    n_regressors, deficient = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    for lags, rows in groups:
        columns = K.lag_columns(int(orders[rows].max()), lags)
        hold = np.maximum(orders[rows], max(lags, default=0))
        sub = (values, indptr) if len(rows) == n else subset(values, indptr, rows)
        used = K.prefix_length(orders[rows], lags)
        fit = K.fit_ar(*sub, trend, columns, hold, n_lags=used)
        coef[np.ix_(rows, np.searchsorted(lags_all, columns))] = fit.coef
        for key in out:
            out[key][rows] = getattr(fit, key)
        nobs[rows], hold_back[rows], n_regressors[rows], deficient[rows] = fit.nobs, hold, used, fit.deficient
    return Estimate(lags_all, coef, out["intercept"], out["trend_coef"], out["sigma2"], out["ssr"], nobs,
                    hold_back, orders, n_regressors, criteria, deficient)
