"""AR(p): linear autoregression per series, exact as statsmodels, for a whole panel at once.

**Model.** For every series ``y`` (its own coefficients)

    y_t = c + delta (t + 1) + sum_{l in lags} phi_l y_{t-l} + e_t,    e_t ~ N(0, sigma^2),

with ``lags = 1..p`` plus optional seasonal lags, and ``trend`` choosing the deterministic terms as
statsmodels' ``AutoReg``: ``"n"`` none, ``"c"`` the constant ``c``, ``"t"`` the time trend
``delta (t + 1)`` (``t = 0`` at the series' first observation), ``"ct"`` both.

**Estimation.** Conditional least squares on ``t = hold_back .. n-1`` with ``hold_back`` the largest
lag, ``sigma^2 = SSR / nobs`` (statsmodels' convention). All series are estimated together by
:mod:`arforecast.models.ar_kernels`: lag cross products in O(p*T) per series, then one batched
triangular solve. ``p="aic"`` or ``"bic"`` picks each series' order in ``0..max_p`` as statsmodels'
``ar_select_order`` does (every order fitted on the sample after ``max_p`` values, the chosen one
refitted on its own sample).

**Forecasts.** The model is a :class:`~arforecast.rollout.protocol.Stepper` and the shared rollout
engine produces its paths: the point forecast is the mean path (statsmodels' recursive forecast);
sample paths draw Gaussian innovations, or with ``bootstrap=True`` the series' own centred
in-sample residuals. The exact Gaussian marginals come from the MA(infinity) weights ``psi``:
the ``j``-step error variance is ``sigma^2 sum_{i<j} psi_i^2`` (statsmodels' ``get_prediction``).

**Automatic mode** (``AR()``, ``p="auto"``): per series, a multiplicative seasonal adjustment
where the seasonality test finds the frequency's season, ``d`` by KPSS, seasonal AR lags at the
frequency's longer periods, and the order by AICc up to a cap from the series' length
(:mod:`arforecast.models.ar_auto`). The model of the differenced series is integrated into one AR on
the (adjusted) levels (:mod:`arforecast.models.differencing`), so the rollout, the psi-weight
intervals and new histories need nothing more; seasonal indices are applied by calendar phase.

**New histories.** ``predict(h, y=...)`` applies the fitted coefficients to newer histories of the
same series without refitting. The time trend continues from the first timestamp of the series
seen in ``fit``: a history that starts later (a rolling window) is placed by its timestamps.

Example:
    >>> import numpy as np, pandas as pd
    >>> import arforecast as af
    >>> from arforecast.datasets import simulate_ar
    >>> df = simulate_ar([0.6, -0.3], n_series=3, length=300, intercept=1.0, seed=0)
    >>> model = af.AR(p=2).fit(df)
    >>> model.coef_.shape, bool(np.all(np.abs(model.coef_ - [0.6, -0.3]) < 0.2))
    ((3, 2), True)
    >>> fc = model.predict(h=5)
    >>> fc.to_frame(levels=[0.9]).columns.tolist()
    ['unique_id', 'ds', 'mean', 'q0.05', 'q0.95']
"""
from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import torch

from arforecast.base import Forecaster
from arforecast.data.panel import Panel
from arforecast.distributions import Distribution, Normal, StudentT
from arforecast.forecasts import Forecast
from arforecast.exceptions import DataError
from arforecast.models import ar_auto, ar_calibration, ar_groups, ar_kernels as K, transforms as T
from arforecast.models.ar_combination import combined_sd, interval_scale, member_specs, member_weights
from arforecast.models.differencing import difference, level_polynomial, loss
from arforecast.rollout.engine import rollout
from arforecast.rollout.missing import plan_replay, replay_lengths
from arforecast.rollout.protocol import Context, State

CRITERIA = ("aic", "aicc", "bic")
TRANSFORMS = ("log", "boxcox")
#: the automatic mode, ``AR()``'s default (docs/ar.md)
AUTO = "auto"
#: the criterion of the automatic mode (chosen on validation windows, docs/ar.md)
AUTO_CRITERION = "aicc"
#: sample paths drawn for intervals when ``bootstrap=True`` and ``predict`` is given no ``num_samples``
DEFAULT_BOOTSTRAP_SAMPLES = 1000
#: the automatic mode fits series of at least this many observed values; shorter ones get the
#: naive fallback (:meth:`AR._fit_short`)
AUTO_MIN_VALUES = 3


