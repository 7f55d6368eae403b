"""NeuralAR's anchor: the automatic ``AR()`` of each series, and the network's share against it.

A global network trained for a minute or two on a panel of short series (M3: 14 to 126 values
per series) corrects its local AR path a little; the automatic ``AR()``
(:mod:`arforecast.models.ar_auto`, :mod:`arforecast.models.ar_combination`: per-series
differencing and drift members, seasonal adjustment, orders by AICc) is a stronger base than
that local AR on such series. So NeuralAR's forecast is

    ``anchor + share * (network - anchor)``

with ``anchor`` the mean forecast of ``AR()`` fitted to each series and ``share`` in
:data:`SHARES` chosen on the validation windows (the last ``validation_length_`` values of every
training series: ``AR()`` fitted to the series less those values, the trained network's mean path
from the same origins; lowest mean ``|y - yhat| / scale``, the network's own validation error).
``share = 1`` is the network alone (no ``AR()`` is kept); ``share = 0`` is ``AR()``'s point
forecast. Sample paths are the network's, moved by the same amount as the mean (their spread is
the network's). Only ``predict`` is moved: the network, its likelihood (``nll``) and its
rollout as a :class:`~arforecast.rollout.protocol.Stepper` are the network's.

``AR()`` is fitted twice before training (to the series less their validation values, and to the
whole series; a few milliseconds per series on a 2-core CPU), and that time counts in ``time_limit``.
Series too short for ``AR()`` (fewer than its ``min_length`` values, if any) keep the network's forecast.
A forecast from new histories (``predict(y=...)``) fits ``AR()`` to them.

Example:
    >>> import numpy as np
    >>> nn, ar, y = np.array([[2.0, 2.0]]), np.array([[0.0, 0.0]]), np.array([[1.0, 1.0]])
    >>> share, scores = choose_share(nn, ar, y, np.ones(1))
    >>> share, scores[0.0], scores[1.0]
    (0.5, 1.0, 1.0)
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from arforecast.data.panel import Panel

#: shares of the network's forecast tried on the validation windows (0: AR() alone, 1: the network alone)
SHARES = tuple(round(0.1 * i, 1) for i in range(11))


def _automatic_ar() -> Any:
    from arforecast.models.linear import AR
    return AR()


def _fittable(panel: Panel) -> np.ndarray:
    """Rows of ``panel`` long enough for ``AR()``."""
    return np.flatnonzero(panel.lengths >= _automatic_ar().min_length)


def anchor_points(panel: Panel, h: int, model: Any = None) -> np.ndarray:
    """``AR()``'s mean forecast ``[n, h]`` of every series of ``panel`` (NaN for series too short);
    ``model``: an ``AR()`` already fitted to exactly ``panel``'s series, else one is fitted."""
    out = np.full((panel.n_series, int(h)), np.nan)
    rows = _fittable(panel)
    if not len(rows):
        return out
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)          # constant series
            if model is None or len(rows) != panel.n_series:
                model = _automatic_ar().fit(panel.subset(rows))
            out[rows] = model.predict(int(h)).point
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as err:      # DataError is a ValueError
        warnings.warn(f"NeuralAR: the automatic AR() anchor failed ({type(err).__name__}: {err}); "
                      "these forecasts are the network's alone", RuntimeWarning, stacklevel=3)
    return out


def fit_anchor(panel: Panel) -> Any:
    """``AR()`` fitted to every series of ``panel`` (``None`` if one is too short: fitted at predict)."""
    if len(_fittable(panel)) != panel.n_series:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return _automatic_ar().fit(panel)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError):
        return None                                  # tried again (and reported) at predict


