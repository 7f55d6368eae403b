"""Settings NeuralAR chooses from the data at fit time when they are not given.

From the panel's frequency (its season lengths ``S``, :func:`arforecast.data.frequency.season_lengths`,
shortest ``m``) and the series lengths (``typical``: the median length less the validation
values):

* ``d_model_``: 64 for panels of at least ``LARGE_PANEL`` observations, else 32.
* ``validation_length_`` and ``window_length_``: two main seasons (``2 m``; 16 without seasons),
  between 8 and 48 steps, and at most a quarter of the median length.
* ``context_length_``: three lengths of the longest season that fits three times in
  ``typical``, rounded up to a power of two, at least ``MIN_CONTEXT``, at most ``typical``.
* ``periods_`` (calendar phase embeddings): every season length ``S``.
* ``lags_`` (seasonal lag inputs): the season lengths up to ``context_length_``.
* ``ar_lags_`` (local AR): ``1 .. AR_ORDER``, each season ``s`` with its neighbours ``s - 1``
  and ``s + 1``, ``2 m - 1``, and the multiples of ``m`` from ``2 m`` up to ``4 m`` or the longest such season;
  only lags up to half the context (so that at least half of it is left as equations). On the
  simulated daily panel's validation windows (context 256, untrained model) the multiples up to
  ``4 m`` gave MAE 0.349 against 0.382 with ``2 m`` alone.

An explicit argument always wins; integer-indexed and yearly data have no seasons, so no
seasonal lags or periods. On M4 Hourly (hourly, 700-960 values) the rule gives the settings
first chosen there by hand: context 512, lags (24, 168), periods (24, 168), local AR lags 1-3,
23-25, 47, 48, 72, ..., 144, 167-169, validation and windows 48. (With a context of 504 and
without lag 47, the untrained model's OWA on M4 Hourly was 0.452 instead of 0.438.)

Example:
    >>> import numpy as np, pandas as pd
    >>> from arforecast.data import to_panel
    >>> y = pd.Series(np.random.default_rng(0).normal(size=386) + 10,
    ...               index=pd.date_range("2020-01-01", periods=386, freq="D"))
    >>> chosen = choose(to_panel(y), None, Inputs(), Training())
    >>> chosen["context_length_"], chosen["periods_"], chosen["lags_"], chosen["ar_lags_"]
    (256, (7, 365), (7,), (1, 2, 3, 6, 7, 8, 13, 14, 21, 28))
"""
from __future__ import annotations

from typing import Any

import math

import numpy as np

from arforecast.data.panel import Panel
from arforecast.models.neural.config import Architecture, Inputs, Training

#: panels with at least this many observations get the wider network (``d_model`` 64, else 32):
#: a small panel has less to fit, and a narrower network takes about twice as many steps in a time
#: budget. On the validation windows of a simulated hourly panel (20 series of 528 values,
#: context 96, 20 s of training on a shared CPU) the WaveNet with the Student-t head reached MAE
#: 0.370 in 372 steps at width 32 and 0.466 in 117 steps at width 64 (seasonal naive: 0.422).
#: M4 Hourly (414 series, about 350,000 values) keeps width 64.
LARGE_PANEL = 100_000
#: short-memory lags of the local AR (``1 .. AR_ORDER``)
AR_ORDER = 3
#: shortest chosen context (when the series are that long): a local AR of up to about 15
#: coefficients needs a few hundred equations. On the validation windows of a simulated daily
#: panel (weekly cycle, AR(1) noise, 358 values) the untrained model's MAE was 0.453, 0.395, 0.382
#: and 0.378 with contexts of 64, 128, 256 and 358 values (seasonal naive: 0.430).
MIN_CONTEXT = 256


def horizon_steps(seasons: tuple[int, ...], median_length: int) -> int:
    """Validation values and window targets: ``2 m`` in ``[8, 48]``, at most a quarter of the data."""
    base = 2 * seasons[0] if seasons else 16
    return int(max(1, min(max(8, min(base, 48)), median_length // 4)))


def context_for(seasons: tuple[int, ...], typical: int) -> int:
    """Three of the longest season that fits three times, rounded up to a power of two, at least
    ``MIN_CONTEXT``, at most ``typical``."""
    fitting = [s for s in seasons if 3 * s <= typical]
    few_seasons = 2 ** math.ceil(math.log2(3 * max(fitting))) if fitting else 0
    return int(max(2, min(typical, max(few_seasons, MIN_CONTEXT))))


def ar_lags_for(seasons: tuple[int, ...], context: int) -> tuple[int, ...]:
    """``1 .. AR_ORDER``, each season with its neighbours, multiples of the main one; all within half the context."""
    limit = max(context // 2, 1)
    lags = set(range(1, AR_ORDER + 1))
    fitting = [s for s in seasons if s <= limit]
    for s in fitting:
        lags |= {s - 1, s, s + 1}
    if fitting:
        m = fitting[0]
        lags |= set(range(2 * m, max(4 * m, fitting[-1]) + 1, m)) | {2 * m - 1}
    return tuple(sorted(k for k in lags if 1 <= k <= limit))


def dense_ar_lags(seasons: tuple[int, ...], context: int) -> tuple[int, ...]:
    """:func:`ar_lags_for` with every lag from 1 to two main seasons added (within half the context):
    the local AR's other candidate, for a prior pooled over the panel (:mod:`~arforecast.models.neural.prior`)."""
    limit = max(context // 2, 1)
    main = [s for s in seasons if s <= limit]
    dense = set(range(1, min(2 * main[0], limit) + 1)) if main else set()
    return tuple(sorted(set(ar_lags_for(seasons, context)) | dense))


def width_for(n_values: int) -> int:
    """``d_model``: 64 from ``LARGE_PANEL`` observations on, 32 below."""
    return 64 if n_values >= LARGE_PANEL else 32


def choose(panel: Panel, context_length: int | None, inputs: Inputs, training: Training,
           architecture: Architecture | None = None) -> dict[str, Any]:
    """The fitted attributes chosen from ``panel`` where the settings leave them ``None``."""
    seasons = tuple(int(s) for s in panel.season_lengths)
    median = int(np.median(panel.lengths))
    steps = horizon_steps(seasons, median)
    validation = steps if training.validation_length is None else int(training.validation_length)
    window = steps if training.window_length is None else int(training.window_length)
    context = (context_for(seasons, max(median - validation, 2)) if context_length is None
               else int(context_length))
    d_model = None if architecture is None else architecture.d_model
    return {
        "d_model_": width_for(int(panel.lengths.sum())) if d_model is None else int(d_model),
        "context_length_": context,
        "validation_length_": validation,
        "window_length_": window,
        "periods_": seasons if inputs.periods is None else inputs.periods,
        "lags_": tuple(s for s in seasons if s <= context) if inputs.lags is None else inputs.lags,
        "ar_lags_": ar_lags_for(seasons, context) if inputs.ar_lags is None else inputs.ar_lags,
    }