class AR(Forecaster):
    """Autoregression of order ``p`` with a trend, fitted per series by conditional least squares.

    Args:
        p: ``"auto"`` (default: everything chosen per series, docs/ar.md), the order (lags
            ``1..p``), or ``"aic"``/``"aicc"``/``"bic"`` to choose it per series in ``0..max_p``
            (capped by what each series' length can estimate).
        trend: ``"n"``, ``"c"`` (default), ``"t"`` or ``"ct"``, as statsmodels ``AutoReg``.
        max_p: largest order considered when ``p`` is a criterion (with ``"auto"``: optional).
        seasonal_lags: extra lags always in the model, e.g. ``(24, 168)`` for hourly data
            (statsmodels: ``AutoReg(y, lags=[1, ..., p, 24, 168])``); default none, or per series
            with ``p="auto"``.
        bootstrap: sample paths from the series' own residuals instead of Gaussian innovations;
            intervals then come from sample paths (``DEFAULT_BOOTSTRAP_SAMPLES`` if none asked).
        d: differences at lag 1; default 0, chosen per series by KPSS with ``p="auto"`` or ``d="auto"``.
        D: seasonal differences at ``season_length``.
        season_length: default the frequency's main season (``Panel.season_length``).
        deseasonalize: multiplicative seasonal adjustment where the seasonality test finds the
            season; default on with ``p="auto"``, off otherwise.
        combine: forecast the mean of the automatic model and its ``d = 0``, ``d = 1`` with and
            without drift variants (:mod:`arforecast.models.ar_combination`); default on with
            ``p="auto"`` when ``d`` and ``trend`` are left at their defaults.
        transform: ``None`` (default), ``"log"`` or ``"boxcox"`` (lambda per series by Guerrero's
            method), applied to each series first; a series with a zero or negative value gets none,
            with the reason in ``summary()`` (:mod:`arforecast.models.transforms`).
        bias_adjust: with a transform, forecast the mean of the back-transformed distribution
            instead of its median (the back-transformed mean path); intervals are unchanged.
        calibrate: widen the combination's intervals by the factor each series' own forecasts of
            the last values of its training part need (:mod:`arforecast.models.ar_calibration`);
            default on with the combination (``"series"``); ``"pooled"``: one factor for the panel;
            ``False``: the analytic intervals.

    Fitted attributes (one row per series, in the order of ``ids_``):
        lags_: the lag of each column of ``coef_``; coef_: ``[n, len(lags_)]`` AR coefficients
        (0 for lags beyond a series' order); intercept_, trend_coef_: ``c`` and ``delta`` (0 when
        absent); sigma2_: innovation variance ``SSR / nobs``; order_: each series' ``p``;
        hold_back_, nobs_: held-back and estimation observations; aic_, bic_: statsmodels'
        ``AutoRegResults.aic``/``bic``; criteria_: ``[n, max_p + 1]`` criterion of every order
        (order selection only); residuals_: ``[n, max nobs]`` centred residuals, NaN-padded
        (``bootstrap=True`` only). These are the model of the differenced, adjusted series.
        d_, D_, season_length_, adjusted_, seasonal_index_ (``[n, m]`` by calendar phase),
        seasonal_lags_, max_order_, fallback_ (series of 1-2 values: the naive fallback, and why):
        the choices (also ``summary()``); interval_factor_, calibration_h_, calibration_errors_: the
        holdout calibration of the combination's intervals; level_coef_, level_lags_,
        level_intercept_: the same model on the levels, which forecasts; context_lengths_: the
        values each series' model reads.

    Example:
        >>> import pandas as pd
        >>> from arforecast.datasets import simulate_ar
        >>> df = simulate_ar([0.5, 0.2], n_series=2, length=500, seed=1)
        >>> AR(p="bic", max_p=8).fit(df).order_.tolist()
        [2, 2]
    """

    def __init__(self, p: int | str = AUTO, trend: str = "c", max_p: int | None = None,
                 seasonal_lags: tuple[int, ...] | None = None, bootstrap: bool = False,
                 d: int | str | None = None, D: int = 0, season_length: int | None = None,
                 deseasonalize: bool | None = None, combine: bool | None = None,
                 transform: str | None = None, bias_adjust: bool = False, calibrate: bool | str | None = None) -> None:
        self.p = p
        self.trend = trend
        self.max_p = max_p
        self.seasonal_lags = seasonal_lags
        self.bootstrap = bootstrap
        self.d = d
        self.D = D
        self.season_length = season_length
        self.deseasonalize = deseasonalize
        self.combine = combine
        self.transform = transform
        self.bias_adjust = bias_adjust
        self.calibrate = calibrate

    # ------------------------------------------------------------------ parameters
    def _spec(self) -> tuple[int, str | None, tuple[int, ...]]:
        """Validated ``(largest order, criterion or None, seasonal lags)``; in the automatic mode the
        largest order is ``max_p`` or 0 (the length rule decides) and the seasonal lags are the given ones."""
        if self.trend not in K.TRENDS:
            raise ValueError(f"trend must be one of {K.TRENDS}, got {self.trend!r}")
        seasonal = tuple(sorted({_positive_int(s, "seasonal_lags entries") for s in self.seasonal_lags or ()}))
        if self.p == AUTO:
            return (0 if self.max_p is None else _non_negative_int(self.max_p, "max_p")), AUTO_CRITERION, seasonal
        if isinstance(self.p, str):
            if self.p not in CRITERIA:
                raise ValueError(f"p must be a non-negative integer, {AUTO!r} or one of {CRITERIA}, got {self.p!r}")
            if self.max_p is None:
                raise ValueError(f"p={self.p!r} chooses the order in 0..max_p: give max_p, "
                                 f"e.g. AR(p={self.p!r}, max_p=24), or use AR() to choose everything")
            return _non_negative_int(self.max_p, "max_p"), self.p, seasonal
        return _non_negative_int(self.p, "p"), None, seasonal

    def _differencing(self) -> tuple[int | None, int]:
        """``(d, D)``: ``d`` None when chosen per series (the automatic mode's default, or ``d="auto"``)."""
        d = self.d
        if d == AUTO or (d is None and self.p == AUTO):
            d = None
        elif d is None:
            d = 0
        else:
            d = _non_negative_int(d, "d")
        return d, _non_negative_int(self.D, "D")

    @property
    def min_length(self) -> int:
        max_p, criterion, seasonal = self._spec()
        d, D = self._differencing()
        lost = (d or 0) + D * (self.season_length or 1)
        if self.p == AUTO and self.combine is not False:   # shorter series: the naive fallback
            return 1
        if criterion is not None:              # orders are capped per series: order 0 must fit
            max_p = 0
        hold = max((max_p,) + seasonal)
        n_params = K.deterministic_count(self.trend) + len(set(range(1, max_p + 1)) | set(seasonal))
        return lost + hold + n_params + 1 + int(criterion == AUTO_CRITERION and self.p == AUTO)

    def _describe_need(self) -> str:
        return (f"(p={self.p!r}, max_p={self.max_p!r}, seasonal_lags={self.seasonal_lags!r}, trend={self.trend!r}, "
                f"d={self.d!r}, D={self.D!r})")

    @property
    def context_width(self) -> int:
        """Values the rollout state holds: the largest fitted lag (see :mod:`arforecast.rollout.protocol`)."""
        self._check_fitted()
        return max(int(self._params()["width"]), 1)

    # ------------------------------------------------------------------ estimation
    def _fit(self, panel: Panel) -> None:
        if self.p == AUTO:
            observed = ar_auto.observed_counts(panel.values, panel.indptr)
            if (observed < AUTO_MIN_VALUES).any():
                self._fit_short(panel, observed)
                return
        self._fit_panel(panel)
        self.fallback_ = _constant_reasons(panel)

    def _fit_short(self, panel: Panel, observed: np.ndarray) -> None:
        """The automatic mode with series of fewer than ``AUTO_MIN_VALUES`` observed values: the others
        are fitted as usual; these forecast their last value (a random walk, every member alike) with
        the variance of their one difference (two values; Student-t with 1 degree of freedom, and the
        drift's error as for any ``d = 1`` member: honestly wide) or no interval (one value: NaN).
        ``fallback_`` / ``summary()["fallback"]`` say which and why."""
        if (observed == 0).any():
            raise DataError(f"AR: series {[panel.ids[i] for i in np.flatnonzero(observed == 0)[:5]]} have no "
                            "observed value: there is nothing to forecast from")
        short = observed < AUTO_MIN_VALUES
        long_rows, short_rows = np.flatnonzero(~short), np.flatnonzero(short)
        if not len(long_rows):
            raise DataError(f"AR: every series has fewer than {AUTO_MIN_VALUES} observed values (e.g. "
                            f"{panel.ids[0]!r}): nothing to fit the automatic model to; use Naive()")
        self._fit_panel(panel.subset(long_rows))
        reasons = _constant_reasons(panel.subset(long_rows))
        sigma2 = np.full(len(short_rows), np.nan)
        for j, i in enumerate(short_rows):
            y = panel.series(i)
            y = y[~np.isnan(y)]
            if len(y) == 2:
                sigma2[j] = (y[1] - y[0]) ** 2
        for model in [self] + list(getattr(self, "members_", [])):
            _expand_with_naive(model, panel, long_rows, short_rows, sigma2)
            model.__dict__.pop("fallback_", None)            # the reasons are the combination's
            if model is not self:
                model.ids_ = panel.ids
        self.fallback_ = [""] * panel.n_series
        for k, i in enumerate(long_rows):
            self.fallback_[i] = reasons[k]
        for j, i in enumerate(short_rows):
            self.fallback_[i] = (f"{int(observed[i])} observed value{'s' if observed[i] > 1 else ''}: the last value, "
                                 + ("t(1) intervals from its one difference" if observed[i] == 2 else "no interval"))
        self._tensors = None

    def _fit_panel(self, panel: Panel) -> None:
        max_p, criterion, seasonal = self._spec()
        d, D = self._differencing()
        combining = self._combining()
        for stale in ("criteria_", "residuals_", "members_", "member_weights_", "interval_factor_",
                      "calibration_h_", "calibration_errors_", "fallback_"):          # from an earlier fit with other options
            self.__dict__.pop(stale, None)
        self.lambda_, self.transform_reason_ = np.full(panel.n_series, np.nan), [""] * panel.n_series
        if self.transform is not None:
            if self.transform not in TRANSFORMS:
                raise ValueError(f"transform must be None or one of {TRANSFORMS}, got {self.transform!r}")
            m0 = panel.season_length if self.season_length is None else int(self.season_length)
            self.lambda_, self.transform_reason_ = T.choose_lambdas(panel.values, panel.indptr, self.transform, m0,
                                                                      T.AR_LOWER, T.AR_UPPER)
            panel = replace(panel, values=T.transform(panel.values, panel.indptr, self.lambda_))
        auto = self.p == AUTO
        m = panel.season_length if self.season_length is None else _positive_int(self.season_length, "season_length")
        n = panel.n_series
        values, indptr = panel.values, panel.indptr
        # 1. seasonal adjustment (multiplicative indices by calendar phase)
        table, adjusted = np.ones((n, m)), np.zeros(n, dtype=bool)
        if (auto if self.deseasonalize is None else bool(self.deseasonalize)) and m > 1:
            table, adjusted = ar_auto.seasonal_indices(values, indptr, panel.origins, m)
            if adjusted.any():
                values = ar_auto.adjust(values, indptr, panel.origins, table)
        # 2. differencing
        d_ = ar_auto.choose_d(values, indptr) if d is None else np.full(n, d, dtype=np.int64)
        D_ = np.full(n, D, dtype=np.int64)
        short = np.flatnonzero(panel.lengths <= loss(d_, D_, m))
        if len(short):
            raise DataError(f"AR: series {[panel.ids[i] for i in short[:5]]} have no values left after "
                            f"differencing (d={self.d!r}, D={D}, season_length={m})")
        if (d_ > 0).any() or D > 0:
            values, indptr = difference(values, indptr, d_, D_, m)
        lengths = np.diff(indptr)
        # 3. seasonal lags and the largest order of each series
        if self.seasonal_lags is None and auto:
            lags_of = ar_auto.seasonal_lags_for(panel.season_lengths, lengths)
        else:
            lags_of = [seasonal] * n
        if criterion is None:
            caps = np.full(n, max_p)
        else:                               # with missing values, the observed ones bound the order
            caps = ar_auto.order_caps(ar_auto.observed_counts(values, indptr), K.deterministic_count(self.trend), np.array([len(s) for s in lags_of]),
                                      np.array([max(s, default=0) for s in lags_of]),
                                      None if auto and self.max_p is None else max_p,
                                      spare=2 if criterion == "aicc" else 1)
        if criterion is not None:           # missing values: count the rows an order is estimated on
            caps = ar_auto.complete_row_caps(values, indptr, caps, lags_of, K.deterministic_count(self.trend),
                                             2 if criterion == "aicc" else 1, False)
        too_short = np.flatnonzero(lengths - np.array([max(s, default=0) for s in lags_of])
                                   < np.maximum(caps, 0) + K.deterministic_count(self.trend) + 1)
        if len(too_short):                   # only seasonal lags given explicitly can cause this
            raise DataError(f"AR: series {[panel.ids[i] for i in too_short[:5]]} are too short for "
                            f"seasonal_lags={self.seasonal_lags!r} after differencing")
        # 4. orders and coefficients
        # with missing values, orders are compared on the rows complete for the largest one (one common
        # sample, as ar_select_order); chosen on validation windows over interpolated-series selection
        est = ar_groups.estimate(values, indptr, self.trend, criterion, caps, lags_of)
        empty = np.flatnonzero(est.nobs < 1)
        if len(empty):
            raise DataError(f"AR: series {[panel.ids[i] for i in empty[:5]]} have no row whose value and lags are "
                            "all observed (too many missing values for the model's lags); fill some, or use "
                            "fewer lags")
        if est.deficient.any():
            bad = [panel.ids[i] for i in np.flatnonzero(est.deficient)]
            warnings.warn(f"AR: the regressors of series {bad[:5]}{' and more' if len(bad) > 5 else ''} are "
                          "collinear (e.g. a constant series); their coefficients are the minimum-norm "
                          "least-squares solution", RuntimeWarning, stacklevel=3)
        self.lags_, self.coef_ = est.lags, est.coef
        self.intercept_, self.trend_coef_, self.sigma2_ = est.intercept, est.trend_coef, est.sigma2
        self.order_, self.hold_back_, self.nobs_ = est.orders, est.hold_back, est.nobs
        if est.criteria is not None:
            self.criteria_ = est.criteria
        n_regressors = K.deterministic_count(self.trend) + est.n_regressors
        self.n_coefficients_ = np.asarray(n_regressors, dtype=np.int64)
        self.aic_ = K.information_criterion(est.ssr, est.nobs, n_regressors + 1, "aic")
        self.bic_ = K.information_criterion(est.ssr, est.nobs, n_regressors + 1, "bic")
        _warn_if_thin(panel, est.nobs, n_regressors)
        self.origins_ = np.array(panel.origins, dtype=np.int64)    # the trend counts from each series' start
        self.d_, self.D_, self.season_length_ = d_, D_, m
        self.seasonal_index_, self.adjusted_ = table, adjusted
        self.max_order_ = np.maximum(caps, 0)
        self.seasonal_lags_ = lags_of
        # the model on the levels: phi(B)(1-B)^d(1-B^m)^D y = c + delta (t' + 1), t' = t - lost
        if (d_ > 0).any() or D > 0:
            self.level_coef_, self.level_lags_ = level_polynomial(self.coef_, self.lags_, d_, D_, m)
            self.level_intercept_ = self.intercept_ - self.trend_coef_ * loss(d_, D_, m)
        else:
            self.level_coef_, self.level_lags_, self.level_intercept_ = self.coef_, self.lags_, self.intercept_
        # values each series' model reads: its largest lag with a nonzero coefficient
        self.context_lengths_ = np.max(np.where(self.level_coef_ != 0, self.level_lags_[None, :], 0), axis=1,
                                       initial=0)
        if self.bootstrap:
            resid, _ = K.residuals(values, indptr, self.lags_, est.hold_back, self.coef_,
                                   self.intercept_, self.trend_coef_)
            self.residuals_ = resid - np.nanmean(resid, axis=1, keepdims=True)
        self._tensors = None
        if combining:
            self._fit_members(panel)
            if self.calibrate not in (None, True, False, "series", "pooled"):
                raise ValueError(f"calibrate must be None, True, False, 'series' or 'pooled', got {self.calibrate!r}")
            if self.calibrate is not False:
                self._calibrate(panel)

    def _combining(self) -> bool:
        if self.combine is None:
            return self.p == AUTO and self.d is None and self.trend == "c"
        if self.combine and self.p != AUTO:
            raise ValueError("combine=True averages variants of the automatic model: it needs p='auto'")
        return bool(self.combine)

    def _fit_members(self, panel: Panel) -> None:
        """The variants of the combination, fitted to the same panel (each with its own ``d`` and trend)."""
        self.members_ = []
        for _, d, trend in member_specs():
            member = AR(p=AUTO, trend=trend, max_p=self.max_p, seasonal_lags=self.seasonal_lags,
                        bootstrap=self.bootstrap, d=d, D=self.D, season_length=self.season_length,
                        deseasonalize=self.deseasonalize, combine=False)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)    # the automatic model has warned already
                member._fit(panel)
            member.ids_ = panel.ids
            self.members_.append(member)
        everyone = [self] + self.members_
        self.member_weights_ = member_weights(np.stack([m.sigma2_ for m in everyone]),
                                              np.stack([m.nobs_ for m in everyone]),
                                              np.stack([m.n_coefficients_ for m in everyone]))

    def _calibrate(self, panel: Panel) -> None:
        """``interval_factor_`` ``[n]``: how much wider each series' combination intervals must be, from
        its own forecasts of the last values of its training part (:mod:`arforecast.models.ar_calibration`)."""
        m = self.season_length_
        H = ar_calibration.calibration_horizon(m, panel.lengths)
        params = {**self.get_params(deep=False), "calibrate": False}   # the same model, uncalibrated

        def forecast(history: Panel, h: int, actual: np.ndarray) -> np.ndarray:
            model = AR(**params)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                fc = model.fit(history).predict(h)
            if fc.marginals is None:                     # bootstrapped paths: nothing to compare with
                return np.full(actual.shape, np.nan)
            return fc.marginals.cdf(torch.from_numpy(actual)).numpy()

        scores = ar_calibration.holdout_scores(forecast, panel, H, max(2 * m + 1, 2 * H))
        self.calibration_h_ = H
        self.calibration_errors_ = np.array([len(g) for g in scores], dtype=np.int64)
        if self.calibrate == "pooled":
            self.interval_factor_ = np.full(panel.n_series, ar_calibration.pooled_factor(scores))
        else:
            self.interval_factor_ = ar_calibration.series_factors(scores)

    def __getstate__(self) -> dict[str, Any]:
        # the tensors are a cache of the parameters (rebuilt on the next predict): not pickled
        return {**self.__dict__, "_tensors": None, "_stepping_transformed": False}

    def _kept_history(self, panel: Panel) -> Panel:
        """Only the values ``predict()`` reads (each series' last ``max(lags)`` over the combination's
        members, more where holes among them need earlier values to be filled), not the training panel."""
        widths = [int(m.level_lags_.max()) if len(m.level_lags_) else 0
                  for m in [self] + list(getattr(self, "members_", []))]
        return panel.tail(replay_lengths(panel.values, panel.indptr, max(max(widths), 1)))

    def summary(self) -> pd.DataFrame:
        """What was chosen for each series: transform, differencing, seasonal adjustment, lags, order,
        fit, and in the automatic mode the weight of each member of the combination."""
        self._check_fitted()
        n = len(self.ids_)
        out = pd.DataFrame({"lambda": getattr(self, "lambda_", np.full(n, np.nan)),
                            "transform_reason": getattr(self, "transform_reason_", [""] * n),
                            "d": self.d_, "D": self.D_, "season_length": self.season_length_,
                            "deseasonalized": self.adjusted_, "seasonal_lags": self.seasonal_lags_,
                            "max_order": self.max_order_, "order": self.order_, "nobs": self.nobs_,
                            "sigma2": self.sigma2_, "fallback": getattr(self, "fallback_", [""] * n)},
                           index=pd.Index(self.ids_, name="unique_id"))
        if getattr(self, "members_", None):
            names = ["auto"] + [name for name, _, _ in member_specs()]
            for k, name in enumerate(names):
                out[f"weight_{name}"] = self.member_weights_[k]
        return out

    def coefficients(self) -> pd.DataFrame:
        """The fitted parameters as a frame, one row per series, named as statsmodels names them."""
        self._check_fitted()
        cols = {}
        if "c" in self.trend:
            cols["const"] = self.intercept_
        if "t" in self.trend:
            cols["trend"] = self.trend_coef_
        cols.update({f"y.L{lag}": self.coef_[:, k] for k, lag in enumerate(self.lags_)})
        cols["sigma2"] = self.sigma2_
        return pd.DataFrame(cols, index=pd.Index(self.ids_, name="unique_id"))

    # ------------------------------------------------------------------ the Stepper protocol
    def start(self, context: Context) -> State:
        """Per row: the last ``max(lags)`` values and its series' coefficients aligned with them.

        The stepping protocol runs the automatic member alone (``predict`` combines the members),
        on the scale the model was fitted on: with a transform, only ``predict`` back-transforms.
        """
        if not getattr(self, "_stepping_transformed", False) and np.isfinite(getattr(self, "lambda_", [np.nan])).any():
            raise NotImplementedError("AR with a transform forecasts through predict() (which back-transforms); "
                                      "its stepping protocol would read untransformed values. Use predict(h, y=...) "
                                      "or an AR without transform")
        par = self._params()
        width = par["width"]
        values = context.values
        if values.shape[1] < width:
            values = torch.nn.functional.pad(values, (width - values.shape[1], 0))
        s = context.series
        window = values[:, values.shape[1] - width:]
        if par["season"] is not None:                  # seasonally adjusted model: divide by the indices
            window = window / _season_factor(par["season"], s, context.positions[:, None] - width
                                             + torch.arange(width)[None, :])
        # index_select rather than fancy indexing: the latter is far slower on CPU
        if bool(torch.isnan(window).any()):
            # a replay prefix shorter than the lags (rollout.missing): its earliest value stands in for
            # the values before it (zeros would be far off the series' level)
            first = torch.where(torch.isnan(window), torch.full_like(window, float("inf")),
                                torch.arange(width, dtype=window.dtype)[None, :].expand_as(window)).amin(dim=1)
            lead = window.gather(1, first.clamp_max(width - 1).long()[:, None])
            window = torch.where(torch.isnan(window), torch.nan_to_num(lead).expand_as(window), window)
        return {"window": window,
                "weights": par["weights"].index_select(0, s), "intercept": par["intercept"].index_select(0, s),
                "trend": par["trend"].index_select(0, s), "scale": par["scale"].index_select(0, s),
                "position": context.positions - par["origin"].index_select(0, s), "series": s.clone(),
                "calendar": context.positions.clone()}

    def distribution(self, state: State) -> Distribution:
        """Next value: ``c + delta (t + 1) + sum phi_l y_{t-l}`` plus a Normal or resampled innovation
        (times the seasonal index of the next value's phase, for a seasonally adjusted model)."""
        par = self._params()
        window = state["window"]
        if par["columns"] is not None:                 # sparse lags (seasonal): read only those
            window = window.index_select(1, par["columns"])
        mean = state["intercept"] + state["trend"] * (state["position"] + 1) + (state["weights"] * window).sum(1)
        factor = None if par["season"] is None else _season_factor(par["season"], state["series"], state["calendar"])
        if self.bootstrap:
            return _Bootstrap(mean, par["residuals"], par["counts"], state["series"], factor)
        if factor is None:
            return Normal(mean, state["scale"])
        return Normal(mean * factor, state["scale"] * factor)

    def advance(self, state: State, value: torch.Tensor) -> State:
        value = value.to(state["window"].dtype)
        par = self._params()
        if par["season"] is not None:
            value = value / _season_factor(par["season"], state["series"], state["calendar"])
        window = torch.cat([state["window"][:, 1:], value.unsqueeze(1)], dim=1)
        return {**state, "window": window, "position": state["position"] + 1, "calendar": state["calendar"] + 1}

    def _params(self) -> dict[str, Any]:
        """Fitted parameters as tensors, the lag coefficients aligned with the window's columns.

        The window holds the last ``P = max(lags)`` values; with lags ``1..P`` the weights cover
        it densely (``weights[:, P - lag]``), otherwise they follow ``columns = P - lags``.
        """
        if getattr(self, "_tensors", None) is None:
            lags, coef = self.level_lags_, self.level_coef_
            width = int(lags.max()) if len(lags) else 0
            if len(lags) == width:
                weights, columns = np.zeros((len(coef), width)), None
                weights[:, width - lags] = coef
            else:
                weights, columns = coef, torch.from_numpy(width - lags)
            t = {"width": width, "columns": columns, "weights": torch.from_numpy(np.ascontiguousarray(weights)),
                 "intercept": torch.from_numpy(self.level_intercept_),
                 "season": torch.from_numpy(self.seasonal_index_) if self.adjusted_.any() else None,
                 # a one-value series (the automatic mode's fallback) has no variance: its paths are
                 # drawn flat here and set to NaN by predict
                 "trend": torch.from_numpy(self.trend_coef_),
                 "scale": torch.from_numpy(np.sqrt(np.nan_to_num(self.sigma2_))),
                 "origin": torch.from_numpy(self.origins_)}
            if self.bootstrap:
                t["residuals"] = torch.from_numpy(np.sort(self.residuals_, axis=1))   # NaN last
                t["counts"] = torch.from_numpy(self.nobs_)
            self._tensors = t
        return self._tensors

    # ------------------------------------------------------------------ forecasting
    def _predict(self, panel: Panel, h: int, num_samples: int | None, seed: int | None,
                 **options: Any) -> Forecast:
        unknown = set(options) - {"chunk_size", "progress"}
        if unknown:
            raise TypeError(f"AR.predict() got unexpected options {sorted(unknown)}; "
                            "it accepts chunk_size and progress")
        rows = self._series_rows(panel)
        if self.bootstrap and num_samples is None:
            num_samples = DEFAULT_BOOTSTRAP_SAMPLES
        members = [self] + list(getattr(self, "members_", []))
        for model in members:
            short = np.flatnonzero(panel.lengths < model.context_lengths_[rows])
            if len(short):
                raise DataError(f"AR: the histories of series {[panel.ids[i] for i in short[:5]]} are shorter than "
                                f"the {model.context_lengths_[rows][short[:5]].tolist()} values their fitted models "
                                "read")
        lambdas = self.lambda_[rows] if hasattr(self, "lambda_") else np.full(len(rows), np.nan)
        original = panel
        if np.isfinite(lambdas).any():                  # model the transformed history
            bad = [panel.ids[i] for i in np.flatnonzero(np.isfinite(lambdas)) if np.any(panel.series(i) <= 0)]
            if bad:
                raise DataError(f"AR: the histories of series {bad[:5]} hold zero or negative values, which their "
                                "fitted transform (summary()['lambda']) cannot take")
            panel = replace(panel, values=T.transform(panel.values, panel.indptr, lambdas))
        # a combination: the mean of its members' paths, every member driven by the same uniforms
        # (one seed), so the averaged paths are exact draws of the combined model (ar_combination)
        self._stepping_transformed = True         # the histories below are on the fitted scale
        try:
            parts = [model._paths(panel, rows, h, num_samples, seed, **options) for model in members]
        finally:
            self._stepping_transformed = False
        points = np.stack([p[0] for p in parts])
        w = self.member_weights_[:, rows] if len(members) > 1 else np.ones((1, len(rows)))
        point = np.einsum("kn,knh->nh", w, points)
        samples = None if num_samples is None else np.einsum("kn,knsh->nsh", w, np.stack([p[1] for p in parts]))
        unknown_scale = np.isnan(self.sigma2_[rows])       # one-value series: no spread to draw from
        if samples is not None and unknown_scale.any():
            samples[unknown_scale] = np.nan
        factor = np.ones((len(rows), h))
        if self.adjusted_[rows].any():                   # the index of each future value's phase
            future = panel.next_positions()[:, None] + np.arange(h)[None, :]
            factor = self.seasonal_index_[rows[:, None], future % self.season_length_]
        marginals, sd = None, None
        fills = _fill_inflation(self, panel, rows, h)    # holes in a context, filled by the model, add error
        if len(members) > 1:
            sd, sd_paths, df = interval_scale(members, w, rows, h, points)
            calibration = getattr(self, "interval_factor_", None)
            sd = sd * fills * (1.0 if calibration is None else calibration[rows][:, None])
            sd_paths = sd_paths * fills
            if samples is not None:                      # the uncertainties the paths lack, one draw per path
                gen = torch.Generator()
                gen.seed() if seed is None else gen.manual_seed(int(seed) + 1)
                z = torch.randn((len(rows), num_samples, 1), generator=gen, dtype=torch.float64).numpy()
                samples = samples + z * (np.sqrt(np.maximum(sd ** 2 - sd_paths ** 2, 0.0)) * factor)[:, None, :]
            sd = sd * factor
            if not self.bootstrap:
                marginals = StudentT(torch.from_numpy(point), torch.from_numpy(sd), torch.from_numpy(df)[:, None])
        elif not self.bootstrap:
            sd = combined_sd([self._error_weights(rows, h)], w) * fills * factor
            marginals = Normal(torch.from_numpy(point), torch.from_numpy(sd))
        if np.isfinite(lambdas).any():                  # back: paths exactly, the point as median or mean
            median = T.back_transform(point, lambdas)
            center = median
            if self.bias_adjust and sd is not None:
                center = T.bias_adjusted_mean(point, sd, lambdas)
            elif self.bias_adjust and samples is not None:
                center = T.back_transform(samples, lambdas).mean(axis=1)
            if samples is not None:
                samples = T.back_transform(samples, lambdas)
            if marginals is not None:
                marginals = T.BackTransformed(marginals, lambdas, torch.from_numpy(center))
            point = center
        return Forecast(original, h, point, samples=samples, marginals=marginals, model="AR")

    def _paths(self, panel: Panel, rows: np.ndarray, h: int, num_samples: int | None, seed: int | None,
               **options: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """This model's mean path ``[n, h]`` and sample paths ``[n, S, h]`` (None without ``num_samples``)."""
        context = self._context(panel, rows)
        point = rollout(self, context, h, decoding="mean").paths[:, 0].numpy()
        samples = None
        if num_samples is not None:
            samples = rollout(self, context, h, decoding="sample", num_samples=num_samples, seed=seed,
                              **options).paths.numpy()
        return point, samples

    def _error_weights(self, rows: np.ndarray, h: int) -> np.ndarray:
        """``sigma psi_j`` ``[n, h]``: the weight of the innovation ``j`` steps back in the ``h``-step
        error (in the seasonally adjusted units)."""
        psi = K.psi_weights(self.level_coef_[rows], self.level_lags_, h)
        return np.sqrt(self.sigma2_[rows, None]) * psi

    def _context(self, panel: Panel, rows: np.ndarray) -> Context:
        """The last ``max(lags)`` values of each series, with the calendar position of the next value
        (more where holes among them are filled from earlier values: :mod:`arforecast.rollout.missing`)."""
        width = max(int(self.level_lags_.max()) if len(self.level_lags_) else 0, 1)
        need = replay_lengths(panel.values, panel.indptr, width)
        values = torch.from_numpy(panel.padded(int(need.max(initial=width))))
        lengths = torch.from_numpy(need.astype(np.int64))
        return Context(values, lengths, torch.from_numpy(rows), torch.from_numpy(panel.next_positions()))


def _constant_reasons(panel: Panel) -> list[str]:
    """``"constant"`` for each series whose observed values are all equal (its level, zero-width
    intervals), ``""`` for the others."""
    return ["constant" if np.nanmin(y, initial=np.inf) == np.nanmax(y, initial=-np.inf) else ""
            for y in (panel.series(i) for i in range(panel.n_series))]


def _expand_with_naive(model: AR, panel: Panel, long_rows: np.ndarray, short_rows: np.ndarray,
                       sigma2: np.ndarray) -> None:
    """Grow ``model``'s per-series attributes, fitted on ``long_rows`` of ``panel``, to every series:
    the ``short_rows`` become a random walk (level coefficient 1 at lag 1, ``d = 1``, order 0, one
    equation, no coefficient) with innovation variance ``sigma2``."""
    n = panel.n_series
    shared = {"lags_", "level_lags_", "member_weights_", "members_", "fallback_"}
    if 1 not in set(model.level_lags_.tolist()):           # the random walk's lag
        model.level_lags_ = np.sort(np.r_[model.level_lags_, 1]).astype(model.level_lags_.dtype)
        at = int(np.searchsorted(model.level_lags_, 1))
        model.level_coef_ = np.insert(model.level_coef_, at, 0.0, axis=1)
    fill = {"coef_": 0.0, "intercept_": 0.0, "trend_coef_": 0.0, "sigma2_": np.nan, "order_": 0, "hold_back_": 0,
            "nobs_": 1, "n_coefficients_": 0, "aic_": np.nan, "bic_": np.nan, "criteria_": np.nan, "d_": 1,
            "D_": 0, "seasonal_index_": 1.0, "adjusted_": False, "max_order_": 0, "level_coef_": 0.0,
            "level_intercept_": 0.0, "context_lengths_": 1, "residuals_": np.nan, "lambda_": np.nan,
            "interval_factor_": 1.0, "calibration_errors_": 0}
    for name, value in list(model.__dict__.items()):
        if name in shared or name.startswith("_"):
            continue
        if isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[0] == len(long_rows):
            out = np.empty((n,) + value.shape[1:], dtype=value.dtype)
            out[long_rows] = value
            out[short_rows] = fill.get(name, 0)
            setattr(model, name, out)
        elif isinstance(value, list) and len(value) == len(long_rows):
            out = [() if name == "seasonal_lags_" else "too short for a transform" if name == "transform_reason_"
                   else None] * n
            for k, i in enumerate(long_rows):
                out[i] = value[k]
            setattr(model, name, out)
    model.origins_ = np.array(panel.origins, dtype=np.int64)
    model.sigma2_[short_rows] = sigma2
    model.level_coef_[short_rows, int(np.searchsorted(model.level_lags_, 1))] = 1.0
    if hasattr(model, "member_weights_"):
        w = np.full((model.member_weights_.shape[0], n), 1.0 / model.member_weights_.shape[0])
        w[:, long_rows] = model.member_weights_
        model.member_weights_ = w
    model._tensors = None


def _fill_inflation(model: AR, panel: Panel, rows: np.ndarray, h: int) -> np.ndarray:
    """``[n, h]`` factor by which holes in the forecast contexts, filled by ``model`` itself, widen its
    forecast standard deviations (1 without holes): exact for a single AR; a combination's members
    share the automatic model's factor (an approximation; their paths carry their own fills)."""
    if not np.isnan(panel.values).any():                  # no hole anywhere: no context to replay
        return np.ones((len(rows), h))
    replay = plan_replay(model._context(panel, rows))
    if replay is None or not replay.width:
        return np.ones((len(rows), h))
    base = np.sqrt(np.cumsum(model._error_weights(rows, h) ** 2, axis=1))
    wide = _replayed_sd(model.level_coef_[rows], model.level_lags_, model.sigma2_[rows], replay, h, base)
    return np.divide(wide, base, out=np.ones_like(base), where=base > 0)


def _replayed_sd(coef: np.ndarray, lags: np.ndarray, sigma2: np.ndarray, replay: Any, h: int,
                 sd: np.ndarray) -> np.ndarray:
    """Forecast standard deviations (adjusted units) of the rows whose context holes are filled by
    the model. Exact for the linear Gaussian model: a filled value carries an innovation drawn at
    its step, which reaches step ``j`` of the forecast through the model's recursion (an observed
    value after it is fed as it is, so it stops nothing but adds no error); its impulse response
    ``g_j`` adds ``sigma2 g_j^2`` to the ``psi``-weight variance of the future innovations."""
    steps = replay.steps.numpy()
    rows = np.flatnonzero(steps > 0)
    if not len(rows):
        return sd
    teacher, steps = replay.teacher.numpy()[rows], steps[rows]
    Kw = teacher.shape[1]
    holes = np.isnan(teacher) & (np.arange(Kw)[None, :] < steps[:, None])          # [r, K] drawn fills
    n_holes = holes.sum(axis=1)
    H = int(n_holes.max())
    times = np.full((len(rows), H), -1)
    for j, r in enumerate(holes):
        times[j, :n_holes[j]] = np.flatnonzero(r)
    P = max(int(lags.max()) if len(lags) else 0, 1)
    w = np.zeros((len(rows), P))                                   # weights on the window, oldest first
    w[:, P - lags] = coef[rows]
    window = np.zeros((len(rows), H, P))                           # one impulse per fill
    extra = np.zeros((len(rows), h))
    for t in range(Kw + h):
        new = np.einsum("rhp,rp->rh", window, w)
        observed = (t < steps) & ~holes[:, min(t, Kw - 1)]
        new = np.where(observed[:, None] | (t < times), 0.0, new)
        new = np.where(t == times, 1.0, new)
        window = np.concatenate([window[:, :, 1:], new[:, :, None]], axis=2)
        k = t - steps
        hit = (k >= 0) & (k < h)
        extra[hit, k[hit]] = np.sum(new[hit] ** 2, axis=1)
    sd = sd.copy()
    sd[rows] = np.sqrt(sd[rows] ** 2 + sigma2[rows, None] * extra)
    return sd


def _warn_if_thin(panel: Panel, nobs: np.ndarray, n_regressors: np.ndarray) -> None:
    """Warn about series fitted with fewer than two equations per coefficient: their ``sigma2_``
    (``SSR / nobs``) then understates the forecast error badly and intervals are far too narrow."""
    thin = np.flatnonzero(np.asarray(nobs) < 2 * np.asarray(n_regressors))
    if len(thin):
        names = ", ".join(f"{panel.ids[i]!r} ({int(nobs[i])} equations for {int(np.broadcast_to(n_regressors, nobs.shape)[i])} "
                          "coefficients)" for i in thin[:3])
        warnings.warn(f"AR: fitted on too few values for its order: {names}"
                      f"{' and more' if len(thin) > 3 else ''}; its intervals will be too narrow. Use longer "
                      "series or a smaller p (or p='aic' with max_p capped by the length)",
                      RuntimeWarning, stacklevel=4)


class _Bootstrap(Distribution):
    """``loc`` plus one of each series' centred residuals, equally likely (residual bootstrap).

    Residual tables are ``[n_series, R]`` sorted with NaN padding; row ``b`` of the batch uses
    series ``series[b]``'s first ``counts`` entries, so ``icdf(u)`` is the type-1 quantile of its
    own residuals and ``icdf`` of a uniform is a uniform draw among them.
    """

    def __init__(self, loc: torch.Tensor, residuals: torch.Tensor, counts: torch.Tensor,
                 series: torch.Tensor, factor: torch.Tensor | None = None) -> None:
        self.residuals, self.counts, self.series = residuals, counts, series
        # a seasonally adjusted model: loc and residuals times the index of the value's phase
        self.factor = torch.ones_like(loc) if factor is None else factor
        self.loc = loc * self.factor

    @property
    def mean(self) -> torch.Tensor:
        return self.loc                     # the residuals are centred

    @property
    def mode(self) -> torch.Tensor:
        return self.icdf(torch.full_like(self.loc, 0.5))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("a bootstrap distribution has no density")

    def icdf(self, u: torch.Tensor) -> torch.Tensor:
        n = self.counts.index_select(0, self.series)
        index = torch.minimum((u.to(torch.float64) * n).floor().long(), n - 1).clamp_min(0)
        flat = self.series * self.residuals.shape[1] + index
        return self.loc + self.factor * self.residuals.reshape(-1).index_select(0, flat)

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        """``P(Y <= x)``: the share of the row's residuals ``r`` with ``loc + r <= x``."""
        n = self.counts.index_select(0, self.series)
        table = self.residuals.index_select(0, self.series)          # sorted, NaN last
        below = torch.searchsorted(table, ((x.to(table.dtype) - self.loc) / self.factor).unsqueeze(-1).contiguous(),
                                   right=True)
        return torch.minimum(below.squeeze(-1), n).to(torch.float64) / n


def _season_factor(table: torch.Tensor, series: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Seasonal index of ``series`` (``[B]``) at calendar ``positions`` (``[B]`` or ``[B, k]``)."""
    m = table.shape[1]
    shape = positions.shape
    flat = (series.reshape((-1,) + (1,) * (len(shape) - 1)) * m + torch.remainder(positions, m)).reshape(-1)
    return table.reshape(-1).index_select(0, flat).reshape(shape)


def _non_negative_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be positive integers, got {value!r}")
    return int(value)
