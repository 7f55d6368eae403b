"""M4 Hourly evaluation: fit on the train part, forecast 48 steps, score against the test part."""
from __future__ import annotations

import time
from typing import Mapping

import pandas as pd

from arforecast.base import Forecaster
from arforecast.data.frames import to_panel
from arforecast.datasets import M4_HOURLY_HORIZON, M4_HOURLY_SEASONALITY, load_m4_hourly
from arforecast.evaluation.scoring import add_owa, score
from arforecast.models.baselines import Naive2

COLUMNS = ["sMAPE", "MASE", "OWA", "MSIS", "coverage", "WQL", "seconds"]


def m4_hourly_table(models: Mapping[str, Forecaster], n_series: int | None = None, level: float = 0.95,
                    num_samples: int | Mapping[str, int] | None = None, seed: int = 0,
                    progress: bool = True) -> pd.DataFrame:
    """Score each model on M4 Hourly (h=48, m=24); one row per model, OWA against Naive2.

    Naive2 is always scored too, since OWA is defined against it. ``seconds`` is fit + predict
    wall time. ``num_samples`` (one number, or one per model name) draws sample paths; models
    with closed-form intervals (AR, baselines) need none.

    Example:
        >>> import arforecast as af
        >>> table = m4_hourly_table({"SeasonalNaive": af.SeasonalNaive(24)}, n_series=5, progress=False)
        >>> list(table.index)
        ['Naive2', 'SeasonalNaive']
    """
    train, test = load_m4_hourly(n_series)
    insample = to_panel(train)
    todo = {"Naive2": Naive2(M4_HOURLY_SEASONALITY), **dict(models)}
    rows = {}
    for name, model in todo.items():
        start = time.perf_counter()
        samples = num_samples.get(name) if isinstance(num_samples, Mapping) else num_samples
        fc = model.fit(insample).predict(M4_HOURLY_HORIZON, num_samples=samples, seed=seed)
        elapsed = time.perf_counter() - start
        rows[name] = {**score(fc, test, insample, M4_HOURLY_SEASONALITY, level=level), "seconds": elapsed}
        if progress:
            print(f"  {name:<22} sMAPE {rows[name]['sMAPE']:7.3f}  MASE {rows[name]['MASE']:6.3f}  "
                  f"({elapsed:.2f} s)", flush=True)
    table = add_owa(pd.DataFrame(rows).T)
    return table[[c for c in COLUMNS if c in table.columns]]
