"""The magnitudes NeuralAR's float32 arithmetic can carry."""
from __future__ import annotations

import numpy as np

from arforecast.data.panel import Panel
from arforecast.exceptions import DataError

#: NeuralAR forecasts in float32 in the data's units; beyond these magnitudes they would underflow or overflow
FLOAT32_MAGNITUDE = 1e30


def check_float32_range(panel: Panel) -> None:
    """Refuse series whose magnitude float32 cannot carry (forecasts are equivariant inside the range)."""
    for i in range(panel.n_series):
        v = panel.series(i)
        v = v[np.isfinite(v)]
        size = float(np.max(np.abs(v))) if len(v) else 0.0
        if size > FLOAT32_MAGNITUDE or 0.0 < size < 1.0 / FLOAT32_MAGNITUDE:
            raise DataError(f"series {panel.ids[i]!r} has values of magnitude {size:.1e}; NeuralAR computes in "
                            f"float32 and takes magnitudes 1e-30 .. 1e30: rescale it (e.g. divide by "
                            f"{size:.0e}) and multiply the forecasts back")
