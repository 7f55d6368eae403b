"""Covariates of a NeuralAR: the per-series input arrays and the normalisation learnt at fit."""
from __future__ import annotations

from typing import Any

import numpy as np


def prepare(model: Any, covariates: Any) -> list[np.ndarray] | None:
    """Set ``n_exog_``, ``exog_past_``, ``exog_mean_``, ``exog_scale_`` on ``model`` from the fit's
    covariates (cleared when there are none) and return each series' ``[length, k]`` inputs."""
    for stale in ("n_exog_", "exog_past_", "exog_mean_", "exog_scale_"):
        model.__dict__.pop(stale, None)
    if covariates is None:
        return None
    per_series = _exog_arrays(covariates)
    if not per_series[0].shape[1]:
        return None
    rows = np.concatenate(per_series)
    model.n_exog_ = rows.shape[1]
    model.exog_past_ = np.concatenate([np.asarray(covariates.past_only, dtype=bool),
                                       np.ones(len(covariates.static_names), dtype=bool)])
    model.exog_mean_ = np.nanmean(rows, axis=0)
    spread = np.nanstd(rows, axis=0)
    model.exog_scale_ = np.where(spread > 0, spread, 1.0)
    return per_series


def _exog_arrays(covariates: Any) -> list[np.ndarray]:
    """Each series' covariates at its observations ``[length, k + s]``, static ones as constant columns."""
    out = []
    for i in range(covariates.n_series):
        rows = covariates.series(i)
        if covariates.static is not None and len(covariates.static_names):
            rows = np.concatenate([rows, np.repeat(covariates.static[i:i + 1], len(rows), axis=0)], axis=1)
        out.append(rows)
    return out
