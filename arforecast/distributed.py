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

Covariates keyed by series travel with their series' rows (stacked under the target before the
shuffle); a time-indexed covariate frame and static covariates go whole to every partition.

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


ROLE = "__arforecast_role__"


def _with_covariates(ddf: Any, cov: dict, id_col: str, time_col: str) -> tuple[Any, dict]:
    """Covariate frames keyed by series (pandas or Dask) stacked under ``ddf`` with a role column,
    so that each series' covariates land in its partition; the rest (a time-indexed frame shared
    by every series, ``static``) is handed to every partition as it is."""
    import dask.dataframe as dd

    stacked, shared = [ddf.assign(**{ROLE: "y"})], {}
    for key in ("X", "X_future"):
        frame = cov.get(key)
        if frame is None:
            continue
        if is_dask_frame(frame) or (isinstance(frame, pd.DataFrame) and id_col in frame.columns):
            if not is_dask_frame(frame):
                frame = dd.from_pandas(frame, npartitions=max(1, ddf.npartitions))
            stacked.append(frame.assign(**{ROLE: key}))
        else:
            shared[key] = frame
    return (dd.concat(stacked) if len(stacked) > 1 else stacked[0]), shared


def _keyed_columns(cov: dict, id_col: str, target_col: str) -> dict:
    """``cov`` with the columns of each covariate frame keyed by series (the ones stacked)."""
    columns = {key: list(cov[key].columns) for key in ("X", "X_future") if cov.get(key) is not None
               and (is_dask_frame(cov[key]) or id_col in cov[key].columns)}
    if any(target_col in c or ROLE in c for c in columns.values()):
        raise ValueError(f"a covariate column has the target's name {target_col!r}: rename it")
    return {**cov, "columns": columns}


def _split_roles(part: pd.DataFrame, cov: dict, shared: dict) -> tuple[pd.DataFrame, dict]:
    """One partition of the stacked frame back into the target rows and the covariate keywords."""
    y = part[part[ROLE] == "y"]
    kwargs: dict = {"static": cov.get("static"), "past_only": cov.get("past_only", ())}
    for key in ("X", "X_future"):
        if key in shared:
            kwargs[key] = shared[key]
        elif key in cov["columns"]:
            kwargs[key] = part.loc[part[ROLE] == key, cov["columns"][key]]
    return y.drop(columns=[ROLE]), kwargs


def forecast(named: dict, ddf: Any, h: int, *, levels: Any, num_samples: Any, seed: Any, id_col: str,
             time_col: str, target_col: str, cov: dict | None = None) -> Any:
    """:func:`arforecast.forecast` on a Dask frame (see the module docstring).

    Covariates (``cov``: the ``X``, ``X_future``, ``static`` and ``past_only`` of the pandas call)
    keyed by series travel with their series' rows; a time-indexed ``X`` and ``static`` are
    handed whole to every partition.
    """
    from sklearn.base import clone

    from arforecast.api import forecast as pandas_forecast, forecast_columns
    cols = {"id_col": id_col, "time_col": time_col, "target_col": target_col}
    shared: dict = {}
    if cov is not None:
        cov = _keyed_columns(cov, id_col, target_col)
        ddf, shared = _with_covariates(ddf, cov, id_col, time_col)
    fitted_globals = {}
    globals_ = {name: m for name, m in named.items() if getattr(m, "is_global", False)}
    if globals_:
        whole = ddf.compute()
        y_all, kw_all = _split_roles(whole, cov, shared) if cov is not None else (whole, {})
        fit_kw = {k: kw_all[k] for k in ("X", "static", "past_only") if k in kw_all}
        fitted_globals = {name: clone(m).fit(y_all[[id_col, time_col, target_col]], **cols, **fit_kw)
                          for name, m in globals_.items()}

    def fn(part: pd.DataFrame) -> pd.DataFrame:
        y, kw = _split_roles(part, cov, shared) if cov is not None else (part, {})
        y = y[[id_col, time_col, target_col]]
        frames = []
        for name, model in named.items():
            if name in fitted_globals:
                future = {k: kw[k] for k in ("X", "X_future") if kw.get(k) is not None}
                fc = fitted_globals[name].predict(h, num_samples=num_samples, seed=seed, y=y, **future)
                frames.append(forecast_columns(name, fc, levels, first=not frames))
            else:
                out = pandas_forecast({name: model}, y, h, levels=levels, num_samples=num_samples,
                                      seed=seed, **cols, **kw)
                frames.append(out if not frames else out.drop(columns=[id_col, time_col]))
        return pd.concat(frames, axis=1)
    return map_series(ddf, fn, id_col, time_col)


def per_partition(call: Callable[..., pd.DataFrame], models: Any, ddf: Any, id_col: str,
                  time_col: str, what: str, cov: dict | None = None, target_col: str = "y") -> Any:
    """``call(part, **covariates)`` (a pandas backtest or detection on one partition) for local
    models only; covariates (``cov``: ``X``, ``static``, ``past_only``) travel as in :func:`forecast`."""
    from arforecast.multi import name_models
    glob = [name for name, m in name_models(models if models is not None else []).items()
            if getattr(m, "is_global", False)] if models is not None else []
    if glob:
        raise NotImplementedError(f"{what} on a Dask frame fits each partition on its own series, which would "
                                  f"change global model(s) {glob}; run them on a pandas frame (or a sample)")
    if cov is None or cov.get("X") is None:
        return map_series(ddf, call, id_col, time_col)
    cov = _keyed_columns(cov, id_col, target_col)
    stacked, shared = _with_covariates(ddf, cov, id_col, time_col)

    def run(part: pd.DataFrame) -> pd.DataFrame:
        y, kw = _split_roles(part, cov, shared)
        return call(y[[id_col, time_col, target_col]], **kw)
    return map_series(stacked, run, id_col, time_col)
