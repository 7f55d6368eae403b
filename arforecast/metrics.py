"""Public home of the metrics: ``from arforecast import metrics`` (see :mod:`arforecast.evaluation.metrics`)."""
from arforecast.evaluation.metrics import (coverage, crps_from_samples, crps_per_step, interval_score, mae, mase,
                                           msis, owa, pinball_loss, rmse, seasonal_scale, smape,
                                           weighted_quantile_loss)

__all__ = ["mae", "rmse", "smape", "mase", "owa", "pinball_loss", "weighted_quantile_loss", "coverage",
           "interval_score", "msis", "crps_per_step", "crps_from_samples", "seasonal_scale"]
