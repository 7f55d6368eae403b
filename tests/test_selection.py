"""scikit-learn model selection over forecasters: ForecastSplit + Forecaster.score."""
import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GridSearchCV, cross_val_score

import arforecast as af
from arforecast.datasets import load_m4_hourly
from arforecast.evaluation.selection import ForecastSplit, forecast_scorer


@pytest.fixture(scope="module")
def train():
    return load_m4_hourly(n_series=3)[0]


@pytest.mark.parametrize("model", [af.SeasonalNaive(), af.AR(p=24)], ids=lambda m: type(m).__name__)
def test_cross_val_score_is_minus_the_backtest_mase_of_each_window(train, model):
    got = cross_val_score(model, train, cv=ForecastSplit(h=24, n_windows=3))
    reference = af.backtest(model, train, h=24, n_windows=3, progress=False).metrics(by="window")["MASE"]
    np.testing.assert_allclose(got, -reference.to_numpy(), rtol=1e-12)


def test_other_metrics_and_a_custom_scorer(train):
    model = af.Naive().fit(train.groupby("unique_id").head(600))
    future = train.groupby("unique_id").nth(list(range(600, 612)))
    fc = model.predict(12).point
    truth = future["y"].to_numpy().reshape(3, 12)
    assert model.score(future, metric="mae") == pytest.approx(-np.mean(np.abs(truth - fc)))
    assert forecast_scorer("rmse")(model, future) == pytest.approx(-np.mean(np.sqrt(np.mean((truth - fc) ** 2, axis=1))))
    with pytest.raises(ValueError, match="metric must be one of"):
        model.score(future, metric="mape")
    with pytest.raises(af.DataError, match="start at"):
        model.score(train.groupby("unique_id").nth(list(range(601, 612))))


def test_grid_search_picks_the_daily_season_on_hourly_data(train):
    search = GridSearchCV(af.SeasonalNaive(), {"season_length": [1, 24]}, cv=ForecastSplit(h=24, n_windows=2))
    search.fit(train)
    assert search.best_params_ == {"season_length": 24}
    assert search.best_estimator_.season_length_ == 24 and search.best_score_ < 0


def test_split_shapes_for_series_and_short_data():
    y = pd.Series(np.arange(30.0), index=pd.date_range("2024", periods=30, freq="h"))
    splits = list(ForecastSplit(h=5, n_windows=3, step=2).split(y))
    assert [(len(tr), te.tolist()) for tr, te in splits] == [(21, [21, 22, 23, 24, 25]), (23, [23, 24, 25, 26, 27]),
                                                            (25, [25, 26, 27, 28, 29])]
    with pytest.raises(af.DataError, match="needs more than 30 values"):
        list(ForecastSplit(h=10, n_windows=3).split(y))
