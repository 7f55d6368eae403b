"""NeuralAR's held-out likelihood: every later value scored by its one-step predictive law."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from arforecast.exceptions import DataError


def held_out_nll(model: Any, y: Any, start: int | None = None) -> float:
    """Mean negative log-likelihood per step of ``y`` under the model, teacher-forced.

    Each series is conditioned on its first ``start`` values (default: half the series, at
    most ``context_length_``): scale and local AR come from the last ``context_length_`` of
    them, as for a forecast from there; every later value is scored by its one-step
    predictive distribution given the true values before it. In original units: a density,
    so continuous and quantized models are comparable (a bin's mass is divided by the bin's
    width in original units).
    """
    from arforecast.data.frames import to_panel
    panel = to_panel(y)
    F = int(model.context_length_)
    model.network_.eval()
    total, count = 0.0, 0
    for i in range(panel.n_series):
        v = panel.series(i)
        n = len(v)
        s = min(F, n // 2) if start is None else int(start)
        if not 1 <= s < n:
            raise DataError(f"series {panel.ids[i]!r}: start={s} leaves nothing to score (length {n})")
        row = np.concatenate([np.full(max(F - s, 0), np.nan), v[max(0, s - F):]])
        values = torch.from_numpy(row).to(model.device_)[None, :]
        positions = int(panel.origins[i]) + torch.arange(s - F + 1, n, device=model.device_)[None, :]
        with torch.no_grad():
            nll, scale = model._window_nll(values, positions, F)
        ok = ~torch.isnan(values[:, F:])
        total += float((nll[ok].double() + torch.log(scale)).sum())
        count += int(ok.sum())
    return total / count
