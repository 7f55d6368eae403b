"""detect_anomalies: flag every observation that is implausible under the forecast made before it.

The batch form of :class:`~arforecast.anomaly.streaming.AnomalyDetector`: each series' first
``start`` observations train the model (they are not scored); every later observation is scored
against the forecast made ``h`` steps before it, from data strictly before it.
"""
from __future__ import annotations

import warnings
from typing import Any, Mapping

import numpy as np
import pandas as pd

from arforecast.anomaly.incidents import INCIDENT_THRESHOLD, incident_scores
from arforecast.anomaly.streaming import COLUMNS, AnomalyDetector, default_model, panel_with_missing
from arforecast.data.panel import Panel
from arforecast.exceptions import DataError
from arforecast.levels import as_level
from arforecast.multi import interval_columns, name_models, several

#: share of each series used for training by default (NAB's probationary share)
DEFAULT_TRAINING_SHARE = 0.15
#: the default training length is at least this many times what the model needs to be fitted
TRAINING_PER_NEED = 4


def detect_anomalies(y: Any, model: Any = None, level: float = 0.99, h: int = 1,
                     num_samples: int = 200, refit: bool | int = False, *,
                     start: int | float | None = None, robust: bool | int = True, calibrate: bool | str = True,
                     replace_with: str = "bound", bounds: tuple[float | None, float | None] | None = None,
                     incidents: bool = True, seed: int = 0,
                     progress: bool = False, freq: Any = None, X: Any = None, static: Any = None,
                     past_only: Any = (), **columns: str) -> pd.DataFrame:
    """Rolling ``h``-step-ahead forecasts over ``y`` and a verdict for every observation.

    The default setting (``detect_anomalies(y)``) is the documented detector of docs/anomaly.md:
    point verdicts from an ``AR()`` whose order and seasonal lags come from the data (interval
    level 0.99, calibrated on its own out-of-sample errors), and incident alerts from a seasonal
    baseline (:mod:`arforecast.anomaly.incidents`). The older order ``detect_anomalies(model, y)``
    is still accepted.

    Args:
        y: a Series, wide or long frame (see :func:`arforecast.to_panel`); NaNs inside a series
            (e.g. gaps marked by :func:`~arforecast.data.regularize.regularize`) are allowed: they
            are not scored and the forecast mean is fed forward in their place.
        model: an unfitted forecaster (cloned and fitted on each series' first ``start`` values);
            ``None``: ``AR()``, whose order and seasonal lags come from the data. A list of
            forecasters or a dict ``name -> forecaster`` runs each with the same arguments and
            returns one frame with, per model, its columns ``<model>`` (the forecast mean),
            ``<model>-lo-<level>``, ``<model>-hi-<level>`` (level in percent),
            ``<model>-score`` and ``<model>-is_anomaly``.
        level: coverage of the interval outside which a point is flagged (``0.99`` or ``99``).
        h: score each point against the forecast made ``h`` steps earlier (the horizon).
        num_samples: sample paths per point when ``h > 1`` (or the model only samples).
        refit: ``False``, or refit the model on everything seen every ``refit`` steps.
        start: observations of each series used to fit before scoring begins: an int, a
            fraction of each series' length, or ``None`` (default): the larger of 15% of the
            series (NAB's probationary share) and ``TRAINING_PER_NEED`` times what the model
            needs to be fitted at all (its ``min_length``), but no more than half the series.
            A model fitted on too few values has an in-sample spread that understates its
            forecast errors, so it flags too many points (``AR`` warns when it has fewer than two
            equations per coefficient).
        robust: feed a replacement instead of flagged points (see :class:`AnomalyDetector`).
        calibrate: judge points by the law of the model's past normal scores rather than by the
            model's own tails: ``True`` / ``"conformal"`` (their ranks, with a Student-t tail) or
            ``"student_t"`` (a fitted Student-t); see :class:`AnomalyDetector`.
        replace_with: the replacement, ``"bound"`` (the observation clipped to the interval) or
            ``"mean"`` (the forecast mean); see :class:`AnomalyDetector`.
        bounds: the known range of the series, ``(low, high)`` (either may be ``None``), e.g.
            ``(0, None)`` for counts: ``mean``, ``lower`` and ``upper`` are clipped to it, so an
            interval never reaches values the series cannot take (the verdicts do not change:
            observations inside the range are never beyond a clipped bound). Observations
            outside the stated range raise a :class:`~arforecast.exceptions.DataError`.
        incidents: add the columns ``incident_score`` (how far the recent behaviour exceeds
            everything seen before, scale-free: above 1 is a new record) and ``alert``
            (``incident_score > INCIDENT_THRESHOLD = 1``: a new record, one alert per new incident rather than
            one flag per point); see :mod:`arforecast.anomaly.incidents`.
        seed: seed of the sample paths.
        progress: show a progress bar.
        X, static, past_only: covariates on every timestamp of ``y`` (in ``y``'s layout), per-series
            ones and the names of the past-only ones (docs/covariates.md), for models that use
            them (ARX, NeuralAR). Each point is forecast with the future-known covariates of its
            own time and the past-only ones up to the time before it (past-only covariates need
            ``h=1``).

    Returns:
        A long frame, one row per observation: ``unique_id, ds, y, mean, lower, upper, score,
        is_anomaly`` (and ``incident_score, alert`` with ``incidents=True``). Rows of the
        training head have NaN forecasts, ``is_anomaly=False`` and ``alert=False``. ``score`` is
        ``-log10`` of the two-sided tail probability (2 = a 1-in-100 surprise).

    Warns:
        RuntimeWarning: when a series' training part holds fewer than ``2 * min_length`` values
        of the model: its in-sample spread then understates its errors and it flags too much.

    Example:
        >>> import numpy as np, pandas as pd
        >>> from arforecast.anomaly.baselines import RollingZScore
        >>> y = pd.Series(np.sin(np.arange(200) / 5), index=pd.date_range("2024", periods=200, freq="h"))
        >>> y.iloc[150] += 6
        >>> out = detect_anomalies(y, RollingZScore(window=24), level=0.999, start=48)
        >>> out.columns.tolist()
        ['unique_id', 'ds', 'y', 'mean', 'lower', 'upper', 'score', 'is_anomaly', 'incident_score', 'alert']
        >>> out.loc[out["is_anomaly"], "ds"].tolist()
        [Timestamp('2024-01-07 06:00:00')]
    """
    if _is_model(y) and not _is_model(model):   # the older order: detect_anomalies(model, y)
        y, model = model, y
    if y is None or _is_model(y):
        raise DataError("detect_anomalies needs the series to score: detect_anomalies(y, model=None, ...)")
    from arforecast.distributed import is_dask_frame
    if is_dask_frame(y):               # a Dask DataFrame: the same frame, per partition of whole series
        from arforecast.distributed import per_partition
        args = dict(level=level, h=h, num_samples=num_samples, refit=refit, start=start, robust=robust,
                    calibrate=calibrate, replace_with=replace_with, bounds=bounds, incidents=incidents, seed=seed,
                    progress=False, freq=freq, **columns)
        return per_partition(lambda part, **cov: detect_anomalies(part, model, **args, **cov), model, y,
                             columns.get("id_col", "unique_id"), columns.get("time_col", "ds"), "detect_anomalies",
                             cov={"X": X, "static": static, "past_only": past_only},
                             target_col=columns.get("target_col", "y"))
    if several(model):
        return _detect_with_models(model, y, level=level, h=h, num_samples=num_samples, refit=refit, start=start,
                                   robust=robust, calibrate=calibrate, replace_with=replace_with, bounds=bounds,
                                   incidents=incidents, seed=seed, progress=progress, freq=freq, X=X, static=static,
                                   past_only=past_only, **columns)
    low, high = _check_bounds(bounds)
    detector = AnomalyDetector(model, level=level, h=h, num_samples=num_samples,
                               robust=robust, refit=refit, calibrate=calibrate, replace_with=replace_with,
                               seed=seed, progress=progress)
    detector._check_params()
    panel, missing = panel_with_missing(y, freq=freq, fill="mark", **columns)
    _check_range(panel, missing, low, high)
    if X is not None or static is not None:
        from arforecast.data.covariates import build_covariates
        detector.covariates_ = build_covariates(panel, X, static=static,
                                                past_only=(past_only,) if isinstance(past_only, str) else tuple(past_only))
    heads = _start_lengths(panel, start, detector)
    head = _slice(panel, 0, heads)
    head_missing = _slice(missing, 0, heads)
    # the training head: missing values interpolated (only past values, nothing is scored there)
    filled = []
    for i in range(panel.n_series):
        v = head.series(i).copy()
        gone = head_missing.series(i) > 0.5
        if gone.any():
            v[gone] = np.nan
            v = pd.Series(v).interpolate(limit_area="inside").ffill().bfill().to_numpy()
        filled.append(v)
    detector._fit_panel(Panel(np.concatenate(filled) if filled else np.zeros(0), head.indptr, head.ids,
                              head.starts, head.freq, head.step, head.layout))
    tail_panel = _slice(panel, heads, panel.lengths)
    scored = detector._update_panel(tail_panel, _slice(missing, heads, panel.lengths)) \
        if tail_panel.lengths.sum() else None
    out = _with_head(detector, panel, missing, heads, scored)
    if low is not None or high is not None:
        for c in ("mean", "lower", "upper"):
            out[c] = out[c].clip(lower=low, upper=high)
    if incidents:
        out = _with_incidents(out, panel, missing, heads)
    return out


