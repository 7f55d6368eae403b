"""NAB scoring: window-level precision/recall/F1 and the NAB score, as NAB's scorer defines it.

Written from the definitions of the Numenta Anomaly Benchmark (``numenta/NAB``: ``nab/sweeper.py``,
``nab/optimizer.py``, ``nab/runner.py``, ``config/profiles.json``; Lavin & Ahmad 2015, Ahmad et
al. 2017). A file is scored **row by row in file order** (timestamps are only used to find the
windows):

* The first ``min(floor(0.15 n), 750)`` rows are *probationary*: detections there do not count.
* A row inside a window at position ``i`` (window of width ``W`` rows ending at row ``r``) is worth
  ``tpWeight * sigma(-(r - i + 1) / W) / sigma(-1)`` where ``sigma(x) = 2 / (1 + exp(5 x)) - 1``
  (the *scaled sigmoid*; ``-1`` for ``x > 3``); only the best (earliest) detection of a window
  counts; a window with no detection costs ``fnWeight``.
* A detection outside every window costs ``fpWeight`` times the scaled sigmoid of its distance
  past the end of the previous window, relative to that window's width (``|r - i| / (W - 1)``),
  so detections just after a window cost little; with no window before it, the full ``fpWeight``.
* Profiles (``config/profiles.json``): standard ``tp=1, fn=1, fp=0.11``; reward_low_FP_rate
  ``fp=0.22``; reward_low_FN_rate ``fn=2``.
* A detector's anomaly scores become detections with one threshold (``score >= threshold``) for
  the whole corpus; NAB picks the threshold that maximises the corpus score (its optimizer), or
  the caller fixes it.
* The reported NAB score is normalised: ``100 * (raw - null) / (perfect - null)``, where
  ``perfect`` is the number of windows times ``tpWeight`` and ``null`` the (optimised) score of
  the null detector, whose anomaly score is a constant.

Example:
    >>> ts = pd.date_range("2024-01-01", periods=100, freq="5min")
    >>> windows = [(ts[30], ts[34]), (ts[65], ts[69])]
    >>> flags = np.zeros(100); flags[[30, 31, 37]] = 1
    >>> res = nab_score([(ts, flags, windows)], profile={"tpWeight": 1, "fnWeight": 1, "fpWeight": 1},
    ...                 threshold=0.5, probation_percent=0.0)
    >>> round(res.raw, 4), res.counts["tp"], res.counts["fp"]
    (-0.954, 2, 1)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

PROFILES: dict[str, dict[str, float]] = {
    "standard": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11, "tnWeight": 1.0},
    "reward_low_FP_rate": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.22, "tnWeight": 1.0},
    "reward_low_FN_rate": {"tpWeight": 1.0, "fnWeight": 2.0, "fpWeight": 0.11, "tnWeight": 1.0},
}
OUTSIDE, PROBATION = -1, -2


def scaled_sigmoid(x: Any) -> np.ndarray:
    """NAB's ``2 / (1 + exp(5 x)) - 1``, and ``-1`` beyond ``x > 3``.

    Example:
        >>> [round(float(v), 5) for v in scaled_sigmoid([-1.0, -0.5, 0.0, 1.0, 4.0])]
        [0.98661, 0.84828, 0.0, -0.98661, -1.0]
    """
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore"):
        out = 2.0 / (1.0 + np.exp(5.0 * x)) - 1.0
    return np.where(x > 3.0, -1.0, out)


def probation_length(n_rows: int, percent: float = 0.15) -> int:
    """Rows at the start of a file that NAB does not score: ``min(floor(p n), p * 5000)``."""
    return int(min(math.floor(percent * n_rows), percent * 5000))


def _profile(profile: str | Mapping[str, float]) -> dict[str, float]:
    if isinstance(profile, str):
        if profile not in PROFILES:
            raise ValueError(f"unknown NAB profile {profile!r}; choose from {sorted(PROFILES)} "
                             "or pass a dict with tpWeight, fnWeight, fpWeight")
        return PROFILES[profile]
    missing = {"tpWeight", "fnWeight", "fpWeight"} - set(profile)
    if missing:
        raise ValueError(f"the NAB profile misses {sorted(missing)}")
    return {k: float(v) for k, v in profile.items()}


@dataclass(frozen=True)
class NABRows:
    """One file prepared for scoring: per row, the anomaly score, its NAB weight if detected,
    and the window it lies in (``-1`` outside every window, ``-2`` probationary)."""

    name: str
    scores: np.ndarray
    weights: np.ndarray
    window: np.ndarray
    n_windows: int


def nab_rows(timestamps: Sequence, scores: Sequence[float], windows: Sequence[tuple], *,
             name: str = "", profile: str | Mapping[str, float] = "standard",
             probation_percent: float = 0.15) -> NABRows:
    """Walk a file's rows in order as NAB's sweeper does and weight each row.

    ``windows`` are ``(start, end)`` timestamps that must be timestamps of rows; a window is
    entered at the row whose timestamp equals its start and left at the row equal to its end.
    """
    cost = _profile(profile)
    times = list(pd.DatetimeIndex(pd.to_datetime(list(timestamps)))) if len(timestamps) else []
    scores = np.asarray(scores, dtype=np.float64)
    if len(times) != len(scores):
        raise ValueError(f"{name or 'file'}: {len(times)} timestamps but {len(scores)} scores")
    pending = [(pd.Timestamp(a), pd.Timestamp(b)) for a, b in windows]
    first_row = {}
    for i, t in enumerate(times):
        first_row.setdefault(t, i)
    for a, b in pending:
        if a not in first_row or b not in first_row:
            raise ValueError(f"{name or 'file'}: window ({a}, {b}) does not start and end on rows "
                             "of the file")
    max_tp = float(scaled_sigmoid(-1.0))
    probation = probation_length(len(times), probation_percent)
    weights = np.empty(len(times))
    window_of = np.full(len(times), OUTSIDE, dtype=np.int64)
    cur = None  # (id, right row, width, end timestamp)
    prev = None  # (right row, width)
    next_id = 0
    for i, t in enumerate(times):
        if cur is None and pending and t == pending[0][0]:
            a, b = pending.pop(0)
            right = first_row[b]
            cur = (next_id, right, float(right - first_row[a] + 1), b)
            next_id += 1
        if cur is not None:
            weights[i] = scaled_sigmoid(-(cur[1] - i + 1) / cur[2]) * cost["tpWeight"] / max_tp
            window_of[i] = cur[0]
        elif prev is None:
            weights[i] = -cost["fpWeight"]
        else:
            weights[i] = scaled_sigmoid(abs(prev[0] - i) / (prev[1] - 1.0)) * cost["fpWeight"]
        if i < probation:
            window_of[i] = PROBATION
        if cur is not None and t == cur[3]:
            prev = (i, cur[2])
            cur = None
    return NABRows(name, scores, weights, window_of, len(windows))


@dataclass(frozen=True)
class NABResult:
    """A corpus score: normalised ``score`` (0 = null detector, 100 = perfect), the ``raw`` sum,
    the ``null`` and ``perfect`` raw scores, the ``threshold`` used and NAB's row counts."""

    score: float
    raw: float
    null: float
    perfect: float
    threshold: float
    counts: dict = field(default_factory=dict)


