"""Conformal: split-conformal intervals and sample paths for any forecaster, from its own backtest.

**Method.** Split (inductive) conformal prediction per horizon step. At ``fit``, the wrapped
model is backtested on the end of the training data (``n_windows`` rolling origins ``step``
apart, refitted at every origin by default, :func:`arforecast.backtest`), which gives for every
calibration forecast and step ``k`` the score ``e = (y - yhat) / s``: the signed error over a
scale ``s`` that depends on ``method``:

* ``"normalized"`` (default): ``s`` is the wrapped model's own predictive spread at that step
  (the width of its central ``spread_level`` interval, 90% by default), so each series keeps the
  width profile its model gave it and the conformal step only corrects it; scores are pooled over
  series, one set per step.
* ``"scaled"``: ``s`` is the series' scale, ``mean |y_t - y_{t-1}|`` of the history the forecast
  saw; pooled over series.
* ``"pooled"``: ``s = 1``, raw errors pooled over series (only sensible for series of one scale).
* ``"series"``: ``s = 1``, each series its own ``n_windows`` scores (statsforecast's
  ``ConformalIntervals``); series too short to be calibrated use the pooled raw errors.

**Length-matched calibration** (``local=True``, default; a localized conformal method whose
neighbourhoods are defined by history length): a new forecast is calibrated on the scores of the
``n_local_`` calibration forecasts whose histories are nearest its own in log length, ``n_local_ =
max(calibrated series, 100)``. A calibration fit sees ``h`` to ``h + (n_windows - 1) * step`` fewer
values than the final fit, and errors relative to the model's spread grow as histories shrink (a
fit on a few values, or a fallback forecast inside a ``WithFallback``, errs far more than the final
fit); matching lengths compares like with like. When all series have one length it is the last
calibration window of every series; on panels of mixed lengths a short series is calibrated on
forecasts from short histories, a long one on the longest. ``local=False`` pools all calibration
forecasts; an integer sets ``n_local_``. ``local_by`` picks the kind of neighbourhood: ``"length"``,
``"recency"`` (the newest fits: the last window of every series) or ``"auto"`` (default: recency
for a global model, whose single fit serves every series, length otherwise). With recency only the
windows that hold the ``n_local_`` newest forecasts are fitted (``n_windows_``).

**Which fits** (``refit``). ``refit=True`` gives every calibration origin its own fit, so a
calibration forecast is made as the final one is, but by another fit. ``refit="final"``
calibrates the final model itself, re-conditioned on each series cut at each calibration origin:
exchangeable with the final forecasts only when that model never trained on the calibration
windows' values (NeuralAR holds its last ``validation_length_`` values out of training; the
wrapper checks that attribute and warns without it). ``refit="auto"`` (default) is ``"final"``
for a model whose held-out values (``validation_length_``) cover every calibration window, and
``True`` otherwise (``refit_``).

With ``symmetric=True`` (default) every score enters with its negative, so intervals are
symmetric about the wrapped model's point forecast (the absolute-residual score of split
conformal). The forecast is ``yhat + s * S_k`` where ``S_k`` follows the scores of step ``k``
(:class:`~arforecast.wrappers.laws.ScoreLaw`): the ``j``-th smallest of ``n`` scores is the
``j / (n + 1)`` quantile. The point forecast is the wrapped model's; sample paths are the wrapped
model's paths mapped, step by step, through their ranks (``rank / (S + 1)``) onto that law, so
their marginals are the conformal ones while the dependence between steps (the copula of the
paths) is the model's.

The defaults were chosen on validation splits of M4 Hourly and M3 monthly/quarterly
(``benchmarks/conformal.py``): ``"normalized"`` had the lowest MSIS and WQL; per-series scores
(4 windows) under-covered; refitting at every calibration origin matters: a model fitted once,
hundreds of steps before the last window, errs more than the final model and over-covers;
``local=True`` brought the three validation coverages nearer the level than pooling every window;
for ``NeuralAR()`` (its defaults, 1,000 steps) calibrating the final network on its own held-out
values had a lower MSIS than a second fit on all three validation splits
(``benchmarks/conformal_neighbours.py``), at the cost of one fit instead of two; and the width of
its central 90% interval (``spread_level=0.9``) as the scale gave a much lower MSIS than its
interquartile range on M4 Hourly, whose series' tails differ (6.98 against 9.30), a lower one on
M3 monthly and about the same on M3 quarterly (``AR()``, of normal marginals, is unaffected).

**Guarantee.** If the calibration scores (those of its ``n_local_`` neighbours with ``local``) and
the score of a new forecast are exchangeable, each
one-sided quantile ``q`` covers with probability ``q`` up to the interpolation between order
statistics (at least ``floor(q (n + 1)) / (n + 1)``), so a central interval at ``level`` covers
with probability about ``level``: marginally, over series, windows and the new forecast, for
each step. **Not guaranteed:** coverage for one series or one time (conditional coverage);
coverage when the new errors are not exchangeable with the calibration errors (trends in the
noise level, a model whose last fit is better than the backtest fits, level shifts, errors of
overlapping windows of one series that are correlated); levels beyond the calibration set's
resolution (with ``n`` scores, quantiles below ``1 / (n + 1)`` or above ``n / (n + 1)`` are the
extreme scores).

Example:
    >>> import arforecast as af
    >>> from arforecast.datasets import simulate_ar
    >>> y = simulate_ar([0.7], n_series=20, length=120, seed=0)
    >>> cp = af.Conformal(af.AR(p=1), h=4, n_windows=3).fit(y)
    >>> fc = cp.predict(4, num_samples=50, seed=0)
    >>> fc.samples.shape, cp.scores_.shape
    ((20, 50, 4), (4, 120))
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.base import clone

from arforecast.base import Forecaster, covariate_kwargs, one_step_probe
from arforecast.data.covariates import Covariates
from arforecast.data.frames import check_horizon
from arforecast.data.panel import Panel, rows_of_ids
from arforecast.evaluation.backtest import backtest
from arforecast.exceptions import DataError
from arforecast.forecasts import Forecast
from arforecast.wrappers.laws import ScoreLaw, history_scale

METHODS = ("normalized", "scaled", "pooled", "series")
#: how ``local`` picks a forecast's calibration neighbours (``"auto"``: recency for a global model, else length)
LOCAL_BY = ("auto", "length", "recency")
#: ``local=True`` calibrates on at least this many forecasts (twice as many scores with their mirror
#: images: quantiles down to 1/201 and up to 200/201 are resolved)
MIN_LOCAL = 100
#: scores a set needs for its 0.975 quantile to be an order statistic rather than the largest score
#: (``k / (n + 1) >= 0.975`` with ``k <= n``): the 95% central interval
SERIES_SCORES_95 = 39


class Conformal(Forecaster):
    """Split-conformal calibration of ``model``'s intervals and sample paths (see the module docs).

    Args:
        model: any forecaster (cloned, never modified).
        h: the longest horizon to calibrate; ``predict`` accepts any ``h`` up to it.
        n_windows, step: calibration windows at the end of each series, ``step`` apart (default
            ``h``: windows that do not overlap). Series shorter than ``model.min_length + h +
            (n_windows - 1) * step`` are not backtested (they use the pooled scores).
        method: ``"normalized"`` (default), ``"scaled"``, ``"pooled"`` or ``"series"``.
        symmetric: use each score and its negative (default): intervals symmetric about the
            wrapped model's point forecast, which stays the mean. ``False`` keeps the signed
            scores (each tail calibrated on its own); the point forecast then moves to the mean
            of the calibrated law (the model's mean error on the calibration windows is added).
        refit: which fits make the calibration forecasts: ``"auto"`` (default): ``"final"`` when
            the fitted model held out (``validation_length_``) every calibration window's values,
            else ``True``. ``True`` fits at every calibration origin, so calibration forecasts are
            made as the final one is; ``False``
            fits once at the first origin and re-conditions (cheaper for neural models, but their
            errors are then larger than the final model's and intervals come out too wide);
            ``"final"`` fits nothing more: the final model is re-conditioned on each series cut at
            each calibration origin. Only sound for a model that held those values out of its fit
            (a NeuralAR whose ``validation_length_`` covers the calibration windows, which it
            checks; otherwise it warns): the calibration errors are then those of the very model
            that forecasts, not of other fits.
        num_samples, seed: sample paths the calibration (and ``predict``, when it was given none)
            draws for the spread of a model that has no closed-form marginals.
        local: ``True`` (default): calibrate each forecast on the ``max(calibrated series, 100)``
            calibration forecasts whose history lengths are nearest its own; an integer: that many;
            ``False``: on all of them. Not used by ``method="series"``.
        local_by: which calibration forecasts are "nearest": ``"length"`` (history length, in
            log), ``"recency"`` (the newest fits: the last windows of the series) or ``"auto"``
            (default: recency for a global model, whose one fit serves every series, length
            otherwise).
        spread_level: ``method="normalized"`` divides errors by the width of the model's central
            interval at this level (default 0.9; 0.5: the interquartile range). For a model of
            normal or other location-scale marginals it makes no difference; for one whose tails
            differ between series (sampled mixtures, Student-t heads) a wide interval carries
            those tails into the scale.

    Fitted attributes: model_ (the wrapped model fitted on all of ``y``); n_windows_ (calibration
    windows fitted: ``n_windows``, or fewer when neighbours by recency need only the newest ones);
    refit_ (the fits used: ``True``, ``False``, an integer or ``"final"``, ``refit="auto"`` resolved);
    scores_ (``[T, R]`` sorted scores, ``+inf`` padded; one row per step, or per series and step for ``"series"``);
    counts_ (scores per row); calibrated_ (boolean per series: had its own calibration
    windows); n_calibration_ (calibration forecasts); calibration_lengths_ (history length of each);
    n_local_ (neighbours per forecast, ``None`` when all are used).
    """

    def __init__(self, model: Forecaster, h: int, n_windows: int = 4, step: int | None = None,
                 method: str = "normalized", symmetric: bool = True, refit: bool | int | str = "auto",
                 num_samples: int = 100, seed: int = 0, local: bool | int = True,
                 local_by: str = "auto", spread_level: float = 0.9) -> None:
        self.model = model
        self.h = h
        self.n_windows = n_windows
        self.step = step
        self.method = method
        self.symmetric = symmetric
        self.refit = refit
        self.num_samples = num_samples
        self.seed = seed
        self.local = local
        self.local_by = local_by
        self.spread_level = spread_level

    # ------------------------------------------------------------------ properties of the wrapped model
    @property
    def min_length(self) -> int:
        return self.model.min_length

    @property
    def can_recondition(self) -> bool:  # type: ignore[override]
        return self.model.can_recondition

    @property
    def is_global(self) -> bool:  # type: ignore[override]
        return self.model.is_global and self.method != "series"

    def _describe_need(self) -> str:
        return self.model._describe_need()

    # ------------------------------------------------------------------ calibration
    def _check_params(self) -> tuple[int, int]:
        if not isinstance(self.model, Forecaster):
            raise TypeError(f"model must be an arforecast Forecaster, got {type(self.model).__name__}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        h = check_horizon(self.h)
        if not (isinstance(self.local, (bool, np.bool_)) or (isinstance(self.local, (int, np.integer))
                                                             and self.local >= 1)):
            raise ValueError(f"local must be True, False or a positive integer, got {self.local!r}")
        if isinstance(self.spread_level, bool) or not isinstance(self.spread_level, (float, int, np.floating)) \
                or not 0 < self.spread_level < 1:
            raise ValueError(f"spread_level must be a fraction in (0, 1), got {self.spread_level!r}")
        if self.local_by not in LOCAL_BY:
            raise ValueError(f"local_by must be one of {LOCAL_BY}, got {self.local_by!r}")
        for name in ("n_windows", "num_samples"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if isinstance(self.refit, str) and self.refit not in ("auto", "final"):
            raise ValueError(f"refit must be 'auto', True, False, a positive integer or 'final', got {self.refit!r}")
        step = h if self.step is None else self.step
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
            raise ValueError(f"step must be a positive integer or None, got {self.step!r}")
        return h, int(step)

    @property
    def supports_covariates(self) -> bool:  # type: ignore[override]
        """The wrapped model's: covariates are handed on to it, in the calibration fits too."""
        return bool(getattr(self.model, "supports_covariates", False))

    def _fit(self, panel: Panel, covariates: Covariates | None = None) -> None:
        h, step = self._check_params()
        kw = covariate_kwargs(self.model, covariates)
        self.model_ = clone(self.model).fit(panel, **kw)
        probe = one_step_probe(self.model_, panel, covariates)
        self.needs_samples_ = probe.marginals is None      # the spread then comes from sample paths
        self._calibrate(panel, h, step, covariates)

    def _calibrate(self, panel: Panel, h: int, step: int, covariates: Covariates | None = None) -> None:
        """Calibration forecasts, their scores and the neighbourhoods, for the fitted ``model_``."""
        auto = "recency" if self.model.is_global else "length"
        self.local_by_ = auto if self.local_by == "auto" else self.local_by
        self.n_windows_ = self._windows_used(panel, h)
        self.refit_ = self._refit_used(h, step)
        need = self.model.min_length + h + (self.n_windows_ - 1) * step
        rows = np.flatnonzero(panel.lengths >= need)
        if not len(rows):
            raise DataError(f"Conformal: no series has the {need} values that {self.n_windows_} calibration "
                            f"window(s) of h={h} every {step} step(s) need ({type(self.model).__name__} needs "
                            f"{self.model.min_length} to fit); use fewer windows, a smaller step or h")
        cal = panel if len(rows) == panel.n_series else panel.subset(rows)
        spread = self.method == "normalized"
        if self.refit_ == "final":
            y, point, width, series, ends = self._final_windows(cal, rows, h, step, spread, covariates)
        else:
            y, point, width, series, ends = self._backtest_windows(cal, rows, h, step, spread, covariates)
        base = _at_rows(panel, series, ends)
        scale = self._scale(width, base, y.shape)
        scores = (y - point) / scale
        self._store(scores, series, panel.n_series, h)
        self.n_calibration_ = int(len(scores))
        self.calibration_lengths_ = np.asarray(ends, dtype=np.float64)
        self.calibration_offsets_ = panel.lengths[series] - np.asarray(ends)   # h for the last window
        self._errors, self._local_cache = scores, {}
        self.n_local_ = self._n_local(len(rows), len(scores))

    def _backtest_windows(self, cal: Panel, rows: np.ndarray, h: int, step: int, spread: bool,
                          covariates: Covariates | None = None) -> tuple:
        """Calibration forecasts of fits at the calibration origins (:func:`arforecast.backtest`)."""
        res = backtest(self.model, cal, h, n_windows=self.n_windows_, step=step, refit=self.refit_,
                       quantiles=self._spread_quantiles if spread else (),
                       num_samples=self.num_samples if spread and self.needs_samples_ else None,
                       seed=self.seed, progress=False, n_jobs=1, **covariate_kwargs(self.model, covariates))
        frame, lay = res.forecasts, cal.layout
        y = frame[lay.target_col].to_numpy().reshape(-1, h)
        point = frame["mean"].to_numpy().reshape(-1, h)
        series = rows[rows_of_ids(cal.ids, frame[lay.id_col].to_numpy()[::h])[0]]   # rows of the fit panel
        ends = res.windows.ends[res.windows.present]                  # series-major, like the frame
        width = None
        if spread:
            qcols = [f"q{q:g}" for q in self._spread_quantiles]
            width = frame[qcols[1]].to_numpy().reshape(-1, h) - frame[qcols[0]].to_numpy().reshape(-1, h)
        return y, point, width, series, ends

    def _final_windows(self, cal: Panel, rows: np.ndarray, h: int, step: int, spread: bool,
                       covariates: Covariates | None = None) -> tuple:
        """``refit="final"``: calibration forecasts of the final model, re-conditioned on each
        series cut at each calibration origin (window ``j`` ends ``j * step`` before the end)."""
        held = getattr(self.model_, "validation_length_", None)
        span = h + (self.n_windows_ - 1) * step
        if held is None or held < span:
            warnings.warn(f"Conformal(refit='final'): {type(self.model).__name__} did not hold the last {span} "
                          f"values out of its fit (validation_length_={held}), so its calibration errors are "
                          f"in-sample and the intervals may come out too narrow", UserWarning, stacklevel=4)
        ys, points, widths, series, ends = [], [], [], [], []
        for j in range(self.n_windows_):
            cut = cal.lengths - h - j * step
            fc = self.model_.predict(h, y=cal.head(cut), num_samples=self.num_samples if self.needs_samples_
                                     else None, seed=self.seed, **covariate_kwargs(self.model_, covariates))
            idx = cal.indptr[:-1, None] + cut[:, None] + np.arange(h)[None, :]
            ys.append(cal.values[idx])
            points.append(fc.point)
            if spread:
                lo, hi = fc.quantile_values(list(self._spread_quantiles))
                widths.append(hi - lo)
            series.append(rows)
            ends.append(cut)
        order = np.argsort(np.concatenate(series), kind="stable")      # series-major, like a backtest
        cat = lambda parts: np.concatenate(parts)[order]            # noqa: E731
        return (cat(ys), cat(points), cat(widths) if spread else None, cat(series), cat(ends))

    @property
    def _spread_quantiles(self) -> tuple[float, float]:
        """The quantiles whose distance is the model's spread (``method="normalized"``)."""
        a = (1.0 - float(self.spread_level)) / 2.0
        return (a, 1.0 - a)

    def _refit_used(self, h: int, step: int) -> bool | int | str:
        """``refit``, with ``"auto"`` resolved: ``"final"`` when the fitted model held out the
        values of every calibration window (``validation_length_`` at least their span)."""
        if self.refit != "auto":
            return self.refit
        held = getattr(self.model_, "validation_length_", None)
        span = h + (self.n_windows_ - 1) * step
        return "final" if isinstance(held, (int, np.integer)) and held >= span else True

    def _windows_used(self, panel: Panel, h: int) -> int:
        """``n_windows``, or fewer when the newest windows already hold every neighbour: with
        ``local_by_ == "recency"`` only the ``n_local_`` newest calibration forecasts are used, so
        older windows would be fitted for nothing (a global model on 100+ series: one window)."""
        if self.method == "series" or self.local is False or self.local_by_ != "recency":
            return int(self.n_windows)
        n_series = int(np.sum(panel.lengths >= self.model.min_length + h))   # series one window can calibrate
        if not n_series:
            return int(self.n_windows)
        k = max(n_series, MIN_LOCAL) if self.local is True else int(self.local)
        return int(min(self.n_windows, -(-k // n_series)))

    def _n_local(self, n_series: int, n_forecasts: int) -> int | None:
        """How many calibration forecasts each new one is calibrated on (``None``: all of them)."""
        if self.method == "series" or self.local is False:
            return None
        k = max(n_series, MIN_LOCAL) if self.local is True else int(self.local)
        return None if k >= n_forecasts else k

    def _scale(self, width: np.ndarray | None, base: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """The ``s`` of every forecast and step: the spread, the history scale or 1, never 0 or NaN."""
        base = np.where(np.isfinite(base) & (base > 0), base, 1.0)
        if self.method in ("pooled", "series"):
            return np.ones(shape)
        if self.method == "scaled":
            return np.broadcast_to(base[:, None], shape).copy()
        ok = np.isfinite(width) & (width > 0)
        return np.where(ok, width, base[:, None])

    def _store(self, scores: np.ndarray, series: np.ndarray, n_series: int, h: int) -> None:
        if self.symmetric:                       # every error and its mirror image: a law symmetric about 0
            scores, series = np.concatenate([scores, -scores]), np.concatenate([series, series])
        finite = np.isfinite(scores)
        pooled = [np.sort(scores[finite[:, k], k]) for k in range(h)]
        if any(not len(p) for p in pooled):
            raise DataError("Conformal: the calibration backtest gave no finite error at some step")
        sets = list(pooled)
        own = np.zeros(n_series, dtype=bool)
        if self.method == "series":
            for i in range(n_series):
                mine = series == i
                if mine.any():
                    own[i] = True
                    for k in range(h):
                        e = scores[mine & finite[:, k], k]
                        sets.append(np.sort(e) if len(e) else pooled[k])
        counts = np.array([len(s) for s in sets], dtype=np.int64)
        if self.method == "series" and own.any():
            n = int(counts[h:].min())
            if n < SERIES_SCORES_95:
                warnings.warn(f"Conformal(method='series'): {n} scores per series; central intervals above level "
                              f"{(n - 1) / (n + 1):.2f} are the largest score seen (95% needs {SERIES_SCORES_95}); "
                              f"use more windows or a pooled method", UserWarning, stacklevel=4)
        table = np.full((len(sets), int(counts.max())), np.inf)
        for t, s in enumerate(sets):
            table[t, :len(s)] = s
        self.scores_, self.counts_, self.calibrated_ = table, counts, own
        # row of the table of series i, step k: pooled k, or h + (rank of i among calibrated) * h + k
        self._own_row = np.where(own, np.cumsum(own) - 1, -1)

    # ------------------------------------------------------------------ forecasting
    def _set_index(self, panel: Panel, h: int) -> np.ndarray:
        steps = np.arange(h)[None, :]
        if self.method != "series":
            return np.broadcast_to(steps, (panel.n_series, h)).copy()
        rows = np.arange(panel.n_series) if panel is self.panel_ else rows_of_ids(self.ids_, panel.ids)[0]
        own = np.where(rows >= 0, self._own_row[np.maximum(rows, 0)], -1)
        return np.where(own[:, None] >= 0, self.h + own[:, None] * self.h + steps, steps)

    def _predict(self, panel: Panel, h: int, num_samples: int | None, seed: int | None,
                 covariates: Covariates | None = None, **options: Any) -> Forecast:
        if h > self.h:
            raise ValueError(f"this Conformal model was calibrated for horizons up to h={self.h}, got h={h}; "
                             f"refit it with Conformal(..., h={h})")
        if self.method == "series":
            self._series_rows(panel)                       # clear error for series not seen in fit
        history = None if panel is self.panel_ else panel
        options = {**covariate_kwargs(self.model_, covariates), **options}
        fc = self.model_.predict(h, num_samples=num_samples, seed=seed, y=history, **options)
        width = None
        if self.method == "normalized":
            src = fc
            if fc.marginals is None and fc.samples is None:
                src = self.model_.predict(h, num_samples=self.num_samples, seed=self.seed, y=history, **options)
            lo, hi = src.quantile_values(list(self._spread_quantiles))
            width = hi - lo
        base = history_scale(panel.values, panel.indptr)
        scale = self._scale(width, base, fc.point.shape)
        if self.n_local_ is not None:
            table, counts, index = self._local_sets(panel.lengths, h)
        else:
            table, counts, index = self.scores_, self.counts_, self._set_index(panel, h)
        law = ScoreLaw(fc.point, scale, table, counts, index)
        samples = None
        if num_samples is not None:
            samples = law.values_at(_ranks(fc.samples, num_samples, h, panel.n_series, seed))
        point = fc.point if self.symmetric else law.mean.numpy()
        return Forecast(panel, h, point, samples=samples, marginals=law, model=f"Conformal({fc.model})")


    def _local_sets(self, lengths: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One score set per distinct history length among ``lengths`` and step: the scores of the
        ``n_local_`` calibration forecasts whose histories are nearest that length (in log length;
        every forecast tied with the last one chosen is kept); for a global model one set, the
        ``n_local_`` forecasts nearest the end of their series (the newest fits)."""
        if self.local_by_ == "recency":              # one neighbourhood for all: the newest calibration fits
            lengths = np.zeros(len(lengths), dtype=np.int64)
        uniq, inverse = np.unique(lengths, return_inverse=True)
        sets = []
        for L in uniq:
            key = int(L)
            if key not in self._local_cache:
                if self.local_by_ == "recency":
                    d = self.calibration_offsets_
                else:
                    d = np.abs(np.log(self.calibration_lengths_ / max(key, 1)))
                pick = d <= np.partition(d, self.n_local_ - 1)[self.n_local_ - 1]
                own = []
                for k in range(self._errors.shape[1]):
                    e = self._errors[pick, k]
                    e = e[np.isfinite(e)]
                    if self.symmetric:
                        e = np.concatenate([e, -e])
                    own.append(np.sort(e) if len(e) else self._pooled_set(k))
                self._local_cache[key] = own
            sets.extend(self._local_cache[key][:h])
        counts = np.array([len(x) for x in sets], dtype=np.int64)
        table = np.full((len(sets), int(counts.max())), np.inf)
        for t, x in enumerate(sets):
            table[t, :len(x)] = x
        return table, counts, inverse[:, None] * h + np.arange(h)[None, :]

    def _pooled_set(self, k: int) -> np.ndarray:
        return self.scores_[k, :self.counts_[k]]


def _at_rows(panel: Panel, series: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``mean |diff|`` of series ``series[r]``'s first ``ends[r]`` values, for every forecast ``r``."""
    out = np.full(len(series), np.nan)
    for r, (i, e) in enumerate(zip(series, ends)):
        if e >= 2:
            v = panel.series(int(i))[:int(e)]
            out[r] = np.mean(np.abs(np.diff(v)))
    return out


def _ranks(samples: np.ndarray | None, num_samples: int, h: int, n: int, seed: int | None) -> np.ndarray:
    """``rank / (S + 1)`` of each sample at its step (ties by path order); independent uniforms
    on that grid when the wrapped model gave no paths."""
    if samples is None:
        rng = np.random.default_rng(seed)
        return rng.permuted(np.broadcast_to(np.arange(1, num_samples + 1)[None, :, None] / (num_samples + 1),
                                            (n, num_samples, h)), axis=1)
    S = samples.shape[1]
    order = np.argsort(samples, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(S)[None, :, None], axis=1)
    return (ranks + 1) / (S + 1)
