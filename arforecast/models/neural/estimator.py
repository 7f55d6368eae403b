"""The NeuralAR estimator: parameters, fit, predict, likelihood, persistence (the parts live in
the sibling modules: settings in ``config``, choices from the data in ``defaults`` and ``prior``,
covariate inputs in ``exog``, training in ``fitting``, the Stepper protocol in ``stepping``,
the held-out likelihood in ``likelihood``, files in ``persistence``)."""
from __future__ import annotations

import dataclasses
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from arforecast.base import Forecaster
from arforecast.data.panel import Panel
from arforecast.data.scaling import MeanScaler, Quantizer
from arforecast.exceptions import DataError, TrainingError
from arforecast.forecasts import Forecast
from arforecast.models.neural import anchor, config, defaults, exog, persistence, prior
from arforecast.models.neural.config import GROUPS, Architecture, Inputs, Output, Settings, Training
from arforecast.models.neural.fitting import fit_network, seeded
from arforecast.models.neural.likelihood import held_out_nll
from arforecast.models.neural.ranges import check_float32_range
from arforecast.models.neural.stepping import NeuralStepper
from arforecast.nn.network import build_network


class NeuralAR(NeuralStepper, Forecaster):
    """A global neural autoregressive forecaster (WaveNet or transformer backbone).

    Args:
        backbone: ``"conv"`` (WaveNet) or ``"transformer"``.
        values: ``"quantized"`` (categorical head over bins) or ``"continuous"`` (Student-t or
            Normal head).
        context_length: values a forecast conditions on: the scale and the local AR come from
            them, the lags look back into them (``None``: chosen from the data, ``context_length_``).
        max_steps: most optimizer steps.
        time_limit: most seconds of training (``None``: no limit); the learning-rate schedule
            follows whichever budget runs out first.
        seed: makes initialization and training reproducible.
        device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"``, ...
        progress: show a progress bar while training.
        architecture: :class:`~arforecast.models.neural.config.Architecture` (width, depth, heads).
        inputs: :class:`~arforecast.models.neural.config.Inputs` (seasonal lags, phase periods,
            local AR lags; ``None`` fields are chosen from the data: ``lags_``, ``periods_``,
            ``ar_lags_``).
        output: :class:`~arforecast.models.neural.config.Output` (likelihood or quantizer).
        training: :class:`~arforecast.models.neural.config.Training` (windows, optimizer,
            validation, weight averaging, calibration).
        decoding: default decoding for ``predict`` with ``num_samples`` (``"sample"``); without
            ``num_samples`` the point forecast is the ``"mean"`` path.
        chunk_size: most paths stepped at once in ``predict`` (bounds memory).

    Each group may also be given as a ``dict`` of its fields; ``set_params(training__ema_decay=None)``
    changes one field.

    Fitted attributes: the settings chosen from the data where left ``None`` (``d_model_``,
    ``context_length_``, ``lags_``, ``periods_``, ``ar_lags_``, ``validation_length_``,
    ``window_length_``; rules in :mod:`arforecast.models.neural.defaults`; ``ar_lags_`` and the
    weight of the pooled AR prior ``ar_prior_`` on validation windows, :mod:`arforecast.models.neural.prior`;
    the network's share against the automatic ``AR()`` ``anchor_share_``, every share's validation
    score ``anchor_scores_`` and that ``AR()`` ``anchor_``, :mod:`arforecast.models.neural.anchor`),
    ``config_`` (the four groups as used), ``network_``, ``training_`` (steps, validation history) and ``spread_``.

    Example:
        >>> import arforecast as af
        >>> from arforecast.datasets import simulate_ar
        >>> y = simulate_ar([0.6, -0.2], n_series=4, length=120, intercept=5.0, seed=0)
        >>> model = af.NeuralAR("conv", "continuous", context_length=32, max_steps=10, seed=0, progress=False,
        ...                     architecture=dict(d_model=8, n_layers=3),
        ...                     inputs=dict(lags=(), periods=(), ar_lags=(1, 2)),
        ...                     training=dict(window_length=8, batch_size=8, validation_length=8, val_every=5)).fit(y)
        >>> model.predict(5, num_samples=20, seed=0).samples.shape
        (4, 20, 5)
    """

    is_global = True
    supports_covariates = True

    def __init__(self, backbone: str = "conv", values: str = "quantized", context_length: int | None = None,
                 max_steps: int = 1000, time_limit: float | None = None, seed: int | None = None,
                 device: str = "auto", *, progress: bool = True, architecture: Architecture | dict | None = None,
                 inputs: Inputs | dict | None = None, output: Output | dict | None = None,
                 training: Training | dict | None = None, decoding: str = "sample",
                 chunk_size: int | None = 4096) -> None:
        self.backbone = backbone
        self.values = values
        self.context_length = context_length
        self.max_steps = max_steps
        self.time_limit = time_limit
        self.seed = seed
        self.device = device
        self.progress = progress
        self.architecture = architecture
        self.inputs = inputs
        self.output = output
        self.training = training
        self.decoding = decoding
        self.chunk_size = chunk_size

    def set_params(self, **params: Any) -> "NeuralAR":
        """scikit-learn's ``set_params``; ``group__field=value`` replaces one field of a group."""
        nested = {k: v for k, v in params.items() if k.partition("__")[0] in GROUPS and "__" in k}
        for key, value in nested.items():
            group, _, field = key.partition("__")
            setattr(self, group, config.replaced(getattr(self, group), GROUPS[group], **{field: value}))
        return super().set_params(**{k: v for k, v in params.items() if k not in nested})

    # ------------------------------------------------------------------ setup
    def _settings(self) -> Settings:
        s = Settings(*(config.resolve(cls, getattr(self, name)) for name, cls in GROUPS.items()))
        config.validate(self.backbone, self.values, self.context_length, self.max_steps, self.time_limit, s,
                        self.seed)
        return s

    def _resolve_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            dev = torch.device(self.device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}") from err
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device={self.device!r} but CUDA is not available; use device='auto' or 'cpu'")
        return dev

    def _setup(self, chosen: dict[str, Any], settings: Settings | None = None) -> None:
        """Fitted attributes that follow from the parameters and the data-chosen settings
        (shared by fit and load), an untrained network included."""
        s = settings or self._settings()
        for name, value in chosen.items():
            setattr(self, name, value)
        inputs = dataclasses.replace(s.inputs, lags=self.lags_, periods=self.periods_, ar_lags=self.ar_lags_,
                                     ar_prior=getattr(self, "ar_prior_", s.inputs.ar_prior))
        training = dataclasses.replace(s.training, window_length=self.window_length_,
                                       validation_length=self.validation_length_)
        architecture = dataclasses.replace(s.architecture, d_model=self.d_model_)
        self.config_ = s._replace(architecture=architecture, inputs=inputs, training=training)
        o = s.output
        self.quantizer_ = (Quantizer(int(o.n_bins), *o.value_range, None if o.mu_law is None else float(o.mu_law))
                           if self.values == "quantized" else None)
        self.scaler_ = MeanScaler()
        self.dtype_ = torch.float32
        self.device_ = self._resolve_device()
        self.spread_ = 1.0
        with seeded(self.seed):
            net = build_network(self.backbone, self.values, **dataclasses.asdict(architecture),
                                **{k: v for k, v in dataclasses.asdict(inputs).items() if k != "anchor_share"},
                                likelihood=o.likelihood, quantizer=self.quantizer_,
                                embed_tokens=o.embed_tokens, n_exog=int(getattr(self, "n_exog_", 0)))
        self.network_ = net.to(self.device_)
        self.history_ = net.history

    @property
    def min_length(self) -> int:
        return 2

    # ------------------------------------------------------------------ fit / predict
    def fit(self, y: Any, X: Any = None, *, static: Any = None, past_only: Any = (), freq: Any = None,
            **columns: str) -> "NeuralAR":
        """Fit to ``y``, transactionally.

        ``fit`` either completes and replaces the fitted state, or leaves the previous fitted state
        untouched: a refit stopped by ``KeyboardInterrupt``, a :class:`TrainingError` (a loss
        that turned NaN) or any other error forecasts exactly as before it. A *first* fit stopped
        by ``KeyboardInterrupt`` or :class:`TrainingError` once training has started keeps the
        best checkpoint so far (``training_.stopped`` is ``"interrupted"`` or ``"not_finite"``),
        warns, and re-raises: the model can forecast. Other errors leave it unfitted.
        """
        before = dict(self.__dict__)
        first = not hasattr(self, "panel_")
        self.__dict__.pop("_partial_", None)
        try:
            return super().fit(y, X, static=static, past_only=past_only, freq=freq, **columns)
        except BaseException as err:
            partial = self.__dict__.pop("_partial_", None)
            if first and partial is not None:
                self.panel_, self.ids_, self.n_series_ = partial, partial.ids, partial.n_series
                self.training_ = err.train_result          # type: ignore[union-attr]
                why = "interrupted" if isinstance(err, KeyboardInterrupt) else "stopped by a non-finite loss"
                warnings.warn(f"NeuralAR.fit {why} at step {self.training_.steps}: the model keeps the best "
                              f"checkpoint so far (step {self.training_.best_step}) and can forecast; "
                              "fit again for a complete training", RuntimeWarning, stacklevel=2)
            else:
                self.__dict__.clear()
                self.__dict__.update(before)
            raise

    def _fit(self, panel: Panel, covariates: Any = None) -> None:
        start = time.perf_counter()
        s = self._settings()
        check_float32_range(panel)
        per_series = exog.prepare(self, covariates)
        chosen, local = prior.choose(panel, defaults.choose(panel, self.context_length, s.inputs, s.training,
                                                            s.architecture), s.inputs)
        self._setup(chosen, s)
        prior.apply(self, local)
        self.anchor_share_, self.anchor_scores_, self.anchor_ = 1.0, {}, None
        # the automatic AR() the forecast may lean on, fitted before training (its time counts);
        # with covariates (which AR() does not read) the network alone
        share = s.inputs.anchor_share if per_series is None else 1.0
        anchoring = anchor.prepare(panel, self.validation_length_, share)
        try:
            fit_network(self, panel, per_series, time.perf_counter() - start)   # time spent choosing counts
        except (KeyboardInterrupt, TrainingError) as err:
            if getattr(err, "train_result", None) is not None:     # training had started
                self._partial_ = panel
            raise
        anchor.choose(self, panel, share, anchoring)

    def _predict(self, panel: Panel, h: int, num_samples: int | None, seed: int | None,
                 covariates: Any = None, **options: Any) -> Forecast:
        """Mean path without ``num_samples``; with it, sample paths whose mean is the point forecast.

        Options: ``decoding`` (default ``self.decoding`` for samples), ``temperature``, ``top_k``,
        ``top_p``, ``chunk_size``, ``progress``, ``draft`` and ``draft_steps`` (see
        :func:`arforecast.rollout.rollout`; ``draft="local_ar"`` is this model's own local AR path,
        :class:`~arforecast.models.neural.draft.LocalARDraft`), ``quantize="int8"`` (the linear
        layers in dynamic int8 on the CPU, :mod:`~arforecast.models.neural.quantization`).
        """
        from arforecast.models.neural.quantization import quantized
        with quantized(self, options.pop("quantize", None)):
            return self._predict_float(panel, h, num_samples, seed, covariates, **options)

    def _predict_float(self, panel: Panel, h: int, num_samples: int | None, seed: int | None,
                       covariates: Any = None, **options: Any) -> Forecast:
        from arforecast.rollout.engine import rollout
        check_float32_range(panel)
        self.network_.eval()
        if getattr(self, "n_exog_", 0) and covariates is None:
            raise DataError("NeuralAR was fitted with covariates: predict needs their future values (X_future=...)")
        context = self._context(panel, covariates if getattr(self, "n_exog_", 0) else None, h)
        chunk = options.pop("chunk_size", self.chunk_size)
        if isinstance(options.get("draft"), str):
            if options["draft"] != "local_ar":
                raise ValueError(f"draft must be a Stepper or 'local_ar', got {options['draft']!r}")
            from arforecast.models.neural.draft import LocalARDraft
            options["draft"] = LocalARDraft(self)
        if num_samples is None:
            decoding = options.pop("decoding", "mean")
            res = rollout(self, context, h, decoding=decoding, seed=seed, chunk_size=chunk, **options)
            point, _ = anchor.blend(self, panel, h, res.point.numpy(), None)
            return Forecast(panel, h, point, model=type(self).__name__)
        decoding = options.pop("decoding", self.decoding)
        res = rollout(self, context, h, num_samples=num_samples, decoding=decoding, seed=seed,
                      chunk_size=chunk, **options)
        samples = res.paths.numpy()
        point, samples = anchor.blend(self, panel, h, samples.mean(axis=1), samples)
        return Forecast(panel, h, point, samples=samples, model=type(self).__name__)

    def _calibrate_spread(self, batch: dict[str, np.ndarray], context: int, **kwargs: Any
                          ) -> tuple[float, dict[float, float]]:
        """:func:`~arforecast.models.neural.calibration.calibrate_spread` with this model's criterion."""
        from arforecast.models.neural.calibration import calibrate_spread
        return calibrate_spread(self, batch, context, self.config_.training.calibrate or "crps", **kwargs)

    # ------------------------------------------------------------------ held-out likelihood
    def nll(self, y: Any, start: int | None = None) -> float:
        """Mean negative log-likelihood per step of ``y`` under the model, teacher-forced (see
        :func:`arforecast.models.neural.likelihood.held_out_nll`)."""
        self._check_fitted()
        return held_out_nll(self, y, start)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write parameters, data-chosen settings, weights and the fitted series to ``path``
        (tensors, numbers and strings only: read with ``weights_only=True``)."""
        self._check_fitted()
        persistence.save(self, path)

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> "NeuralAR":
        """Read a model written by :meth:`save` (never unpickles arbitrary objects)."""
        return persistence.load(cls, path, device)
