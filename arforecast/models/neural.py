"""NeuralAR: one global network that predicts the next value from the past, as AR(p) does.

The model, top to bottom:

1. **Values.** Each series is scaled by the mean absolute value of its context (Chronos'
   scaling, :class:`~arforecast.data.scaling.MeanScaler`). With ``values="quantized"`` the scaled
   values are snapped to the bins of a :class:`~arforecast.data.scaling.Quantizer` and the head
   is categorical over those bins; with ``values="continuous"`` they are used as they are and the
   head is a Student-t or Normal.
2. **Inputs** (:mod:`arforecast.nn.features`): the current value, the values at the target's
   seasonal lags (``lags``, default 24 and 168), the prediction of a local AR fitted by ridge
   least squares to each series' own context (``ar_lags``), and embeddings of the target's
   phase (``position % period``).
3. **Backbone**: ``"conv"``, a WaveNet stack of dilated causal convolutions
   (:mod:`arforecast.nn.wavenet`), or ``"transformer"``, a causal decoder with rotary positions
   (:mod:`arforecast.nn.transformer`).
4. **Head** (:mod:`arforecast.nn.heads`): a correction of the local AR. Its location is
   ``AR prediction + network output`` and its output layer starts at zero, so an untrained
   model forecasts exactly as the per-series AR does: training starts where a classical AR
   ends and the network only learns what it adds (classical to neural in one model).

Training (:mod:`arforecast.nn.training`) is teacher forcing: random windows across all series,
every target of a window scored in one pass under the causal mask, AdamW with warm-up and cosine
decay over the budget (``max_steps`` and/or ``time_limit``), gradient clipping, an optional
moving average of the weights, and early stopping on a validation split carved from the end of
each series' training data (the last ``validation_length`` values), keeping the best weights.

Forecasting goes through the rollout engine (:func:`arforecast.rollout.rollout`): the model is
a :class:`~arforecast.rollout.protocol.Stepper` whose state holds the scale, the last values
(for the lags and the AR path) and the backbone's incremental state (conv queues or key/value
cache), so each step costs one position of work.

Example:
    >>> import arforecast as af
    >>> from arforecast.datasets import simulate_ar
    >>> y = simulate_ar([0.6, -0.2], n_series=4, length=120, intercept=5.0, seed=0)
    >>> model = af.NeuralAR(backbone="conv", values="continuous", context_length=32, lags=(),
    ...                     periods=(), ar_lags=(1, 2), d_model=8, n_layers=3, max_steps=10,
    ...                     window_length=8, batch_size=8, validation_length=8, val_every=5,
    ...                     seed=0, progress=False).fit(y)
    >>> fc = model.predict(5, num_samples=20, seed=0)
    >>> fc.samples.shape
    (4, 20, 5)
"""
from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from arforecast.base import Forecaster
from arforecast.data.panel import Layout, Panel
from arforecast.data.scaling import MeanScaler, Quantizer
from arforecast.distributions import Distribution
from arforecast.exceptions import DataError
from arforecast.forecasts import Forecast, sample_quantiles
from arforecast.nn.features import InputFeatures, LocalAR
from arforecast.nn.heads import make_head
from arforecast.nn.training import WindowSampler, train
from arforecast.nn.transformer import Transformer
from arforecast.nn.wavenet import WaveNet
from arforecast.rollout.protocol import Context, State

FORMAT = "arforecast.NeuralAR"
FORMAT_VERSION = 1
#: spread factors tried by ``calibrate`` (narrower and wider than the network's own).
SPREAD_GRID = (0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.4, 1.6)