def choose_share(network: np.ndarray, anchor: np.ndarray, target: np.ndarray, scale: np.ndarray
                 ) -> tuple[float, dict[float, float]]:
    """The share of :data:`SHARES` whose blend forecasts ``target [n, v]`` best (mean
    ``|y - yhat| / scale`` over the finite entries; ties go to the larger share), and every share's score.

    ``network``, ``anchor``: ``[n, v]`` forecasts (NaN where one has none: those entries count
    for the network alone)."""
    anchor = np.where(np.isfinite(anchor), anchor, network)
    scores: dict[float, float] = {}
    for s in SHARES:
        err = np.abs(anchor + s * (network - anchor) - target) / scale[:, None]
        ok = np.isfinite(err)
        scores[s] = float(err[ok].mean()) if ok.any() else float("inf")
    best = min(scores.values())
    return max(s for s, e in scores.items() if e <= best), scores


def prepare(panel: Panel, validation_length: int, share: float | None) -> dict[str, Any]:
    """Before training (its time counts in the budget): ``AR()``'s forecasts of the validation
    values from each series less them (``"validation"``, ``[n, v]``, when the share is to be
    chosen) and ``AR()`` on the whole of ``panel`` (``"anchor"``; ``None`` when the share is 1 or a
    series is too short for it: then fitted at predict)."""
    v = int(validation_length)
    choosing = share is None and v > 0
    if not choosing and (1.0 if share is None else float(share)) >= 1:
        return {"validation": None, "anchor": None, "choosing": False}
    out: dict[str, Any] = {"validation": None, "anchor": fit_anchor(panel), "choosing": choosing}
    if choosing:
        cut = np.maximum(panel.lengths - v, 0)
        keep = np.flatnonzero(cut >= 1)
        out["validation"] = np.full((panel.n_series, v), np.nan)
        if len(keep):
            out["validation"][keep] = anchor_points(panel.subset(keep).head(cut[keep]), v)
    return out


def validation_scores(model: Any, panel: Panel, anchor: np.ndarray) -> tuple[float, dict[float, float]]:
    """Choose the share for a trained ``model`` (NeuralAR) on its validation windows, ``anchor``
    ``[n, v]`` being ``AR()``'s forecasts of them (:func:`prepare`)."""
    import torch

    from arforecast.models.neural.fitting import window_forecast
    from arforecast.nn.training import WindowSampler
    from arforecast.rollout.engine import rollout
    v, F = int(model.validation_length_), int(model.context_length_)
    series = [panel.series(i) for i in range(panel.n_series)]
    batch = WindowSampler(series, context=F, targets=v, validation_length=v, origins=panel.origins).validation()
    ctx, target, scale = window_forecast(model, batch, F)
    model.network_.eval()
    with torch.no_grad():
        point = rollout(model, ctx, v, decoding="mean").point.numpy()
    point[ctx.lengths.numpy() < 2] = np.nan                 # no context before the validation values
    return choose_share(point, anchor, target.numpy(), scale.numpy()[:, 0])


def choose(model: Any, panel: Panel, share: float | None, prepared: dict[str, Any]) -> None:
    """After training: set ``model.anchor_share_``, ``anchor_scores_`` and ``anchor_`` (the
    ``AR()`` of :func:`prepare`, ``None`` when the network's share is 1)."""
    if prepared["choosing"]:
        share, scores = validation_scores(model, panel, prepared["validation"])
    else:
        share, scores = 1.0 if share is None else float(share), {}
    model.anchor_share_, model.anchor_scores_ = float(share), scores
    model.anchor_ = prepared["anchor"] if share < 1 else None


def blend(model: Any, panel: Panel, h: int, point: np.ndarray, samples: np.ndarray | None
          ) -> tuple[np.ndarray, np.ndarray | None]:
    """The network's point ``[n, h]`` and paths ``[n, S, h]`` moved towards ``AR()`` (module docstring)."""
    share = float(getattr(model, "anchor_share_", 1.0))
    if share >= 1:
        return point, samples
    fitted = getattr(model, "anchor_", None) if panel is getattr(model, "panel_", None) else None
    anchor = anchor_points(panel, h, fitted)
    move = np.where(np.isfinite(anchor), (1 - share) * (anchor - point), 0.0)
    return point + move, None if samples is None else samples + move[:, None, :]
