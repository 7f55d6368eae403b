"""Holdout calibration of the automatic ``AR()``'s intervals: rolling origins inside the training part.

The combination's analytic intervals (:mod:`arforecast.models.ar_combination`) count the
innovations, the estimated coefficients, the constant and the members' disagreement, but not
what changes out of sample (a season that moves, a break, the choices themselves). On the
training parts of M3 they covered 86% (yearly) to 94% (monthly) of the next values at 95%, and
the in-sample multi-step errors of the fitted model (no refit) are 10-30% *smaller* than the
analytic intervals, so they cannot tell (docs/ar.md).

So the model forecasts its own training data out of sample: for ``WINDOWS`` cuts ``c = H, 2H``,
the automatic model (same options, no calibration) is refitted on every series less its last
``c`` values and forecasts the next ``H``; each value's tail probability under that fit's
predictive distribution is mapped to a Normal score (``|g| = Phi^-1(F(y))`` for ``F(y) >= 1/2``,
whatever the Student-t degrees of freedom). Per series, the root mean square of its scores is the
factor by which its intervals were too narrow (1 for a calibrated model); the final model's
interval scale is multiplied by ``max(1, factor)`` (the analytic intervals are a floor: letting
noisy factors below 1 narrow them lost coverage and MSIS everywhere on validation). One factor
per series for all horizons; a series too short to join a window keeps the analytic intervals.
Each series' intervals depend on its own values only (a panel split into parts gives the same
forecasts). ``H`` comes from the frequency and the lengths (:func:`calibration_horizon`).

``calibrate="pooled"`` uses one factor for the whole panel instead: the pooled 95% quantile of
every series' scores over 1.96 (at least 1; none below ``MIN_POOLED`` scores). Less noisy (the
floor at 1 biases noisy per-series factors upward: well-specified simulated panels get 1-15% wider
intervals per series, about none pooled), but a series' intervals then depend on the other series
of the panel (a panel fitted in parts, e.g. Dask partitions, gets other intervals). Shrinking each
series' mean square toward 1 by ``n0`` pseudo-scores traded coverage for MSIS on validation with
no clear optimum (docs/ar.md), so it is not done.

Example:
    >>> import numpy as np
    >>> calibration_horizon(12, np.array([60, 120])), calibration_horizon(1, np.array([20, 30]))
    (22, 6)
    >>> normal_scores(np.array([0.975, 0.025, 0.5])).round(2).tolist()    # a PIT value's |Normal score|
    [1.96, 1.96, 0.0]
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import stats

from arforecast.data.panel import Panel

#: rolling origins cut from the end of the training part
WINDOWS = 2
#: ``calibrate="pooled"``: the interval level whose quantile is matched, and the scores it needs
POOLED_LEVEL = 0.95
MIN_POOLED = 100


def calibration_horizon(season_length: int, lengths: np.ndarray) -> int:
    """``H``: two seasons for seasonal data, else a quarter of the median length; at most a quarter
    of the median length (a cut leaves each window most of its history), at least 1."""
    quarter = int(np.median(lengths)) // 4 if len(lengths) else 1
    H = 2 * int(season_length) if season_length > 1 else quarter
    return max(1, min(H, quarter))


def normal_scores(u: np.ndarray) -> np.ndarray:
    """``|g|``: the Normal quantile with the same two-sided tail probability as each PIT value ``u``."""
    u = np.asarray(u, dtype=np.float64)
    return stats.norm.ppf(np.clip(1.0 - np.minimum(u, 1.0 - u), 0.5, 1.0 - 1e-16))


def holdout_scores(forecast: Callable[[Panel, int, np.ndarray], np.ndarray], panel: Panel, H: int,
                   min_train: int) -> list[np.ndarray]:
    """Per series, the Normal scores of its values in ``WINDOWS`` cuts of ``panel`` (empty for a
    series too short to join any).

    ``forecast(history, H, actual)`` fits the model (no calibration) to ``history`` and returns the
    PIT values ``F(actual)`` ``[n, H]`` of its ``H``-step predictive distributions (NaN where
    ``actual`` is). A series joins a window where its cut history keeps ``min_train`` values.
    """
    scores: list[list[np.ndarray]] = [[] for _ in range(panel.n_series)]
    for w in range(1, WINDOWS + 1):
        cut = w * H
        rows = np.flatnonzero(panel.lengths - cut >= max(min_train, 1))
        if not len(rows):
            continue
        sub = panel.subset(rows)
        keep = sub.lengths - cut
        actual = np.full((len(rows), H), np.nan)
        for i in range(len(rows)):
            actual[i] = sub.series(i)[keep[i]:keep[i] + H]
        u = forecast(sub.head(keep), H, actual)
        for j, r in enumerate(rows):
            ok = np.isfinite(u[j])
            scores[r].append(normal_scores(u[j][ok]))
    return [np.concatenate(x) if x else np.zeros(0) for x in scores]


def series_factors(scores: list[np.ndarray]) -> np.ndarray:
    """``max(1, RMS)`` of each series' scores (1 without any).

    Example:
        >>> series_factors([np.array([2.0, 2.0]), np.array([0.5]), np.zeros(0)]).tolist()
        [2.0, 1.0, 1.0]
    """
    return np.array([max(1.0, float(np.sqrt(np.mean(g ** 2)))) if len(g) else 1.0 for g in scores])


def pooled_factor(scores: list[np.ndarray]) -> float:
    """``max(1, q / Phi^-1((1 + POOLED_LEVEL) / 2))`` with ``q`` the ``POOLED_LEVEL`` quantile of all
    scores (1 with fewer than ``MIN_POOLED``)."""
    pooled = np.concatenate(scores) if scores else np.zeros(0)
    if len(pooled) < MIN_POOLED:
        return 1.0
    return max(1.0, float(np.quantile(pooled, POOLED_LEVEL) / stats.norm.ppf((1.0 + POOLED_LEVEL) / 2.0)))
