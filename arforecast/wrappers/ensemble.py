"""Ensemble: one forecaster from several, points averaged and predictive laws combined.

* the point forecast is ``sum_m w_m yhat_m``;
* ``combine="mixture"``: the predictive law is the weighted mixture of the members' laws; sample
  paths are ``round(w_m S)`` paths of each member (largest remainders, so they add up to ``S``);
* ``combine="quantiles"``: quantiles are averaged (``Q(u) = sum_m w_m Q_m(u)``, Vincentization),
  which keeps the law's shape and narrows it when members disagree less than their spread; the
  ``k``-th sample path at a step takes the weighted average of the members' ``k``-th smallest
  samples at that step, the paths ordered as the weighted average of the members' paths.

``weights`` are fixed (a list, normalized to sum 1; ``None``: equal) or ``"learn"``: chosen at
``fit`` on a backtest of the members over the last ``n_windows`` windows of length ``h`` of the
training data, minimizing the pinball loss of the quantile-averaged forecast over the quantiles
0.05, 0.1, ..., 0.95 (errors scaled by each series' ``mean |y_t - y_{t-1}|``; a convex problem).
An ensemble of one member forecasts exactly as that member.

Example:
    >>> import arforecast as af
    >>> from arforecast.datasets import simulate_ar
    >>> y = simulate_ar([0.7], n_series=3, length=80, seed=0)
    >>> ens = af.Ensemble([af.AR(p=1), af.Naive()], weights=[3, 1]).fit(y)
    >>> ens.weights_.tolist()
    [0.75, 0.25]
    >>> fc = ens.predict(5, num_samples=40, seed=0)
    >>> fc.samples.shape
    (3, 40, 5)
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from scipy.optimize import minimize
from sklearn.base import clone

from arforecast.base import Forecaster, covariate_kwargs, one_step_probe
from arforecast.data.covariates import Covariates
from arforecast.data.frames import check_horizon
from arforecast.data.panel import Panel
from arforecast.evaluation.backtest import backtest
from arforecast.exceptions import DataError
from arforecast.forecasts import Forecast
from arforecast.wrappers.laws import Mixture, QuantileAverage

COMBINE = ("mixture", "quantiles")
#: quantiles on which weights are learnt
LEARN_QUANTILES = tuple(np.round(np.arange(0.05, 0.951, 0.05), 2))


class Ensemble(Forecaster):
    """Weighted combination of ``members`` (see the module docs).

    Args:
        members: forecasters (cloned, never modified).
        weights: a list of non-negative weights, ``None`` (equal) or ``"learn"``.
        combine: ``"mixture"`` (default) or ``"quantiles"``.
        h, n_windows: horizon and number of backtest windows for ``weights="learn"``.
        num_samples, seed: sample paths the weight-learning backtest draws for members without
            closed-form marginals.

    Fitted attributes: members_ (fitted clones), weights_ (normalized weights).
    """

    def __init__(self, members: Sequence[Forecaster], weights: Sequence[float] | str | None = None,
                 combine: str = "mixture", h: int | None = None, n_windows: int = 2,
                 num_samples: int = 100, seed: int = 0) -> None:
        self.members = members
        self.weights = weights
        self.combine = combine
        self.h = h
        self.n_windows = n_windows
        self.num_samples = num_samples
        self.seed = seed

    @property
    def min_length(self) -> int:
        return max(m.min_length for m in self.members)

    @property
    def can_recondition(self) -> bool:  # type: ignore[override]
        return all(m.can_recondition for m in self.members)

    @property
    def is_global(self) -> bool:  # type: ignore[override]
        return all(m.is_global for m in self.members)

    # ------------------------------------------------------------------ fit
    def _check_params(self) -> None:
        if not len(self.members) or not all(isinstance(m, Forecaster) for m in self.members):
            raise TypeError("members must be a non-empty list of arforecast Forecasters")
        if self.combine not in COMBINE:
            raise ValueError(f"combine must be one of {COMBINE}, got {self.combine!r}")
        if isinstance(self.weights, str):
            if self.weights != "learn":
                raise ValueError(f"weights must be a list, None or 'learn', got {self.weights!r}")
            if self.h is None:
                raise ValueError("weights='learn' backtests the members: give the horizon h, e.g. Ensemble(..., h=24)")
            check_horizon(self.h)
        elif self.weights is not None:
            w = np.asarray(self.weights, dtype=np.float64)
            if w.shape != (len(self.members),) or np.any(w < 0) or not np.isfinite(w).all() or w.sum() <= 0:
                raise ValueError(f"weights must be {len(self.members)} non-negative numbers with a positive sum, "
                                 f"got {self.weights!r}")

    @property
    def supports_covariates(self) -> bool:  # type: ignore[override]
        """True when a member reads covariates (they are handed to those members only)."""
        return any(getattr(m, "supports_covariates", False) for m in self.members)

    def _fit(self, panel: Panel, covariates: Covariates | None = None) -> None:
        self._check_params()
        self.members_ = [clone(m).fit(panel, **covariate_kwargs(m, covariates)) for m in self.members]
        if self.weights is None:
            weights = np.full(len(self.members), 1.0 / len(self.members))
        elif isinstance(self.weights, str):
            weights = self._learn(panel, covariates)
        else:
            w = np.asarray(self.weights, dtype=np.float64)
            weights = w / w.sum()
        self.weights_ = weights

    def _learn(self, panel: Panel, covariates: Covariates | None = None) -> np.ndarray:
        """Weights minimizing the scaled pinball loss of the quantile average on backtest windows."""
        if len(self.members) == 1:
            return np.ones(1)
        h = int(self.h)
        need = self.min_length + h * self.n_windows
        rows = np.flatnonzero(panel.lengths >= need)
        if not len(rows):
            raise DataError(f"Ensemble(weights='learn') needs series of at least {need} values "
                            f"({self.n_windows} windows of h={h})")
        cal = panel if len(rows) == panel.n_series else panel.subset(rows)
        qs = list(LEARN_QUANTILES)
        preds, y = [], None
        for m, fitted in zip(self.members, self.members_):
            probe = one_step_probe(fitted, panel, covariates)
            res = backtest(m, cal, h, n_windows=self.n_windows, refit=False, quantiles=qs, **covariate_kwargs(m, covariates),
                           num_samples=self.num_samples if probe.marginals is None else None,
                           seed=self.seed, progress=False, n_jobs=1)
            frame = res.forecasts
            y = frame[cal.layout.target_col].to_numpy()
            preds.append(np.stack([frame[f"q{q:g}"].to_numpy() for q in qs]))       # [Q, R*h]
            ends = res.windows.ends[res.windows.present]
        series = np.repeat(np.arange(cal.n_series), self.n_windows)
        scale = np.array([np.mean(np.abs(np.diff(cal.series(i)[:e]))) for i, e in zip(series, ends)])
        scale = np.repeat(np.where(np.isfinite(scale) & (scale > 0), scale, 1.0), h)
        P = np.stack(preds)                                                          # [M, Q, R*h]
        q = np.asarray(qs)[:, None]
        ok = np.isfinite(P).all(axis=(0, 1)) & np.isfinite(y)

        def loss(w: np.ndarray) -> float:
            diff = (y[ok] - np.tensordot(w, P[:, :, ok], axes=1)) / scale[ok]
            return float(np.mean(np.maximum(q * diff, (q - 1) * diff)))

        M = len(self.members)
        res = minimize(loss, np.full(M, 1.0 / M), method="SLSQP", bounds=[(0.0, 1.0)] * M,
                       constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0}])
        w = np.clip(res.x, 0.0, None)
        return w / w.sum()

    # ------------------------------------------------------------------ predict
    def _predict(self, panel: Panel, h: int, num_samples: int | None, seed: int | None,
                 covariates: Covariates | None = None, **options: Any) -> Forecast:
        history = None if panel is self.panel_ else panel
        w = self.weights_
        if len(self.members_) == 1:
            fc = self.members_[0].predict(h, num_samples=num_samples, seed=seed, y=history,
                                          **covariate_kwargs(self.members_[0], covariates), **options)
            return Forecast(panel, h, fc.point, samples=fc.samples, marginals=fc.marginals,
                            model=f"Ensemble({fc.model})", log_prob=fc.log_prob)
        counts = _allocate(w, num_samples) if num_samples is not None and self.combine == "mixture" else None
        fcs = []
        for k, m in enumerate(self.members_):
            ns = num_samples if counts is None else (int(counts[k]) or None)
            fcs.append(m.predict(h, num_samples=ns, seed=seed, y=history, **covariate_kwargs(m, covariates), **options))
        point = w[0] * fcs[0].point
        for wk, fc in zip(w[1:], fcs[1:]):
            point = point + wk * fc.point
        laws = [fc.marginals for fc in fcs]
        marginals = None
        if self.combine == "quantiles" and all(law is not None for law in laws):
            marginals = QuantileAverage(laws, w)
        elif self.combine == "mixture" and all(law is not None and hasattr(law, "cdf") for law in laws):
            marginals = Mixture(laws, w)
        samples = None
        if num_samples is not None:
            if self.combine == "mixture":
                samples = np.concatenate([fc.samples for fc, c in zip(fcs, counts) if c > 0], axis=1)
            else:
                samples = _average_sorted([fc.samples for fc in fcs], w)
        return Forecast(panel, h, point, samples=samples, marginals=marginals,
                        model="Ensemble(" + ", ".join(str(fc.model) for fc in fcs) + ")")


def _allocate(w: np.ndarray, total: int) -> np.ndarray:
    """``total`` split in proportion to ``w`` by largest remainders (ties to the first member)."""
    raw = w * total
    counts = np.floor(raw).astype(np.int64)
    left = total - counts.sum()
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[:left]] += 1
    return counts


def _average_sorted(samples: list[np.ndarray], w: np.ndarray) -> np.ndarray:
    """Weighted average of the members' sorted samples per step, laid on the ranks of the
    weighted average of their paths."""
    avg_paths = sum(wk * s for wk, s in zip(w, samples))
    sorted_avg = sum(wk * np.sort(s, axis=1) for wk, s in zip(w, samples))
    order = np.argsort(avg_paths, axis=1, kind="stable")
    out = np.empty_like(sorted_avg)
    np.put_along_axis(out, order, sorted_avg, axis=1)
    return out

