"""ARX: autoregression with exogenous regressors (covariates), per series, by least squares.

**Model.** For every series ``y`` (its own coefficients)

    y_t = c + delta (t + 1) + sum_{l in lags} phi_l y_{t-l} + sum_j sum_{m in lags_j} beta_{j,m} x_{j,t-m} + e_t,

with ``lags = 1..p`` plus ``seasonal_lags`` as in :class:`~arforecast.models.linear.AR`, and the
lags of each covariate chosen like the target's: a future-known covariate enters at ``x_lags``
(default: lag 0, its value at the time being forecast, plus the target's seasonal lags), a
past-only one at ``past_lags`` (default: lag 1 plus the seasonal lags; lags of past-only
covariates start at 1). Static covariates are constant within a series, so a per-series
intercept absorbs them: ARX accepts and ignores them (NeuralAR uses them).

**Estimation.** Conditional least squares on ``t = hold_back .. n-1`` (``hold_back`` the largest
lag of the target or of a covariate), ``sigma^2 = SSR / nobs`` as statsmodels' ``AutoReg``; the
coefficients equal ``AutoReg(y, lags, trend, exog=<the lagged covariates>, hold_back=...)``.
All series are solved together: one batched Householder QR of the column-scaled designs (zero
rows pad the shorter series, which changes no sum); series whose regressors are collinear get the
minimum-norm least-squares solution. ``bse_`` holds the OLS standard errors
(``SSR / (nobs - k)`` times the diagonal of ``(X'X)^{-1}``).

**Forecasts.** The covariate terms of every future step are known before the rollout starts
(the covariates are not fed back), so the rollout engine adds them to the intercept step by
step: mean paths and sample paths are exact, and the Gaussian marginals are those of the AR part
(``psi`` weights). A past-only covariate read at a future time takes its last observed value
(persistence): its future values are never used, even when given.

Example:
    >>> import numpy as np, pandas as pd
    >>> from arforecast.models.arx import ARX
    >>> rng = np.random.default_rng(0)
    >>> t = pd.date_range("2024-01-01", periods=400, freq="h")
    >>> x = pd.Series(rng.normal(size=400), index=t)
    >>> y = 2.0 * x + pd.Series(rng.normal(size=400), index=t).cumsum() * 0.1
    >>> model = ARX(p=1).fit(y.iloc[:-3], X=x.iloc[:-3].to_frame("x"))
    >>> round(float(model.exog_coef_[0, 0]), 1)
    2.0
    >>> model.predict(3, X_future=x.iloc[-3:].to_frame("x")).point.shape
    (1, 3)
"""
from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import torch

from arforecast.data.covariates import Covariates
from arforecast.data.panel import Panel
from arforecast.distributions import Distribution, Normal
from arforecast.exceptions import DataError
from arforecast.forecasts import Forecast
from arforecast.models import ar_kernels as K
from arforecast.models.linear import (AR, DEFAULT_BOOTSTRAP_SAMPLES, _non_negative_int, _positive_int, _replayed_sd,
                                       _warn_if_thin)
from arforecast.rollout.engine import rollout
from arforecast.rollout.missing import plan_replay, replay_lengths
from arforecast.rollout.protocol import Context, State

#: elements of the padded designs solved at once (bounds memory on long panels)
DESIGN_ELEMENTS = 1 << 24
#: scaled-design QR pivots below this mark collinear regressors (the columns have unit norm)
PIVOT_TOL = 1e-10


