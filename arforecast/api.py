"""Several models, one call: ``forecast`` (fit and forecast, one frame) and ``compare`` (a score table).

Each model is cloned (the caller's objects stay unfitted), fitted on the same data and asked for
the same forecast as a single-model call would: ``clone(model).fit(df).predict(h, num_samples,
seed)``, so every column holds exactly the numbers that call gives.
"""
from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone

from arforecast.data.frames import to_panel
from arforecast.data.panel import Panel
from arforecast.evaluation.scoring import add_owa, score
from arforecast.levels import as_level, as_levels
from arforecast.multi import interval_columns, name_models


def _fit_predict(name: str, model: Any, panel: Panel, h: int, num_samples: int | None, seed: int | None,
                 need_distribution: bool, cov: dict | None = None) -> Any:
    if cov:         # models without covariates warn that they ignore them, as in a single-model call
        fitted = clone(model).fit(panel, X=cov["X"], static=cov["static"], past_only=cov["past_only"])
        future = {"X": cov["X"]} if cov["X_future"] is None else {"X_future": cov["X_future"]}
        fc = fitted.predict(h, num_samples=num_samples, seed=seed, **future)
    else:
        fc = clone(model).fit(panel).predict(h, num_samples=num_samples, seed=seed)
    if need_distribution and fc.marginals is None and fc.samples is None:
        raise ValueError(f"model {name!r} ({type(model).__name__}) gives point forecasts only, so it has no "
                         "intervals: pass num_samples=... (e.g. 100) to get them from sample paths, or drop levels")
    return fc


def _covariates(X: Any, X_future: Any, static: Any, past_only: Sequence[str]) -> dict | None:
    if X is None:
        if X_future is not None or static is not None or tuple(past_only):
            raise ValueError("X_future, static and past_only need X (the covariates over the history)")
        return None
    return {"X": X, "X_future": X_future, "static": static, "past_only": tuple(past_only)}


def forecast(models: Any, df: Any, h: int, *, levels: float | Sequence[float] = (), num_samples: int | None = None,
             seed: int | None = None, X: Any = None, X_future: Any = None, static: Any = None,
             past_only: Sequence[str] = (), freq: Any = None, id_col: str = "unique_id", time_col: str = "ds",
             target_col: str = "y", **data_options: str) -> pd.DataFrame:
    """Fit every model on ``df`` and forecast ``h`` steps: one long frame, a column per model.

    Args:
        models: a forecaster, a list of forecasters (named by class, de-duplicated: ``AR``,
            ``AR_2``) or a dict ``name -> forecaster``.
        df: a Series, a wide frame or a long frame (see :func:`arforecast.to_panel`).
        h: the horizon.
        levels: interval levels, fractions or percentages (``0.95`` or ``95``): each adds
            ``<model>-lo-<level>`` and ``<model>-hi-<level>`` columns (level in percent).
        num_samples, seed: sample paths per series and their seed, passed to every model's
            ``predict`` (models without closed-form intervals need ``num_samples`` for levels).
        freq, id_col, time_col, target_col: as in :func:`arforecast.to_panel`.
        data_options: ``duplicates=``, ``off_grid=``, ``gaps=``, ``missing=`` as in :func:`arforecast.to_panel`.

    Returns:
        ``<id>, <time>, <model>, <model>-lo-95, ..., <model>-hi-95, <next model>, ...``: the id
        and time columns are the caller's for a long frame, ``unique_id, ds`` otherwise.

    Example:
        >>> import numpy as np, pandas as pd
        >>> import arforecast as af
        >>> y = pd.Series(np.tile([1.0, 5.0, 3.0], 20), index=pd.date_range("2024", periods=60, freq="h"))
        >>> out = af.forecast([af.Naive(), af.SeasonalNaive(3)], y, h=3, levels=[80])
        >>> out.columns.tolist()
        ['unique_id', 'ds', 'Naive', 'Naive-lo-80', 'Naive-hi-80', 'SeasonalNaive', 'SeasonalNaive-lo-80', 'SeasonalNaive-hi-80']
        >>> out["SeasonalNaive"].tolist()
        [1.0, 5.0, 3.0]
    """
    named = name_models(models)
    lvls = as_levels(levels)
    cov = _covariates(X, X_future, static, past_only)
    from arforecast.distributed import is_dask_frame
    if is_dask_frame(df):
        from arforecast import distributed
        return distributed.forecast(named, df, h, levels=lvls, num_samples=num_samples, seed=seed,
                                    id_col=id_col, time_col=time_col, target_col=target_col, cov=cov)
    panel = to_panel(df, freq=freq, id_col=id_col, time_col=time_col, target_col=target_col, **data_options)
    frame: pd.DataFrame | None = None
    for name, model in named.items():
        fc = _fit_predict(name, model, panel, h, num_samples, seed, bool(lvls), cov)
        columns = forecast_columns(name, fc, lvls, first=frame is None)
        if frame is None:
            frame = columns
            continue
        clash = [c for c in columns if c in frame.columns]
        if clash:
            raise ValueError(f"model name {name!r} gives column(s) {clash} that already exist; name the models "
                             "with a dict, e.g. {'mine': model}")
        frame = pd.concat([frame, columns.set_axis(frame.index)], axis=1)
    return frame


