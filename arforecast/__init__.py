"""arforecast: autoregressive forecasting from exact linear AR(p) to neural autoregressors.

Example:
    >>> import numpy as np, pandas as pd
    >>> import arforecast as af
    >>> y = pd.Series(np.sin(np.arange(100) / 3), index=pd.date_range("2024", periods=100, freq="h"))
    >>> fc = af.SeasonalNaive(season_length=24).fit(y).predict(h=12)
    >>> len(fc.mean)
    12
"""
from arforecast.anomaly import AnomalyDetector, detect_anomalies
from arforecast.api import compare, forecast
from arforecast.base import Forecaster
from arforecast.data.frames import to_panel
from arforecast.data.panel import Panel
from arforecast.evaluation.backtest import BacktestResult, backtest
from arforecast.exceptions import DataError, ModelFileError, NotFittedError, TrainingError
from arforecast.forecasts import Forecast
from arforecast.models.baselines import Drift, Mean, Naive, Naive2, SeasonalNaive
from arforecast.models.arx import ARX
from arforecast.models.linear import AR
from arforecast.models.neural import NeuralAR
from arforecast.progress import set_progress
from arforecast.rollout import RolloutResult, rollout
from arforecast.wrappers import Conformal, Ensemble, FallbackWarning, WithFallback

__version__ = "0.1.0"

__all__ = [
    "Forecaster", "Forecast", "Panel", "to_panel", "DataError", "ModelFileError", "NotFittedError", "TrainingError",
    "Naive", "SeasonalNaive", "Naive2", "Mean", "Drift",
    "AR", "ARX",
    "NeuralAR",
    "backtest", "BacktestResult",
    "rollout", "RolloutResult",
    "detect_anomalies", "AnomalyDetector",
    "Conformal", "WithFallback", "FallbackWarning", "Ensemble",
    "forecast", "compare", "set_progress",
]
