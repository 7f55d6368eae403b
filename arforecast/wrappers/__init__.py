"""Forecasters that wrap other forecasters: conformal calibration, per-series fallbacks, ensembles.

They sit above :mod:`arforecast.evaluation` (they backtest the models they wrap), so nothing in
``models/`` or ``evaluation/`` imports them.
"""
from arforecast.wrappers.conformal import Conformal
from arforecast.wrappers.ensemble import Ensemble
from arforecast.wrappers.fallback import FallbackWarning, WithFallback

__all__ = ["Conformal", "Ensemble", "WithFallback", "FallbackWarning"]