def _is_model(x: Any) -> bool:
    """Whether ``x`` is a forecaster, a collection of them, or ``None`` (the default model)."""
    if x is None or hasattr(x, "fit"):
        return True
    if isinstance(x, Mapping):
        return bool(x) and all(hasattr(m, "fit") for m in x.values())
    if isinstance(x, (list, tuple)):
        return bool(x) and all(hasattr(m, "fit") for m in x)
    return False


def _check_bounds(bounds: Any) -> tuple[float | None, float | None]:
    if bounds is None:
        return None, None
    try:
        low, high = bounds
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be a pair (low, high), either None; got {bounds!r}") from None
    low = None if low is None else float(low)
    high = None if high is None else float(high)
    if low is not None and high is not None and not low < high:
        raise ValueError(f"bounds must have low < high, got {bounds!r}")
    return low, high


def _check_range(panel: Panel, missing: Panel, low: float | None, high: float | None) -> None:
    if low is None and high is None:
        return
    known = missing.values < 0.5
    v = panel.values[known]
    bad = ((v < low) if low is not None else np.zeros(len(v), bool)) | ((v > high) if high is not None else False)
    if bad.any():
        raise DataError(f"{int(bad.sum())} observations lie outside bounds=({low}, {high}), e.g. {v[bad][0]!r}: "
                        "state the series' true range, or leave bounds=None")


