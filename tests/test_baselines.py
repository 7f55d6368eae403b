"""Baselines against statsforecast (points and intervals), the M4 published figures, and their own samples."""
import numpy as np
import pandas as pd
import pytest

import arforecast as af
from arforecast.evaluation.scoring import score
from arforecast.testing import check_forecaster

sf = pytest.importorskip("statsforecast")
from statsforecast import StatsForecast  # noqa: E402
from statsforecast import models as sfm  # noqa: E402


@pytest.fixture(scope="module")
def panel_df():
    rng = np.random.default_rng(3)
    frames = []
    for i, n in enumerate([40, 55, 73]):
        t = np.arange(n)
        y = 50 + 5 * np.sin(2 * np.pi * t / 7) + rng.normal(size=n).cumsum()
        frames.append(pd.DataFrame({"unique_id": f"u{i}", "ds": pd.date_range("2024-01-01", periods=n, freq="D"), "y": y}))
    return pd.concat(frames, ignore_index=True)


PAIRS = [
    (af.Naive(), sfm.Naive(), 1.0),
    (af.SeasonalNaive(7), sfm.SeasonalNaive(season_length=7), 1.0),
    (af.Mean(), sfm.HistoricAverage(), 1.0),
    # statsforecast divides the drift residuals' squares by T-1; FPP (and we) by T-2 (one parameter)
    (af.Drift(), sfm.RandomWalkWithDrift(), None),
]


@pytest.mark.parametrize("ours, theirs, sigma_ratio", PAIRS, ids=lambda x: type(x).__name__)
def test_points_and_intervals_match_statsforecast(panel_df, ours, theirs, sigma_ratio):
    h = 10
    ref = StatsForecast(models=[theirs], freq="D").forecast(df=panel_df, h=h, level=[80, 95])
    name = ref.columns[2]
    fc = ours.fit(panel_df).predict(h)
    out = fc.mean.merge(ref, on=["unique_id", "ds"])
    np.testing.assert_allclose(out["mean"], out[name], rtol=1e-12, atol=1e-10)
    lo, hi = fc.interval(0.95)
    half = (hi["upper"] - lo["lower"]).to_numpy() / 2
    ref_half = (ref[f"{name}-hi-95"] - ref[f"{name}-lo-95"]).to_numpy() / 2
    if sigma_ratio is None:
        T = panel_df.groupby("unique_id").size().to_numpy()
        sigma_ratio = np.repeat(np.sqrt((T - 1) / (T - 2)), h)
    np.testing.assert_allclose(half, ref_half * sigma_ratio, rtol=1e-9)


@pytest.mark.parametrize("model", [af.Naive(), af.SeasonalNaive(7), af.Naive2(7), af.Mean(), af.Drift()],
                         ids=lambda m: type(m).__name__)
def test_sampled_paths_reproduce_analytic_intervals(panel_df, model):
    fc = model.fit(panel_df).predict(15, num_samples=20_000, seed=1)
    lo, hi = fc.interval_values(0.9)
    sampled = np.quantile(fc.samples, [0.05, 0.95], axis=1)
    sd = (hi - lo) / (2 * 1.6449)
    # Monte-Carlo s.e. of a 5% quantile of 20k draws is about 0.015 sd; allow 5 s.e.
    assert np.all(np.abs(sampled[0] - lo) < 0.08 * sd)
    assert np.all(np.abs(sampled[1] - hi) < 0.08 * sd)


@pytest.mark.parametrize("model", [af.Naive(), af.SeasonalNaive(7), af.Naive2(7), af.Mean(), af.Drift()],
                         ids=lambda m: type(m).__name__)
def test_contract(panel_df, model):
    check_forecaster(model, panel_df, h=9)


def test_m4_hourly_published_figures():
    from arforecast.datasets import load_m4_hourly
    train, test = load_m4_hourly()
    insample = af.to_panel(train)
    snaive = score(af.SeasonalNaive(24).fit(train).predict(48), test, insample, season_length=24)
    naive2 = score(af.Naive2(24).fit(train).predict(48), test, insample, season_length=24)
    assert round(snaive["sMAPE"], 3) == 13.912 and round(snaive["MASE"], 3) == 1.193
    assert round(naive2["sMAPE"], 3) == 18.383 and round(naive2["MASE"], 3) == 2.395


def test_naive2_adjusts_only_seasonal_series():
    t = np.arange(120)
    flat = pd.Series(100 + np.random.default_rng(0).normal(size=120))
    seasonal = pd.Series(100 + 20 * np.sin(2 * np.pi * t / 12))
    assert np.allclose(af.Naive2(12).fit(flat).predict(5).mean["mean"], flat.iloc[-1])
    fc = af.Naive2(12).fit(seasonal).predict(12).mean["mean"].to_numpy()
    assert np.ptp(fc) > 20  # re-seasonalized


def test_bad_season_length():
    with pytest.raises(ValueError, match="season_length must be a positive integer"):
        af.SeasonalNaive(0).fit(pd.Series(np.arange(10.0)))
