"""Forecaster: the contract every model follows (scikit-learn conventions).

* ``__init__`` stores its parameters, nothing else (so ``get_params``/``set_params``/``clone`` work);
* ``fit(y) -> self`` validates ``y`` through the data layer and sets trailing-underscore attributes;
* ``predict(h, num_samples=None, seed=None, y=None) -> Forecast``; ``y`` re-conditions a fitted model
  on newer histories of the same series without refitting (backtests and anomaly detection use it).
* covariates: ``fit(y, X=..., static=..., past_only=...)`` and ``predict(h, X_future=..., X=...)``
  (:mod:`arforecast.data.covariates`, docs/covariates.md); a model that uses them sets
  ``supports_covariates = True`` and receives them as ``covariates=`` in ``_fit`` and ``_predict``;
  the others warn that they ignore them.

A subclass implements ``_fit(panel)`` and ``_predict(panel, h, num_samples, seed, **options)``
and declares ``min_length`` (observations a series needs).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from arforecast.data.covariates import Covariates, build_covariates
from arforecast.data.frames import check_horizon, check_min_length, to_panel
from arforecast.data.panel import Panel, in_sample_scales, rows_of_ids
from arforecast.exceptions import DataError, NotFittedError
from arforecast.forecasts import Forecast
from arforecast.resources import check_forecast_request


class Forecaster(BaseEstimator):
    """Base class of every arforecast model.

    Subclasses set ``can_recondition = False`` if ``predict(y=...)`` would need a refit.

    Example:
        >>> import numpy as np, pandas as pd
        >>> from arforecast import SeasonalNaive
        >>> y = pd.Series(np.tile([1.0, 2.0, 3.0], 5))
        >>> SeasonalNaive(season_length=3).fit(y).predict(4).mean["mean"].tolist()
        [1.0, 2.0, 3.0, 1.0]
    """

    can_recondition: bool = True
    #: True when the model's parameters are shared by all series (a global model): it can then
    #: forecast series it was not fitted on.
    is_global: bool = False
    #: True when the model reads covariates (``fit(y, X=...)``); the others ignore them with a warning
    supports_covariates: bool = False

    # ------------------------------------------------------------------ public API
    def fit(self, y: Any, X: Any = None, *, static: Any = None, past_only: Any = (), freq: Any = None,
            **columns: str) -> "Forecaster":
        """Fit to ``y`` (Series, wide or long DataFrame; see :func:`arforecast.data.to_panel`).

        ``X`` holds time-varying covariates on ``y``'s timestamps, ``static`` per-series ones, and
        ``past_only`` names the covariates of ``X`` known only up to each forecast origin
        (docs/covariates.md); models with ``supports_covariates = False`` ignore them and warn.
        """
        panel = to_panel(y, freq=freq, **columns)
        check_min_length(panel, self.min_length, type(self).__name__ + self._describe_need())
        for stale in ("covariates_", "covariate_spec_"):
            self.__dict__.pop(stale, None)
        cov = None
        if X is not None or static is not None:
            if isinstance(past_only, str):
                past_only = (past_only,)
            cov = build_covariates(panel, X, static=static, past_only=tuple(past_only))
            if not self.supports_covariates:
                _warn_ignored(self)
                cov = None
        if cov is None:
            self._fit(panel)
        else:
            self._fit(panel, covariates=cov)
        kept = self._kept_history(panel)
        if kept is not panel:              # a lean model: the in-sample scales score() needs, then the tails
            self.insample_scales_ = in_sample_scales(panel)
        self.panel_ = kept
        self.ids_ = panel.ids
        self.n_series_ = panel.n_series
        if cov is not None:
            self.covariate_spec_ = cov.spec()
            self.covariates_ = cov if kept is panel else cov.window(kept.origins, int(kept.lengths.max(initial=0)))
        return self

    def predict(self, h: int, num_samples: int | None = None, seed: int | None = None, *,
                y: Any = None, X: Any = None, X_future: Any = None, static: Any = None,
                **options: Any) -> Forecast:
        """Forecast ``h`` steps after the end of each fitted series (or of ``y``, if given).

        A request whose sample paths would not fit in memory is refused before anything is
        allocated (:class:`~arforecast.resources.MemoryRequestError`, see
        :mod:`arforecast.resources`).

        Args:
            h: horizon, a positive integer.
            num_samples: if given, also draw this many sample paths per series.
            seed: makes sample paths reproducible.
            y: newer histories of the fitted series to forecast from, without refitting.
            X_future: the future-known covariates on the ``h`` timestamps after each series
                (a model fitted with covariates; docs/covariates.md).
            X: the covariates over the history of ``y`` (default: those kept at fit).
            static: per-series covariates of ``y``'s series (default: those given at fit).
            options: model-specific prediction options (e.g. decoding strategy).
        """
        self._check_fitted()
        h = check_horizon(h)
        if num_samples is not None and (isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer))
                                        or num_samples < 1):
            raise ValueError(f"num_samples must be a positive integer or None, got {num_samples!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed must be None or a non-negative integer, got {seed!r}")
        if y is None:
            panel = self.panel_
        else:
            panel = to_panel(y, freq=self.panel_.freq if self.panel_.freq is not None else None,
                             **self._layout_columns())
            check_min_length(panel, self.min_length, type(self).__name__ + self._describe_need())
        check_forecast_request(panel.n_series, h, num_samples)
        ns = None if num_samples is None else int(num_samples)
        cov = self._predict_covariates(panel, h, X, X_future, static)
        if cov is None:
            return self._predict(panel, h, ns, seed, **options)
        return self._predict(panel, h, ns, seed, covariates=cov, **options)

    def _predict_covariates(self, panel: Panel, h: int, X: Any, X_future: Any, static: Any) -> Covariates | None:
        """The covariates of a forecast: history from ``X`` (else those kept at fit), the future from
        ``X_future``, static values from ``static`` (else those of fit)."""
        spec = getattr(self, "covariate_spec_", None)
        if spec is None:
            if X is not None or X_future is not None or static is not None:
                if self.supports_covariates:
                    raise DataError(f"{type(self).__name__} was fitted without covariates: refit with "
                                    "fit(y, X=...) to use X_future")
                _warn_ignored(self)
            return None
        kept = self.covariates_
        return build_covariates(panel, X, X_future=X_future, h=h, spec=spec, fallback=kept, history=False,
                                static=static if static is not None else (kept if spec["static_names"] else None))

    def fit_predict(self, y: Any, h: int, num_samples: int | None = None, seed: int | None = None, *,
                    X: Any = None, X_future: Any = None, static: Any = None, past_only: Any = (),
                    **options: Any) -> Forecast:
        """``fit(y, X=...)`` then ``predict(h, X_future=...)``."""
        return self.fit(y, X, static=static, past_only=past_only).predict(h, num_samples=num_samples, seed=seed,
                                                                          X_future=X_future, **options)

    def score(self, y: Any, _unused: Any = None, *, metric: str = "mase", season_length: int | None = None) -> float:
        """Minus the error of the forecast of ``y``, the values right after the fitted data.

        **Higher is better** (scikit-learn's convention): ``-MASE`` by default, or ``-MAE``,
        ``-RMSE``, ``-sMAPE`` with ``metric="mae" | "rmse" | "smape"``; 0 is a perfect forecast.
        Each series of ``y`` is forecast as far as its values reach. With
        :class:`~arforecast.evaluation.selection.ForecastSplit` as ``cv``, scikit-learn's
        ``cross_val_score`` and ``GridSearchCV`` use it directly (the second argument, scikit-learn's
        ``y``, is ignored). See :func:`arforecast.evaluation.selection.forecast_score`.

        Example:
            >>> import numpy as np, pandas as pd
            >>> from arforecast import SeasonalNaive
            >>> y = pd.Series(np.tile([1.0, 2.0, 3.0], 6), index=pd.date_range("2024", periods=18, freq="D"))
            >>> SeasonalNaive(3).fit(y.iloc[:12]).score(y.iloc[12:])
            -0.0
        """
        from arforecast.evaluation.selection import forecast_score  # evaluation sits above the models
        return forecast_score(self, y, metric=metric, season_length=season_length)

    # ------------------------------------------------------------------ for subclasses
    @property
    def min_length(self) -> int:
        """Observations each series needs to be fitted or forecast from."""
        return 1

    def _kept_history(self, panel: Panel) -> Panel:
        """What of the training panel a fitted model keeps as ``panel_`` (``predict()`` forecasts
        from it): all of it by default; a model whose forecasts read only the last values of each
        series returns ``panel.tail(width)`` and stays small whatever the length of the history."""
        return panel

    def _describe_need(self) -> str:
        return ""

    def _fit(self, panel: Panel) -> None:
        raise NotImplementedError

    def _predict(self, panel: Panel, h: int, num_samples: int | None, seed: int | None,
                 **options: Any) -> Forecast:
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not hasattr(self, "panel_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(y) first")

    def _layout_columns(self) -> dict[str, str]:
        lay = self.panel_.layout
        return {"id_col": lay.id_col, "time_col": lay.time_col, "target_col": lay.target_col, **dict(lay.options)}

    def _series_rows(self, panel: Panel) -> np.ndarray:
        """Index of each of ``panel``'s series among the fitted ones (local models need it)."""
        if panel is self.panel_:
            return np.arange(panel.n_series)
        rows, missing = rows_of_ids(self.ids_, panel.ids)
        if missing:
            raise DataError(f"{type(self).__name__} was not fitted on series {missing[:5]}; "
                            "refit, or forecast only series seen in fit")
        return rows


def covariate_kwargs(model: Any, covariates: Covariates | None) -> dict:
    """The ``fit``/``predict`` keywords handing ``covariates`` on to a wrapped ``model``: ``X`` (and
    ``static``) when the model reads covariates, nothing otherwise (the wrapper has warned, or
    another of its models uses them).

    Example:
        >>> import numpy as np, pandas as pd
        >>> import arforecast as af
        >>> from arforecast.data import to_panel
        >>> from arforecast.data.covariates import build_covariates
        >>> idx = pd.date_range("2024-01-01", periods=30, freq="D")
        >>> panel = to_panel(pd.Series(np.sin(np.arange(30.0)) + 5, index=idx))
        >>> cov = build_covariates(panel, pd.DataFrame({"temp": np.cos(np.arange(30.0))}, index=idx))
        >>> covariate_kwargs(af.Naive(), cov)             # Naive reads no covariates
        {}
        >>> sorted(covariate_kwargs(af.ARX(p=1), cov))
        ['X', 'static']
    """
    if covariates is None or not getattr(model, "supports_covariates", False):
        return {}
    return {"X": covariates, "static": covariates if covariates.static_names else None}


def one_step_probe(model: Forecaster, panel: Panel, covariates: Covariates | None) -> Any:
    """A one-step forecast of the fitted ``model``, to see what kind of forecast it gives
    (marginals or samples only); with covariates, from each history less its last value, so that
    the covariates of fit cover the step forecast.

    Example:
        >>> import numpy as np, pandas as pd
        >>> import arforecast as af
        >>> from arforecast.data import to_panel
        >>> from arforecast.data.covariates import build_covariates
        >>> idx = pd.date_range("2024-01-01", periods=30, freq="D")
        >>> panel = to_panel(pd.Series(np.sin(np.arange(30.0)) + 5, index=idx))
        >>> cov = build_covariates(panel, pd.DataFrame({"temp": np.cos(np.arange(30.0))}, index=idx))
        >>> fc = one_step_probe(af.ARX(p=1).fit(panel, X=cov), panel, cov)
        >>> fc.point.shape, fc.marginals is not None       # one step; closed-form marginals
        ((1, 1), True)
    """
    kw = covariate_kwargs(model, covariates)
    if not kw:
        return model.predict(1)
    return model.predict(1, y=panel.head(np.maximum(panel.lengths - 1, 1)), **kw)


def _warn_ignored(model: Forecaster) -> None:
    import warnings
    warnings.warn(f"{type(model).__name__} does not use covariates: X, X_future and static are ignored "
                  "(ARX and NeuralAR use them; docs/covariates.md)", UserWarning, stacklevel=4)
