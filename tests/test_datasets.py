"""Loaders and simulators of arforecast.datasets: M3 as its README describes it, and simulated
panels whose known process is recovered from the data they produce."""
import numpy as np
import pandas as pd
import pytest

import arforecast as af
from arforecast.datasets import (DAILY_SHAPE, M3_GROUPS, M3_HORIZONS, M3_SEASONS, WEEKLY_SHAPE, load_m3,
                                 simulate_daily_panel, simulate_hourly_panel)
from conftest import _have

requires_m3 = pytest.mark.skipif(not _have("m3/yearly_train.csv"),
                                 reason="M3 not found (../shared/datasets/m3 or $ARFORECAST_DATA)")

# from ../shared/datasets/m3/README.md: series, training lengths
M3_README = {"yearly": (645, 14, 41), "quarterly": (756, 16, 64), "monthly": (1428, 48, 126), "other": (174, 63, 96)}
M3_FREQ = {"yearly": "YS", "quarterly": "QS", "monthly": "MS"}


def test_m3_constants_follow_the_competition():
    assert M3_HORIZONS == {"yearly": 6, "quarterly": 8, "monthly": 18, "other": 8}
    assert M3_SEASONS == {"yearly": 1, "quarterly": 4, "monthly": 12, "other": 1}


def test_load_m3_rejects_an_unknown_group():
    with pytest.raises(ValueError, match="group must be one of"):
        load_m3("weekly")


@requires_m3
@pytest.mark.parametrize("group", M3_GROUPS)
def test_load_m3_matches_the_readme(group):
    train, test = load_m3(group)
    n, shortest, longest = M3_README[group]
    assert list(train.columns) == ["unique_id", "ds", "y"] == list(test.columns)
    lengths = train.groupby("unique_id").size()
    assert len(lengths) == n and lengths.min() == shortest and lengths.max() == longest
    assert (test.groupby("unique_id").size() == M3_HORIZONS[group]).all()
    if group == "other":
        assert pd.api.types.is_integer_dtype(train["ds"]) and pd.api.types.is_integer_dtype(test["ds"])
        assert (train.groupby("unique_id")["ds"].first() == 0).all()
    else:
        assert pd.api.types.is_datetime64_any_dtype(train["ds"]) and pd.api.types.is_datetime64_any_dtype(test["ds"])
    # each series' test part continues its training part on one regular grid
    both = pd.concat([train, test]).groupby("unique_id", sort=False)["ds"]
    for uid, ds in list(both)[::37]:
        expected = (pd.RangeIndex(0, len(ds)) if group == "other"
                    else pd.date_range(ds.iloc[0], periods=len(ds), freq=M3_FREQ[group]))
        assert list(ds) == list(expected), uid


@requires_m3
def test_load_m3_subset_keeps_the_first_series_of_both_parts():
    full_train, _ = load_m3("quarterly")
    train, test = load_m3("quarterly", n_series=3)
    first = list(pd.unique(full_train["unique_id"])[:3])
    assert list(pd.unique(train["unique_id"])) == first == list(pd.unique(test["unique_id"]))
    assert len(test) == 3 * M3_HORIZONS["quarterly"]


@pytest.mark.parametrize("simulate, freq, h", [(simulate_hourly_panel, "h", 48), (simulate_daily_panel, "D", 28)])
def test_simulated_panels_have_their_shape_and_own_starts(simulate, freq, h):
    train, test = simulate(n_series=20)
    assert af.to_panel(train).n_series == 20
    assert (train.groupby("unique_id").size() == len(train) // 20).all()
    assert (test.groupby("unique_id").size() == h).all()
    assert pd.api.types.is_datetime64_any_dtype(train["ds"])
    assert train.groupby("unique_id")["ds"].first().nunique() > 15      # not one shared start
    for uid, ds in pd.concat([train, test]).groupby("unique_id")["ds"]:
        assert list(ds) == list(pd.date_range(ds.iloc[0], periods=len(ds), freq=freq)), uid
    again, _ = simulate(n_series=20)
    pd.testing.assert_frame_equal(train, again)
    other, _ = simulate(n_series=20, seed=1)
    assert not np.allclose(other["y"].to_numpy()[:100], train["y"].to_numpy()[:100])


@pytest.mark.parametrize("simulate, phase, shape, phi", [
    (simulate_hourly_panel, lambda ds: ds.dt.hour, DAILY_SHAPE, [0.5, 0.2]),
    (simulate_daily_panel, lambda ds: ds.dt.dayofweek, WEEKLY_SHAPE, [0.6]),
])
def test_simulated_process_is_recovered(simulate, phase, shape, phi):
    """On one long series: regress on the calendar shape, then the residual's AR fit (statsmodels)
    gives the documented coefficients and innovation scale."""
    from statsmodels.tsa.ar_model import AutoReg
    train, _ = simulate(n_series=1, train_length=40000, h=1, seed=3)
    y = train["y"].to_numpy()
    x = shape[phase(train["ds"]).to_numpy()]
    design = np.column_stack([np.ones_like(x), x])
    (level, amp), *_ = np.linalg.lstsq(design, y, rcond=None)
    assert 5 <= level <= 15 and 1 <= amp <= 3
    res = AutoReg(y - design @ [level, amp], lags=len(phi), trend="n").fit()
    np.testing.assert_allclose(res.params, phi, atol=0.02)
    assert np.sqrt(res.sigma2) == pytest.approx(0.3, rel=0.03)


@requires_m3
@pytest.mark.parametrize("group, published", [("yearly", 17.88), ("other", 6.30)])
def test_m3_naive2_reproduces_the_competitions_smape(group, published):
    """Makridakis & Hibon (2000), Naive2's average sMAPE over all horizons; with season 1 Naive2
    is the random walk, so the loader, the horizon and the metric are checked together."""
    from arforecast.evaluation.metrics import smape
    from arforecast.evaluation.scoring import actuals_matrix
    train, test = load_m3(group)
    fc = af.Naive2(season_length=M3_SEASONS[group]).fit(train).predict(M3_HORIZONS[group])
    assert np.mean(smape(actuals_matrix(fc, test), fc.point)) == pytest.approx(published, abs=0.005)