def forecast_columns(name: str, fc: Any, levels: Sequence[float], *, first: bool) -> pd.DataFrame:
    """One model's columns of :func:`forecast` (its point forecast and interval bounds), after the
    id and time columns when ``first``."""
    columns = {name: fc.point.reshape(-1)}
    bounds = {lv: fc.interval_values(lv) for lv in levels}
    for column, lv, side in interval_columns(name, levels):
        columns[column] = bounds[lv][0 if side == "lo" else 1].reshape(-1)
    frame = fc.mean.drop(columns="mean")
    values = pd.DataFrame(columns, index=frame.index)
    return pd.concat([frame, values], axis=1) if first else values


def compare(models: Any, train: Any, test: Any, h: int | None = None, *, level: float = 0.95,
            season_length: int | None = None, num_samples: int | None = None, seed: int | None = None,
            baseline: str | None = "Naive2", X: Any = None, static: Any = None, past_only: Sequence[str] = (),
            freq: Any = None, id_col: str = "unique_id", time_col: str = "ds", target_col: str = "y") -> pd.DataFrame:
    """Fit every model on ``train``, forecast the ``test`` period and score it: one row per model.

    Columns: sMAPE, MASE, MAE, RMSE (panel averages), with a predictive distribution MSIS,
    coverage (of the ``level`` interval) and WQL, with sample paths CRPS, then ``OWA`` against
    the model named ``baseline`` when one is (e.g. ``Naive2``), and ``seconds`` (fit and
    predict). Lower is better for every score but coverage (best near ``level``).

    Args:
        models: a forecaster, a list or a dict ``name -> forecaster`` (as :func:`forecast`).
        train, test: the data to fit on and what happened next (same layout and column names).
        h: horizon; default: the length of the test part (the same for every series).
        level: the interval scored by MSIS and coverage (``0.95`` or ``95``).
        season_length: the MASE/MSIS scale (default: the main season of the data's frequency).
        X, static, past_only: covariates (docs/covariates.md); ``X`` covers the training and the
            test period (the test rows serve as the future-known values).

    Example:
        >>> import arforecast as af
        >>> from arforecast.datasets import load_m4_hourly
        >>> train, test = load_m4_hourly(n_series=3)
        >>> table = af.compare([af.Naive2(), af.SeasonalNaive(), af.AR(p=24)], train, test)
        >>> table.index.tolist(), float(table.loc["Naive2", "OWA"])
        (['Naive2', 'SeasonalNaive', 'AR'], 1.0)
    """
    named = name_models(models)
    cols = {"id_col": id_col, "time_col": time_col, "target_col": target_col}
    insample = to_panel(train, freq=freq, **cols)
    actual = to_panel(test, freq=insample.freq, **cols)
    if h is None:
        lengths = np.unique(actual.lengths)
        if len(lengths) != 1:
            raise ValueError(f"the test series have different lengths ({lengths[:5].tolist()}): give h")
        h = int(lengths[0])
    m = insample.season_length if season_length is None else int(season_length)
    lv = as_level(level)
    cov = _covariates(X, None, static, past_only)
    rows = {}
    for name, model in named.items():
        start = time.perf_counter()
        fc = _fit_predict(name, model, insample, h, num_samples, seed, False, cov)
        rows[name] = {**score(fc, actual, insample, m, level=lv), "seconds": time.perf_counter() - start}
    table = pd.DataFrame(rows).T
    if baseline is not None:
        table = add_owa(table, baseline)
    first = [c for c in ("sMAPE", "MASE", "OWA", "MAE", "RMSE", "MSIS", "coverage", "WQL", "CRPS") if c in table]
    return table[first + ["seconds"]]
