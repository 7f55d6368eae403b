"""Several models in one call give exactly the numbers of one call per model."""
import numpy as np
import pandas as pd
import pytest

import arforecast as af
from arforecast.datasets import load_m4_hourly
from arforecast.evaluation.scoring import score


@pytest.fixture(scope="module")
def m4():
    return load_m4_hourly(n_series=4)


def models():
    return [af.AR(p=24, seasonal_lags=(168,)), af.SeasonalNaive(), af.Naive2(), af.AR(p=24, bootstrap=True)]


def test_forecast_of_several_models_equals_the_single_calls_on_m4_hourly(m4):
    train, _ = m4
    out = af.forecast(models(), train, h=48, levels=[80, 95], num_samples=50, seed=3)
    names = ["AR", "SeasonalNaive", "Naive2", "AR_2"]
    expected = ["unique_id", "ds"]
    for n in names:
        expected += [n, f"{n}-lo-95", f"{n}-lo-80", f"{n}-hi-80", f"{n}-hi-95"]
    assert out.columns.tolist() == expected
    for name, model in zip(names, models()):
        fc = model.fit(train).predict(48, num_samples=50, seed=3)
        pd.testing.assert_frame_equal(out[["unique_id", "ds"]], fc.mean[["unique_id", "ds"]])
        np.testing.assert_array_equal(out[name].to_numpy(), fc.point.ravel())
        for lv in (80, 95):
            lo, hi = fc.interval_values(lv)
            np.testing.assert_array_equal(out[f"{name}-lo-{lv}"].to_numpy(), lo.ravel())
            np.testing.assert_array_equal(out[f"{name}-hi-{lv}"].to_numpy(), hi.ravel())


def test_names_a_dict_and_the_callers_columns(m4):
    train, _ = m4
    custom = train.rename(columns={"unique_id": "store", "ds": "when", "y": "sales"})
    given = af.AR(p=2)
    out = af.forecast({"short": given, "long": af.AR(p=24)}, custom, h=3, levels=0.9,
                      id_col="store", time_col="when", target_col="sales")
    assert out.columns.tolist() == ["store", "when", "short", "short-lo-90", "short-hi-90",
                                    "long", "long-lo-90", "long-hi-90"]
    assert not hasattr(given, "coef_")                       # the caller's models are cloned, never fitted
    one = af.forecast(af.Naive(), custom, h=2, id_col="store", time_col="when", target_col="sales")
    assert one.columns.tolist() == ["store", "when", "Naive"]
    with pytest.raises(ValueError, match="no model given"):
        af.forecast([], custom, h=2)
    with pytest.raises(TypeError, match="'x' is a str, not a forecaster"):
        af.forecast({"x": "AR"}, custom, h=2)


def test_point_only_models_need_samples_for_levels():
    class PointOnly(af.Naive):
        def _predict(self, panel, h, num_samples, seed, **options):
            fc = super()._predict(panel, h, None, seed)
            return af.Forecast(panel, h, fc.point, model="PointOnly")
    y = pd.Series(np.arange(20.0))
    assert af.forecast(PointOnly(), y, h=2).columns.tolist() == ["unique_id", "ds", "PointOnly"]
    with pytest.raises(ValueError, match=r"model 'PointOnly' \(PointOnly\) gives point forecasts only.*num_samples"):
        af.forecast([af.Naive(), PointOnly()], y, h=2, levels=[95])


def test_backtest_of_several_models_equals_the_single_backtests(m4):
    train, _ = m4
    kwargs = dict(h=12, n_windows=2, levels=[80], quantiles=[0.5], progress=False)
    both = af.backtest([af.SeasonalNaive(), af.AR(p=24)], train, **kwargs)
    assert isinstance(both, af.evaluation.compare.BacktestComparison)
    frame = both.forecasts
    assert frame.columns.tolist() == ["unique_id", "cutoff", "ds", "y", "SeasonalNaive", "SeasonalNaive-lo-80",
                                      "SeasonalNaive-hi-80", "SeasonalNaive-q0.5", "AR", "AR-lo-80", "AR-hi-80",
                                      "AR-q0.5"]
    table = both.metrics()
    assert table.index.tolist() == ["SeasonalNaive", "AR"]
    for name, model in (("SeasonalNaive", af.SeasonalNaive()), ("AR", af.AR(p=24))):
        one = af.backtest(model, train, **kwargs)
        assert isinstance(one, af.BacktestResult)          # one model: the single-model result, unchanged
        np.testing.assert_array_equal(frame[name].to_numpy(), one.forecasts["mean"].to_numpy())
        np.testing.assert_array_equal(frame[f"{name}-hi-80"].to_numpy(), one.forecasts["q0.9"].to_numpy())
        pd.testing.assert_series_equal(table.loc[name], one.metrics().iloc[0], check_names=False)
    assert both.metrics(by="unique_id").index.names == ["model", "unique_id"]


def test_detect_with_several_models_equals_the_single_runs():
    rng = np.random.default_rng(0)
    y = pd.Series(np.sin(np.arange(300) / 4) + 0.1 * rng.normal(size=300),
                  index=pd.date_range("2024", periods=300, freq="h"), name="s")
    y.iloc[200] += 5
    from arforecast.anomaly import RollingZScore
    out = af.detect_anomalies({"ar": af.AR(p=8), "z": RollingZScore(window=24)}, y, level=99.9, start=100)
    assert out.columns.tolist() == ["unique_id", "ds", "y", "ar", "ar-lo-99.9", "ar-hi-99.9", "ar-score",
                                    "ar-is_anomaly", "z", "z-lo-99.9", "z-hi-99.9", "z-score", "z-is_anomaly",
                                    "incident_score", "alert"]      # incident columns: model-free, once
    for name, model in (("ar", af.AR(p=8)), ("z", RollingZScore(window=24))):
        one = af.detect_anomalies(model, y, level=0.999, start=100)
        np.testing.assert_array_equal(out[f"{name}-is_anomaly"].to_numpy(), one["is_anomaly"].to_numpy())
        np.testing.assert_array_equal(out[f"{name}-lo-99.9"].to_numpy(), one["lower"].to_numpy())
        np.testing.assert_array_equal(out["incident_score"].to_numpy(), one["incident_score"].to_numpy())
    assert out.loc[200, "ar-is_anomaly"] and out.loc[200, "z-is_anomaly"]


def test_compare_scores_each_model_as_score_does(m4):
    train, test = m4
    table = af.compare([af.Naive2(), af.AR(p=24)], train, test, level=80)
    assert table.index.tolist() == ["Naive2", "AR"] and table.loc["Naive2", "OWA"] == 1.0
    fc = af.AR(p=24).fit(train).predict(48)
    expected = score(fc, test, af.to_panel(train), season_length=24, level=0.8)
    for key, value in expected.items():
        assert table.loc["AR", key] == value, key
