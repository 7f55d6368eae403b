"""NeuralAR's settings, grouped: the network's shape, its inputs, its output law, its training.

Each group is a frozen dataclass with defaults; ``NeuralAR`` takes one instance (or a ``dict``
of its fields, or ``None`` for all defaults) per group, so its own signature keeps only the
settings most runs touch. ``None`` in :class:`Inputs` means "chosen from the data at fit time"
(:mod:`arforecast.models.neural.defaults`).

Example:
    >>> arch = Architecture(d_model=16)
    >>> arch.d_model, arch.n_heads
    (16, 4)
    >>> kwargs = grouped({"d_model": 8, "lags": [24], "ema_decay": None, "seed": 0})
    >>> sorted(kwargs), kwargs["inputs"].lags, kwargs["training"].ema_decay
    (['architecture', 'inputs', 'seed', 'training'], (24,), None)
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

#: ``Training.sampling_schedule`` and ``Training.sampling_feed`` values (:mod:`~arforecast.models.neural.exposure`)
SAMPLING_SCHEDULES = ("linear", "sigmoid")
SAMPLING_FEEDS = ("sample", "mean")


def _ints(value: Any) -> tuple[int, ...] | None:
    return None if value is None else tuple(int(k) for k in value)


def _is_int(v: Any) -> bool:
    return not isinstance(v, (bool, np.bool_)) and isinstance(v, (int, np.integer))


def _is_number(v: Any) -> bool:
    return not isinstance(v, (bool, np.bool_)) and isinstance(v, (int, float, np.integer, np.floating)) \
        and bool(np.isfinite(v))


def _check(ok: bool, name: str, what: str, v: Any) -> None:
    if not ok:
        raise ValueError(f"{name} must be {what}, got {v!r}")


@dataclass(frozen=True)
class Architecture:
    """The network's shape.

    Args:
        d_model: width (``None``: from the panel's size, ``d_model_``). n_layers: depth (``None``: 7 for the conv stack, receptive field 128;
            3 for the transformer). n_heads: attention heads.
        attention_context: context positions the transformer attends to at a forecast origin
            (the conv stack reads its receptive field).
    """

    d_model: int | None = None
    n_layers: int | None = None
    n_heads: int = 4
    attention_context: int = 128

    def __post_init__(self) -> None:
        _check(self.n_layers is None or (_is_int(self.n_layers) and self.n_layers >= 1), "n_layers",
               "a positive integer or None", self.n_layers)
        _check(_is_int(self.n_heads) and self.n_heads >= 1, "n_heads", "a positive integer", self.n_heads)


@dataclass(frozen=True)
class Inputs:
    """What the network is handed at each position, and the local AR path.

    Args:
        lags: seasonal lags fed as inputs (``()``: none; ``None``: from the data's frequency).
        periods: periods of the calendar phase embeddings (``()``: none; ``None``: the
            frequency's season lengths).
        ar_lags: lags of the local AR path, refitted by ridge least squares on every context
            (``()``: no AR path, the head's base location is then 0; ``None``: from the data).
        ar_ridge: the local AR's ridge penalty (per equation).
        ar_scale: the head's scale is a learned multiple of the local AR's residual spread over
            each context (each series starts from its own noise level); ``False``: of one
            global spread.
        ar_prior: how many equations the panel's pooled AR (one AR fitted to every training
            series at once) is worth in each context's local AR, which it pulls its lag
            coefficients towards (0: no prior, each context alone; ``None``: chosen from
            :data:`~arforecast.models.neural.fitting.PRIOR_WEIGHTS` on the validation windows,
            ``ar_prior_``).
        anchor_share: the network's share of the forecast against the automatic ``AR()`` of each
            series, ``AR() + share * (network - AR())`` (1: the network alone, ``AR()`` not
            fitted; 0: ``AR()``'s point forecast; ``None``: chosen on the validation windows
            from :data:`~arforecast.models.neural.anchor.SHARES`, ``anchor_share_``).
    """

    lags: tuple[int, ...] | None = None
    periods: tuple[int, ...] | None = None
    ar_lags: tuple[int, ...] | None = None
    ar_ridge: float = 1e-6
    ar_scale: bool = True
    ar_prior: float | None = None
    anchor_share: float | None = None

    def __post_init__(self) -> None:
        for name in ("lags", "periods", "ar_lags"):
            object.__setattr__(self, name, _ints(getattr(self, name)))
        _check(_is_number(self.ar_ridge) and self.ar_ridge >= 0, "ar_ridge", "a number >= 0", self.ar_ridge)
        _check(self.ar_prior is None or (_is_number(self.ar_prior) and self.ar_prior >= 0), "ar_prior",
               "a number >= 0 or None", self.ar_prior)
        _check(self.anchor_share is None or (_is_number(self.anchor_share) and 0 <= self.anchor_share <= 1),
               "anchor_share", "a number in [0, 1] or None", self.anchor_share)


@dataclass(frozen=True)
class Output:
    """The next value's law: the continuous head, or the quantizer of the categorical head.

    Args:
        likelihood: continuous values, ``"student_t"`` or ``"normal"``.
        n_bins, value_range, mu_law: quantized values: bins over the scaled range, mu-law
            parameter or ``None`` for uniform bins. The default mu-law makes the bins around
            the scaled level (about 1) 2.5 times narrower than uniform ones.
        embed_tokens: also embed the current value's token (quantized values only).
    """

    likelihood: str = "student_t"
    n_bins: int = 1024
    value_range: tuple[float, float] = (-15.0, 15.0)
    mu_law: float | None = 255.0
    embed_tokens: bool = False

    def __post_init__(self) -> None:
        _check(_is_int(self.n_bins) and self.n_bins >= 2, "n_bins", "an integer >= 2", self.n_bins)
        vr = self.value_range
        _check(isinstance(vr, (tuple, list)) and len(vr) == 2 and all(_is_number(v) for v in vr) and vr[0] < vr[1],
               "value_range", "two finite numbers (low, high) with low < high", vr)
        object.__setattr__(self, "value_range", tuple(float(v) for v in self.value_range))
        _check(self.mu_law is None or (_is_number(self.mu_law) and self.mu_law > 0), "mu_law",
               "a positive number or None", self.mu_law)


@dataclass(frozen=True)
class Training:
    """How the network is trained and which weights are kept.

    Args:
        window_length: targets after the origin of each training window (all scored; ``None``:
            from the data, ``window_length_``).
        batch_size, learning_rate, weight_decay, warmup_steps, grad_clip: AdamW settings.
        validation_length: values at the end of each series held out for early stopping
            (0 disables validation; ``None``: from the data, ``validation_length_``).
        val_every: validate every this many steps. val_metric: ``"rollout"`` scores the
            mean-path forecast of the validation values (``mean |y - yhat| / scale``);
            ``"nll"`` their teacher-forced NLL.
        patience: stop after this many validations without improvement (``None``: never).
        ema_decay: moving average of the weights, validated and kept (``None``: off).
        calibrate: after training, scale every step's spread by one factor ``spread_`` chosen
            on the validation windows: ``"crps"`` (lowest CRPS of the sample paths) or
            ``"interval"`` (lowest 95% interval score); ``None`` keeps the network's spread.
        scheduled_sampling, sampling_schedule, sampling_feed: against exposure bias, feed the
            model's own one-step predictions (``"sample"``: draws; ``"mean"``) for a share of the
            target-side inputs that rises over the budget (``"linear"`` or ``"sigmoid"``) to
            ``scheduled_sampling`` (0: teacher forcing). rollout_steps, rollout_weight: add
            ``rollout_weight`` times the error of a ``rollout_steps``-step mean rollout from each
            window's origin to the loss (0: off). See :mod:`arforecast.models.neural.exposure`.
    """

    window_length: int | None = None
    batch_size: int = 32
    learning_rate: float = 3e-3
    weight_decay: float = 0.01
    warmup_steps: int = 50
    grad_clip: float = 1.0
    validation_length: int | None = None
    val_every: int = 50
    val_metric: str = "rollout"
    patience: int | None = None
    ema_decay: float | None = 0.99
    calibrate: str | None = None
    scheduled_sampling: float = 0.0
    sampling_schedule: str = "linear"
    sampling_feed: str = "sample"
    rollout_steps: int = 0
    rollout_weight: float = 0.0

    def __post_init__(self) -> None:
        positive = {"learning_rate": self.learning_rate, "grad_clip": self.grad_clip}
        for name, v in positive.items():
            _check(_is_number(v) and v > 0, name, "a positive number", v)
        _check(_is_number(self.weight_decay) and self.weight_decay >= 0, "weight_decay", "a number >= 0",
               self.weight_decay)
        _check(_is_int(self.warmup_steps) and self.warmup_steps >= 0, "warmup_steps", "an integer >= 0",
               self.warmup_steps)
        _check(self.patience is None or (_is_int(self.patience) and self.patience >= 1), "patience",
               "a positive integer or None", self.patience)
        _check(self.ema_decay is None or (_is_number(self.ema_decay) and 0 < self.ema_decay < 1), "ema_decay",
               "a number strictly between 0 and 1, or None", self.ema_decay)
        _check(_is_number(self.scheduled_sampling) and 0 <= self.scheduled_sampling <= 1, "scheduled_sampling",
               "a number in [0, 1]", self.scheduled_sampling)
        _check(self.sampling_schedule in SAMPLING_SCHEDULES, "sampling_schedule", "'linear' or 'sigmoid'",
               self.sampling_schedule)
        _check(self.sampling_feed in SAMPLING_FEEDS, "sampling_feed", "'sample' or 'mean'", self.sampling_feed)
        _check(_is_int(self.rollout_steps) and self.rollout_steps >= 0, "rollout_steps", "an integer >= 0",
               self.rollout_steps)
        _check(_is_number(self.rollout_weight) and self.rollout_weight >= 0, "rollout_weight", "a number >= 0",
               self.rollout_weight)


#: constructor argument of each group
GROUPS: dict[str, type] = {"architecture": Architecture, "inputs": Inputs, "output": Output, "training": Training}
_FIELD_GROUP = {f.name: group for group, cls in GROUPS.items() for f in dataclasses.fields(cls)}


def resolve(cls: type, value: Any) -> Any:
    """An instance of ``cls`` from ``None`` (defaults), a ``dict`` of fields or an instance."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        unknown = set(value) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown {cls.__name__} settings {sorted(unknown)}")
        return cls(**value)
    raise ValueError(f"expected a {cls.__name__}, a dict of its fields or None, got {value!r}")


def grouped(flat: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments of NeuralAR from flat settings (``d_model=8, ema_decay=None, ...``).

    Names of a group's fields go into that group; any other name is passed through as is.
    """
    out: dict[str, Any] = {k: v for k, v in flat.items() if k not in _FIELD_GROUP}
    for group, cls in GROUPS.items():
        fields = {k: v for k, v in flat.items() if _FIELD_GROUP.get(k) == group}
        if fields:
            base = resolve(cls, out.pop(group, None))
            out[group] = dataclasses.replace(base, **fields)
    return out


def replaced(value: Any, cls: type, **fields: Any) -> Any:
    """``value`` (instance, dict or ``None``) with some fields replaced, as an instance."""
    return dataclasses.replace(resolve(cls, value), **fields)


def to_dict(value: Any) -> dict[str, Any] | None:
    """A group as a plain dict (tuples as lists) for a file; ``None`` stays ``None``."""
    if value is None:
        return None
    items = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else dict(value)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in items.items()}


class Settings(NamedTuple):
    """The four groups resolved (no ``None`` group), as a fitted model holds them in ``config_``."""

    architecture: Architecture
    inputs: Inputs
    output: Output
    training: Training


def _positive_int(name: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")


def validate(backbone: str, values: str, context_length: int | None, max_steps: int, time_limit: float | None,
             s: Settings, seed: Any = None) -> None:
    """Clear errors for settings that cannot work (called by ``fit``, before any data is read).

    The groups check their own fields when they are built."""
    _check(seed is None or (_is_int(seed) and seed >= 0), "seed", "a non-negative integer or None", seed)
    if backbone not in ("conv", "transformer"):
        raise ValueError(f"backbone must be 'conv' or 'transformer', got {backbone!r}")
    if values not in ("quantized", "continuous"):
        raise ValueError(f"values must be 'quantized' or 'continuous', got {values!r}")
    if values == "continuous" and s.output.likelihood not in ("student_t", "normal"):
        raise ValueError(f"likelihood must be 'student_t' or 'normal', got {s.output.likelihood!r}")
    if s.training.val_metric not in ("rollout", "nll"):
        raise ValueError(f"val_metric must be 'rollout' or 'nll', got {s.training.val_metric!r}")
    if not isinstance(s.inputs.ar_scale, (bool, np.bool_)):
        raise ValueError(f"ar_scale must be True or False, got {s.inputs.ar_scale!r}")
    if s.training.calibrate not in (None, "crps", "interval"):
        raise ValueError(f"calibrate must be 'crps', 'interval' or None, got {s.training.calibrate!r}")
    _positive_int("max_steps", max_steps)
    if context_length is not None:
        _positive_int("context_length", context_length)
    for name in ("batch_size", "val_every"):
        _positive_int(name, getattr(s.training, name))
    if s.training.window_length is not None:
        _positive_int("window_length", s.training.window_length)
    v = s.training.validation_length
    if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0):
        raise ValueError(f"validation_length must be a non-negative integer or None, got {v!r}")
    _positive_int("attention_context", s.architecture.attention_context)
    if s.architecture.d_model is not None:
        _positive_int("d_model", s.architecture.d_model)
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"time_limit must be positive seconds or None, got {time_limit!r}")
    for name in ("lags", "periods", "ar_lags"):
        if any(k < 1 for k in getattr(s.inputs, name) or ()):
            raise ValueError("lags, periods and ar_lags must be positive integers")
