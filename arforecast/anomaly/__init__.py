"""Anomaly detection from forecast intervals: is each observation plausible under the forecast
made before it arrived?

* :func:`detect_anomalies` (batch) and :class:`AnomalyDetector` (streaming: ``fit`` then
  ``update``) work with any arforecast forecaster; models that implement the rollout protocol
  (AR, NeuralAR, :class:`RollingZScore`) cost one model step per point.
* :func:`tail_score` and the predictive helpers in :mod:`arforecast.anomaly.scores`.
* :class:`RollingZScore`: the classic rolling z-score detector as a forecaster (a baseline).
* :func:`plot_anomalies`: a series with its interval band and flagged points;
  :func:`zoom_anomalies`: the whole series above close-ups of its incidents.
* :func:`incident_scores`: the scale-free incident score behind ``detect_anomalies``' ``alert``.
* :func:`alerts` / :func:`suppress_repeats`: one alert per burst of flags (a cooldown) or per incident.
"""
from arforecast.anomaly.alerts import alerts, suppress_repeats
from arforecast.anomaly.baselines import RollingZScore
from arforecast.anomaly.detect import detect_anomalies
from arforecast.anomaly.incidents import INCIDENT_THRESHOLD, incident_scores, incident_windows
from arforecast.anomaly.plot import plot_anomalies, zoom_anomalies
from arforecast.anomaly.scores import tail_score
from arforecast.anomaly.streaming import AnomalyDetector

__all__ = ["detect_anomalies", "AnomalyDetector", "RollingZScore", "tail_score", "plot_anomalies", "zoom_anomalies",
           "incident_scores", "incident_windows", "INCIDENT_THRESHOLD",
           "alerts", "suppress_repeats"]
