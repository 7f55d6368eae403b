"""Settings NeuralAR chooses from the data at fit time when they are not given."""
from __future__ import annotations

from typing import Any

from arforecast.data.panel import Panel

_HOURLY_AR_LAGS = (1, 2, 3, 23, 24, 25, 47, 48, 72, 96, 120, 144, 167, 168, 169)


def choose(panel: Panel, context_length: int | None, inputs: Any) -> dict[str, Any]:
    """``context_length_``, ``lags_``, ``periods_``, ``ar_lags_``: the given ones, else chosen."""
    return {"context_length_": 512 if context_length is None else int(context_length),
            "lags_": (24, 168) if inputs.lags is None else inputs.lags,
            "periods_": (24, 168) if inputs.periods is None else inputs.periods,
            "ar_lags_": _HOURLY_AR_LAGS if inputs.ar_lags is None else inputs.ar_lags}