def nab_raw_score(rows: Sequence[NABRows], threshold: float, fn_weight: float) -> tuple[float, dict]:
    """Raw NAB score of a corpus when every row with ``score >= threshold`` is a detection."""
    total, counts = 0.0, {"tp": 0, "tn": 0, "fp": 0, "fn": 0}
    for r in rows:
        scored = r.window != PROBATION
        active = scored & (r.scores >= threshold)
        inside = r.window >= 0
        total += float(r.weights[active & ~inside].sum())
        for w in range(r.n_windows):
            hit = active & (r.window == w)
            in_w = (r.window == w)
            total += max(-fn_weight, float(r.weights[hit].max())) if hit.any() else (-fn_weight if in_w.any() else 0.0)
        counts["tp"] += int((active & inside).sum())
        counts["fp"] += int((active & ~inside).sum())
        counts["fn"] += int((scored & ~active & inside).sum())
        counts["tn"] += int((scored & ~active & ~inside).sum())
    return total, counts


def nab_sweep(rows: Sequence[NABRows], fn_weight: float) -> pd.DataFrame:
    """Raw corpus score at every distinct threshold, as NAB's optimizer sweeps them.

    Row ``k`` gives the score when the rows whose anomaly score is ``>= threshold`` are
    detections; the first row (``threshold = inf``) has no detection.
    """
    scored = [(r, r.window != PROBATION) for r in rows]
    score = np.concatenate([r.scores[m] for r, m in scored]) if scored else np.zeros(0)
    weight = np.concatenate([r.weights[m] for r, m in scored]) if scored else np.zeros(0)
    offsets = np.cumsum([0] + [r.n_windows for r in rows])
    win = np.concatenate([np.where(r.window[m] >= 0, r.window[m] + offsets[k], -1)
                          for k, (r, m) in enumerate(scored)]) if scored else np.zeros(0, dtype=np.int64)
    # Windows with no scorable row (all in probation) still count as misses, as in NAB's
    # normaliser, but never as detections.
    order = np.argsort(-score, kind="stable")
    score, weight, win = score[order], weight[order], win[order]
    best = np.full(int(offsets[-1]), -fn_weight)
    windows_with_rows = np.zeros(int(offsets[-1]), dtype=bool)
    windows_with_rows[win[win >= 0]] = True
    part_windows = float(best[windows_with_rows].sum())
    part_fp = 0.0
    n_inside = int((win >= 0).sum())
    tp = fp = 0
    out = [(np.inf, part_windows + part_fp, 0, len(win) - n_inside, 0, n_inside)]
    i = 0
    while i < len(score):
        j = i
        while j < len(score) and score[j] == score[i]:
            w = win[j]
            if w < 0:
                part_fp += weight[j]
                fp += 1
            else:
                if weight[j] > best[w]:
                    part_windows += weight[j] - best[w]
                    best[w] = weight[j]
                tp += 1
            j += 1
        out.append((score[i], part_windows + part_fp, tp, len(win) - n_inside - fp, fp, n_inside - tp))
        i = j
    return pd.DataFrame(out, columns=["threshold", "score", "tp", "tn", "fp", "fn"])


