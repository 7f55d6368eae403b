"""From flags to alerts: one alert per burst of flags.

A flagged point says "this value is implausible"; an operator wants one alert per incident, not
one per point of it. :func:`suppress_repeats` keeps a flag only if no alert was raised in the
``cooldown`` previous steps of its series (NAB's CAD-OSE detector uses such a rest period of a
fifth of the probationary length).

Example:
    >>> suppress_repeats([0, 1, 1, 0, 1, 0, 0, 1], cooldown=3).astype(int).tolist()
    [0, 1, 0, 0, 0, 0, 0, 1]
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def suppress_repeats(flags: Any, cooldown: int) -> np.ndarray:
    """``flags`` (one series, time order) with every flag within ``cooldown`` steps after an
    alert removed; ``cooldown=0`` keeps all flags."""
    if isinstance(cooldown, bool) or not isinstance(cooldown, (int, np.integer)) or cooldown < 0:
        raise ValueError(f"cooldown must be a non-negative integer, got {cooldown!r}")
    flags = np.asarray(flags, dtype=bool)
    out = np.zeros_like(flags)
    quiet_until = -1
    for i in np.flatnonzero(flags):
        if i > quiet_until:
            out[i] = True
            quiet_until = i + int(cooldown)
    return out


def alerts(result: pd.DataFrame, cooldown: int, *, id_col: str = "unique_id") -> pd.Series:
    """:func:`suppress_repeats` applied to each series of a detection result (rows in time order
    within each series, as :func:`~arforecast.anomaly.detect_anomalies` returns them)."""
    flags = result["is_anomaly"].to_numpy(dtype=bool)
    out = np.zeros(len(result), dtype=bool)
    groups = result.groupby(id_col, sort=False).indices if id_col in result.columns else {None: np.arange(len(result))}
    for rows in groups.values():
        out[rows] = suppress_repeats(flags[rows], cooldown)
    return pd.Series(out, index=result.index, name="alert")
