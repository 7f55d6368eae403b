"""AnomalyDetector: score each new observation against the forecast made before it arrived.

``fit(history)`` fits (a clone of) the model on the history and starts a rolling state;
``update(new_points)`` scores only the new points, in time order, without refitting (unless
``refit`` asks for it) and without re-scoring the past. For each point the detector

1. takes the predictive made ``h`` steps earlier (from data strictly before the point),
2. reports its mean, the central ``level`` interval, the score ``-log10 p`` (``p`` the two-sided
   tail probability, see :mod:`arforecast.anomaly.scores`) and ``is_anomaly`` (outside the
   interval),
3. feeds the point to the model's state: the observation itself, or — in ``robust`` mode, when
   the point is flagged — the observation clipped to the interval (or the forecast mean), so
   that an outlier does not poison the next forecasts. Only the first ``robust`` points of a run
   of consecutive flags are replaced (``True`` means 3); later ones are fed back as observed, so
   that a lasting level shift is learnt instead of flagged forever. Missing values (NaN) are not
   scored and are always replaced by the forecast mean.

:func:`arforecast.detect_anomalies` is ``fit`` on each series' head plus one ``update`` with the
rest, so the streaming and batch flags are the same by construction.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, clone

from arforecast.anomaly.scores import CALIBRATION_MODES, CalibrationLaw, DistributionPredictive, Recalibrated
from arforecast.anomaly.sources import stream_covariates
from arforecast.anomaly.sources import Group, PredictSource, Source, StepperSource
from arforecast.data.covariates import build_covariates
from arforecast.data.frames import check_data_options, split_data_options, tidy, to_panel
from arforecast.data.panel import Panel, rows_of_ids
from arforecast.exceptions import DataError, NotFittedError
from arforecast.levels import as_level
from arforecast.progress import progress_enabled
from arforecast.rollout.protocol import Context, Stepper

COLUMNS = ("mean", "lower", "upper", "score", "is_anomaly")
DEFAULT_ROBUST_RUN = 3
CALIBRATION_WINDOW = 2000  # normal scores kept per series for the recalibration
CALIBRATION_EVERY = 250    # most steps between re-estimations
#: the law is re-estimated once the stored scores have grown by this share (or CALIBRATION_EVERY
#: steps have passed): often while few scores are known, rarely once many are
CALIBRATION_GROWTH = 0.1
BATCHED_ROWS = 1024        # prefixes per batch when re-scoring the window in one pass
RELATIVE_TOLERANCE = 1e-9
REPLACEMENTS = ("bound", "mean")


def default_model() -> Any:
    """The forecaster a detector uses when given none: ``AR()`` with its data-driven defaults."""
    from arforecast.models.linear import AR
    return AR()


class AnomalyDetector(BaseEstimator):
    """Streaming anomaly detection from any forecaster's predictive distribution.

    Args:
        model: an unfitted arforecast forecaster (it is cloned; yours is left untouched);
            ``None`` (default): ``AR()``, whose order and seasonal lags come from the data.
        level: coverage of the interval outside which a point is flagged (``0.99``: about 1% of
            ordinary points are flagged when the model is calibrated).
        h: score each point against the forecast made ``h`` steps before it (the horizon).
        num_samples: sample paths per point when ``h > 1`` (or when the model only gives
            samples).
        robust: feed a replacement (``replace_with``) instead of a flagged observation; an int
            caps the number of consecutive flagged points replaced (``True`` = 3), ``False``
            always feeds observations.
        refit: ``False`` (fit once), or an int ``k``: refit the model on all values seen every
            ``k`` steps (robust mode refits on the cleaned values). With ``calibrate``, each refit
            also re-scores the stored window with the refitted model (up to 2000 one-step
            forecasts per refit; in one batched pass for models that declare a
            ``context_width``, AR and ``RollingZScore``, step by step for the others).
        calibrate: judge points by the law of the model's past normal scores instead of the
            model's own tails (see :class:`~arforecast.anomaly.scores.CalibrationLaw`): the
            normal scores of the second half of the training history, then of the last 2000
            points seen, re-estimated whenever the scores have grown by 10% (at most every 250
            steps). ``True`` or ``"conformal"``: a point's
            tail probability is the share of past ``|z|`` at least as large (split-conformal),
            with a Student-t fitted to their largest 10% extrapolating beyond the 10th
            largest; ``"student_t"``: a Student-t fitted to all of them, everywhere. It
            corrects a model that is over- or under-confident, or whose tails are too thin or
            too wide (bounded noise). On by default: a model's own intervals, fitted in
            sample, are rarely honest about its one-step errors on new data; ``False`` uses them.
        replace_with: what robust mode feeds instead of a flagged observation: ``"bound"``,
            the nearest end of the ``level`` interval (the observation clipped to it, as a Huber
            robust filter does), or ``"mean"``, the forecast mean. ``"mean"`` erases an isolated
            outlier completely, but an ordinary point flagged by chance is then remembered wrong,
            and a seasonal lag brings the error back a season later; see docs/anomaly.md.
        seed: seed of the sample paths.
        progress: show a progress bar over the steps of an update.

    Example:
        >>> import numpy as np, pandas as pd
        >>> from arforecast.anomaly.baselines import RollingZScore
        >>> rng = np.random.default_rng(0)
        >>> y = pd.Series(rng.normal(size=120), index=pd.date_range("2024", periods=120, freq="h"))
        >>> y.iloc[110] = 9.0
        >>> det = AnomalyDetector(RollingZScore(window=48), level=0.999).fit(y.iloc[:100])
        >>> out = det.update(y.iloc[100:])
        >>> out.loc[out["is_anomaly"], "ds"].tolist()
        [Timestamp('2024-01-05 14:00:00')]
    """

    def __init__(self, model: Any = None, level: float = 0.99, h: int = 1, num_samples: int = 200,
                 robust: bool | int = True, refit: bool | int = False, calibrate: bool | str = True,
                 replace_with: str = "bound", seed: int = 0, progress: bool = False) -> None:
        self.model = model
        self.level = level
        self.h = h
        self.num_samples = num_samples
        self.robust = robust
        self.replace_with = replace_with
        self.refit = refit
        self.calibrate = calibrate
        self.seed = seed
        self.progress = progress

    # ------------------------------------------------------------------ public API
    def fit(self, y: Any, X: Any = None, *, static: Any = None, past_only: Any = (), freq: Any = None,
            **columns: str) -> "AnomalyDetector":
        """Fit the model on the history ``y`` and start the rolling state (nothing is scored).

        ``y`` may hold NaN inside a series (e.g. gaps marked by
        :func:`~arforecast.data.regularize.regularize`); they are interpolated for fitting.
        ``X``, ``static``, ``past_only``: covariates on ``y``'s timestamps, as in a forecaster's
        ``fit`` (docs/covariates.md); each :meth:`update` then gives them on its new points.
        """
        self._check_params()
        panel, _ = panel_with_missing(y, freq=freq, fill="interpolate", **columns)
        self.__dict__.pop("covariates_", None)
        if X is not None or static is not None:
            self.covariates_ = build_covariates(panel, X, static=static, past_only=(
                (past_only,) if isinstance(past_only, str) else tuple(past_only)))
        self._fit_panel(panel)
        return self

    def update(self, new_points: Any, X: Any = None, **columns: str) -> pd.DataFrame:
        """Score ``new_points`` (continuing the fitted series in time) and learn them.

        ``X``: the covariates on the new points' timestamps (a detector fitted with covariates
        needs them: each point is forecast with the future-known values of its own time).

        Returns a long frame ``unique_id, ds, y, mean, lower, upper, score, is_anomaly`` with
        one row per new point, in the order of the series then time.
        """
        self._check_fitted()
        lay = self.panel_.layout
        cols = {"id_col": lay.id_col, "time_col": lay.time_col, "target_col": lay.target_col, **dict(lay.options),
                **columns}
        panel, missing = panel_with_missing(new_points, freq=self.panel_.freq, fill="mark_all", **cols)
        self._extend_covariates(panel, X)
        return self._update_panel(panel, missing)

    # ------------------------------------------------------------------ internals
    def _check_params(self) -> None:
        as_level(self.level)                     # a fraction (0.99) or a percentage (99), else an error
        for name in ("h", "num_samples"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        v = self.refit
        if v is not False and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1):
            raise ValueError(f"refit must be False or a positive integer (refit every k steps), got {v!r}")
        if not isinstance(self.robust, (bool, int, np.integer)) or (not isinstance(self.robust, bool) and self.robust < 0):
            raise ValueError(f"robust must be a bool or a non-negative int, got {self.robust!r}")
        if self.replace_with not in REPLACEMENTS:
            raise ValueError(f"replace_with must be one of {REPLACEMENTS}, got {self.replace_with!r}")
        if not (isinstance(self.calibrate, bool) or self.calibrate in CALIBRATION_MODES):
            raise ValueError(f"calibrate must be a bool or one of {CALIBRATION_MODES}, got {self.calibrate!r}")

    def _calibration_mode(self) -> str | None:
        if self.calibrate is False:
            return None
        return "conformal" if self.calibrate is True else str(self.calibrate)

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("this AnomalyDetector is not fitted yet: call fit(history) first")

    def _extend_covariates(self, panel: Panel, X: Any) -> None:
        """Append the covariates of the new points to those held, and restart the forecasts of the
        next points with them (the state comes from the histories, so nothing else changes)."""
        cov = getattr(self, "covariates_", None)
        if cov is None:
            if X is not None:
                raise DataError("this AnomalyDetector was fitted without covariates: fit(history, X=...) to use X")
            return
        rows = self._check_continues(panel)
        if X is None:
            if np.any(cov.ends[rows] < panel.next_positions()):
                raise DataError("this AnomalyDetector was fitted with covariates: update(new_points, X=...) needs "
                                "them on the new points' timestamps")
            return
        new = build_covariates(panel, X, spec=cov.spec(), static=cov if cov.static_names else None)
        self.covariates_ = cov.extended(new)
        self.source_ = self._make_source()
        self.groups_ = [self.source_.open(np.arange(len(self.history_)), self._histories())]

    def _check_continues(self, panel: Panel) -> np.ndarray:
        """The rows of ``panel``'s series, each checked to continue its series without a gap."""
        rows = self._rows_of(panel)
        for k, i in enumerate(rows):
            expected = self._next_time(i)
            got = panel.time_index(k)[0]
            if got != expected:
                raise DataError(f"series {panel.ids[k]!r}: new points must continue the series at "
                                f"{expected!r}, got {got!r}; updates must be contiguous and in order")
        return rows

    def _update_panel(self, panel: Panel, missing: Panel) -> pd.DataFrame:
        rows = self._check_continues(panel)
        values = []
        for k in range(panel.n_series):
            v = panel.series(k).copy()
            v[missing.series(k) > 0.5] = np.nan
            values.append(v)
        blocks = self._advance(rows, values)
        times = [np.asarray(panel.time_index(k)) for k in range(panel.n_series)]
        return self._frame(rows, values, times, blocks)

    def _fit_panel(self, panel: Panel) -> None:
        self.panel_ = panel
        self.ids_ = panel.ids
        self.history_ = [panel.series(i).tolist() for i in range(panel.n_series)]
        self.observed_ = [list(h) for h in self.history_]
        self.steps_ = 0
        self.run_ = np.zeros(panel.n_series, dtype=np.int64)  # current run of consecutive flags
        self._refit_model()
        if self.calibrate:
            self.normal_scores_ = self._held_out_normal_scores()
            self._estimate_calibration()

    def _held_out_normal_scores(self) -> list[list[float]]:
        """The normal scores of :meth:`_insample_normal_scores`, but forecast by a model fitted on
        the values before them only: out of sample, as every later score of the stream is. A
        model's in-sample errors are smaller than its errors on new data, and a calibration law
        built on them flags too much. Falls back to the in-sample scores when that shorter
        history is too short for the model."""
        histories = self._histories()
        k = self._scored_count(histories)
        if k <= 0:
            return self._insample_normal_scores()
        heads = [h[:len(h) - k] for h in histories]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                head_panel = self._panel_of(np.arange(len(heads)), heads)
                model = self._base_model().fit(head_panel, **self._covariates_for(head_panel))
        except DataError:
            return self._insample_normal_scores()
        return self._insample_normal_scores(model, self._make_source(model))

    def _scored_count(self, histories: list[np.ndarray]) -> int:
        """Points at the end of every history that the calibration scores (the second half, at
        most ``CALIBRATION_WINDOW``)."""
        k = min(len(h) - max(len(h) // 2, self.h) for h in histories)
        return min(k, CALIBRATION_WINDOW)

    def _insample_normal_scores(self, model: Any = None, source: Source | None = None) -> list[list[float]]:
        """Normal scores of the second half of each history (at most its last 2000 points),
        forecast step by step from the values before (all series in lockstep over the same
        number of points) by ``model`` through ``source`` (default: the fitted ``model_`` and
        ``source_``).

        The forecasts condition on the values the model was fed (robust mode's replacements
        included) but score what was observed: scoring the replacements instead would drop every
        flagged point's large score from the calibration, thin its tail, and so flag more points
        after each refit, the opposite of calibrated. Missing values are not scored.
        """
        model = self.model_ if model is None else model
        source = self.source_ if source is None else source
        histories = self._histories()
        observed = [np.asarray(o, dtype=np.float64) for o in self.observed_]
        k = self._scored_count(histories)
        out: list[list[float]] = [[] for _ in histories]
        if k <= 0:
            return out
        width = getattr(model, "context_width", None) if self.h == 1 else None
        if isinstance(source, StepperSource) and isinstance(width, int):
            return self._batched_normal_scores(model, histories, observed, k, width)
        g = source.open(np.arange(len(histories)), [h[:len(h) - k] for h in histories])
        for j in range(k):
            y = np.array([o[len(o) - k + j] for o in observed])
            z = g.pending[0].normal_score(np.where(np.isnan(y), 0.0, y))
            for r in range(len(histories)):
                if not np.isnan(y[r]):
                    out[r].append(float(z[r]))
            source.step(g, np.array([h[len(h) - k + j] for h in histories]))
        return out

    def _batched_normal_scores(self, model: Any, histories: list[np.ndarray], observed: list[np.ndarray], k: int,
                               width: int) -> list[list[float]]:
        """The same one-step normal scores as stepping through the last ``k`` values, for a model
        whose state is its last ``width`` values: one row per prefix, in chunks, no Python loop
        over steps (a refit every day re-scores up to 2000 points)."""
        out = []
        origins = self.panel_.origins
        for r, (h, o) in enumerate(zip(histories, observed)):
            n = len(h)
            padded = np.concatenate([np.full(width, np.nan), h])
            targets = np.arange(n - k, n)
            windows = np.lib.stride_tricks.sliding_window_view(padded, width)[targets]  # h[t-width:t]
            z = np.empty(k)
            for a in range(0, k, BATCHED_ROWS):
                b = min(a + BATCHED_ROWS, k)
                cov = getattr(self, "covariates_", None)
                if cov is not None:       # each prefix's covariates and those of the step it forecasts
                    first = targets[a:b].astype(np.int64) + int(origins[r]) - width
                    cov = torch.from_numpy(stream_covariates(cov, np.full(b - a, r), first, width + 1))
                ctx = Context(values=torch.from_numpy(np.ascontiguousarray(windows[a:b])),
                              lengths=torch.from_numpy(np.minimum(targets[a:b], width)),
                              series=torch.full((b - a,), r, dtype=torch.int64),
                              positions=torch.from_numpy(targets[a:b].astype(np.int64) + int(origins[r])),
                              covariates=cov)
                dist = model.distribution(model.start(ctx))
                y = o[targets[a:b]]
                z[a:b] = DistributionPredictive(dist).normal_score(np.where(np.isnan(y), 0.0, y))
            out.append(z[~np.isnan(o[targets])].tolist())
        return out

    def _calibration_due(self) -> bool:
        since = self.steps_ - getattr(self, "_calibrated_at", 0)
        known = min((len(z) for z in self.normal_scores_), default=0)
        return since >= min(CALIBRATION_EVERY, max(1, int(CALIBRATION_GROWTH * known)))

    def _estimate_calibration(self) -> None:
        self._calibrated_at = self.steps_
        mode = self._calibration_mode()
        self.calibration_ = [CalibrationLaw(np.asarray(z), mode) for z in self.normal_scores_]

    def _histories(self) -> list[np.ndarray]:
        return [np.asarray(h, dtype=np.float64) for h in self.history_]

    def _refit_model(self) -> None:
        histories = self._histories()
        panel = self._panel_of(np.arange(len(histories)), histories)
        need = max(self.h, 1)
        short = [self.ids_[i] for i, x in enumerate(self.history_) if len(x) < need]
        if short:
            raise DataError(f"series {short[:5]} are too short to start a horizon-{self.h} detector")
        self.model_ = self._base_model().fit(panel, **self._covariates_for(panel))
        self.source_ = self._make_source()
        self.groups_ = [self.source_.open(np.arange(len(histories)), histories)]

    def _covariates_for(self, panel: Panel) -> dict:
        """``fit`` keywords giving the covariates of ``panel``'s histories (none without covariates)."""
        cov = getattr(self, "covariates_", None)
        if cov is None:
            return {}
        return {"X": cov.masked_after(panel.next_positions()),
                "static": cov if cov.static_names else None}

    def _base_model(self) -> Any:
        """A fresh, unfitted copy of the model to fit (the default one when none was given)."""
        return default_model() if self.model is None else clone(self.model)

    def _make_source(self, model: Any = None) -> Source:
        """How ``model`` (default: the fitted ``model_``) forecasts the stream's next points."""
        model = self.model_ if model is None else model
        args = (model, int(self.h), int(self.num_samples), int(self.seed))
        cov = getattr(self, "covariates_", None)
        if isinstance(model, Stepper):
            return StepperSource(*args, origins=self.panel_.origins, covariates=cov)
        return PredictSource(*args, make_panel=self._panel_of, covariates=cov)

    def _panel_of(self, rows: np.ndarray, arrays: list[np.ndarray]) -> Panel:
        return self.panel_.with_values(rows, arrays)

    def _next_time(self, i: int) -> Any:
        p, n = self.panel_, len(self.history_[i])
        return p.time_after(i, n)

    def _rows_of(self, panel: Panel) -> np.ndarray:
        rows, unknown = rows_of_ids(self.ids_, panel.ids)
        if unknown:
            raise DataError(f"series {unknown[:5]} were not in the history the detector was fitted "
                            "on; fit a detector on them first")
        return rows

    def _max_run(self) -> int:
        if self.robust is True:
            return DEFAULT_ROBUST_RUN
        return int(self.robust)

    def _advance(self, rows: np.ndarray, values: list[np.ndarray]) -> dict[str, list[np.ndarray]]:
        """Score and learn ``values[k]`` for series ``rows[k]``, all series one step at a time."""
        counts = np.zeros(len(self.history_), dtype=np.int64)
        counts[rows] = [len(v) for v in values]
        series_values = {int(r): v for r, v in zip(rows, values)}
        out = {c: [np.full(len(v), np.nan) for v in values] for c in COLUMNS}
        slot = {int(r): k for k, r in enumerate(rows)}
        done = np.zeros(len(self.history_), dtype=np.int64)
        total = int(counts.max()) if len(rows) else 0
        steps = range(total)
        if progress_enabled(self.progress):
            from tqdm.auto import tqdm
            steps = tqdm(steps, desc="anomaly detection", leave=False)
        for _ in steps:
            groups = []
            for g in self.groups_:
                active = counts[g.rows] > done[g.rows]
                if active.all():
                    groups.append(g)
                elif active.any():
                    keep, wait = np.flatnonzero(active), np.flatnonzero(~active)
                    groups.extend([g.subset(keep, self.source_), g.subset(wait, self.source_)])
                else:
                    groups.append(g)
            self.groups_ = groups
            for g in self.groups_:
                if not (counts[g.rows] > done[g.rows]).all():
                    continue
                y = np.array([series_values[int(r)][done[r]] for r in g.rows])
                self._score_step(g, y, out, slot, done)
            self.steps_ += 1
            if self.refit and self.steps_ % int(self.refit) == 0:
                self._refit_model()
                if self.calibrate:
                    # scores kept from earlier fits describe those fits' errors, not the new one's
                    self.normal_scores_ = self._insample_normal_scores()
                    self._estimate_calibration()
            if self.calibrate and self._calibration_due():
                self._estimate_calibration()
        return out

    def _score_step(self, g: Group, y: np.ndarray, out: dict, slot: dict, done: np.ndarray) -> None:
        pred = g.pending[0]
        if self.calibrate:
            base = pred
            pred = Recalibrated(base, [self.calibration_[r] for r in g.rows])
        missing = np.isnan(y)
        mean = pred.mean
        lower, upper = pred.interval(as_level(self.level))
        # A value equal to the forecast up to rounding is the forecast: a (near) zero-width
        # predictive, e.g. on a constant series, must not flag floating-point noise.
        judged = np.where(missing | (np.abs(y - mean) <= RELATIVE_TOLERANCE * np.abs(mean)), mean, y)
        score = np.where(missing, np.nan, pred.score(judged))
        flag = ~missing & ((judged < lower) | (judged > upper))
        if self.calibrate:
            z = base.normal_score(judged)
            for j, r in enumerate(g.rows):
                if not missing[j]:
                    self.normal_scores_[r].append(float(z[j]))
                    del self.normal_scores_[r][:-CALIBRATION_WINDOW]
        fed = y.copy()
        if self.robust:
            # count consecutive flagged points; only the first max_run of a run are replaced
            run = np.where(flag, self.run_[g.rows] + 1, 0)
            self.run_[g.rows] = run
            replace = flag & (run <= self._max_run())
        else:
            replace = np.zeros_like(flag)
        replace |= missing
        if replace.any():
            # missing values always get the forecast mean; flagged ones the bound or the mean
            by_mean = missing if self.replace_with == "bound" else replace
            fill = np.clip(y, lower, upper)
            if by_mean.any():  # the mean costs a model call when horizon > 1
                fill = np.where(by_mean, self.source_.next_mean(g), fill)
            fed = np.where(replace, fill, y)
        self.source_.step(g, fed)
        for j, r in enumerate(g.rows):
            k, t = slot[int(r)], done[r]
            out["mean"][k][t] = mean[j]
            out["lower"][k][t] = lower[j]
            out["upper"][k][t] = upper[j]
            out["score"][k][t] = score[j]
            out["is_anomaly"][k][t] = flag[j]
            self.history_[r].append(float(fed[j]))
            self.observed_[r].append(np.nan if missing[j] else float(judged[j]))
            done[r] += 1

    def _frame(self, rows: np.ndarray, values: list[np.ndarray], times: list[np.ndarray],
               blocks: dict) -> pd.DataFrame:
        p, lay = self.panel_, self.panel_.layout
        long = lay.kind == "long"
        frame = pd.DataFrame({
            lay.id_col if long else "unique_id": np.repeat(p.ids[rows], [len(v) for v in values]),
            lay.time_col if long else "ds": np.concatenate(times) if times else [],
            lay.target_col if long else "y": np.concatenate(values) if values else np.zeros(0),
        })
        for c in COLUMNS:
            frame[c] = np.concatenate(blocks[c]) if values else np.zeros(0)
        frame["is_anomaly"] = frame["is_anomaly"].fillna(0).astype(bool)
        frame.attrs["level"] = as_level(self.level)
        return frame


def panel_with_missing(y: Any, *, freq: Any = None, fill: str = "interpolate",
                       **columns: str) -> tuple[Panel, Panel]:
    """``to_panel`` of ``y`` with NaNs allowed inside series.

    Returns the panel with those NaNs filled and a panel of the same shape holding ``1.0`` where
    a value was missing. Leading NaNs are trimmed as ``to_panel`` does (a series starts at its
    first observation), except with ``fill="mark_all"``; a wide frame's trailing NaNs are
    trimmed too (values not arrived yet).

    * ``"interpolate"`` (for fitting): linear inside each series, last value carried over
      trailing NaNs of a Series or long frame;
    * ``"mark"`` / ``"mark_all"`` (for scoring): a placeholder value, the mask says it is missing.
    """
    if fill not in ("interpolate", "mark", "mark_all"):
        raise ValueError(f"fill must be 'interpolate', 'mark' or 'mark_all', got {fill!r}")
    if isinstance(y, Panel):
        return y, Panel(np.zeros_like(y.values), y.indptr, y.ids, y.starts, y.freq, y.step, y.layout)
    data_options, columns = split_data_options(columns)
    id_col = columns.get("id_col", "unique_id")
    time_col = columns.get("time_col", "ds")
    target_col = columns.get("target_col", "y")
    missing_option = data_options.pop("missing", "allow")
    check_data_options(missing=missing_option, **data_options)
    # messy timestamps: sorted, and fixed as the options say (docs/data.md), before the holes are handled
    y = tidy(y, freq, id_col=id_col, time_col=time_col, target_col=target_col, **data_options)
    if missing_option == "raise":
        to_panel(y, freq=freq, missing="raise", **columns)
    is_long = isinstance(y, pd.DataFrame) and {id_col, time_col, target_col}.issubset(y.columns)
    if not isinstance(y, (pd.Series, pd.DataFrame)) or not _numeric_frame(y[[target_col]] if is_long else y):
        panel = to_panel(y, freq=freq, **columns)  # reports the problem, or has no NaN to handle
        return panel, Panel(np.zeros_like(panel.values), panel.indptr, panel.ids, panel.starts,
                            panel.freq, panel.step, panel.layout)
    if is_long:
        target = y[target_col]
        filled_target = target.groupby(y[id_col], sort=False).transform(lambda s: _fill(s, fill, wide=False))
        filled = y.assign(**{target_col: filled_target})
        mask = y.assign(**{target_col: target.isna().astype(float).where(filled_target.notna())})
    else:
        wide = isinstance(y, pd.DataFrame)
        filled = y.apply(lambda s: _fill(s, fill, wide=True)) if wide else _fill(y, fill, wide=False)
        mask = y.isna().astype(float).where(filled.notna())
    panel = to_panel(filled, freq=freq, **columns)
    mask_panel = to_panel(mask, freq=panel.freq, **columns)
    if not np.array_equal(mask_panel.indptr, panel.indptr):  # pragma: no cover - defensive
        raise DataError("could not align the missing-value mask with the data")
    return panel, mask_panel


def _fill(s: pd.Series, how: str, wide: bool) -> pd.Series:
    if how == "interpolate":
        out = s.interpolate(limit_area="inside")
        return out if wide else out.ffill()
    valid = np.flatnonzero(s.notna().to_numpy())
    if len(valid) == 0:
        return s
    out = s.fillna(0.0)
    if how == "mark":  # leading NaNs: the series starts at its first observation
        out.iloc[:valid[0]] = np.nan
    if wide:  # trailing NaNs of a wide column are values that have not arrived
        out.iloc[valid[-1] + 1:] = np.nan
    return out


def _numeric_frame(y: Any) -> bool:
    if isinstance(y, pd.Series):
        return pd.api.types.is_numeric_dtype(y.dtype) and not pd.api.types.is_bool_dtype(y.dtype)
    return all(pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t) for t in y.dtypes)
