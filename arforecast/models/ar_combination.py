"""The combination of the automatic ``AR()``: its own model averaged with fixed-differencing variants.

Choosing ``d`` by a test is fragile on short series: a wrong ``d = 0`` mean-reverts a trending
series, a wrong ``d = 1`` with a drift extrapolates a trend that is not there. The automatic mode
therefore forecasts a weighted mean of four autoregressions fitted to the same (seasonally
adjusted, transformed) series: the automatic one (``d`` by KPSS), the levels (``d = 0``), the
differences with a drift (``d = 1``, constant) and without (``d = 1``, no constant), each with its
order chosen by AICc. Every member's residuals are one-step errors of the same series' levels, so
their AICc compare across ``d`` (on ``n``, the fewest residuals of any member); the weights are
tempered Akaike weights ``exp(-(AICc_k - min AICc) / (2 TEMPERATURE))`` (plain Akaike weights,
``TEMPERATURE = 1``, nearly select one member and lose most of the gain on short series). The
members and the temperature were chosen on validation windows cut from the training part of M3
(the last ``h`` training values of every series) and on simulated panels whose truth is known
(docs/ar.md), never on the test part.

**Intervals** (chosen on the same validation windows: the Normal intervals of the members alone
covered 87% of M3 quarterly and 90% of monthly validation values at 95%; with these terms 93.7%
and 92.4%). Three uncertainties the
in-sample innovation variance leaves out are added, each measured per series:

* estimation: Akaike's final prediction error ``sigma^2 (nobs + k) / (nobs - k)`` with ``k``
  coefficients, instead of ``sigma^2 = SSR / nobs``;
* the constant (the drift of a differenced model, the mean of a level one): its estimate's variance
  ``sigma^2 / nobs`` carried ``j`` steps by the cumulated psi weights;
* the model: the variance (``ddof = 1``, unweighted) of the members' point forecasts: how much
  the choice of ``d`` and drift matters for this series, whichever member the weights prefer;

and quantiles are Student-t with ``nobs - k`` degrees of freedom (the smallest over members).
Sample paths get the same variance (a Normal term per path, constant in ``z`` over the horizon:
a drift or model error persists), so their quantiles differ from the marginals only by the t.

**The combined model.** Every member is driven by the same standard innovations ``z_t`` (member
``k`` adds ``sigma_k z_t``), and the forecast is the weighted mean of the members' paths. Its
``j``-step error is then ``sum_i (sum_k w_k sigma_k psi_{k,i}) z_{t+j-i}``, Normal with the variance
:func:`combined_sd` gives; sample paths drawn with one seed for every member are exact draws of
it, and a new history re-conditions every member without refitting.

Example:
    >>> import numpy as np
    >>> w = np.array([[1.0, 1.0, 1.0]])        # a random walk's sigma psi (sigma 1)
    >>> v = np.array([[1.0, 0.0, 0.0]])        # white noise
    >>> combined_sd([w, v], np.full((2, 1), 0.5)).round(3).tolist()  # sqrt(cumsum(mean^2)) = sqrt(1, 1.25, 1.5)
    [[1.0, 1.118, 1.225]]
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

#: the variants averaged with the automatic model: (name, d, trend); chosen on validation windows
MEMBERS: tuple[tuple[str, int, str], ...] = (("d0", 0, "c"), ("d1", 1, "c"), ("d1n", 1, "n"))
#: softens the Akaike weights of the members (chosen on validation windows, see above)
TEMPERATURE = 4.0


def member_specs() -> tuple[tuple[str, int, str], ...]:
    """``(name, d, trend)`` of each variant fitted beside the automatic model."""
    return MEMBERS


def member_weights(sigma2: np.ndarray, nobs: np.ndarray, n_coefficients: np.ndarray,
                   temperature: float = TEMPERATURE) -> np.ndarray:
    """Weights ``[k, n]`` of ``k`` members per series from their one-step error variances (tempered
    Akaike weights of AICc on the fewest residuals of any member; equal where the variances are).

    Example:
        >>> member_weights(np.array([[1.0], [1.0]]), np.array([[50], [49]]), np.array([[2], [2]])).ravel().tolist()
        [0.5, 0.5]
    """
    n = np.min(nobs, axis=0).astype(np.float64)
    k = np.asarray(n_coefficients, dtype=np.float64) + 1.0          # + the innovation variance
    ic = n * np.log(np.maximum(sigma2, 1e-300)) + 2 * k + 2 * k * (k + 1) / np.maximum(n - k - 1, 1.0)
    w = np.exp(-0.5 * (ic - ic.min(axis=0)) / temperature)
    return w / w.sum(axis=0)


def combined_sd(weights: Sequence[np.ndarray], w: np.ndarray) -> np.ndarray:
    """Standard deviation ``[n, h]`` of the ``w``-weighted mean (``w``: ``[k, n]``) of members
    driven by one innovation sequence.

    ``weights[k][:, i]`` is member ``k``'s ``sigma_k psi_{k,i}``; the ``j``-step variance is
    ``sum_{i<j} (sum_k w_k weights[k][:, i])^2``.
    """
    mean = np.einsum("kn,knh->nh", w, np.stack([np.asarray(x, dtype=np.float64) for x in weights]))
    return np.sqrt(np.cumsum(mean ** 2, axis=1))


def interval_scale(members: Sequence, w: np.ndarray, rows: np.ndarray, h: int,
                   points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(sd, sd_paths, df)`` of the combination (see the module docstring), seasonally adjusted units.

    ``sd`` ``[n, h]``: the interval scale; ``sd_paths``: the scale of the averaged member paths
    (what the rollout alone gives); ``df`` ``[n]``: degrees of freedom of the Student-t quantiles.
    ``w``: ``[k, n]`` the members' weights; ``points``: ``[k, n, h]`` every member's mean path.
    """
    weights, unbiased, constant, dof = [], [], [], []
    for model in members:
        sp = model._error_weights(rows, h)
        nobs = model.nobs_[rows].astype(np.float64)
        k = model.n_coefficients_[rows].astype(np.float64)
        weights.append(sp)
        # Akaike's final prediction error: sigma^2 (nobs + k) / (nobs - k) for estimated coefficients
        unbiased.append(sp * np.sqrt((nobs + k) / np.maximum(nobs - k, 1.0))[:, None])
        has_constant = 1.0 if "c" in model.trend else 0.0
        # w / sigma = psi: the constant's error sigma / sqrt(nobs) is carried by the cumulated psi
        constant.append(has_constant * np.cumsum(sp, axis=1) / np.sqrt(np.maximum(nobs, 1.0))[:, None])
        dof.append(np.maximum(nobs - k, 1.0))
    sd_paths = combined_sd(weights, w)
    # how much the choice of model matters for this series, whichever the weights prefer
    model_var = np.var(points, axis=0, ddof=1) if len(points) > 1 else 0.0
    sd = np.sqrt(combined_sd(unbiased, w) ** 2 + np.einsum("kn,knh->nh", w, np.stack(constant)) ** 2 + model_var)
    return sd, sd_paths, np.min(dof, axis=0)
