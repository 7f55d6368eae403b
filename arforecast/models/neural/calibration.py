"""Interval calibration of a NeuralAR: one spread factor for every step, chosen on validation windows.

The network learns one-step laws; a forecast feeds its own draws back for many steps, and
nothing in teacher forcing tells the head how those errors compound. :func:`calibrate_spread`
rolls out sample paths over the validation values for each factor of :data:`SPREAD_GRID` (the
same random numbers for every factor) and keeps the factor with the lowest CRPS or 95% interval
score. The two scores are computed here (the model layer does not import the evaluation layer).

Example:
    >>> import numpy as np
    >>> y = np.array([[0.0, 3.0]])
    >>> interval_score(y, np.array([[-1.0, -1.0]]), np.array([[1.0, 1.0]]), level=0.9).round(6).tolist()
    [[2.0, 42.0]]
    >>> crps(np.array([[0.0]]), np.array([[[-1.0], [1.0]]])).tolist()    # E|X-y| - E|X-X'|/2
    [[0.5]]
"""
from __future__ import annotations

from typing import Any

import numpy as np

from arforecast.forecasts import sample_quantiles

#: spread factors tried (narrower and wider than the network's own).
SPREAD_GRID = (0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.4, 1.6)


def crps(y: np.ndarray, paths: np.ndarray) -> np.ndarray:
    """CRPS ``[n, h]`` of the empirical law of ``paths [n, S, h]`` at ``y [n, h]`` (energy form,
    ``E|X - y| - E|X - X'| / 2``, the second term by the sorted-sample identity)."""
    x = np.sort(np.asarray(paths, dtype=np.float64), axis=1)
    S = x.shape[1]
    term1 = np.mean(np.abs(x - y[:, None, :]), axis=1)
    weights = (2 * np.arange(1, S + 1) - S - 1)[None, :, None]
    return term1 - np.sum(weights * x, axis=1) / (S * S)


def interval_score(y: np.ndarray, lower: np.ndarray, upper: np.ndarray, level: float) -> np.ndarray:
    """Interval score of a central interval of coverage ``level``: ``U - L`` plus ``2 / (1 - level)``
    times the distance by which ``y`` misses it."""
    alpha = 1.0 - level
    return (upper - lower) + (2.0 / alpha) * ((lower - y) * (y < lower) + (y - upper) * (y > upper))


def calibrate_spread(model: Any, batch: dict[str, np.ndarray], context: int, criterion: str,
                     num_samples: int = 32, grid: tuple[float, ...] = SPREAD_GRID
                     ) -> tuple[float, dict[float, float]]:
    """The factor of ``grid`` whose validation sample paths score best, and every factor's score.

    ``criterion``: ``"crps"`` or ``"interval"`` (95% interval read off the paths with type-6
    quantiles, as :class:`~arforecast.forecasts.Forecast` reads it). Scores are divided by each
    window's mean absolute context value. Leaves ``model.spread_`` at the best factor.
    """
    from arforecast.models.neural.fitting import window_forecast
    from arforecast.rollout.engine import rollout
    ctx, target, scale = window_forecast(model, batch, context)
    y, scale = target.numpy(), scale.double().numpy()
    scores: dict[float, float] = {}
    for factor in grid:
        model.spread_ = float(factor)
        paths = rollout(model, ctx, y.shape[1], num_samples=num_samples, decoding="sample", seed=0,
                        chunk_size=model.chunk_size).paths.double().numpy()
        if criterion == "crps":
            loss = crps(y, paths)
        else:
            lo, hi = sample_quantiles(paths, [0.025, 0.975])
            loss = interval_score(y, lo, hi, level=0.95)
        scores[float(factor)] = float(np.nanmean(loss / scale))
    best = min(scores, key=scores.get)
    model.spread_ = best
    return best, scores