def nab_score(files: Sequence[tuple], *, profile: str | Mapping[str, float] = "standard",
              threshold: float | None = None, probation_percent: float = 0.15) -> NABResult:
    """NAB score of a detector over a corpus.

    Args:
        files: one ``(timestamps, anomaly_scores, windows)`` per file (rows in file order).
            Binary flags are anomaly scores too (use ``threshold=0.5``).
        profile: a profile name of :data:`PROFILES` or a dict of weights.
        threshold: detections are ``score >= threshold``; ``None`` optimises it over the corpus as
            NAB's optimizer does (one threshold for all files).
        probation_percent: share of each file (at most ``5000 * p`` rows) that is not scored.
    """
    cost = _profile(profile)
    rows = [nab_rows(t, s, w, name=str(k), profile=cost, probation_percent=probation_percent)
            for k, (t, s, w) in enumerate(files)]
    fn_w = cost["fnWeight"]
    if threshold is None:
        sweep = nab_sweep(rows, fn_w)
        best = sweep.iloc[int(np.argmax(sweep["score"].to_numpy()))]
        threshold = float(best["threshold"])
    raw, counts = nab_raw_score(rows, threshold, fn_w)
    null_rows = [NABRows(r.name, np.full(len(r.scores), 0.5), r.weights, r.window, r.n_windows) for r in rows]
    null = float(nab_sweep(null_rows, fn_w)["score"].max())
    perfect = sum(r.n_windows for r in rows) * cost["tpWeight"]
    score = 100.0 * (raw - null) / (perfect - null) if perfect != null else float("nan")
    return NABResult(score, raw, null, perfect, threshold, counts)


def window_metrics(files: Sequence[tuple], *, probation_percent: float = 0.15) -> dict[str, float]:
    """Window-level precision, recall and F1 over a corpus of binary flags.

    A window is detected when any flag falls inside it; every flag outside every window is a
    false positive; flags in NAB's probationary rows are ignored. Counts are summed over files
    before the ratios are taken.

    Example:
        >>> ts = pd.date_range("2024-01-01", periods=20, freq="h")
        >>> flags = np.zeros(20, dtype=bool); flags[[5, 6, 15]] = True
        >>> window_metrics([(ts, flags, [(ts[4], ts[7]), (ts[10], ts[12])])], probation_percent=0)
        {'precision': 0.5, 'recall': 0.5, 'f1': 0.5, 'detected': 1, 'windows': 2, 'false_positives': 1}
    """
    detected = n_windows = fps = 0
    for timestamps, flags, windows in files:
        rows = nab_rows(timestamps, np.asarray(flags, dtype=np.float64), windows,
                        probation_percent=probation_percent)
        on = rows.scores > 0.5
        hit = np.unique(rows.window[on & (rows.window >= 0)])
        detected += len(hit)
        n_windows += rows.n_windows
        fps += int((on & (rows.window == OUTSIDE)).sum())
    precision = detected / (detected + fps) if detected + fps else 0.0
    recall = detected / n_windows if n_windows else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "detected": detected,
            "windows": n_windows, "false_positives": fps}
