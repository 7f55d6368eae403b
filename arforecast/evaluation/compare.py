"""Backtests of several models on the same windows: one forecast frame, one score table.

``backtest([model_a, model_b], y, h, ...)`` (or a dict ``name -> model``) runs the single-model
backtest of each model with the same arguments, so each model's numbers are exactly those of its
own call, and returns a :class:`BacktestComparison`.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from arforecast.forecasts import quantile_column
from arforecast.levels import interval_quantiles
from arforecast.multi import interval_columns, name_models


def backtest_models(models: Any, y: Any, h: int, n_windows: int | None = None, step: int | None = None,
                    **options: Any) -> "BacktestComparison":
    """:func:`~arforecast.backtest` of every model of ``models`` (a list or a dict) with the same arguments."""
    from arforecast.evaluation.backtest import backtest
    results = {name: backtest(model, y, h, n_windows, step, **options) for name, model in name_models(models).items()}
    return BacktestComparison(results)


class BacktestComparison:
    """The backtests of several models over the same windows.

    Attributes:
        results: ``name -> BacktestResult``, each model's own result.
        forecasts: one long frame ``<id>, cutoff, <time>, <target>`` plus, per model, a column
            named after it (its mean forecast), ``<model>-lo-<level>`` / ``<model>-hi-<level>``
            per interval level (level in percent) and ``<model>-q<p>`` per extra quantile.
    """

    def __init__(self, results: dict[str, Any]) -> None:
        self.results = results
        first = next(iter(results.values()))
        self.h, self.levels, self.quantiles = first.h, first.levels, first.quantiles

    @property
    def models(self) -> dict[str, Any]:
        return {name: r.model for name, r in self.results.items()}

    @property
    def forecasts(self) -> pd.DataFrame:
        names = list(self.results)
        frames = [self.results[n].forecasts for n in names]
        base = frames[0].iloc[:, :4]
        for name, frame in zip(names[1:], frames[1:]):
            if not frame.iloc[:, :4].equals(base):     # same panel, same windows: never expected
                raise RuntimeError(f"the backtest of {name!r} covers other windows than that of {names[0]!r}")
        columns = {}
        for name, frame in zip(names, frames):
            columns[name] = frame["mean"].to_numpy()
            for column, lv, side in interval_columns(name, self.levels):
                q = interval_quantiles(lv)[0 if side == "lo" else 1]
                columns[column] = frame[quantile_column(q)].to_numpy()
            for q in self.quantiles:
                columns[f"{name}-{quantile_column(q)}"] = frame[quantile_column(q)].to_numpy()
        return pd.concat([base.reset_index(drop=True), pd.DataFrame(columns)], axis=1)

    def metrics(self, by: str | None = None, season_length: int | None = None) -> pd.DataFrame:
        """Each model's :meth:`BacktestResult.metrics`, stacked: indexed by model (``by=None``) or
        by ``(model, group)``. Lower is better for every score but coverage (best near the level).
        """
        tables = {name: r.metrics(by=by, season_length=season_length) for name, r in self.results.items()}
        table = pd.concat(tables, names=["model"])
        return table.droplevel(1) if by is None else table

    def __repr__(self) -> str:
        return f"BacktestComparison(models={list(self.results)}, h={self.h})"

