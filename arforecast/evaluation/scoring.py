"""Score a Forecast against what happened: the table rows of the main job and the benchmarks."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from arforecast.data.frames import to_panel
from arforecast.data.panel import Panel
from arforecast.evaluation import metrics
from arforecast.forecasts import Forecast

DEFAULT_QUANTILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def actuals_matrix(forecast: Forecast, actual: Any) -> np.ndarray:
    """``[n_series, h]`` actual values aligned with ``forecast``'s series and future timestamps."""
    panel = actual if isinstance(actual, Panel) else to_panel(actual)
    lookup = {uid: k for k, uid in enumerate(panel.ids)}
    out = np.empty((forecast.panel.n_series, forecast.h))
    for i, uid in enumerate(forecast.ids):
        if uid not in lookup:
            raise ValueError(f"no actual values for series {uid!r}")
        k = lookup[uid]
        idx = panel.time_index(k)
        pos = idx.get_indexer(forecast.index[i])
        if np.any(pos < 0):
            raise ValueError(f"actual values of series {uid!r} do not cover the forecast horizon")
        out[i] = panel.series(k)[pos]
    return out


def score(forecast: Forecast, actual: Any, insample: Panel, season_length: int, level: float = 0.95,
          quantiles: Sequence[float] = DEFAULT_QUANTILES) -> dict[str, float]:
    """Panel averages of sMAPE, MASE, MAE, RMSE and, when the forecast has a distribution,
    MSIS and coverage of the ``level`` interval, weighted quantile loss and CRPS (from samples).

    Example:
        >>> import arforecast as af
        >>> from arforecast.datasets import load_m4_hourly
        >>> train, test = load_m4_hourly(n_series=3)
        >>> fc = af.SeasonalNaive(24).fit(train).predict(48)
        >>> round(score(fc, test, af.to_panel(train), season_length=24)["MASE"], 3) > 0
        True
    """
    y = actuals_matrix(forecast, actual)
    out = {
        "sMAPE": float(np.mean(metrics.smape(y, forecast.point))),
        "MASE": float(np.mean(metrics.mase(y, forecast.point, insample, season_length))),
        "MAE": float(np.mean(metrics.mae(y, forecast.point))),
        "RMSE": float(np.mean(metrics.rmse(y, forecast.point))),
    }
    if forecast.marginals is not None or forecast.samples is not None:
        lo, hi = forecast.interval_values(level)
        out["MSIS"] = float(np.mean(metrics.msis(y, lo, hi, insample, season_length, level=level)))
        out["coverage"] = float(np.mean(metrics.coverage(y, lo, hi)))
        out["WQL"] = metrics.weighted_quantile_loss(y, forecast.quantile_values(list(quantiles)), quantiles)
    if forecast.samples is not None:
        out["CRPS"] = float(np.mean(metrics.crps_from_samples(y, forecast.samples)))
    return out


def add_owa(table: pd.DataFrame, baseline: str = "Naive2") -> pd.DataFrame:
    """Add an ``OWA`` column to a score table indexed by model name, relative to ``baseline``."""
    if baseline not in table.index:
        return table
    ref = table.loc[baseline]
    return table.assign(OWA=[metrics.owa(r["sMAPE"], r["MASE"], ref["sMAPE"], ref["MASE"])
                             for _, r in table.iterrows()])
