"""scikit-learn model selection for forecasters: a time-ordered splitter and a score.

scikit-learn's tools (``cross_val_score``, ``GridSearchCV``, ``RandomizedSearchCV``) call
``model.fit(X[train])`` and ``model.score(X[test])`` for each ``(train, test)`` split of the rows
of ``X``. With :class:`ForecastSplit` the rows of ``X`` (a long frame, a wide frame or a Series)
are split along time: each split trains on every series up to a cut-off and tests on the ``h``
values after it, as :func:`~arforecast.backtest` does. :meth:`Forecaster.score
<arforecast.base.Forecaster.score>` (this module's :func:`forecast_score`) forecasts those ``h``
steps and returns **minus** the error, so that higher is better as scikit-learn expects:
``-MASE`` by default, or ``-MAE``, ``-RMSE``, ``-sMAPE``.

Example:
    >>> from sklearn.model_selection import GridSearchCV
    >>> import arforecast as af
    >>> from arforecast.datasets import load_m4_hourly
    >>> train, _ = load_m4_hourly(n_series=3)
    >>> search = GridSearchCV(af.SeasonalNaive(), {"season_length": [1, 24]}, cv=ForecastSplit(h=24, n_windows=2))
    >>> search.fit(train).best_params_
    {'season_length': 24}
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import pandas as pd

from arforecast.data.frames import to_panel
from arforecast.data.panel import rows_of_ids
from arforecast.evaluation import metrics as M
from arforecast.exceptions import DataError

#: the errors :func:`forecast_score` can negate
SCORE_METRICS = ("mase", "mae", "rmse", "smape")


class ForecastSplit:
    """Time-ordered ``(train, test)`` row splits for scikit-learn: ``n_windows`` cut-offs per series.

    Window ``w`` (``0`` first) trains on each series' values up to its cut-off and tests on the
    ``h`` values after it; the last window ends at each series' last value and the cut-offs are
    ``step`` (default ``h``) apart, as in :func:`arforecast.backtest`. Rows of a long frame are
    grouped by ``id_col`` (and must be in time order within each series); a Series or a wide frame
    is split by rows.

    Example:
        >>> import pandas as pd
        >>> y = pd.Series(range(10), index=pd.date_range("2024", periods=10, freq="D"))
        >>> splits = [(train.tolist()[-1], test.tolist()) for train, test in ForecastSplit(h=2, n_windows=2).split(y)]
        >>> splits
        [(5, [6, 7]), (7, [8, 9])]
    """

    def __init__(self, h: int, n_windows: int = 3, step: int | None = None, id_col: str = "unique_id") -> None:
        for name, value in (("h", h), ("n_windows", n_windows), ("step", step)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.h, self.n_windows, self.step, self.id_col = int(h), int(n_windows), step, id_col

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_windows

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_rows, test_rows)`` positions for each window, first cut-off first."""
        step = self.h if self.step is None else int(self.step)
        if isinstance(X, pd.DataFrame) and self.id_col in X.columns:
            codes, _ = pd.factorize(X[self.id_col], sort=False)
            groups_rows = [np.flatnonzero(codes == k) for k in range(codes.max() + 1)] if len(codes) else []
        else:
            groups_rows = [np.arange(len(X))]
        need = self.h + (self.n_windows - 1) * step
        short = [len(rows) for rows in groups_rows if len(rows) <= need]
        if short:
            raise DataError(f"ForecastSplit(h={self.h}, n_windows={self.n_windows}, step={step}) needs more than "
                            f"{need} values per series; {len(short)} series have fewer (e.g. {short[0]})")
        for w in range(self.n_windows):
            back = (self.n_windows - 1 - w) * step
            train, test = [], []
            for rows in groups_rows:
                end = len(rows) - self.h - back
                train.append(rows[:end])
                test.append(rows[end:end + self.h])
            yield np.sort(np.concatenate(train)), np.sort(np.concatenate(test))

    def __repr__(self) -> str:
        return f"ForecastSplit(h={self.h}, n_windows={self.n_windows}, step={self.step}, id_col={self.id_col!r})"


def forecast_score(model: Any, y: Any, *, metric: str = "mase", season_length: int | None = None) -> float:
    """Minus the error of ``model``'s forecast of the values ``y`` that follow its fitted data.

    ``y`` holds, for some or all of the fitted series (same layout and column names as in
    ``fit``), the values right after the fitted history; each series is forecast as far as its
    values in ``y`` reach and the error is averaged over its steps, then over the series.
    ``metric``: ``"mase"`` (default; scaled by each series' in-sample seasonal-naive error with
    ``season_length``, default the data's main season), ``"mae"``, ``"rmse"`` or ``"smape"``.
    Returns ``-error``: **higher is better** (scikit-learn's convention), 0 is a perfect forecast.
    """
    if metric not in SCORE_METRICS:
        raise ValueError(f"metric must be one of {SCORE_METRICS}, got {metric!r}")
    model._check_fitted()
    fitted = model.panel_
    actual = to_panel(y, freq=fitted.freq, **model._layout_columns())
    rows, missing = rows_of_ids(fitted.ids, actual.ids)
    if missing:
        raise DataError(f"score: series {missing[:5]} were not in the data the model was fitted on")
    for k, i in enumerate(rows):
        expected = fitted.future_index(i, 1)[0]
        if actual.starts[k] != expected:
            raise DataError(f"score: the values of series {actual.ids[k]!r} start at {actual.starts[k]!r}, but the "
                            f"fitted history ends just before {expected!r}; score the steps right after it")
    h = int(actual.lengths.max())
    point = model.predict(h).point[rows]
    truth = np.full_like(point, np.nan)
    for k in range(actual.n_series):
        truth[k, :actual.lengths[k]] = actual.series(k)
    per_series = np.empty(actual.n_series)
    for k in range(actual.n_series):
        n = int(actual.lengths[k])
        yk, fk = truth[k:k + 1, :n], point[k:k + 1, :n]
        if metric == "mase":
            m = fitted.season_length if season_length is None else int(season_length)
            scales = getattr(model, "insample_scales_", None)
            if scales is None:
                per_series[k] = M.mase(yk, fk, [fitted.series(rows[k])], m)[0]
            elif m in scales:                # a lean model kept the scales, not the history
                per_series[k] = M.mae(yk, fk)[0] / scales[m][rows[k]]
            else:
                raise DataError(f"score: this fitted {type(model).__name__} keeps only the last values of each "
                                f"series and the MASE scales for season_length in {sorted(scales)}, not {m}; "
                                "use one of those, or metric='mae'")
        else:
            per_series[k] = {"mae": M.mae, "rmse": M.rmse, "smape": M.smape}[metric](yk, fk)[0]
    return -float(np.mean(per_series))


def forecast_scorer(metric: str = "mase", season_length: int | None = None):
    """A scikit-learn scorer ``scorer(model, X_test) -> -error``, for ``scoring=`` arguments.

    Example:
        >>> scorer = forecast_scorer("mae")     # e.g. cross_val_score(model, y, cv=..., scoring=scorer)
    """
    def scorer(estimator: Any, X: Any, y: Any = None) -> float:
        return forecast_score(estimator, X, metric=metric, season_length=season_length)
    return scorer
