"""Several models in one call: their names and the statsforecast-style columns of their results.

A call that takes several models (:func:`arforecast.forecast`, :func:`arforecast.backtest`,
:func:`arforecast.detect_anomalies`) accepts one model, a list of models or a dict
``name -> model``. A list names each model by its class, de-duplicated in order (``AR``,
``AR_2``, ...); a dict's keys are the names. Each model gets a column named after it and, per
interval level, ``<name>-lo-<level>`` / ``<name>-hi-<level>`` columns with the level in percent
(``AR-lo-95``), as statsforecast writes them.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Mapping, Sequence

from arforecast.levels import level_tag


def several(models: Any) -> bool:
    """Whether ``models`` is a collection of models (a list, a tuple or a dict) rather than one."""
    return isinstance(models, (list, tuple, Mapping))


def name_models(models: Any) -> dict[str, Any]:
    """``models`` (one, a list, or a dict) as a dict ``name -> model``.

    Example:
        >>> import arforecast as af
        >>> list(name_models([af.AR(p=2), af.Naive(), af.AR(p=24)]))
        ['AR', 'Naive', 'AR_2']
        >>> list(name_models({"short": af.AR(p=2), "long": af.AR(p=24)}))
        ['short', 'long']
    """
    if isinstance(models, Mapping):
        named = dict(models)
        for name in named:
            if not isinstance(name, str) or not name:
                raise ValueError(f"model names must be non-empty strings, got {name!r}")
    else:
        items = list(models) if isinstance(models, (list, tuple)) else [models]
        seen: Counter = Counter()
        named = {}
        for model in items:
            base = type(model).__name__
            seen[base] += 1
            name = base if seen[base] == 1 else f"{base}_{seen[base]}"
            while name in named:                 # a class literally named like a de-duplicated one
                seen[base] += 1
                name = f"{base}_{seen[base]}"
            named[name] = model
    if not named:
        raise ValueError("no model given: pass a model, a list of models or a dict name -> model")
    for name, model in named.items():
        if not (hasattr(model, "fit") and hasattr(model, "predict")):
            raise TypeError(f"model {name!r} is a {type(model).__name__}, not a forecaster (it needs fit and predict)")
    return named


def interval_columns(name: str, levels: Sequence[float]) -> list[tuple[str, float, str]]:
    """``(column, level, "lo"|"hi")`` for each interval column of model ``name``, in statsforecast's
    order: the lower bounds from the widest interval in, then the upper bounds outwards.

    Example:
        >>> columns = [c for c, _, _ in interval_columns("AR", [0.8, 0.95])]
        >>> columns
        ['AR-lo-95', 'AR-lo-80', 'AR-hi-80', 'AR-hi-95']
    """
    ordered = sorted(levels)
    return ([(f"{name}-lo-{level_tag(lv)}", lv, "lo") for lv in reversed(ordered)]
            + [(f"{name}-hi-{level_tag(lv)}", lv, "hi") for lv in ordered])