def _with_incidents(out: pd.DataFrame, panel: Panel, missing: Panel, heads: np.ndarray) -> pd.DataFrame:
    """``out`` plus the incident score and alert of every row (series in panel order, as in ``out``)."""
    scores = []
    for i in range(panel.n_series):
        v = panel.series(i).astype(np.float64).copy()
        v[missing.series(i) > 0.5] = np.nan
        k = int(heads[i])
        scores.append(incident_scores(v, k, panel.season_lengths) if 2 <= k < len(v) else np.zeros(len(v)))
    attrs = dict(out.attrs)
    out = out.copy()
    out["incident_score"] = np.concatenate(scores) if scores else np.zeros(0)
    out["alert"] = out["incident_score"].to_numpy() > INCIDENT_THRESHOLD
    out.attrs.update(attrs)
    return out


def _detect_with_models(models: Any, y: Any, **options: Any) -> pd.DataFrame:
    """``detect_anomalies`` of each model, side by side (see its ``model`` argument)."""
    incidents = options.pop("incidents", True)
    frames = {name: detect_anomalies(y, m, incidents=incidents and k == 0, **options)
              for k, (name, m) in enumerate(name_models(models).items())}
    first = next(iter(frames.values()))
    base = first.iloc[:, :3]
    lv = as_level(options["level"])
    columns = {}
    for name, frame in frames.items():
        if not frame.iloc[:, :3].equals(base):          # same data, same training heads: never expected
            raise RuntimeError(f"detect_anomalies with model {name!r} scored other points")
        (lo, _, _), (hi, _, _) = interval_columns(name, [lv])
        columns.update({name: frame["mean"].to_numpy(), lo: frame["lower"].to_numpy(), hi: frame["upper"].to_numpy(),
                        f"{name}-score": frame["score"].to_numpy(), f"{name}-is_anomaly": frame["is_anomaly"].to_numpy()})
    out = pd.concat([base, pd.DataFrame(columns, index=base.index)], axis=1)
    out.attrs["level"] = lv
    if incidents:                      # they do not depend on the model: computed with the first one
        out["incident_score"] = first["incident_score"].to_numpy()
        out["alert"] = first["alert"].to_numpy()
    return out


