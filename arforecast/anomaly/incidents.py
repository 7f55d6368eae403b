"""Incident scores: how far the recent behaviour of a series exceeds everything seen before.

Point verdicts (:func:`~arforecast.anomaly.detect_anomalies`) answer "is this value outside the
interval forecast for it?"; a user watching a stream mostly asks "has something happened that
never happened before?". The incident score answers that, causally (each value is judged on the
values before it only), in four steps:

1. **Seasonal baseline residual.** Each value minus the median of the values at the same phase
   one, two and three seasons earlier, for every seasonal period of the series' frequency that
   its training part covers twice (a day and a week at 30 minutes; only a day at 5 minutes with
   a short history). Without a usable season the residual is the change from the value before.
2. **Robust standardisation.** The residual minus its rolling median, over its rolling median
   absolute deviation (both over the last ``long`` residuals, before the value), with a floor of
   1% of the training part's standard deviation so that a noise-free series does not turn every
   rounding difference into an infinite surprise.
3. **Several time scales.** The mean absolute standardised residual over the last ``k`` values,
   for each ``k`` of ``windows`` (a spike, a short burst, a sustained shift).
4. **Record ratio.** Each of those divided by the largest value it has taken before (training
   part included); the incident score is the largest ratio. A ratio above 1 is a new record; the
   score is scale-free, so one threshold serves every series.
5. **One alert per incident.** A score is kept only where it tops every score of the last
   ``max(windows)`` steps (0 elsewhere), so a record that keeps growing through a burst alerts
   once.

The default alert is ``incident_score > INCIDENT_THRESHOLD``: any new record. The time scales
(``INCIDENT_WINDOWS``) and this threshold were chosen on the NAB development subset
(``benchmarks/nab_incidents.py``); nothing else is tuned.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = np.sin(2 * np.pi * np.arange(24 * 40) / 24) + 0.1 * rng.normal(size=24 * 40)
    >>> y[800] += 3.0
    >>> s = incident_scores(y, start=24 * 10, season_lengths=(24,))
    >>> int(np.argmax(s)), bool(s[800] > INCIDENT_THRESHOLD)
    (800, True)
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from arforecast.exceptions import DataError

#: time scales (in steps) of the incident score: a spike, a short burst, a sustained change
INCIDENT_WINDOWS = (1, 6, 24)
#: seasons back whose same-phase median is the baseline
BASELINE_SEASONS = 3
#: residuals in the rolling median / MAD
LONG_WINDOW = 2000
#: the default alert: ``incident_score > INCIDENT_THRESHOLD``, any new record
INCIDENT_THRESHOLD = 1.0
#: the scale floor, as a share of the training part's standard deviation
SCALE_FLOOR = 0.01


def baseline_residuals(values: np.ndarray, periods: Sequence[int], n_seasons: int = BASELINE_SEASONS) -> np.ndarray:
    """Each value minus the median of its same-phase values ``1..n_seasons`` seasons back, over
    all ``periods`` (NaN where none is known); with no period, minus the previous value."""
    y = np.asarray(values, dtype=np.float64)
    n = len(y)
    periods = [int(p) for p in periods if 1 < int(p) < n] or [1]
    lagged = []
    for p in periods:
        for j in range(1, (n_seasons if periods != [1] else 1) + 1):
            if j * p < n:
                lagged.append(np.r_[np.full(j * p, np.nan), y[:n - j * p]])
    if not lagged:
        return np.full(n, np.nan)
    stack = np.vstack(lagged)
    with np.errstate(all="ignore"):
        known = ~np.isnan(stack).all(axis=0)
        base = np.full(n, np.nan)
        base[known] = np.nanmedian(stack[:, known], axis=0)
    return y - base


def robust_standardize(resid: np.ndarray, long: int = LONG_WINDOW, floor: float = 0.0) -> np.ndarray:
    """``(r_t - m_t) / max(1.4826 d_t, floor)``: ``m_t`` the median of the ``long`` residuals
    before ``t``, ``d_t`` the median of their deviations ``|r_s - m_s|`` (each from the median
    before it, a one-pass streaming MAD); NaN until 20 are known."""
    r = pd.Series(np.asarray(resid, dtype=np.float64))
    med = r.rolling(long, min_periods=20).median().shift(1)
    mad = (r - med).abs().rolling(long, min_periods=20).median().shift(1) * 1.4826
    return ((r - med) / np.maximum(mad, floor)).to_numpy()


def record_ratio(a: np.ndarray, start: int) -> np.ndarray:
    """``a[t] / max(a[:t])`` from ``start`` on (0 before, and where nothing is known yet)."""
    s = pd.Series(np.abs(np.asarray(a, dtype=np.float64)))
    past = s.shift(1).expanding().max().to_numpy()
    with np.errstate(all="ignore"):
        out = np.where(past > 0, s.to_numpy() / past, 0.0)
    out = np.nan_to_num(out, nan=0.0, posinf=0.0)
    out[:start] = 0.0
    return out


def incident_scores(values: Sequence[float], start: int, season_lengths: Sequence[int] = (), *,
                    windows: Sequence[int] = INCIDENT_WINDOWS, long: int = LONG_WINDOW) -> np.ndarray:
    """The incident score of every value of one series (0 on the training part ``[:start]``).

    Args:
        values: one series on a regular grid (NaN for missing values: they score 0).
        start: length of the training part (values before it only serve as history); the first
            fifth of the scored part after it also scores 0 while the records settle.
        season_lengths: candidate seasonal periods (e.g.
            :func:`arforecast.data.frequency.season_lengths` of the frequency); those the
            training part covers twice are used.
        windows: time scales of the score, in steps.
        long: residuals in the rolling median / MAD.
    """
    y = np.asarray(values, dtype=np.float64)
    if not 2 <= start < len(y):
        raise DataError(f"incident_scores needs 2 <= start < len(values), got start={start} for {len(y)} values")
    periods = [int(p) for p in season_lengths if 1 < int(p) and 2 * int(p) <= start]
    train = y[:start]
    floor = SCALE_FLOOR * float(np.nanstd(train)) if np.isfinite(train).sum() > 1 else 0.0
    z = robust_standardize(baseline_residuals(y, periods), long, floor + 1e-12)
    warm = start + max(1, start // 5)
    absz = pd.Series(np.abs(z))
    scores = np.zeros(len(y))
    for k in windows:
        scores = np.maximum(scores, record_ratio(absz.rolling(int(k), min_periods=1).mean().to_numpy(), warm))
    scores[np.isnan(y)] = 0.0
    # one alert per incident: a score counts only when it tops the scores of the last max(windows)
    # steps, so a record that keeps growing through a burst is not alerted at every step
    prev = pd.Series(scores).shift(1).rolling(max(windows), min_periods=1).max().fillna(0.0).to_numpy()
    return np.where(scores > prev, scores, 0.0)