# =========================================================================== the network
class ARNetwork(nn.Module):
    """Inputs -> backbone -> head, with a local AR path as the head's base location (and scale).

    ``span`` is the number of context columns the backbone reads before a forecast origin (the
    conv stack's receptive field, or the transformer's attention context). With ``ar_scale`` the
    head's scale is a multiple of the local AR's residual spread over the context, so each series
    starts from its own noise level rather than a global one.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, features: InputFeatures,
                 local_ar: LocalAR | None, span: int, ar_scale: bool = False) -> None:
        super().__init__()
        self.features, self.backbone, self.head = features, backbone, head
        self.local_ar, self.span = local_ar, int(span)
        self.ar_scale = bool(ar_scale) and local_ar is not None
        self.history = max(features.history, local_ar.order if local_ar is not None else 1)

    def fit_ar(self, z: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        """The local AR of each row of the context ``z [B, N]``: ``[B, k + 1]`` coefficients and
        intercept, then (with ``ar_scale``) its residual spread; ``[B, 0]`` without an AR path."""
        if self.local_ar is None:
            return z.new_zeros(z.shape[0], 0)
        coef = self.local_ar.fit(z, observed)
        if self.ar_scale:
            coef = torch.cat([coef, self.local_ar.residual_spread(z, observed, coef)[:, None]], 1)
        return coef

    def split_ar(self, ar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``fit_ar``'s output -> (coefficients with intercept, residual spread or ``None``)."""
        return (ar[:, :-1], ar[:, -1]) if self.ar_scale else (ar, None)

    def base(self, z: torch.Tensor, ar: torch.Tensor, first: int) -> torch.Tensor:
        """The local AR's one-step predictions ``[B, T]`` for columns ``first..N-1`` (0 without one)."""
        if self.local_ar is None:
            return torch.zeros_like(z[:, first:])
        return self.local_ar.predict(z, self.split_ar(ar)[0], first)

    def forward(self, z: torch.Tensor, observed: torch.Tensor, positions: torch.Tensor, first: int,
                ar: torch.Tensor, tokens: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Head parameters for the targets of columns ``first .. N-1`` of ``z [B, N]``."""
        base = self.base(z, ar, first)                                     # (B, T)
        x = self.features(z, observed, base, positions, first, tokens)     # (B, T, C)
        spread = self.split_ar(ar)[1]
        return self.head(self.backbone(x), base, None if spread is None else spread[:, None])

    def start(self, z: torch.Tensor, observed: torch.Tensor, positions: torch.Tensor, first: int,
              ar: torch.Tensor, tokens: torch.Tensor | None = None) -> tuple[dict[str, torch.Tensor], dict]:
        base = self.base(z, ar, first)
        x = self.features(z, observed, base, positions, first, tokens)
        h, state = self.backbone.start(x)
        return self.head(h, base[:, -1], self.split_ar(ar)[1]), state

    def step(self, z: torch.Tensor, observed: torch.Tensor, positions: torch.Tensor, backbone_state: dict,
             ar: torch.Tensor, tokens: torch.Tensor | None = None) -> tuple[dict[str, torch.Tensor], dict]:
        """One position: ``z, observed [B, history]`` end with the new value; ``positions [B, 1]``."""
        first = z.shape[1] - 1
        base = self.base(z, ar, first)
        x = self.features(z, observed, base, positions, first, tokens)
        h, state = self.backbone.step(x[:, 0], backbone_state)
        return self.head(h, base[:, 0], self.split_ar(ar)[1]), state


# =========================================================================== the forecaster
class NeuralAR(Forecaster):
    """A global neural autoregressive forecaster (WaveNet or transformer backbone).

    Args:
        backbone: ``"conv"`` (WaveNet) or ``"transformer"``.
        values: ``"quantized"`` (categorical head over ``n_bins`` bins) or ``"continuous"``
            (``likelihood`` head).
        context_length: values a forecast conditions on: the scale and the local AR are
            computed from them, the lags look back into them.
        max_steps: most optimizer steps.
        time_limit: most seconds of training (``None``: no limit); the learning-rate schedule
            follows whichever budget runs out first.
        seed: makes initialization and training reproducible.
        device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"``, ...
        d_model: width of the network. n_layers: depth (conv default 7, receptive field 128;
            transformer default 3). n_heads: attention heads.
        attention_context: context positions the transformer attends to at a forecast origin
            (the conv stack reads its receptive field).
        likelihood: continuous head, ``"student_t"`` or ``"normal"``.
        n_bins, value_range, mu_law: the quantizer (bins over the scaled range; mu-law parameter
            or ``None`` for uniform bins). The default mu-law makes the bins around the scaled
            level (about 1) 2.5 times narrower than uniform ones: with 1024 uniform bins over
            (-15, 15) a bin is 3% of the level, as wide as the one-step noise of smooth series.
        lags: seasonal lags given to the network as inputs (``()`` for none).
        periods: periods of the phase embeddings (``()`` for none).
        ar_lags: lags of the local AR path, refitted (ridge least squares) on every context
            (``()``: no AR path; the head's base location is then 0). ar_ridge: its penalty.
        ar_scale: the head's scale is a learned multiple of the local AR's residual spread over
            each context (each series starts from its own noise level); ``False``: of one global
            spread.
        embed_tokens: also embed the current value's token (quantized values only).
        window_length: targets after the origin of each training window (all scored).
        batch_size, learning_rate, weight_decay, warmup_steps, grad_clip: optimizer settings.
        validation_length: values at the end of each series held out for early stopping
            (0 disables validation).
        val_every: validate every this many steps. val_metric: ``"rollout"`` (default) scores
            the mean-path forecast of the validation values, ``mean |y - yhat| / scale``, the
            error the forecasts will have; ``"nll"`` their teacher-forced NLL.
        patience: stop after this many validations without improvement (``None``: never).
        ema_decay: moving average of the weights, validated and kept at the end (``None``: off).
        calibrate: after training, widen or narrow the predictive spread of every step by one
            factor ``spread_`` chosen on the validation windows: ``"crps"`` picks the factor whose
            sample paths have the lowest CRPS over the validation values, ``"interval"`` the
            lowest 95% interval score; ``None`` (default) keeps the network's own spread
            (``spread_ = 1``). Point forecasts are unchanged. Off by default: on M4 Hourly a
            factor chosen on one validation window did not carry over to the next (docs/neural.md).
        progress: show a progress bar while training.
        decoding: default decoding for ``predict`` when sample paths are asked for
            (``"sample"``); without ``num_samples`` the point forecast is the ``"mean"`` path.
        chunk_size: most paths stepped at once in ``predict`` (bounds memory: a path's state is
            about ``4 * d_model * receptive_field`` bytes for the conv stack, ``8 * n_layers *
            d_model * (attention_context + h + 64)`` for the transformer's cache, plus
            ``4 * n_bins`` for a categorical head).
    """

    is_global = True

    def __init__(self, backbone: str = "conv", values: str = "quantized", context_length: int = 512,
                 max_steps: int = 1000, time_limit: float | None = None, seed: int | None = None,
                 device: str = "auto", *, d_model: int = 64, n_layers: int | None = None, n_heads: int = 4,
                 attention_context: int = 128, likelihood: str = "student_t", n_bins: int = 1024,
                 value_range: tuple[float, float] = (-15.0, 15.0), mu_law: float | None = 255.0,
                 lags: tuple[int, ...] = (24, 168), periods: tuple[int, ...] = (24, 168),
                 ar_lags: tuple[int, ...] = (1, 2, 3, 23, 24, 25, 47, 48, 72, 96, 120, 144, 167, 168, 169),
                 ar_ridge: float = 1e-6, ar_scale: bool = True, embed_tokens: bool = False, window_length: int = 48,
                 batch_size: int = 32, learning_rate: float = 3e-3, weight_decay: float = 0.01,
                 warmup_steps: int = 50, grad_clip: float = 1.0, validation_length: int = 48,
                 val_every: int = 50, val_metric: str = "rollout", patience: int | None = None,
                 ema_decay: float | None = 0.99, calibrate: str | None = None, progress: bool = True,
                 decoding: str = "sample", chunk_size: int | None = 4096) -> None:
        self.backbone = backbone
        self.values = values
        self.context_length = context_length
        self.max_steps = max_steps
        self.time_limit = time_limit
        self.seed = seed
        self.device = device
        self.d_model = d_model
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.attention_context = attention_context
        self.likelihood = likelihood
        self.n_bins = n_bins
        self.value_range = value_range
        self.mu_law = mu_law
        self.lags = lags
        self.periods = periods
        self.ar_lags = ar_lags
        self.ar_ridge = ar_ridge
        self.ar_scale = ar_scale
        self.embed_tokens = embed_tokens
        self.window_length = window_length
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.warmup_steps = warmup_steps
        self.grad_clip = grad_clip
        self.validation_length = validation_length
        self.val_every = val_every
        self.val_metric = val_metric
        self.patience = patience
        self.ema_decay = ema_decay
        self.calibrate = calibrate
        self.progress = progress
        self.decoding = decoding
        self.chunk_size = chunk_size

    # ------------------------------------------------------------------ configuration
    def _check_params(self) -> None:
        if self.val_metric not in ("rollout", "nll"):
            raise ValueError(f"val_metric must be 'rollout' or 'nll', got {self.val_metric!r}")
        if not isinstance(self.ar_scale, (bool, np.bool_)):
            raise ValueError(f"ar_scale must be True or False, got {self.ar_scale!r}")
        if self.calibrate not in (None, "crps", "interval"):
            raise ValueError(f"calibrate must be 'crps', 'interval' or None, got {self.calibrate!r}")
        if self.backbone not in ("conv", "transformer"):
            raise ValueError(f"backbone must be 'conv' or 'transformer', got {self.backbone!r}")
        if self.values not in ("quantized", "continuous"):
            raise ValueError(f"values must be 'quantized' or 'continuous', got {self.values!r}")
        if self.values == "continuous" and self.likelihood not in ("student_t", "normal"):
            raise ValueError(f"likelihood must be 'student_t' or 'normal', got {self.likelihood!r}")
        for name in ("max_steps", "window_length", "batch_size", "d_model", "context_length", "val_every",
                     "attention_context"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.time_limit is not None and not self.time_limit > 0:
            raise ValueError(f"time_limit must be positive seconds or None, got {self.time_limit!r}")
        if any(int(k) < 1 for k in tuple(self.lags) + tuple(self.periods) + tuple(self.ar_lags)):
            raise ValueError("lags, periods and ar_lags must be positive integers")

    def _layers(self) -> int:
        if self.n_layers is not None:
            return int(self.n_layers)
        return 7 if self.backbone == "conv" else 3

    def _quantizer(self) -> Quantizer | None:
        if self.values != "quantized":
            return None
        lo, hi = self.value_range
        return Quantizer(int(self.n_bins), float(lo), float(hi), None if self.mu_law is None else float(self.mu_law))

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

    def _build(self) -> ARNetwork:
        q = self._quantizer()
        C = int(self.d_model)
        features = InputFeatures(C, tuple(self.lags), tuple(self.periods),
                                 vocab_size=q.vocab_size if (q is not None and self.embed_tokens) else None)
        local_ar = LocalAR(tuple(self.ar_lags), float(self.ar_ridge)) if len(self.ar_lags) else None
        if self.backbone == "conv":
            body: nn.Module = WaveNet(C, self._layers())
            span = body.receptive_field
        else:
            body = Transformer(C, self._layers(), int(self.n_heads))
            span = int(self.attention_context)
        head = make_head("categorical" if q is not None else self.likelihood, C, q)
        return ARNetwork(body, head, features, local_ar, span, ar_scale=bool(self.ar_scale))

    def _setup(self) -> None:
        """Fitted attributes that follow from the parameters alone (shared by fit and load)."""
        self._check_params()
        self.quantizer_ = self._quantizer()
        self.scaler_ = MeanScaler()
        self.dtype_ = torch.float32
        self.device_ = self._resolve_device()
        self.spread_ = 1.0

    @property
    def min_length(self) -> int:
        return 2

    # ------------------------------------------------------------------ values -> network inputs
    def _encode(self, values: torch.Tensor, scale: torch.Tensor, first_observed: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Original values ``[B, N]`` (NaN = none) -> scaled inputs, observed flags, tokens.

        ``first_observed [B]`` (column of each row's first real value) marks the columns before
        it as padding (token ``PAD``) rather than missing (``MISSING``).
        """
        q = self.quantizer_
        observed = ~torch.isnan(values)
        z = values / scale.unsqueeze(-1)
        tokens = None
        if q is not None:
            tokens = q.bin_of(z)
            z = q.dequantize(tokens, torch.float64)
            if self.embed_tokens and first_observed is not None:
                cols = torch.arange(values.shape[1], device=values.device)
                tokens = torch.where(cols[None, :] < first_observed[:, None], q.pad_token, tokens)
            if not self.embed_tokens:
                tokens = None
        z = torch.where(observed, z, torch.zeros_like(z))
        return z.to(self.dtype_), observed.to(self.dtype_), tokens

    def _window_nll(self, values: torch.Tensor, positions: torch.Tensor, context: int
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced NLL (scaled units) of the values after column ``context`` of each row.

        ``values [B, context + W]`` in original units, ``positions [B, context + W - 1]``.
        Returns ``nll [B, W]`` and the rows' ``scale [B]``. Exactly what a forecast from the
        first ``context`` values computes, with the true values fed back.
        """
        net = self.network_
        scale = self.scaler_.scale(values[:, :context])
        first_obs = (~torch.isnan(values)).to(torch.int64).argmax(1)
        z, obs, tokens = self._encode(values[:, :-1], scale, first_obs)
        coef = net.fit_ar(z[:, :context], obs[:, :context])
        first = max(context - net.span, 0)
        params = net(z, obs, positions[:, first:], first, coef, tokens)
        W = values.shape[1] - context
        params = {k: v[:, -W:] for k, v in params.items()}
        target = (values[:, context:] / scale[:, None]).to(self.dtype_)
        return net.head.nll(params, torch.nan_to_num(target)), scale

    # ------------------------------------------------------------------ fit
    def _fit(self, panel: Panel) -> None:
        self._setup()
        device = self.device_
        rng = np.random.default_rng(self.seed)
        with _seeded(self.seed):
            net = self._build().to(device)
        self.network_ = net
        self.history_ = net.history
        F = int(self.context_length)
        series = [panel.series(i) for i in range(panel.n_series)]
        sampler = WindowSampler(series, context=F, targets=int(self.window_length),
                                validation_length=int(self.validation_length), origins=panel.origins)

        def batch_loss(batch: dict[str, np.ndarray]) -> torch.Tensor:
            values = torch.from_numpy(batch["values"]).to(device)
            positions = torch.from_numpy(batch["positions"]).to(device)
            nll, _ = self._window_nll(values, positions, F)
            mask = torch.from_numpy(batch["mask"]).to(device)
            return (nll * mask).sum() / mask.sum().clamp_min(1)

        if net.local_ar is not None:
            self._init_scale(sampler, rng)

        def loss_fn() -> torch.Tensor:
            return batch_loss(sampler.sample(int(self.batch_size), rng))

        val_fn = None
        if self.validation_length > 0:
            vbatch = sampler.validation()

            def val_fn() -> float:
                net.eval()
                with torch.no_grad():
                    if self.val_metric == "nll":
                        return float(batch_loss(vbatch))
                    return self._rollout_error(vbatch, F)

        with _seeded(self.seed):
            self.training_ = train(
                net, loss_fn, max_steps=int(self.max_steps), time_limit=self.time_limit,
                learning_rate=float(self.learning_rate), weight_decay=float(self.weight_decay),
                warmup_steps=int(self.warmup_steps), grad_clip=float(self.grad_clip), val_fn=val_fn,
                val_every=int(self.val_every), patience=self.patience, ema_decay=self.ema_decay,
                progress=bool(self.progress))
        net.eval()
        if self.calibrate is not None and val_fn is not None:
            with torch.no_grad():
                self.spread_, self.calibration_ = self._calibrate_spread(vbatch, F)

    def _window_forecast(self, batch: dict[str, np.ndarray], F: int
                         ) -> tuple[Context, torch.Tensor, torch.Tensor]:
        """A window batch as a forecast: the context of its first ``F`` columns, the targets
        after them ``[B, W]`` and each row's scale ``[B, 1]``."""
        values = torch.from_numpy(batch["values"])
        ctx_values = values[:, :F]
        lengths = (~torch.isnan(ctx_values)).sum(1)
        origins = torch.from_numpy(batch["positions"][:, F - 1]).to(torch.int64)
        ctx = Context(ctx_values, lengths, torch.arange(len(values)), origins)
        return ctx, values[:, F:], self.scaler_.scale(ctx_values)[:, None]

    def _rollout_error(self, batch: dict[str, np.ndarray], F: int) -> float:
        """Mean-path forecast error ``mean |y - yhat| / scale`` of the windows' targets."""
        from arforecast.rollout.engine import rollout
        ctx, target, scale = self._window_forecast(batch, F)
        point = rollout(self, ctx, target.shape[1], decoding="mean").point
        err = (point - target).abs() / scale
        return float(err[torch.isfinite(err)].mean())

    def _calibrate_spread(self, batch: dict[str, np.ndarray], F: int, num_samples: int = 32,
                          grid: tuple[float, ...] = SPREAD_GRID) -> tuple[float, dict[float, float]]:
        """The spread factor whose validation sample paths score best (``calibrate``'s criterion).

        Every factor is scored with the same random numbers (common seed), so the comparison
        measures the factor, not sampling noise.
        """
        from arforecast.evaluation import metrics
        from arforecast.rollout.engine import rollout
        ctx, target, scale = self._window_forecast(batch, F)
        y, scale = target.numpy(), scale.double().numpy()
        scores: dict[float, float] = {}
        for factor in grid:
            self.spread_ = float(factor)
            paths = rollout(self, ctx, y.shape[1], num_samples=num_samples, decoding="sample", seed=0,
                            chunk_size=self.chunk_size).paths.double().numpy()
            if self.calibrate == "crps":
                loss = metrics.crps_per_step(y, paths)
            else:   # 95% interval read off the paths as Forecast reads it (type 6)
                lo, hi = sample_quantiles(paths, [0.025, 0.975])
                loss = metrics.interval_score(y, lo, hi, level=0.95)
            scores[float(factor)] = float(np.nanmean(loss / scale))
        best = min(scores, key=scores.get)
        return best, scores

    def _init_scale(self, sampler: WindowSampler, rng: np.random.Generator, n_windows: int = 256) -> None:
        """Start the head's scale at the spread of the local AR's one-step errors on training windows
        (relative to each window's in-context residual spread with ``ar_scale``)."""
        net = self.network_
        batch = sampler.sample(n_windows, rng)
        values = torch.from_numpy(batch["values"]).to(self.device_)
        F = sampler.context
        scale = self.scaler_.scale(values[:, :F])
        z, obs, _ = self._encode(values[:, :-1], scale)
        ar = net.fit_ar(z[:, :F], obs[:, :F])
        pred = net.base(z, ar, F - 1)
        err = (values[:, F:] / scale[:, None]).to(self.dtype_) - pred
        spread = net.split_ar(ar)[1]
        if spread is not None:
            err = err / spread[:, None]                                 # in units of each row's own spread
        err = err[torch.isfinite(err)]
        if err.numel() < 2:
            return
        spread = float(err.abs().median() * 1.4826)                    # robust standard deviation
        if self.values == "continuous" and self.likelihood == "student_t":
            spread *= math.sqrt(3 / 5)                                  # Student-t(5) scale for that spread
        net.head.set_init_scale(spread)
        self.ar_residual_spread_ = spread

    # ------------------------------------------------------------------ the Stepper protocol
    def start(self, context: Context) -> State:
        """Scale each row by its context, fit its local AR, run the network over it.

        The first ``context_length`` columns are the context: the scale and the AR come from
        them alone. Columns past those (values appended by a naive recomputation) are run
        through the network but change neither, so recomputing equals stepping.
        """
        if not hasattr(self, "network_"):
            self._check_fitted()
        net, dev = self.network_, self.device_
        values = context.values.to(dev, torch.float64)
        B, T = values.shape
        H = self.history_
        F = min(T, int(self.context_length))
        scale = self.scaler_.scale(values[:, :F])
        first_obs = (T - context.lengths.to(dev)).clamp_min(0)
        z, obs, tokens = self._encode(values, scale, first_obs)
        coef = net.fit_ar(z[:, :F], obs[:, :F])
        first = max(F - net.span, 0)
        positions = context.positions.to(dev)[:, None] - (T - 1 - torch.arange(first, T, device=dev))[None, :]
        with torch.no_grad():
            params, bstate = net.start(z, obs, positions, first, coef, tokens)
        pad = max(H - T, 0)
        state = {"scale": scale, "coef": coef, "z": torch.nn.functional.pad(z, (pad, 0))[:, -H:],
                 "observed": torch.nn.functional.pad(obs, (pad, 0))[:, -H:], "position": positions[:, -1],
                 "backbone": bstate, "params": params}
        if tokens is not None:
            state["tokens"] = torch.nn.functional.pad(tokens, (pad, 0), value=self.quantizer_.pad_token)[:, -H:]
        return state

    def distribution(self, state: State) -> Distribution:
        """Next value's distribution in original units."""
        return self.network_.head.distribution(state["params"], state["scale"].to(self.dtype_),
                                               spread=getattr(self, "spread_", 1.0))

    def advance(self, state: State, value: torch.Tensor) -> State:
        """Append one value per row (original units) and step the network once."""
        net = self.network_
        value = value.to(self.device_, torch.float64).reshape(-1, 1)
        z_new, obs_new, tok_new = self._encode(value, state["scale"])
        z = torch.cat([state["z"][:, 1:], z_new], 1)
        obs = torch.cat([state["observed"][:, 1:], obs_new], 1)
        tokens = None
        if "tokens" in state:
            tokens = torch.cat([state["tokens"][:, 1:], tok_new], 1)
        position = state["position"] + 1
        with torch.no_grad():
            params, bstate = net.step(z, obs, position[:, None], state["backbone"], state["coef"], tokens)
        out = {"scale": state["scale"], "coef": state["coef"], "z": z, "observed": obs, "position": position,
               "backbone": bstate, "params": params}
        if tokens is not None:
            out["tokens"] = tokens
        return out

    # ------------------------------------------------------------------ predict
    def _context(self, panel: Panel) -> Context:
        width = int(self.context_length)
        values = torch.from_numpy(panel.padded(width))
        lengths = torch.from_numpy(np.minimum(panel.lengths, width).astype(np.int64))
        positions = torch.from_numpy(panel.next_positions().astype(np.int64))
        return Context(values, lengths, torch.arange(panel.n_series), positions)

    def _predict(self, panel: Panel, h: int, num_samples: int | None, seed: int | None,
                 **options: Any) -> Forecast:
        """Mean path without ``num_samples``; with it, sample paths whose mean is the point forecast.

        Options: ``decoding`` (default ``self.decoding`` for samples), ``temperature``, ``top_k``,
        ``top_p``, ``chunk_size``, ``progress`` (see :func:`arforecast.rollout.rollout`).
        """
        from arforecast.rollout.engine import rollout
        self.network_.eval()
        context = self._context(panel)
        chunk = options.pop("chunk_size", self.chunk_size)
        if num_samples is None:
            decoding = options.pop("decoding", "mean")
            res = rollout(self, context, h, decoding=decoding, seed=seed, chunk_size=chunk, **options)
            return Forecast(panel, h, res.point.numpy(), model=type(self).__name__)
        decoding = options.pop("decoding", self.decoding)
        res = rollout(self, context, h, num_samples=num_samples, decoding=decoding, seed=seed,
                      chunk_size=chunk, **options)
        samples = res.paths.numpy()
        return Forecast(panel, h, samples.mean(axis=1), samples=samples, model=type(self).__name__)

    # ------------------------------------------------------------------ held-out likelihood
    def nll(self, y: Any, start: int | None = None) -> float:
        """Mean negative log-likelihood per step of ``y`` under the model, teacher-forced.

        Each series is conditioned on its first ``start`` values (default: half the series, at
        most ``context_length``): scale and local AR come from the last ``context_length`` of
        them, as for a forecast from there; every later value is scored by its one-step
        predictive distribution given the true values before it. In original units: a density,
        so continuous and quantized models are comparable (a bin's mass is divided by the bin's
        width in original units).
        """
        self._check_fitted()
        from arforecast.data.frames import to_panel
        panel = to_panel(y)
        F = int(self.context_length)
        self.network_.eval()
        total, count = 0.0, 0
        for i in range(panel.n_series):
            v = panel.series(i)
            n = len(v)
            s = min(F, n // 2) if start is None else int(start)
            if not 1 <= s < n:
                raise DataError(f"series {panel.ids[i]!r}: start={s} leaves nothing to score (length {n})")
            row = np.concatenate([np.full(max(F - s, 0), np.nan), v[max(0, s - F):]])
            values = torch.from_numpy(row).to(self.device_)[None, :]
            positions = int(panel.origins[i]) + torch.arange(s - F + 1, n, device=self.device_)[None, :]
            with torch.no_grad():
                nll, scale = self._window_nll(values, positions, F)
            ok = ~torch.isnan(values[:, F:])
            total += float((nll[ok].double() + torch.log(scale)).sum())
            count += int(ok.sum())
        return total / count

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write parameters, scaler/quantizer settings, weights and the fitted series to ``path``.

        The file holds only tensors, numbers and strings (read with ``weights_only=True``).
        """
        self._check_fitted()
        p = self.panel_
        payload = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.get_params().items()},
            "state_dict": {k: v.detach().cpu() for k, v in self.network_.state_dict().items()},
            "spread": float(getattr(self, "spread_", 1.0)),
            "panel": {"values": torch.from_numpy(p.values.copy()), "indptr": torch.from_numpy(p.indptr.copy()),
                      "ids": [x.item() if hasattr(x, "item") else x for x in p.ids],
                      "starts": [str(s) for s in p.starts], "freq": None if p.freq is None else p.freq.freqstr,
                      "step": int(p.step), "layout": [p.layout.kind, p.layout.name, p.layout.id_col,
                                                      p.layout.time_col, p.layout.target_col]},
        }
        torch.save(payload, str(path))

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> "NeuralAR":
        """Read a model written by :meth:`save` (never unpickles arbitrary objects)."""
        payload = torch.load(str(path), map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ValueError(f"{path} is not a NeuralAR file written by NeuralAR.save()")
        version = payload.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(f"{path} was written in NeuralAR file format {version}; this arforecast reads "
                             f"format {FORMAT_VERSION}: refit the model and save it again")
        params = {k: (tuple(v) if k in ("lags", "periods", "value_range", "ar_lags") else v)
                  for k, v in payload["params"].items()}
        params.setdefault("ar_scale", False)          # files written before the option existed
        if device is not None:
            params["device"] = device
        model = cls(**params)
        model._setup()
        net = model._build()
        net.load_state_dict(payload["state_dict"])
        model.network_ = net.to(model.device_).eval()
        model.spread_ = float(payload.get("spread", 1.0))
        model.history_ = net.history
        pp = payload["panel"]
        freq = pp["freq"]
        starts = tuple(pd.Timestamp(s) if freq is not None else int(s) for s in pp["starts"])
        kind, name, id_col, time_col, target_col = pp["layout"]
        panel = Panel(pp["values"].numpy(), pp["indptr"].numpy(), np.asarray(pp["ids"], dtype=object), starts,
                      pd.tseries.frequencies.to_offset(freq) if freq is not None else None, pp["step"],
                      Layout(kind, name, id_col, time_col, target_col))
        model.panel_, model.ids_, model.n_series_ = panel, panel.ids, panel.n_series
        return model


@contextlib.contextmanager
def _seeded(seed: int | None):
    """Fork torch's global RNG and seed it (initialization draws from it); restore afterwards."""
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(int(seed))
        yield