class ARX(AR):
    """Autoregression with covariates: AR(p) plus lags of future-known and past-only covariates.

    Args:
        p: order of the target's lags ``1..p`` (a non-negative integer).
        trend: ``"n"``, ``"c"`` (default), ``"t"`` or ``"ct"``, as statsmodels ``AutoReg``.
        seasonal_lags: extra target lags, e.g. ``(24, 168)`` for hourly data.
        x_lags: lags of every future-known covariate (default ``(0,) + seasonal_lags``), or a dict
            ``{covariate: lags}`` (the others get the default; ``()`` leaves one out).
        past_lags: lags of every past-only covariate, each at least 1 (default ``(1,) + seasonal_lags``),
            or a dict as ``x_lags``.
        bootstrap: sample paths from the series' own residuals instead of Gaussian innovations.

    Without covariates ``ARX(p, trend, seasonal_lags)`` is ``AR(p, trend, seasonal_lags, d=0)``.

    Fitted attributes: those of :class:`AR` (``coef_``, ``intercept_``, ``sigma2_``, ...) plus
    ``exog_terms_`` (``(covariate, lag)`` of each column of ``exog_coef_``), ``exog_coef_``
    ``[n, len(exog_terms_)]`` and ``bse_`` (standard errors of every coefficient, in the column
    order of :meth:`coefficients`).
    """

    supports_covariates = True

    def __init__(self, p: int = 1, trend: str = "c", seasonal_lags: tuple[int, ...] | None = None,
                 x_lags: tuple[int, ...] | None = None, past_lags: tuple[int, ...] | None = None,
                 bootstrap: bool = False) -> None:
        self.p = p
        self.trend = trend
        self.seasonal_lags = seasonal_lags
        self.x_lags = x_lags
        self.past_lags = past_lags
        self.bootstrap = bootstrap

    # AR's options that ARX fixes (no differencing or seasonal adjustment with covariates)
    max_p = None
    d = 0
    D = 0
    season_length = None
    deseasonalize = False

    # ------------------------------------------------------------------ parameters
    def _lags(self) -> np.ndarray:
        if self.trend not in K.TRENDS:
            raise ValueError(f"trend must be one of {K.TRENDS}, got {self.trend!r}")
        p = _non_negative_int(self.p, "p")
        seasonal = {_positive_int(s, "seasonal_lags entries") for s in self.seasonal_lags or ()}
        return np.array(sorted(set(range(1, p + 1)) | seasonal), dtype=np.int64)

    def _term_lags(self, past: bool, name: Any = None) -> tuple[int, ...]:
        seasonal = tuple(sorted({int(s) for s in self.seasonal_lags or ()}))
        given = self.past_lags if past else self.x_lags
        if isinstance(given, dict):                      # per covariate; the others get the default
            given = given.get(name)
        lags = ((1,) if past else (0,)) + seasonal if given is None else tuple(given)
        out = []
        for lag in lags:
            if isinstance(lag, bool) or not isinstance(lag, (int, np.integer)) or lag < (1 if past else 0):
                raise ValueError(f"{'past_lags' if past else 'x_lags'} must be integers >= {1 if past else 0} "
                                 f"(a past-only covariate is not known at the time forecast), got {lag!r}")
            out.append(int(lag))
        return tuple(sorted(set(out)))

    @property
    def min_length(self) -> int:
        lags = self._lags()
        deepest = [int(m) for given in (self.x_lags, self.past_lags) if isinstance(given, dict)
                   for lags_of_one in given.values() for m in lags_of_one]
        hold = max([int(lags.max()) if len(lags) else 0, *self._term_lags(False), *self._term_lags(True), *deepest])
        return hold + K.deterministic_count(self.trend) + len(lags) + 1

    def _describe_need(self) -> str:
        return f"(p={self.p!r}, seasonal_lags={self.seasonal_lags!r}, x_lags={self.x_lags!r}, trend={self.trend!r})"

    # ------------------------------------------------------------------ estimation
    def _fit(self, panel: Panel, covariates: Covariates | None = None) -> None:
        self.__dict__.pop("residuals_", None)
        lags = self._lags()
        terms: list[tuple[int, int]] = []
        if covariates is not None:
            for j, past in enumerate(covariates.past_only):
                terms += [(j, m) for m in self._term_lags(bool(past), covariates.names[j])]
        names = () if covariates is None else covariates.names
        hold = max([int(lags.max()) if len(lags) else 0] + [m for _, m in terms])
        short = np.flatnonzero(panel.lengths <= hold)
        if len(short):
            raise DataError(f"ARX: series {[panel.ids[i] for i in short[:5]]} are not longer than the largest lag {hold}")
        est = _estimate(panel, covariates, self.trend, lags, terms, hold)
        n = panel.n_series
        n_det = K.deterministic_count(self.trend)
        if est["deficient"].any():
            bad = [panel.ids[i] for i in np.flatnonzero(est["deficient"])]
            warnings.warn(f"ARX: the regressors of series {bad[:5]}{' and more' if len(bad) > 5 else ''} are "
                          "collinear (e.g. a constant covariate); their coefficients are the minimum-norm "
                          "least-squares solution", RuntimeWarning, stacklevel=3)
        beta = est["beta"]
        zero = np.zeros(n)
        self.lags_ = lags
        self.coef_ = beta[:, n_det:n_det + len(lags)]
        self.intercept_ = beta[:, 0] if "c" in self.trend else zero
        self.trend_coef_ = beta[:, n_det - 1] if "t" in self.trend else zero
        self.exog_terms_ = [(names[j], m) for j, m in terms]
        self._exog_columns = np.array([j for j, _ in terms], dtype=np.int64)
        self._exog_lags = np.array([m for _, m in terms], dtype=np.int64)
        self.exog_coef_ = beta[:, n_det + len(lags):]
        self.bse_ = est["bse"]
        self.nobs_ = est["nobs"]                 # complete rows (fewer than lengths - hold with missing values)
        self.hold_back_ = np.full(n, hold, dtype=np.int64)
        self.sigma2_ = est["ssr"] / self.nobs_
        n_regressors = beta.shape[1]
        self.aic_ = K.information_criterion(est["ssr"], self.nobs_, n_regressors + 1, "aic")
        self.bic_ = K.information_criterion(est["ssr"], self.nobs_, n_regressors + 1, "bic")
        _warn_if_thin(panel, self.nobs_, n_regressors)
        self.order_ = np.full(n, _non_negative_int(self.p, "p"), dtype=np.int64)
        self.origins_ = np.array(panel.origins, dtype=np.int64)
        self.d_, self.D_, self.season_length_ = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64), 1
        self.seasonal_index_, self.adjusted_ = np.ones((n, 1)), np.zeros(n, dtype=bool)
        self.max_order_ = self.order_.copy()
        self.seasonal_lags_ = [tuple(sorted({int(s) for s in self.seasonal_lags or ()}))] * n
        self.level_coef_, self.level_lags_, self.level_intercept_ = self.coef_, self.lags_, self.intercept_
        reads = np.max(np.where(self.coef_ != 0, lags[None, :], 0), axis=1, initial=0)
        self.context_lengths_ = np.maximum(reads, max([m for _, m in terms], default=0))
        if self.bootstrap:
            resid = est["residuals"]
            self.residuals_ = resid - np.nanmean(resid, axis=1, keepdims=True)
        self._tensors = None

    def _kept_history(self, panel: Panel) -> Panel:
        # more than the largest lag where holes among the last values need earlier ones (rollout.missing)
        return panel.tail(replay_lengths(panel.values, panel.indptr, self._width()))

    @property
    def context_width(self) -> int:
        """Values (and covariate rows) the rollout state reads: the largest lag of the target or a covariate."""
        self._check_fitted()
        return self._width()

    def _width(self) -> int:
        """Values (and covariate rows) before the origin that a forecast reads."""
        lags = [int(self.level_lags_.max())] if len(self.level_lags_) else []
        return max(lags + [int(m) for m in self._exog_lags] + [1])

    def coefficients(self) -> pd.DataFrame:
        """The fitted parameters as a frame, one row per series: statsmodels' names, and
        ``<covariate>.L<lag>`` for the covariate terms."""
        frame = super().coefficients()
        sigma2 = frame.pop("sigma2")
        for k, (name, lag) in enumerate(self.exog_terms_):
            frame[f"{name}.L{lag}"] = self.exog_coef_[:, k]
        frame["sigma2"] = sigma2
        return frame

    # ------------------------------------------------------------------ the Stepper protocol
    def start(self, context: Context) -> State:
        """AR's state plus ``exo [B, F]``, the covariate terms of each future step, and a step counter."""
        state = super().start(context)
        terms = len(self._exog_lags)
        B = context.values.shape[0]
        if not terms:
            return {**state, "exo": torch.zeros(B, 1, dtype=torch.float64), "step": torch.zeros(B, dtype=torch.int64)}
        cov = context.covariates
        if cov is None:
            raise ValueError("ARX fitted with covariates needs context.covariates")
        T = context.values.shape[1]
        if T < int(self._exog_lags.max()):
            raise ValueError(f"ARX reads covariates {int(self._exog_lags.max())} steps back: give contexts of at "
                             f"least that many columns (got {T})")
        F = max(cov.shape[1] - T, 1)
        coef = self._exog_tensor().index_select(0, context.series)               # [B, terms]
        exo = torch.zeros(B, F, dtype=torch.float64)
        steps = torch.arange(F)
        for k, (j, m) in enumerate(zip(self._exog_columns.tolist(), self._exog_lags.tolist())):
            idx = (T + steps - m).clamp(max=cov.shape[1] - 1)
            exo = exo + coef[:, k:k + 1] * cov[:, idx, j]
        return {**state, "exo": exo, "step": torch.zeros(B, dtype=torch.int64)}

    def distribution(self, state: State) -> Distribution:
        """AR's next-step law with the covariate terms of this step added to the intercept."""
        shift = state["exo"].gather(1, state["step"].clamp(max=state["exo"].shape[1] - 1).unsqueeze(1)).squeeze(1)
        return super().distribution({**state, "intercept": state["intercept"] + shift})

    def advance(self, state: State, value: torch.Tensor) -> State:
        return {**super().advance(state, value), "step": state["step"] + 1}

    def _exog_tensor(self) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.exog_coef_))

    # ------------------------------------------------------------------ forecasting
    def _predict(self, panel: Panel, h: int, num_samples: int | None, seed: int | None,
                 covariates: Covariates | None = None, **options: Any) -> Forecast:
        unknown = set(options) - {"chunk_size", "progress"}
        if unknown:
            raise TypeError(f"ARX.predict() got unexpected options {sorted(unknown)}; it accepts chunk_size and progress")
        if len(self._exog_lags) and covariates is None:
            raise DataError("ARX was fitted with covariates: predict needs their future values (X_future=...)")
        rows = self._series_rows(panel)
        short = np.flatnonzero(panel.lengths < self.context_lengths_[rows])
        if len(short):
            raise DataError(f"ARX: the histories of series {[panel.ids[i] for i in short[:5]]} are shorter than "
                            f"the {self.context_lengths_[rows][short[:5]].tolist()} values their fitted models read")
        need = replay_lengths(panel.values, panel.indptr, self._width())     # holes: filled from earlier values
        width = int(need.max(initial=self._width()))
        context = Context(torch.from_numpy(panel.padded(width)), torch.from_numpy(need.astype(np.int64)),
                          torch.from_numpy(rows), torch.from_numpy(panel.next_positions()))
        if len(self._exog_lags):
            context = replace(context, covariates=torch.from_numpy(self._covariate_block(panel, covariates, width, h)))
        point = rollout(self, context, h, decoding="mean").paths[:, 0].numpy()
        if self.bootstrap and num_samples is None:
            num_samples = DEFAULT_BOOTSTRAP_SAMPLES
        samples = None
        if num_samples is not None:
            samples = rollout(self, context, h, decoding="sample", num_samples=num_samples, seed=seed,
                              **options).paths.numpy()
        marginals = None
        if not self.bootstrap:
            psi = K.psi_weights(self.level_coef_[rows], self.level_lags_, h)
            sd = np.sqrt(self.sigma2_[rows, None] * np.cumsum(psi ** 2, axis=1))
            replay = plan_replay(context)
            if replay is not None and replay.width:     # holes filled by the model add their own error
                sd = _replayed_sd(self.level_coef_[rows], self.level_lags_, self.sigma2_[rows], replay, h, sd)
            marginals = Normal(torch.from_numpy(point), torch.from_numpy(sd))
        return Forecast(panel, h, point, samples=samples, marginals=marginals, model="ARX")

    def _covariate_block(self, panel: Panel, covariates: Covariates, width: int, h: int) -> np.ndarray:
        """``[n, width + h, k]``: the ``width`` covariate rows before each origin and the ``h`` after;
        past-only covariates carried forward from their last observed value."""
        block = covariates.block(panel.next_positions() - width, width + h)
        past = np.asarray(covariates.past_only, dtype=bool)
        if past.any():
            block[:, width:, past] = block[:, width - 1:width, past]
        for j in np.unique(self._exog_columns):
            deepest = int(self._exog_lags[self._exog_columns == j].max())
            lo = width - deepest if deepest > 0 else width
            need = block[:, lo:, j]
            bad = np.argwhere(np.isnan(need))
            if len(bad):
                i, s = (int(v) for v in bad[0])
                step = int(panel.lengths[i]) - width + lo + s
                raise DataError(f"ARX needs covariate {covariates.names[j]!r} of series {panel.ids[i]!r} at "
                                f"{panel.time_after(i, step)!r} (lags up to {deepest} before each forecast step); "
                                "give it in X (history) or X_future")
        return block


