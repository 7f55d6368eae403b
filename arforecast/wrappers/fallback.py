"""WithFallback: a simpler model for the series the main model cannot fit or forecast.

A series falls back when it is shorter than the main model's ``min_length``, when fitting the
main model on it raises (a local model is then fitted on the other series only), or when the
main model's forecast for it is not finite. The other series get exactly the forecasts the main
model gives when it is fitted on them alone (bit-identical). Each fallback is recorded in
``fallback_reasons_`` and reported by one :class:`FallbackWarning` per fit (and per new series
that fails in ``predict``); a repeated identical warning is shown once by Python's default filter.

Because it is a forecaster, the fallback works wherever a forecaster does: ``fit``, ``predict``
(also with ``y=``), :func:`arforecast.backtest` and :func:`arforecast.detect_anomalies`.

Example:
    >>> import numpy as np, pandas as pd, warnings
    >>> import arforecast as af
    >>> rng = np.random.default_rng(0)
    >>> y = pd.DataFrame({"unique_id": ["a"] * 60 + ["b"] * 5, "ds": list(range(60)) + list(range(5)),
    ...                   "y": np.r_[rng.normal(size=60).cumsum(), 1.0, 2.0, 3.0, 2.0, 1.0]})
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", af.FallbackWarning)
    ...     model = af.WithFallback(af.AR(p=8), fallback=af.Naive()).fit(y)
    >>> model.fallback_reasons_
    {'b': 'too short for AR: 5 values, it needs 18'}
    >>> model.predict(2).mean["mean"].round(3).tolist()[2:]
    [1.0, 1.0]
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.base import clone

from arforecast.base import Forecaster, covariate_kwargs
from arforecast.data.covariates import Covariates
from arforecast.data.panel import Panel, rows_of_ids
from arforecast.exceptions import DataError, TrainingError
from arforecast.forecasts import Forecast
from arforecast.wrappers.laws import stack_rows, subset_rows

#: errors that make a series fall back (anything else is a bug and propagates)
FIT_ERRORS = (DataError, ValueError, ArithmeticError, RuntimeError, np.linalg.LinAlgError, TrainingError)


class FallbackWarning(UserWarning):
    """Some series are forecast by the fallback model (``fallback_reasons_`` says which and why)."""


class WithFallback(Forecaster):
    """``model`` for every series it can handle, ``fallback`` for the others.

    Args:
        model: the main forecaster.
        fallback: a simpler forecaster (e.g. :class:`~arforecast.Naive`), fitted on every series
            long enough for it, so that it can stand in for any of them.

    Fitted attributes: model_ (the main model, fitted on the series that did not fall back, or
    None if all did); fallback_model_; fallback_reasons_ (``{series id: reason}``, only the
    series that fell back); uses_fallback_ (boolean per series of ``ids_``).
    """

    def __init__(self, model: Forecaster, fallback: Forecaster) -> None:
        self.model = model
        self.fallback = fallback

    @property
    def min_length(self) -> int:
        return min(self.model.min_length, self.fallback.min_length)

    @property
    def can_recondition(self) -> bool:  # type: ignore[override]
        return self.model.can_recondition and self.fallback.can_recondition

    @property
    def supports_covariates(self) -> bool:  # type: ignore[override]
        """True when the model or the fallback reads covariates (each gets them if it does)."""
        return bool(getattr(self.model, "supports_covariates", False) or
                    getattr(self.fallback, "supports_covariates", False))

    # ------------------------------------------------------------------ fit
    def _fit(self, panel: Panel, covariates: Covariates | None = None) -> None:
        for m, name in ((self.model, "model"), (self.fallback, "fallback")):
            if not isinstance(m, Forecaster):
                raise TypeError(f"{name} must be an arforecast Forecaster, got {type(m).__name__}")
        name = type(self.model).__name__
        reasons: dict[Any, str] = {}
        need = self.model.min_length
        for i in np.flatnonzero(panel.lengths < need):
            reasons[panel.ids[i]] = f"too short for {name}: {panel.lengths[i]} values, it needs {need}"
        main = np.array([uid not in reasons for uid in panel.ids])
        self.model_ = None
        if main.any():
            self.model_, failed = self._fit_main(panel, np.flatnonzero(main), covariates)
            for uid, why in failed.items():
                reasons[uid] = why
                main[list(panel.ids).index(uid)] = False
        long_enough = np.flatnonzero(panel.lengths >= self.fallback.min_length)
        fb_panel = panel if len(long_enough) == panel.n_series else panel.subset(long_enough)
        self.fallback_model_ = clone(self.fallback).fit(fb_panel, **covariate_kwargs(self.fallback, covariates))
        orphans = [uid for uid in reasons if uid not in set(fb_panel.ids)]
        if orphans:
            raise DataError(f"series {orphans[:5]} fit neither {name} ({[reasons[u] for u in orphans[:2]]}) nor "
                            f"the fallback {type(self.fallback).__name__} (it needs {self.fallback.min_length} values)")
        self.fallback_reasons_ = reasons
        self.uses_fallback_ = ~main
        self._warn(list(reasons))

    def _fit_main(self, panel: Panel, rows: np.ndarray, covariates: Covariates | None = None
                  ) -> tuple[Forecaster | None, dict[Any, str]]:
        """The main model fitted on ``rows``; a local model that fails is fitted on the series that
        fit alone, the others are returned with the error."""
        sub = panel if len(rows) == panel.n_series else panel.subset(rows)
        kw = covariate_kwargs(self.model, covariates)
        try:
            return clone(self.model).fit(sub, **kw), {}
        except FIT_ERRORS as err:
            if self.model.is_global:
                raise
            whole = err
        failed = {}
        for i in range(sub.n_series):
            try:
                clone(self.model).fit(sub.subset([i]), **kw)
            except FIT_ERRORS as err:
                failed[sub.ids[i]] = f"{type(self.model).__name__}.fit failed: {err}"
        if not failed or len(failed) == sub.n_series:
            raise whole                     # no single series to blame, or a model that fits none
        good = [i for i in range(sub.n_series) if sub.ids[i] not in failed]
        return (clone(self.model).fit(sub.subset(good), **kw) if good else None), failed

    def _warn(self, ids: list) -> None:
        if ids:
            shown = ", ".join(repr(u) for u in ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
            warnings.warn(f"{len(ids)} series use the fallback {type(self.fallback).__name__} instead of "
                          f"{type(self.model).__name__}: {shown} (see fallback_reasons_)", FallbackWarning,
                          stacklevel=4)

    # ------------------------------------------------------------------ predict
    def _predict(self, panel: Panel, h: int, num_samples: int | None, seed: int | None,
                 covariates: Covariates | None = None, **options: Any) -> Forecast:
        if panel is self.panel_:
            fb = self.uses_fallback_.copy()
        else:
            rows, _ = rows_of_ids(self.ids_, panel.ids)
            fb = np.where(rows >= 0, self.uses_fallback_[np.maximum(rows, 0)], False)
            fb |= panel.lengths < self.model.min_length
        if self.model_ is None:
            fb[:] = True
        main_rows = np.flatnonzero(~fb)
        main_fc = None
        if len(main_rows):
            history = None
            if not (panel is self.panel_ and self.model_.panel_.n_series == len(main_rows)):
                history = panel if len(main_rows) == panel.n_series else panel.subset(main_rows)
            main_fc = self.model_.predict(h, num_samples=num_samples, seed=seed, y=history,
                                          **covariate_kwargs(self.model_, covariates), **options)
            bad = ~np.isfinite(main_fc.point).all(axis=1)
            if main_fc.samples is not None:
                bad |= ~np.isfinite(main_fc.samples).all(axis=(1, 2))
            if bad.any():
                new = [panel.ids[i] for i in main_rows[bad] if panel.ids[i] not in self.fallback_reasons_]
                for uid in new:
                    self.fallback_reasons_[uid] = f"{type(self.model).__name__} forecast is not finite"
                self._warn(new)
                fb[main_rows[bad]] = True
        fb_rows = np.flatnonzero(fb)
        if not len(fb_rows):
            return main_fc
        history = None if (panel is self.panel_ and len(fb_rows) == self.fallback_model_.panel_.n_series
                           and np.array_equal(self.fallback_model_.ids_, panel.ids)) \
            else panel.subset(fb_rows)
        fb_fc = self.fallback_model_.predict(h, num_samples=num_samples, seed=seed, y=history,
                                             **covariate_kwargs(self.fallback_model_, covariates), **options)
        if len(fb_rows) == panel.n_series:
            return fb_fc
        keep = ~fb[main_rows]                             # main rows whose forecast stands
        parts = [(main_rows[keep], main_fc, keep), (fb_rows, fb_fc, None)]
        point = np.empty((panel.n_series, h))
        samples = None if num_samples is None else np.empty((panel.n_series, num_samples, h))
        laws, law_rows = [], []
        for rows, fc, sel in parts:
            sel = slice(None) if sel is None else sel
            point[rows] = fc.point[sel]
            if samples is not None:
                samples[rows] = fc.samples[sel]
            law = fc.marginals
            if law is not None and not isinstance(sel, slice):
                law = subset_rows(law, np.flatnonzero(sel))
            laws.append(law)
            law_rows.append(rows)
        return Forecast(panel, h, point, samples=samples, marginals=stack_rows(laws, law_rows, panel.n_series),
                        model=f"WithFallback({main_fc.model}, {fb_fc.model})")
