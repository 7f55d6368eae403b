"""NeuralAR: one global network that predicts the next value from the past, as AR(p) does.

The model, top to bottom:

1. **Values.** Each series is scaled by the mean absolute value of its context (Chronos'
   scaling, :class:`~arforecast.data.scaling.MeanScaler`). With ``values="quantized"`` the scaled
   values are snapped to the bins of a :class:`~arforecast.data.scaling.Quantizer` and the head
   is categorical over those bins; with ``values="continuous"`` they are used as they are and the
   head is a Student-t or Normal.
2. **Inputs** (:mod:`arforecast.nn.features`): the current value, the values at the target's
   seasonal lags, the prediction of a local AR fitted by ridge least squares to each series' own
   context (:mod:`arforecast.nn.local_ar`), and embeddings of the target's calendar phase
   (``position % period``). Lags, periods, local-AR lags and the context length come from the
   data's frequency and lengths unless given (:mod:`arforecast.models.neural.defaults`).
3. **Backbone**: ``"conv"``, a WaveNet stack of dilated causal convolutions
   (:mod:`arforecast.nn.wavenet`), or ``"transformer"``, a causal decoder with rotary positions
   (:mod:`arforecast.nn.transformer`).
4. **Head** (:mod:`arforecast.nn.heads`): a correction of the local AR. Its location is
   ``AR prediction + network output`` and its output layer starts at zero, so an untrained
   network forecasts exactly as the per-series AR does (:mod:`arforecast.nn.network`).
5. **Anchor** (:mod:`arforecast.models.neural.anchor`): the forecast is the automatic ``AR()``
   of each series plus a share of the network's departure from it, the share chosen on the
   validation windows after training (1: the network alone).

The package: :mod:`~arforecast.models.neural.config` (settings, grouped),
:mod:`~arforecast.models.neural.defaults` (settings chosen from the data),
:mod:`~arforecast.models.neural.anchor` (the blend with ``AR()``),
:mod:`~arforecast.models.neural.fitting` (training), :mod:`~arforecast.models.neural.calibration`
(interval calibration), :mod:`~arforecast.models.neural.stepping` (the rollout state),
:mod:`~arforecast.models.neural.persistence` (files), :mod:`~arforecast.models.neural.estimator`
(the estimator).

Example:
    >>> import arforecast as af
    >>> from arforecast.datasets import simulate_ar
    >>> y = simulate_ar([0.6, -0.2], n_series=4, length=120, intercept=5.0, seed=0)
    >>> model = af.NeuralAR("conv", "continuous", context_length=32, max_steps=10, seed=0,
    ...                     progress=False, architecture=Architecture(d_model=8, n_layers=3),
    ...                     inputs=Inputs(lags=(), periods=(), ar_lags=(1, 2)),
    ...                     training=Training(window_length=8, batch_size=8, validation_length=8)).fit(y)
    >>> model.predict(5, num_samples=20, seed=0).samples.shape
    (4, 20, 5)
"""
from arforecast.models.neural.calibration import SPREAD_GRID
from arforecast.models.neural.config import Architecture, Inputs, Output, Training, grouped
from arforecast.models.neural.estimator import NeuralAR
from arforecast.models.neural.persistence import FORMAT_VERSION

__all__ = ["NeuralAR", "Architecture", "Inputs", "Output", "Training", "grouped", "SPREAD_GRID", "FORMAT_VERSION"]
