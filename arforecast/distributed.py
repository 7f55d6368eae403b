"""Dask DataFrames in, Dask DataFrames out: :func:`arforecast.forecast`, :func:`arforecast.backtest` and
:func:`arforecast.detect_anomalies` on a long frame that does not fit one process.

Each series must sit whole in one partition: the frame is shuffled by id first (unless it has a
single partition), and each partition is sorted by id then time (a shuffle does not keep row
order). Then every partition runs the ordinary pandas call:

* local models (one set of parameters per series: AR, the baselines) are fitted per partition,
  exactly as in one process, so the numbers are those of the pandas call;
* global models (``NeuralAR``, ``is_global = True``) are trained once, on the client, on the whole
  frame (``compute()``: training does not scale out; fit on a sample of series to bound it), and
  the fitted model is broadcast to the partitions, which only predict.

Point forecasts, closed-form intervals, backtest scores and anomaly verdicts are identical to the
single-process run (up to row order). Sample paths with a ``seed`` are reproducible but drawn per
partition, so they differ from the single-process draw.

Dask is optional (``pip install arforecast[dask]``); nothing here imports it before it is needed.
"""
from __future__ import annotations

from typing import Any, Callable

import pandas as pd


def is_dask_frame(obj: Any) -> bool:
    """Whether ``obj`` is a Dask DataFrame (checked without importing Dask)."""
    return type(obj).__module__.split(".")[0] in ("dask", "dask_expr") and hasattr(obj, "map_partitions")


def by_series(ddf: Any, id_col: str, time_col: str) -> Any:
    """``ddf`` with every series whole in one partition, rows sorted by id then time in each."""
    if ddf.npartitions > 1:
        ddf = ddf.shuffle(on=id_col)
    return ddf.map_partitions(lambda part: part.sort_values([id_col, time_col], kind="stable"),
                              meta=ddf._meta)


def map_series(ddf: Any, fn: Callable[[pd.DataFrame], pd.DataFrame], id_col: str, time_col: str) -> Any:
    """``fn`` (pandas long frame -> pandas frame) on each partition of ``ddf`` regrouped by series.

    The output's columns come from running ``fn`` on the first non-empty partition (one partition
    computed twice, so that no fake data is fed to a model).
    """
    grouped = by_series(ddf, id_col, time_col).persist()
    meta = None
    for k in range(grouped.npartitions):
        sample = grouped.get_partition(k).compute()
        if len(sample):
            meta = fn(sample).iloc[:0]
            break
    if meta is None:
        raise ValueError("the Dask DataFrame has no rows")

    def run(part: pd.DataFrame) -> pd.DataFrame:
        return meta if len(part) == 0 else fn(part)
    return grouped.map_partitions(run, meta=meta)


def forecast(named: dict, ddf: Any, h: int, *, levels: Any, num_samples: Any, seed: Any, id_col: str,
             time_col: str, target_col: str) -> Any:
    """:func:`arforecast.forecast` on a Dask frame (see the module docstring)."""
    from sklearn.base import clone

    from arforecast.api import forecast as pandas_forecast, forecast_columns
    cols = {"id_col": id_col, "time_col": time_col, "target_col": target_col}
    fitted_globals = {}
    globals_ = {name: m for name, m in named.items() if getattr(m, "is_global", False)}
    if globals_:
        whole = ddf[[id_col, time_col, target_col]].compute()
        fitted_globals = {name: clone(m).fit(whole, **cols) for name, m in globals_.items()}

    def fn(part: pd.DataFrame) -> pd.DataFrame:
        frames = []
        for name, model in named.items():
            if name in fitted_globals:
                fc = fitted_globals[name].predict(h, num_samples=num_samples, seed=seed, y=part)
                frames.append(forecast_columns(name, fc, levels, first=not frames))
            else:
                out = pandas_forecast({name: model}, part, h, levels=levels, num_samples=num_samples,
                                      seed=seed, **cols)
                frames.append(out if not frames else out.drop(columns=[id_col, time_col]))
        return pd.concat(frames, axis=1)
    return map_series(ddf, fn, id_col, time_col)


def per_partition(call: Callable[[pd.DataFrame], pd.DataFrame], models: Any, ddf: Any, id_col: str,
                  time_col: str, what: str) -> Any:
    """``call`` (a pandas backtest or detection on one partition) for local models only."""
    from arforecast.multi import name_models
    glob = [name for name, m in name_models(models if models is not None else []).items()
            if getattr(m, "is_global", False)] if models is not None else []
    if glob:
        raise NotImplementedError(f"{what} on a Dask frame fits each partition on its own series, which would "
                                  f"change global model(s) {glob}; run them on a pandas frame (or a sample)")
    return map_series(ddf, call, id_col, time_col)
