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
from typing import Any

import numpy as np
import pandas as pd
import torch

from arforecast.base import Forecaster
from arforecast.data.panel import Panel
from arforecast.distributions import Distribution, Normal
from arforecast.forecast import Forecast
from arforecast.models import ar_kernels as K
from arforecast.rollout.engine import rollout
from arforecast.rollout.protocol import Context, State

CRITERIA = ("aic", "bic")
#: sample paths drawn for intervals when ``bootstrap=True`` and ``predict`` is given no ``num_samples``
DEFAULT_BOOTSTRAP_SAMPLES = 1000


class AR(Forecaster):
    """Autoregression of order ``p`` with a trend, fitted per series by conditional least squares.

    Args:
        p: the order (lags ``1..p``), or ``"aic"``/``"bic"`` to choose it per series in ``0..max_p``.
        trend: ``"n"``, ``"c"`` (default), ``"t"`` or ``"ct"``, as statsmodels ``AutoReg``.
        max_p: largest order considered when ``p`` is a criterion.
        seasonal_lags: extra lags always in the model, e.g. ``(24, 168)`` for hourly data
            (statsmodels: ``AutoReg(y, lags=[1, ..., p, 24, 168])``).
        bootstrap: sample paths from the series' own residuals instead of Gaussian innovations;
            intervals then come from sample paths (``DEFAULT_BOOTSTRAP_SAMPLES`` if none asked).

    Fitted attributes (one row per series, in the order of ``ids_``):
        lags_: the lag of each column of ``coef_``; coef_: ``[n, len(lags_)]`` AR coefficients
        (0 for lags beyond a series' order); intercept_, trend_coef_: ``c`` and ``delta`` (0 when
        absent); sigma2_: innovation variance ``SSR / nobs``; order_: each series' ``p``;
        hold_back_, nobs_: held-back and estimation observations; aic_, bic_: statsmodels'
        ``AutoRegResults.aic``/``bic``; criteria_: ``[n, max_p + 1]`` criterion of every order
        (order selection only); residuals_: ``[n, max nobs]`` centred residuals, NaN-padded
        (``bootstrap=True`` only).

    Example:
        >>> import pandas as pd
        >>> from arforecast.datasets import simulate_ar
        >>> df = simulate_ar([0.5, 0.2], n_series=2, length=500, seed=1)
        >>> AR(p="bic", max_p=8).fit(df).order_.tolist()
        [2, 2]
    """

    def __init__(self, p: int | str = 1, trend: str = "c", max_p: int | None = None,
                 seasonal_lags: tuple[int, ...] = (), bootstrap: bool = False) -> None:
        self.p = p
        self.trend = trend
        self.max_p = max_p
        self.seasonal_lags = seasonal_lags
        self.bootstrap = bootstrap

    # ------------------------------------------------------------------ parameters
    def _spec(self) -> tuple[int, str | None, tuple[int, ...]]:
        """Validated ``(largest order, criterion or None, seasonal lags)``."""
        if self.trend not in K.TRENDS:
            raise ValueError(f"trend must be one of {K.TRENDS}, got {self.trend!r}")
        seasonal = tuple(sorted({_positive_int(s, "seasonal_lags entries") for s in self.seasonal_lags}))
        if isinstance(self.p, str):
            if self.p not in CRITERIA:
                raise ValueError(f"p must be a non-negative integer or one of {CRITERIA}, got {self.p!r}")
            if self.max_p is None:
                raise ValueError(f"p={self.p!r} chooses the order in 0..max_p: give max_p, "
                                 f"e.g. AR(p={self.p!r}, max_p=24)")
            return _non_negative_int(self.max_p, "max_p"), self.p, seasonal
        return _non_negative_int(self.p, "p"), None, seasonal

    @property
    def min_length(self) -> int:
        max_p, _, seasonal = self._spec()
        hold = max((max_p,) + seasonal)
        n_params = K.deterministic_count(self.trend) + len(set(range(1, max_p + 1)) | set(seasonal))
        return hold + n_params + 1             # at least one residual degree of freedom

    def _describe_need(self) -> str:
        return f"(p={self.p!r}, max_p={self.max_p!r}, seasonal_lags={self.seasonal_lags!r}, trend={self.trend!r})"

    @property
    def context_width(self) -> int:
        """Values the rollout state holds: the largest fitted lag (see :mod:`arforecast.rollout.protocol`)."""
        self._check_fitted()
        return max(int(self._params()["width"]), 1)

    # ------------------------------------------------------------------ estimation
    def _fit(self, panel: Panel) -> None:
        max_p, criterion, seasonal = self._spec()
        for stale in ("criteria_", "residuals_"):          # from an earlier fit with other options
            self.__dict__.pop(stale, None)
        if criterion is None:
            orders = np.full(panel.n_series, max_p)
        else:
            orders, self.criteria_, _ = K.select_orders(panel.values, panel.indptr, self.trend, max_p,
                                                        criterion, seasonal)
        columns = K.lag_columns(int(orders.max()), seasonal)
        hold_back = np.maximum(orders, max(seasonal, default=0))
        fit = K.fit_ar(panel.values, panel.indptr, self.trend, columns, hold_back,
                       n_lags=K.prefix_length(orders, seasonal))
        if fit.deficient.any():
            bad = [panel.ids[i] for i in np.flatnonzero(fit.deficient)]
            warnings.warn(f"AR: the regressors of series {bad[:5]}{' and more' if len(bad) > 5 else ''} are "
                          "collinear (e.g. a constant series); their coefficients are the minimum-norm "
                          "least-squares solution", RuntimeWarning, stacklevel=3)
        sort = np.argsort(columns, kind="stable")
        self.lags_ = columns[sort]
        self.coef_ = fit.coef[:, sort]
        self.intercept_, self.trend_coef_, self.sigma2_ = fit.intercept, fit.trend_coef, fit.sigma2
        self.order_, self.hold_back_, self.nobs_ = orders, hold_back, fit.nobs
        n_regressors = K.deterministic_count(self.trend) + K.prefix_length(orders, seasonal)
        self.aic_ = K.information_criterion(fit.ssr, fit.nobs, n_regressors + 1, "aic")
        self.bic_ = K.information_criterion(fit.ssr, fit.nobs, n_regressors + 1, "bic")
        _warn_if_thin(panel, fit.nobs, n_regressors)
        if self.bootstrap:
            resid, _ = K.residuals(panel.values, panel.indptr, self.lags_, hold_back, self.coef_,
                                   self.intercept_, self.trend_coef_)
            self.residuals_ = resid - np.nanmean(resid, axis=1, keepdims=True)
        self._tensors = None

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
        """Per row: the last ``max(lags)`` values and its series' coefficients aligned with them."""
        par = self._params()
        width = par["width"]
        values = context.values
        if values.shape[1] < width:
            values = torch.nn.functional.pad(values, (width - values.shape[1], 0))
        s = context.series
        # index_select rather than fancy indexing: the latter is far slower on CPU
        return {"window": torch.nan_to_num(values[:, values.shape[1] - width:]),
                "weights": par["weights"].index_select(0, s), "intercept": par["intercept"].index_select(0, s),
                "trend": par["trend"].index_select(0, s), "scale": par["scale"].index_select(0, s),
                "position": context.positions - par["origin"].index_select(0, s), "series": s.clone()}

    def distribution(self, state: State) -> Distribution:
        """Next value: ``c + delta (t + 1) + sum phi_l y_{t-l}`` plus a Normal or resampled innovation."""
        par = self._params()
        window = state["window"]
        if par["columns"] is not None:                 # sparse lags (seasonal): read only those
            window = window.index_select(1, par["columns"])
        mean = state["intercept"] + state["trend"] * (state["position"] + 1) + (state["weights"] * window).sum(1)
        if self.bootstrap:
            return _Bootstrap(mean, par["residuals"], par["counts"], state["series"])
        return Normal(mean, state["scale"])

    def advance(self, state: State, value: torch.Tensor) -> State:
        window = torch.cat([state["window"][:, 1:], value.to(state["window"].dtype).unsqueeze(1)], dim=1)
        return {**state, "window": window, "position": state["position"] + 1}

    def _params(self) -> dict[str, Any]:
        """Fitted parameters as tensors, the lag coefficients aligned with the window's columns.

        The window holds the last ``P = max(lags)`` values; with lags ``1..P`` the weights cover
        it densely (``weights[:, P - lag]``), otherwise they follow ``columns = P - lags``.
        """
        if getattr(self, "_tensors", None) is None:
            width = int(self.lags_.max()) if len(self.lags_) else 0
            if len(self.lags_) == width:
                weights, columns = np.zeros((len(self.coef_), width)), None
                weights[:, width - self.lags_] = self.coef_
            else:
                weights, columns = self.coef_, torch.from_numpy(width - self.lags_)
            t = {"width": width, "columns": columns, "weights": torch.from_numpy(np.ascontiguousarray(weights)),
                 "intercept": torch.from_numpy(self.intercept_),
                 "trend": torch.from_numpy(self.trend_coef_), "scale": torch.from_numpy(np.sqrt(self.sigma2_)),
                 "origin": torch.from_numpy(self.panel_.origins)}
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
        context = self._context(panel, rows)
        point = rollout(self, context, h, decoding="mean").paths[:, 0].numpy()
        if self.bootstrap and num_samples is None:
            num_samples = DEFAULT_BOOTSTRAP_SAMPLES
        samples = None
        if num_samples is not None:
            samples = rollout(self, context, h, decoding="sample", num_samples=num_samples, seed=seed,
                              **options).paths.numpy()
        marginals = None
        if not self.bootstrap:
            psi = K.psi_weights(self.coef_[rows], self.lags_, h)
            sd = np.sqrt(self.sigma2_[rows, None] * np.cumsum(psi ** 2, axis=1))
            marginals = Normal(torch.from_numpy(point), torch.from_numpy(sd))
        return Forecast(panel, h, point, samples=samples, marginals=marginals, model="AR")

    def _context(self, panel: Panel, rows: np.ndarray) -> Context:
        """The last ``max(lags)`` values of each series, with the calendar position of the next value."""
        width = max(int(self.lags_.max()) if len(self.lags_) else 0, 1)
        values = torch.from_numpy(panel.padded(width))
        lengths = torch.from_numpy(np.minimum(panel.lengths, width))
        return Context(values, lengths, torch.from_numpy(rows), torch.from_numpy(panel.next_positions()))


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
                 series: torch.Tensor) -> None:
        self.loc, self.residuals, self.counts, self.series = loc, residuals, counts, series

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
        return self.loc + self.residuals.reshape(-1).index_select(0, flat)

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        """``P(Y <= x)``: the share of the row's residuals ``r`` with ``loc + r <= x``."""
        n = self.counts.index_select(0, self.series)
        table = self.residuals.index_select(0, self.series)          # sorted, NaN last
        below = torch.searchsorted(table, (x.to(table.dtype) - self.loc).unsqueeze(-1).contiguous(), right=True)
        return torch.minimum(below.squeeze(-1), n).to(torch.float64) / n


def _non_negative_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be positive integers, got {value!r}")
    return int(value)
