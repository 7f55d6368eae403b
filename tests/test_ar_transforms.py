"""Per-series transforms of AR: Box-Cox round trips, Guerrero's lambda against coreforecast's
implementation of the same method, the transformed fit against statsmodels AutoReg on the
transformed series, exact back-transformed paths and quantiles, the bias-adjusted mean, and the
reasons recorded for series that cannot take a transform."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from scipy.stats import norm
from statsmodels.tsa.ar_model import AutoReg

import arforecast as af
from arforecast.exceptions import DataError
from arforecast.models import transforms as T

H = 6


def _frame(series, freq="MS"):
    return pd.concat([pd.DataFrame({"unique_id": f"s{i}", "ds": pd.date_range("2001-01-01", periods=len(y), freq=freq),
                                    "y": y}) for i, y in enumerate(series)], ignore_index=True)


def _positive(n, seed, season=12):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return np.exp(3 + 0.01 * t + np.cumsum(rng.normal(0, 0.05, n))) * (1 + 0.2 * np.sin(2 * np.pi * t / season))


@settings(max_examples=30, deadline=None)
@given(lam=st.floats(-0.9, 2.0), seed=st.integers(0, 2**31 - 1))
def test_boxcox_round_trips(lam, seed):
    y = np.random.default_rng(seed).uniform(0.1, 100.0, size=20)
    np.testing.assert_allclose(T.inv_boxcox(T.boxcox(y, lam), lam), y, rtol=1e-9)


def test_boxcox_is_scipys():
    from scipy.stats import boxcox
    y = np.linspace(0.5, 40.0, 30)
    for lam in (-0.5, 0.0, 0.3, 1.0, 1.7):
        np.testing.assert_allclose(T.boxcox(y, lam), boxcox(y, lam), rtol=1e-12)


@pytest.mark.parametrize("season", [4, 12])
@pytest.mark.parametrize("seed", range(4))
def test_guerrero_lambda_matches_coreforecast(season, seed):
    scalers = pytest.importorskip("coreforecast.scalers")
    y = _positive(48 + 17 * seed, seed, season) + seed
    ours = T.guerrero_lambda(y, season)
    ref = scalers.boxcox_lambda(y, "guerrero", season_length=season)
    # both minimise the same criterion on [-0.9, 2]; the searches stop within 1e-4 of each other
    assert abs(ours - ref) < 1e-4
    assert T.guerrero_cv(y, ours, season) <= T.guerrero_cv(y, ref, season) + 1e-9


def test_log_fit_equals_autoreg_on_the_log_series():
    ys = [_positive(120, 0), _positive(97, 1)]
    model = af.AR(p=2, d=1, transform="log").fit(_frame(ys))
    fc = model.predict(H)
    lo, hi = fc.interval_values(0.9)
    for i, y in enumerate(ys):
        z = np.log(y)
        res = AutoReg(np.diff(z), lags=2, trend="c").fit()
        np.testing.assert_allclose(model.coefficients().iloc[i].drop("sigma2").to_numpy(), res.params, rtol=1e-8)
        pred = res.get_prediction(start=len(z) - 1, end=len(z) + H - 2)
        mu = z[-1] + np.cumsum(pred.predicted_mean)
        np.testing.assert_allclose(fc.point[i], np.exp(mu), rtol=1e-8)      # the median
        # quantiles are the back-transformed quantiles of the log-scale Normal
        sd = (np.log(hi[i]) - np.log(lo[i])) / (2 * norm.ppf(0.95))
        np.testing.assert_allclose(np.log(hi[i]) + np.log(lo[i]), 2 * mu, rtol=1e-8)
        assert np.all(np.diff(sd) > 0)
    assert model.lambda_.tolist() == [0.0, 0.0]


def test_bias_adjusted_mean_of_the_log_is_exact():
    ys = [_positive(120, 2)]
    median = af.AR(p=1, transform="log").fit(_frame(ys)).predict(H)
    mean = af.AR(p=1, transform="log", bias_adjust=True).fit(_frame(ys)).predict(H)
    lo, hi = median.interval_values(0.9)
    sd = (np.log(hi) - np.log(lo)) / (2 * norm.ppf(0.95))
    np.testing.assert_allclose(mean.point, median.point * np.exp(sd ** 2 / 2), rtol=1e-8)
    np.testing.assert_allclose(mean.interval_values(0.9), (lo, hi))              # intervals unchanged


def test_sample_paths_back_transform_exactly():
    ys = [_positive(150, 3)]
    model = af.AR(p=2, d=1, transform="boxcox").fit(_frame(ys))
    fc = model.predict(H, num_samples=20_000, seed=0)
    assert np.all(fc.samples > 0)
    lo, hi = fc.interval_values(0.9)
    q = np.quantile(fc.samples[0], [0.05, 0.95], axis=0)
    np.testing.assert_allclose(q[0], lo[0], rtol=0.02)
    np.testing.assert_allclose(q[1], hi[0], rtol=0.02)
    # the back-transformed sample median is the point forecast (the median)
    np.testing.assert_allclose(np.median(fc.samples[0], axis=0), fc.point[0], rtol=0.01)


def test_boxcox_lambda_is_guerreros_within_the_ar_range():
    ys = [_positive(120, 4), _positive(90, 5)]
    model = af.AR(p=1, transform="boxcox").fit(_frame(ys))
    for i, y in enumerate(ys):
        assert model.lambda_[i] == pytest.approx(T.guerrero_lambda(y, 12, T.AR_LOWER, T.AR_UPPER), abs=1e-9)
        assert T.AR_LOWER <= model.lambda_[i] <= T.AR_UPPER


def test_series_that_cannot_take_a_transform_get_none_with_the_reason():
    ys = [_positive(60, 6), np.r_[0.0, _positive(59, 7)], _positive(60, 8) - 30.0, _positive(20, 9)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model = af.AR(p=1, transform="boxcox").fit(_frame(ys))
    summary = model.summary()
    assert np.isfinite(summary["lambda"].iloc[0]) and summary["transform_reason"].iloc[0] == ""
    assert np.isnan(summary["lambda"].iloc[1]) and "zero or negative" in summary["transform_reason"].iloc[1]
    assert np.isnan(summary["lambda"].iloc[2]) and "zero or negative" in summary["transform_reason"].iloc[2]
    assert np.isnan(summary["lambda"].iloc[3]) and "Guerrero" in summary["transform_reason"].iloc[3]
    # an untransformed series is the plain AR's
    plain = af.AR(p=1).fit(_frame(ys[1:2])).predict(H).point
    np.testing.assert_allclose(model.predict(H).point[1], plain[0], rtol=1e-10)
    log = af.AR(p=1, transform="log").fit(_frame(ys))
    assert log.lambda_[3] == 0.0 and np.isnan(log.lambda_[1])


def test_new_history_with_a_zero_is_a_clear_error():
    ys = [_positive(60, 10)]
    model = af.AR(p=1, transform="log").fit(_frame(ys))
    bad = _frame([np.r_[ys[0][:-1], 0.0]])
    with pytest.raises(DataError, match="zero or negative"):
        model.predict(H, y=bad)


def test_unknown_transform_is_refused():
    with pytest.raises(ValueError, match="transform"):
        af.AR(p=1, transform="sqrt").fit(_frame([_positive(40, 0)]))
