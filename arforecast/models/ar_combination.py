"""The combination of the automatic ``AR()``: its own model averaged with fixed-differencing variants.

Choosing ``d`` by a test is fragile on short series: a wrong ``d = 0`` mean-reverts a trending
series, a wrong ``d = 1`` with a drift extrapolates a trend that is not there. The automatic mode
therefore forecasts the equal-weight mean of four autoregressions fitted to the same (seasonally
adjusted, transformed) series: the automatic one (``d`` by KPSS), the levels (``d = 0``), the
differences with a drift (``d = 1``, constant) and without (``d = 1``, no constant), each with its
order chosen by AICc. The mix was chosen on validation windows cut from the training part of M3
(the last ``h`` training values of every series; docs/ar.md), never on the test part.

**The combined model.** Every member is driven by the same standard innovations ``z_t`` (member
``k`` adds ``sigma_k z_t``), and the forecast is the mean of the members' paths. Its ``j``-step
error is then ``sum_i (mean_k sigma_k psi_{k,i}) z_{t+j-i}``, Normal with the variance
:func:`combined_sd` gives; sample paths drawn with one seed for every member are exact draws of
it, and a new history re-conditions every member without refitting.

Example:
    >>> import numpy as np
    >>> w = np.array([[1.0, 1.0, 1.0]])        # a random walk's sigma psi (sigma 1)
    >>> v = np.array([[1.0, 0.0, 0.0]])        # white noise
    >>> combined_sd([w, v]).round(3).tolist()  # sqrt(cumsum(mean^2)) = sqrt(1, 1.25, 1.5)
    [[1.0, 1.118, 1.225]]
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

#: the variants averaged with the automatic model: (name, d, trend); chosen on validation windows
MEMBERS: tuple[tuple[str, int, str], ...] = (("d0", 0, "c"), ("d1", 1, "c"), ("d1n", 1, "n"))


def member_specs() -> tuple[tuple[str, int, str], ...]:
    """``(name, d, trend)`` of each variant fitted beside the automatic model."""
    return MEMBERS


def combined_sd(weights: Sequence[np.ndarray]) -> np.ndarray:
    """Standard deviation ``[n, h]`` of the mean of members driven by one innovation sequence.

    ``weights[k][:, i]`` is member ``k``'s ``sigma_k psi_{k,i}``; the ``j``-step variance is
    ``sum_{i<j} (mean_k weights[k][:, i])^2``.
    """
    mean = np.mean(np.stack([np.asarray(w, dtype=np.float64) for w in weights]), axis=0)
    return np.sqrt(np.cumsum(mean ** 2, axis=1))
