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
3. **Several time scales, from the data.** The mean absolute standardised residual over the last
   ``k`` values, for ``k`` in :func:`incident_windows`: four scales evenly spaced on a log scale
   from one step to one season (``1, s^(1/3), s^(2/3), s`` for a season of ``s`` steps: 1, 7, 44
   and 288 steps at 5 minutes, 1, 3, 8 and 24 at one hour), i.e. a spike, a short burst, a
   sustained change and a changed day. Without a season the longest scale is a tenth of the
   training part.
4. **Record ratio.** Each of those divided by the largest value it has taken before (training
   part included); the incident score is the largest ratio. A ratio above 1 is a new record; the
   score is scale-free, so one threshold serves every series.
5. **Settle-in and one alert per incident.** Records need a history: the ``settle`` values after
   the training part (by default as many as the training part holds) score 0. An incident alerts
   once, at its first record: a score is kept only where it tops every score of the last
   ``max(windows)`` steps (one season) and none of them was a record, or it is more than
   ``ESCALATION`` times the largest of them (0 elsewhere). A burst that keeps setting records
   alerts once; one that escalates (a small record, then a far larger one) alerts again.

The default alert is ``incident_score > INCIDENT_THRESHOLD``: any new record. The variants tried
(time scales, settle-in, record memory, likelihoods, the AR forecast's errors) and how much of the
choice is fitted to the NAB development subset are in docs/anomaly.md
(``benchmarks/nab_incidents.py``).

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

#: time scales of the incident score: this many, log-spaced from one step to one season
N_INCIDENT_WINDOWS = 4
#: without a season, the longest time scale is this share of the training part
NO_SEASON_SCALE = 0.1
#: seasons back whose same-phase median is the baseline
BASELINE_SEASONS = 3
#: residuals in the rolling median / MAD
LONG_WINDOW = 2000
#: the default alert: ``incident_score > INCIDENT_THRESHOLD``, any new record
INCIDENT_THRESHOLD = 1.0
#: the scale floor, as a share of the training part's standard deviation
SCALE_FLOOR = 0.01
#: within an incident, a record this many times the incident's largest so far alerts again
ESCALATION = 2.0
#: values after the training part that score 0 while records settle, as a share of the training part
SETTLE_SHARE = 1.0


def incident_windows(season_length: int, start: int, n: int = N_INCIDENT_WINDOWS) -> tuple[int, ...]:
    """The time scales (in steps) of the incident score: ``n`` scales log-spaced from 1 to the
    season length ``s`` (``round(s ** (j / (n - 1)))``), or, without a season (``s <= 1``), to
    ``NO_SEASON_SCALE`` of the training length ``start``.

    Example:
        >>> incident_windows(288, 604), incident_windows(24, 500), incident_windows(1, 500)
        ((1, 7, 44, 288), (1, 3, 8, 24), (1, 4, 14, 50))
    """
    top = int(season_length) if int(season_length) > 1 else max(1, int(NO_SEASON_SCALE * start))
    if n < 2 or top <= 1:
        return (1,)
    return tuple(sorted({max(1, int(round(top ** (j / (n - 1))))) for j in range(n)}))


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
                    windows: Sequence[int] | None = None, long: int = LONG_WINDOW,
                    settle: int | None = None) -> np.ndarray:
    """The incident score of every value of one series (0 on the training part ``[:start]``).

    Args:
        values: one series on a regular grid (NaN for missing values: they score 0).
        start: length of the training part (values before it only serve as history).
        season_lengths: candidate seasonal periods (e.g.
            :func:`arforecast.data.frequency.season_lengths` of the frequency); those the
            training part covers twice are used.
        windows: time scales of the score, in steps; ``None``: :func:`incident_windows` of the
            shortest usable season.
        long: residuals in the rolling median / MAD.
        settle: values after the training part that score 0 while the records settle; ``None``:
            ``SETTLE_SHARE`` times ``start``.
    """
    y = np.asarray(values, dtype=np.float64)
    if not 2 <= start < len(y):
        raise DataError(f"incident_scores needs 2 <= start < len(values), got start={start} for {len(y)} values")
    periods = [int(p) for p in season_lengths if 1 < int(p) and 2 * int(p) <= start]
    train = y[:start]
    floor = SCALE_FLOOR * float(np.nanstd(train)) if np.isfinite(train).sum() > 1 else 0.0
    if windows is None:
        windows = incident_windows(min(periods) if periods else 1, start)
    z = robust_standardize(baseline_residuals(y, periods), long, floor + 1e-12)
    warm = start + max(1, int(SETTLE_SHARE * start) if settle is None else int(settle))
    absz = pd.Series(np.abs(z))
    scores = np.zeros(len(y))
    for k in windows:
        scores = np.maximum(scores, record_ratio(absz.rolling(int(k), min_periods=1).mean().to_numpy(), warm))
    scores[np.isnan(y)] = 0.0
    return first_records(scores, max(windows))


def first_records(scores: np.ndarray, span: int, threshold: float = INCIDENT_THRESHOLD) -> np.ndarray:
    """One alert per incident: ``scores[t]`` where it tops every score of the ``span`` steps
    before it and none of them exceeds ``threshold`` (a record there began the same incident)
    or it exceeds ``ESCALATION`` times the largest of them; 0 elsewhere.

    Example:
        >>> first_records(np.array([0.5, 1.2, 1.5, 0.9, 0.2, 0.3, 1.1, 3.0]), span=3).tolist()
        [0.5, 1.2, 0.0, 0.0, 0.0, 0.0, 1.1, 3.0]
    """
    prev = pd.Series(scores).shift(1).rolling(int(span), min_periods=1).max().fillna(0.0).to_numpy()
    return np.where((scores > prev) & ((prev <= threshold) | (scores > ESCALATION * prev)), scores, 0.0)