def _estimate(panel: Panel, covariates: Covariates | None, trend: str, lags: np.ndarray,
              terms: list[tuple[int, int]], hold: int) -> dict[str, np.ndarray]:
    """Least squares of every series on its design (batched QR; see the module docstring)."""
    n = panel.n_series
    n_det = K.deterministic_count(trend)
    k = n_det + len(lags) + len(terms)
    nobs = panel.lengths - hold
    beta = np.zeros((n, k))
    bse = np.full((n, k), np.nan)
    ssr = np.zeros(n)
    deficient = np.zeros(n, dtype=bool)
    resid = np.full((n, int(nobs.max())), np.nan)
    order = np.argsort(-nobs, kind="stable")
    start = 0
    while start < n:
        size = max(1, DESIGN_ELEMENTS // (int(nobs[order[start]]) * max(k, 1)))
        rows = order[start:start + size]
        start += size
        T = int(nobs[rows].max())
        X = np.zeros((len(rows), T, k))
        Y = np.zeros((len(rows), T))
        for r, i in enumerate(rows):
            Xi, Yi = _design(panel.series(i), None if covariates is None else covariates.series(i), trend, lags,
                             terms, hold)
            complete = ~(np.isnan(Xi).any(axis=1) | np.isnan(Yi))    # missing values: the complete rows
            nobs[i] = int(complete.sum())
            X[r, :nobs[i]], Y[r, :nobs[i]] = Xi[complete], Yi[complete]
        b, e, s, bad, se = _solve(X, Y, nobs[rows])
        beta[rows], ssr[rows], deficient[rows], bse[rows] = b, s, bad, se
        for r, i in enumerate(rows):
            resid[i, :nobs[i]] = e[r, :nobs[i]]
    return {"beta": beta, "ssr": ssr, "deficient": deficient, "bse": bse, "residuals": resid, "nobs": nobs}


def _design(y: np.ndarray, x: np.ndarray | None, trend: str, lags: np.ndarray, terms: list[tuple[int, int]],
            hold: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``t = hold .. n-1``: ``[1, t + 1, y_{t-l}..., x_{j,t-m}...]`` and the target ``y_t``."""
    n = len(y)
    t = np.arange(hold, n)
    cols = []
    if "c" in trend:
        cols.append(np.ones(len(t)))
    if "t" in trend:
        cols.append(t + 1.0)
    cols += [y[t - lag] for lag in lags]
    cols += [x[t - m, j] for j, m in terms]
    return (np.stack(cols, axis=1) if cols else np.zeros((len(t), 0))), y[t]


def _solve(X: np.ndarray, Y: np.ndarray, nobs: np.ndarray) -> tuple[np.ndarray, ...]:
    """Batched least squares with column scaling; minimum norm where the design is rank deficient.

    Returns coefficients ``[B, k]``, residuals ``[B, T]``, SSR ``[B]``, the deficient rows and the
    OLS standard errors ``[B, k]``.
    """
    B, T, k = X.shape
    if k == 0:
        return np.zeros((B, 0)), Y.copy(), np.einsum("bt,bt->b", Y, Y), np.zeros(B, dtype=bool), np.zeros((B, 0))
    norm = np.sqrt(np.einsum("btk,btk->bk", X, X))
    norm = np.where(norm > 0, norm, 1.0)
    Xs = X / norm[:, None, :]
    Q, R = np.linalg.qr(Xs)
    qty = np.einsum("btk,bt->bk", Q, Y)
    diag = np.abs(np.diagonal(R, axis1=1, axis2=2))
    bad = ~np.all(diag > PIVOT_TOL, axis=1)
    good = ~bad
    beta_s = np.zeros((B, k))
    rinv = np.full((B, k, k), np.nan)
    if good.any():
        eye = np.repeat(np.eye(k)[None], int(good.sum()), axis=0)
        rinv[good] = torch.linalg.solve_triangular(torch.from_numpy(R[good]), torch.from_numpy(eye), upper=True).numpy()
        beta_s[good] = np.einsum("bij,bj->bi", rinv[good], qty[good])
    for b in np.flatnonzero(bad):
        beta_s[b] = np.linalg.lstsq(Xs[b], Y[b], rcond=None)[0]
    beta = beta_s / norm
    resid = Y - np.einsum("btk,bk->bt", X, beta)
    ssr = np.einsum("bt,bt->b", resid, resid)
    dof = np.maximum(nobs - k, 1)
    with np.errstate(invalid="ignore"):
        var = np.einsum("bij,bij->bi", rinv, rinv) * (ssr / dof)[:, None]
    return beta, resid, ssr, bad, np.sqrt(var) / norm
