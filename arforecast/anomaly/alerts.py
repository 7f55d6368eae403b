"""From flags to alerts: one alert per burst of flags.

A flagged point says "this value is implausible"; an operator wants one alert per incident, not
one per point of it. :func:`suppress_repeats` turns flags into alerts by one of two rules:

* ``"cooldown"``: a flag raises an alert if no alert was raised in the ``cooldown`` previous
  steps (NAB's CAD-OSE detector rests for a fifth of the probationary length). While a series
  stays abnormal, it alerts again every ``cooldown`` steps.
* ``"incident"``: a flag raises an alert if no *flag* fell in the ``cooldown`` previous steps: an
  incident lasts while flags keep coming less than ``cooldown`` steps apart, and it raises one
  alert, at its first flag, however long it lasts. Its alerts are a subset of the cooldown's.

Example:
    >>> suppress_repeats([0, 1, 1, 0, 1, 0, 0, 1], cooldown=3).astype(int).tolist()
    [0, 1, 0, 0, 0, 0, 0, 1]
    >>> suppress_repeats([0, 1, 1, 0, 1, 0, 0, 1], cooldown=3, rule="incident").astype(int).tolist()
    [0, 1, 0, 0, 0, 0, 0, 0]
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

RULES = ("cooldown", "incident")


def suppress_repeats(flags: Any, cooldown: int, *, rule: str = "cooldown") -> np.ndarray:
    """The alerts among ``flags`` (one series, time order): with ``rule="cooldown"`` a flag
    within ``cooldown`` steps after an alert is dropped, with ``rule="incident"`` a flag within
    ``cooldown`` steps after any flag; ``cooldown=0`` keeps all flags."""
    if isinstance(cooldown, bool) or not isinstance(cooldown, (int, np.integer)) or cooldown < 0:
        raise ValueError(f"cooldown must be a non-negative integer, got {cooldown!r}")
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    flags = np.asarray(flags, dtype=bool)
    out = np.zeros_like(flags)
    at = np.flatnonzero(flags)
    if rule == "incident":
        gaps = np.diff(at, prepend=-int(cooldown) - 1)
        out[at[gaps > cooldown]] = True
        return out
    quiet_until = -1
    for i in at:
        if i > quiet_until:
            out[i] = True
            quiet_until = i + int(cooldown)
    return out


def alerts(result: pd.DataFrame, cooldown: int, *, rule: str = "cooldown", id_col: str = "unique_id") -> pd.Series:
    """:func:`suppress_repeats` applied to each series of a detection result (rows in time order
    within each series, as :func:`~arforecast.anomaly.detect_anomalies` returns them)."""
    flags = result["is_anomaly"].to_numpy(dtype=bool)
    out = np.zeros(len(result), dtype=bool)
    groups = result.groupby(id_col, sort=False).indices if id_col in result.columns else {None: np.arange(len(result))}
    for rows in groups.values():
        out[rows] = suppress_repeats(flags[rows], cooldown, rule=rule)
    return pd.Series(out, index=result.index, name="alert")