def _start_lengths(panel: Panel, start: Any, detector: AnomalyDetector) -> np.ndarray:
    n = panel.lengths
    model = detector.model if detector.model is not None else default_model()
    need = max(int(getattr(model, "min_length", 1)), int(detector.h), 2)
    if start is None:
        rich = np.minimum(n // 2, TRAINING_PER_NEED * need)
        heads = np.minimum(np.maximum(np.maximum(np.floor(DEFAULT_TRAINING_SHARE * n).astype(np.int64), rich),
                                      need), n)
        _warn_thin(panel, heads, need, model)
        return heads
    if isinstance(start, bool) or not isinstance(start, (int, np.integer, float, np.floating)):
        raise ValueError(f"start must be an int or a fraction in (0, 1), got {start!r}")
    if isinstance(start, (float, np.floating)):
        if not 0 < start < 1:
            raise ValueError(f"a fractional start must lie in (0, 1), got {start!r}")
        heads = np.floor(start * n).astype(np.int64)
    else:
        heads = np.full(panel.n_series, int(start), dtype=np.int64)
        over = np.flatnonzero(heads >= n)
        if len(over):
            names = ", ".join(f"{panel.ids[i]!r} ({n[i]} values)" for i in over[:5])
            raise DataError(f"start={int(start)} leaves no point to score in {names}: give a start below "
                            "each series' length, a fraction, or None")
    short = np.flatnonzero(heads < need)
    if len(short):
        names = ", ".join(f"{panel.ids[i]!r} ({heads[i]})" for i in short[:5])
        raise DataError(f"{type(model).__name__} needs at least {need} training values before "
                        f"the first scored point; too few for {names}: raise start or use longer series")
    _warn_thin(panel, heads, need, model)
    return np.minimum(heads, n)


def _warn_thin(panel: Panel, heads: np.ndarray, need: int, model: Any) -> None:
    thin = np.flatnonzero(heads < 2 * need)
    if len(thin):
        names = ", ".join(f"{panel.ids[i]!r} ({heads[i]})" for i in thin[:5])
        warnings.warn(f"{type(model).__name__} is trained on fewer than {2 * need} values (twice what it needs) "
                      f"in {names}: its in-sample spread understates its errors and it will flag too many "
                      "points; use longer series, a larger start, or a smaller model", RuntimeWarning, stacklevel=3)


def _slice(panel: Panel, begin: Any, end: Any) -> Panel:
    """Each series cut to ``[begin[i], end[i])`` with its start time moved accordingly (whole-array
    work: a head cut, then a tail cut that shifts the start times)."""
    begin = np.broadcast_to(np.asarray(begin, dtype=np.int64), (panel.n_series,))
    end = np.broadcast_to(np.asarray(end, dtype=np.int64), (panel.n_series,))
    return panel.head(end).tail(end - begin)


def _with_head(detector: AnomalyDetector, panel: Panel, missing: Panel, heads: np.ndarray,
               scored: pd.DataFrame | None) -> pd.DataFrame:
    lay = panel.layout
    long = lay.kind == "long"
    id_col, time_col, target_col = (lay.id_col, lay.time_col, lay.target_col) if long else ("unique_id", "ds", "y")
    heads = np.asarray(heads, dtype=np.int64)
    within = np.arange(int(heads.sum())) - np.repeat(np.cumsum(heads) - heads, heads)
    rows = np.repeat(panel.indptr[:-1], heads) + within           # each series' first heads[i] values
    values = panel.values[rows].copy()
    values[missing.values[rows] > 0.5] = np.nan
    head = pd.DataFrame({id_col: np.repeat(panel.ids, heads), time_col: np.asarray(panel.observed_times()[rows]),
                         target_col: values})
    for c in COLUMNS:
        head[c] = np.nan
    head["is_anomaly"] = False
    head.attrs["level"] = as_level(detector.level)
    if scored is None:
        return head
    both = pd.concat([head, scored], ignore_index=True)
    both.attrs["level"] = as_level(detector.level)
    # head rows come first within each series in `both`, so a stable sort by series suffices
    order = np.argsort(pd.Categorical(both[id_col], categories=list(panel.ids)).codes, kind="stable")
    out = both.iloc[order].reset_index(drop=True)
    out.attrs["level"] = as_level(detector.level)
    return out
