"""The automatic AR's holdout calibration (ar_calibration) and its fallback for series of 1-2 values."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

import arforecast as af
from arforecast.distributions import Normal
from arforecast.exceptions import DataError
from arforecast.models import ar_calibration as C
from arforecast.models.transforms import BackTransformed


def _panel(n_series: int, length: int, seed: int = 0) -> af.Panel:
    rng = np.random.default_rng(seed)
    return af.Panel.from_arrays([100 + np.cumsum(rng.normal(size=length)) for _ in range(n_series)],
                                starts=[0] * n_series, freq=None)


def test_normal_scores_match_scipy():
    u = np.array([0.5, 0.9, 0.975, 0.025, 0.999])
    expected = stats.norm.ppf(1 - np.minimum(u, 1 - u))
    assert np.allclose(C.normal_scores(u), expected, atol=1e-12)


@pytest.mark.parametrize("true_sd", [2.0, 0.5])
def test_holdout_factor_recovers_a_known_scale(true_sd):
    """Errors N(0, true_sd^2) judged by a model that claims N(0, 1): the Normal scores are the
    errors themselves, so each series' mean square estimates true_sd^2 (closed form); factors
    below 1 are floored."""
    panel = _panel(300, 60)
    rng = np.random.default_rng(1)

    def forecast(history, h, actual):
        return stats.norm.cdf(rng.normal(scale=true_sd, size=actual.shape))     # PIT under N(0, 1)

    scores = C.holdout_scores(forecast, panel, H=20, min_train=10)
    assert all(len(g) == 20 * C.WINDOWS for g in scores)
    f = C.series_factors(scores)
    # pooled: the 95% quantile of |N(0, s^2)| over that of |N(0, 1)| is s
    assert C.pooled_factor(scores) == pytest.approx(max(true_sd, 1.0), rel=0.03)
    if true_sd > 1:
        assert np.mean(f ** 2) == pytest.approx(true_sd ** 2, rel=0.03)
    else:
        assert np.all(f == 1.0)


def test_series_too_short_for_a_window_keep_the_analytic_scale():
    panel = af.Panel.from_arrays([np.arange(30.0), np.arange(12.0)], starts=[0, 0], freq=None)
    scores = C.holdout_scores(lambda history, h, actual: np.full(actual.shape, 0.9999), panel, H=4, min_train=10)
    f = C.series_factors(scores)
    assert [len(g) for g in scores] == [8, 0] and f[1] == 1.0 and f[0] > 3
    assert C.pooled_factor(scores) == 1.0                 # 8 scores are too few to pool


def test_holdout_windows_never_read_past_their_cut():
    panel = _panel(5, 40)
    seen = []

    def forecast(history, h, actual):
        for i in range(history.n_series):
            full = panel.series(i)
            n = history.lengths[i]
            assert np.array_equal(history.series(i), full[:n]) and np.array_equal(actual[i], full[n:n + h])
        seen.append(int(history.lengths[0]))
        return np.full(actual.shape, 0.5)

    C.holdout_scores(forecast, panel, H=6, min_train=10)
    assert seen == [34, 28]


def test_calibration_horizon_rule():
    assert C.calibration_horizon(24, np.array([700] * 3)) == 48           # two seasons
    assert C.calibration_horizon(12, np.array([60, 80, 100])) == 20         # a quarter of the median length
    assert C.calibration_horizon(1, np.array([14, 20, 30])) == 5
    assert C.calibration_horizon(1, np.array([2, 3])) == 1


def test_backtransformed_cdf_inverts_icdf():
    base = Normal(torch.tensor([[0.5, 2.0], [1.0, 0.0]], dtype=torch.float64),
                  torch.tensor([[0.3, 0.2], [0.5, 1.0]], dtype=torch.float64))
    dist = BackTransformed(base, np.array([0.0, np.nan]), base.loc)
    u = torch.tensor([[0.1, 0.7], [0.4, 0.95]], dtype=torch.float64)
    assert torch.allclose(dist.cdf(dist.icdf(u)), u, atol=1e-10)
    assert float(dist.cdf(torch.tensor([[-1.0, 0.0], [0.0, 0.0]], dtype=torch.float64))[0, 0]) == 0.0


def _monthly(n_series: int = 30, length: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2001-01-01", periods=length, freq="MS")
    return pd.concat([pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": 100 + np.cumsum(0.3 + rng.normal(size=length))})
                      for i in range(n_series)])


def test_calibration_widens_the_combination_by_its_factor():
    df = _monthly()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        on = af.AR().fit(df)
        off = af.AR(calibrate=False).fit(df)
    assert np.all(on.interval_factor_ >= 1.0) and on.calibration_h_ == 15 and np.all(on.calibration_errors_ == 30)
    assert not hasattr(off, "interval_factor_")
    a, b = on.predict(6), off.predict(6)
    np.testing.assert_allclose(a.point, b.point, rtol=1e-12)
    np.testing.assert_allclose(a.marginals.scale.numpy(), on.interval_factor_[:, None] * b.marginals.scale.numpy(),
                               rtol=1e-12)
    pooled = af.AR(calibrate="pooled").fit(df)
    assert np.all(pooled.interval_factor_ == pooled.interval_factor_[0]) and pooled.interval_factor_[0] >= 1.0
    with pytest.raises(ValueError, match="calibrate"):
        af.AR(calibrate="sometimes").fit(df)
    # a series' intervals depend on its own values only: fitted alone, it gets the same forecast
    alone = af.AR().fit(df[df["unique_id"] == "s3"]).predict(6)
    np.testing.assert_allclose(alone.marginals.scale.numpy()[0], a.marginals.scale.numpy()[3], rtol=1e-9)


def test_series_of_one_or_two_values_get_a_naive_forecast():
    df = _monthly(n_series=4, length=40)
    ds = pd.date_range("2001-01-01", periods=2, freq="MS")
    df = pd.concat([df, pd.DataFrame({"unique_id": "two", "ds": ds, "y": [5.0, 7.0]}),
                    pd.DataFrame({"unique_id": "one", "ds": ds[:1], "y": [3.0]}),
                    pd.DataFrame({"unique_id": "flat", "ds": pd.date_range("2001-01-01", periods=40, freq="MS"),
                                  "y": 4.0})])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model = af.AR().fit(df)
    summary = model.summary()
    assert summary.loc["two", "fallback"].startswith("2 observed values") and summary.loc["s0", "fallback"] == ""
    assert summary.loc["one", "fallback"].startswith("1 observed value")
    assert summary.loc["flat", "fallback"] == "constant"
    fc = model.predict(3, num_samples=20, seed=0)
    two, one = list(model.ids_).index("two"), list(model.ids_).index("one")
    np.testing.assert_allclose(fc.point[two], 7.0)
    np.testing.assert_allclose(fc.point[one], 3.0)
    # two values: a random walk with sigma = |7 - 5|; the d = 1 members with a constant add its error
    # (sigma j / sqrt(1 equation)) weighted by their share; Student-t with one degree of freedom
    sigma, j = 2.0, np.arange(1, 4)
    with_constant = sum(w for w, m in zip(model.member_weights_[:, two], [model] + model.members_) if "c" in m.trend)
    sd = np.sqrt(sigma ** 2 * j + (with_constant * sigma * j) ** 2) * model.interval_factor_[two]
    assert model.interval_factor_[two] == 1.0 and model.calibration_errors_[two] == 0
    lo, hi = fc.interval_values(0.95)
    np.testing.assert_allclose(hi[two] - 7.0, stats.t.ppf(0.975, 1) * sd, rtol=1e-6)
    assert np.all(np.isnan(lo[one])) and np.all(np.isnan(fc.samples[one]))
    assert np.all(np.isfinite(fc.samples[two]))
    np.testing.assert_allclose(fc.point[list(model.ids_).index("flat")], 4.0)
    # a new history re-conditions the fallback too
    newer = pd.DataFrame({"unique_id": ["two"] * 3, "ds": pd.date_range("2001-01-01", periods=3, freq="MS"),
                          "y": [5.0, 7.0, 6.0]})
    np.testing.assert_allclose(model.predict(2, y=newer).point, 6.0)


def test_nothing_to_fit_is_a_clear_error():
    ds = pd.date_range("2001-01-01", periods=2, freq="MS")
    df = pd.DataFrame({"unique_id": ["a", "a", "b"], "ds": [ds[0], ds[1], ds[0]], "y": [1.0, 2.0, 3.0]})
    with pytest.raises(DataError, match="fewer than 3"):
        af.AR().fit(df)
