"""Interval levels and quantile probabilities as the caller may write them, checked once.

One rule for levels everywhere (``Forecast``, ``backtest``, ``detect_anomalies``, the CLI):
a level strictly between 0 and 1 is a fraction (``0.95``), a level strictly between 1 and 100
is a percentage (``95`` means ``0.95``). Anything else (0, 1, 100, negatives, NaN) is refused
with a message that names the value passed. Quantile probabilities are always fractions in
(0, 1).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np


def _number(value: Any, what: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{what} must be a number, got {value!r}")
    return float(value)


def as_level(level: Any) -> float:
    """One level as a fraction in (0, 1): ``0.95`` and ``95`` both give ``0.95``.

    Example:
        >>> as_level(0.8), as_level(80), as_level(99.5)
        (0.8, 0.8, 0.995)
    """
    value = _number(level, "an interval level")
    if 0 < value < 1:
        return value
    if 1 < value < 100:
        return round(value / 100, 12)
    raise ValueError(f"interval level {level!r} is neither a fraction in (0, 1) (e.g. 0.95) nor a "
                     f"percentage in (1, 100) (e.g. 95)")


def as_levels(levels: Any) -> list[float]:
    """Several levels (a number or a sequence) as sorted, distinct fractions (see :func:`as_level`).

    Example:
        >>> as_levels([95, 0.8])
        [0.8, 0.95]
    """
    if isinstance(levels, (str, bytes)):
        raise ValueError(f"levels must be numbers, got {levels!r}")
    items = [levels] if np.ndim(levels) == 0 else list(levels)
    return sorted({as_level(lv) for lv in items})


def as_quantiles(qs: Any) -> list[float]:
    """Quantile probabilities (a number or a sequence) as a list of fractions in (0, 1), in order given.

    Example:
        >>> as_quantiles(0.1), as_quantiles([0.9, 0.1])
        ([0.1], [0.9, 0.1])
    """
    if isinstance(qs, (str, bytes)):
        raise ValueError(f"quantiles must be numbers in (0, 1), got {qs!r}")
    items = [qs] if np.ndim(qs) == 0 else list(qs)
    out = []
    for q in items:
        value = _number(q, "a quantile")
        if not 0 < value < 1 or math.isnan(value):
            raise ValueError(f"quantile {q!r} must lie strictly between 0 and 1 (e.g. 0.1 or 0.9)")
        out.append(value)
    return out


def interval_quantiles(level: float) -> tuple[float, float]:
    """The lower and upper quantile of the central ``level`` interval (a fraction), rounded.

    Example:
        >>> interval_quantiles(0.9)
        (0.05, 0.95)
    """
    return round((1 - level) / 2, 10), round((1 + level) / 2, 10)


def level_tag(level: float) -> str:
    """The percentage written in column names: ``0.95`` -> ``"95"``, ``0.995`` -> ``"99.5"``.

    Example:
        >>> level_tag(0.95), level_tag(0.995)
        ('95', '99.5')
    """
    return f"{round(100 * level, 8):g}"
