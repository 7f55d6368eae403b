"""Public home of the metrics: ``from arforecast import metrics`` (see :mod:`arforecast.evaluation.metrics`)."""
from arforecast.evaluation.metrics import (coverage, crps_from_samples, mae, mase, msis, owa, pinball_loss,
                                           rmse, seasonal_scale, smape, weighted_quantile_loss)

__all__ = ["mae", "rmse", "smape", "mase", "owa", "pinball_loss", "weighted_quantile_loss", "coverage",
           "msis", "crps_from_samples", "seasonal_scale"]
