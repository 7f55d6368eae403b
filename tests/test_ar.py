"""AR(p) against statsmodels AutoReg (coefficients, sigma2, criteria, forecasts, intervals, order
selection), against closed-form sampling theory (hypothesis), and its own sample paths."""

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy.signal import lfilter
from statsmodels.tsa.ar_model import AutoReg, ar_select_order
from statsmodels.tsa.arima_process import arma_acovf

import arforecast as af
from arforecast.datasets import simulate_ar
from arforecast.exceptions import DataError
from arforecast.models import ar_kernels
from arforecast.testing import check_forecaster

H = 12
TRENDS = ["n", "c", "t", "ct"]


def _frame(series: list[np.ndarray]) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"unique_id": f"s{i}", "ds": pd.date_range("2021-01-01", periods=len(y), freq="h"),
                                    "y": y}) for i, y in enumerate(series)], ignore_index=True)


def _stationary(rng, n):
    return 5.0 + lfilter([1.0], [1.0, -0.5, 0.3], rng.normal(size=n + 50))[50:]


def _nonstationary(rng, n):
    return 400.0 + 0.05 * np.arange(n) + np.cumsum(rng.normal(size=n))


@pytest.fixture(scope="module")
def series():
    rng = np.random.default_rng(7)
    # different lengths in one panel, both kinds of series
    return [_stationary(rng, 240), _nonstationary(rng, 300), _stationary(rng, 187), _nonstationary(rng, 211)]


def _close(ours, ref, rtol):
    ours, ref = np.asarray(ours), np.asarray(ref)
    # relative per entry; the tiny absolute floor only matters for coefficients that are ~0
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=1e-12 * np.max(np.abs(ref)))


# --------------------------------------------------------------------------- against statsmodels
@pytest.mark.parametrize("trend", TRENDS)
def test_fit_forecast_intervals_match_autoreg(series, trend):
    p = 3
    model = af.AR(p=p, trend=trend).fit(_frame(series))
    fc = model.predict(H)
    lo, hi = fc.interval_values(0.95)
    table = model.coefficients()
    for i, y in enumerate(series):
        res = AutoReg(y, lags=p, trend=trend).fit()
        _close(table.iloc[i].drop("sigma2").to_numpy(), res.params, 1e-8)
        _close(model.sigma2_[i], res.sigma2, 1e-8)
        _close([model.aic_[i], model.bic_[i]], [res.aic, res.bic], 1e-8)
        assert model.nobs_[i] == res.nobs
        pred = res.get_prediction(start=len(y), end=len(y) + H - 1)
        _close(fc.point[i], res.predict(start=len(y), end=len(y) + H - 1), 1e-8)
        ci = pred.conf_int(alpha=0.05)
        _close(lo[i], ci[:, 0], 1e-6)
        _close(hi[i], ci[:, 1], 1e-6)


@pytest.mark.parametrize("lags", [[1, 2, 12], [1, 2, 80]], ids=["block", "fft"])
def test_seasonal_lags_match_autoreg(series, lags):
    model = af.AR(p=2, seasonal_lags=tuple(lags[2:]), trend="c").fit(_frame(series))
    fc = model.predict(H)
    assert model.lags_.tolist() == lags
    for i, y in enumerate(series):
        res = AutoReg(y, lags=lags, trend="c").fit()
        _close(model.coefficients().iloc[i].drop("sigma2").to_numpy(), res.params, 1e-8)
        _close(model.sigma2_[i], res.sigma2, 1e-8)
        _close(fc.point[i], res.predict(start=len(y), end=len(y) + H - 1), 1e-8)


def test_order_zero_is_the_mean_model(series):
    model = af.AR(p=0, trend="c").fit(_frame(series))
    for i, y in enumerate(series):
        res = AutoReg(y, lags=0, trend="c").fit()
        _close(model.intercept_[i], res.params[0], 1e-10)
        _close(model.sigma2_[i], res.sigma2, 1e-10)


@pytest.mark.parametrize("criterion", ["aic", "bic"])
@pytest.mark.parametrize("trend", TRENDS)
def test_order_selection_matches_ar_select_order(series, criterion, trend):
    max_p = 8
    model = af.AR(p=criterion, max_p=max_p, trend=trend).fit(_frame(series))
    fc = model.predict(H)
    for i, y in enumerate(series):
        sel = ar_select_order(y, max_p, ic=criterion, trend=trend)
        chosen = 0 if sel.ar_lags is None else int(max(sel.ar_lags))
        assert model.order_[i] == chosen
        ics = sel.aic if criterion == "aic" else sel.bic
        ref_table = [float(np.squeeze(ics[tuple(range(1, k + 1)) if k else 0])) for k in range(max_p + 1)]
        _close(model.criteria_[i], ref_table, 1e-8)
        res = sel.model.fit()
        _close(model.sigma2_[i], res.sigma2, 1e-8)
        _close(fc.point[i], res.predict(start=len(y), end=len(y) + H - 1), 1e-8)


def test_new_history_applies_fitted_coefficients(series):
    """predict(y=longer history) == statsmodels' ``apply`` of the fitted parameters (trend continues)."""
    y = series[1]
    train = pd.Series(y[:200], index=pd.date_range("2021-01-01", periods=200, freq="h"))
    longer = pd.Series(y[:260], index=pd.date_range("2021-01-01", periods=260, freq="h"))
    model = af.AR(p=3, trend="ct").fit(train)
    ref = AutoReg(y[:200], lags=3, trend="ct").fit().apply(y[:260])
    expected = ref.predict(start=260, end=260 + H - 1)
    _close(model.predict(H, y=longer).point[0], expected, 1e-8)
    # a rolling window that starts later is placed by its timestamps
    _close(model.predict(H, y=longer.iloc[100:]).point[0], expected, 1e-8)


# --------------------------------------------------------------------------- sample paths
def test_sample_paths_reproduce_the_analytic_interval(series):
    model = af.AR(p=3).fit(_frame(series[:2]))
    fc = model.predict(H, num_samples=20_000, seed=3)
    lo, hi = fc.interval_values(0.95)
    sampled = np.quantile(fc.samples, [0.025, 0.975], axis=1)
    sd = (hi - lo) / (2 * 1.959964)
    # Monte-Carlo s.e. of a 2.5% quantile of 20k Normal draws: sqrt(.025 * .975 / 2e4) / phi(1.96) = 0.019 sd
    assert np.all(np.abs(sampled[0] - lo) < 5 * 0.019 * sd)
    assert np.all(np.abs(sampled[1] - hi) < 5 * 0.019 * sd)


def test_bootstrap_draws_the_series_own_residuals(series):
    model = af.AR(p=2, bootstrap=True).fit(_frame(series[:2]))
    fc = model.predict(3, num_samples=4000, seed=0)
    assert fc.marginals is None and fc.samples.shape == (2, 4000, 3)
    for i, y in enumerate(series[:2]):
        resid = AutoReg(y, lags=2, trend="c").fit().resid
        first_step = fc.samples[i, :, 0] - fc.point[i, 0]
        centred = np.sort(resid - resid.mean())
        # every first-step draw is one of the residuals, and they are drawn uniformly
        assert np.allclose(centred[np.searchsorted(centred, first_step - 1e-9)], first_step, atol=1e-8)
        q = np.quantile(first_step, [0.1, 0.5, 0.9])
        expected = np.quantile(centred, [0.1, 0.5, 0.9])
        assert np.all(np.abs(q - expected) < 0.15 * centred.std())


# --------------------------------------------------------------------------- sampling theory
@settings(max_examples=12, deadline=None)
@given(roots=st.lists(st.floats(-0.85, 0.85), min_size=1, max_size=3), seed=st.integers(0, 2**31 - 1))
def test_estimates_within_four_standard_errors_of_the_truth(roots, seed):
    phi = -np.poly(roots)[1:]                          # AR polynomial with these (real) roots
    p, n = len(phi), 5000
    df = simulate_ar(phi, n_series=1, length=n, intercept=0.5, seed=seed)
    model = af.AR(p=p, trend="c").fit(df)
    # asymptotic covariance of the lag coefficients: sigma^2 Gamma_p^{-1} / n (Gamma_p from the true model)
    acov = arma_acovf(np.r_[1, -phi], np.ones(1), nobs=p)
    gamma = acov[np.abs(np.subtract.outer(np.arange(p), np.arange(p)))]
    se = np.sqrt(np.diag(np.linalg.inv(gamma)) / n)
    assert np.all(np.abs(model.coef_[0] - phi) < 4 * se)
    assert abs(model.sigma2_[0] - 1.0) < 4 * np.sqrt(2.0 / n)


# --------------------------------------------------------------------------- contract and errors
@pytest.mark.parametrize("model", [af.AR(p=2), af.AR(p="aic", max_p=4, trend="ct"), af.AR(p=2, bootstrap=True)],
                         ids=["AR2", "aic", "bootstrap"])
def test_forecaster_contract(series, model):
    check_forecaster(model, _frame(series[:2]), h=5)


def test_constant_series_warns_and_forecasts_its_level(series):
    df = _frame([series[0], np.full(120, 7.0)])
    with pytest.warns(RuntimeWarning, match="s1"):
        model = af.AR(p=2).fit(df)
    fc = model.predict(4)
    assert np.allclose(fc.point[1], 7.0) and model.sigma2_[1] < 1e-10
    assert np.all(np.isfinite(model.coef_))


def test_kernel_solves_in_one_batch_for_mixed_orders(series):
    """Per-series orders in one solve equal separate fits (the final step of order selection)."""
    values = np.concatenate(series)
    indptr = np.r_[0, np.cumsum([len(y) for y in series])]
    orders = np.array([1, 4, 0, 2])
    fit = ar_kernels.fit_ar(values, indptr, "c", np.arange(1, 5), orders, n_lags=orders)
    for i, y in enumerate(series):
        res = AutoReg(y, lags=int(orders[i]), trend="c").fit()
        _close(np.r_[fit.intercept[i], fit.coef[i, :orders[i]]], res.params, 1e-8)
        assert np.all(fit.coef[i, orders[i]:] == 0)


@pytest.mark.parametrize("kwargs, match", [
    ({"trend": "x"}, "trend"),
    ({"p": "hqic"}, "aic"),
    ({"p": "aic"}, "max_p"),
    ({"p": -1}, "non-negative"),
    ({"seasonal_lags": (0,)}, "positive"),
])
def test_bad_parameters_raise(series, kwargs, match):
    with pytest.raises(ValueError, match=match):
        af.AR(**kwargs).fit(_frame(series[:1]))


def test_short_series_are_named(series):
    with pytest.raises(DataError, match="s1"):
        af.AR(p=30).fit(_frame([series[0], series[0][:40]]))


def test_order_selection_with_seasonal_lags(series):
    """Orders chosen with seasonal lags always in: criteria of statsmodels fits on the common sample."""
    max_p, seasonal = 5, (12,)
    model = af.AR(p="aic", max_p=max_p, seasonal_lags=seasonal, trend="c").fit(_frame(series))
    for i, y in enumerate(series):
        ref = []
        for k in range(max_p + 1):
            res = AutoReg(y, lags=list(range(1, k + 1)) + [12], trend="c", hold_back=12).fit()
            ref.append(res.aic - 2)        # ar_select_order counts the constant out of df_model
        _close(model.criteria_[i], ref, 1e-8)
        assert model.order_[i] == int(np.argmin(ref))
        res = AutoReg(y, lags=list(range(1, int(model.order_[i]) + 1)) + [12], trend="c").fit()
        _close(model.sigma2_[i], res.sigma2, 1e-8)


def test_chunked_panel_equals_one_batch(series, monkeypatch):
    values = np.concatenate(series)
    indptr = np.r_[0, np.cumsum([len(y) for y in series])]
    lags, hold = np.arange(1, 4), np.full(len(series), 3)
    whole = ar_kernels.fit_ar(values, indptr, "ct", lags, hold)
    monkeypatch.setattr(ar_kernels, "CHUNK_ELEMENTS", 400)          # one or two series per chunk
    assert len(ar_kernels.chunks(indptr[1:] - indptr[:-1] - 3, 64)) > 1
    parts = ar_kernels.fit_ar(values, indptr, "ct", lags, hold)
    np.testing.assert_allclose(parts.coef, whole.coef, rtol=1e-12)
    np.testing.assert_allclose(parts.sigma2, whole.sigma2, rtol=1e-12)


def test_bootstrap_step_distribution_is_the_residual_law(series):
    """One step's law: icdf is the type-1 quantile of the centred residuals, cdf its inverse."""
    from arforecast.rollout.protocol import Context
    y = series[0]
    model = af.AR(p=2, bootstrap=True).fit(pd.Series(y))
    state = model.start(Context.from_list([y], series=[0]))
    dist = model.distribution(state)
    resid = AutoReg(y, lags=2, trend="c").fit().resid
    r = np.sort(resid - resid.mean())
    n, loc = len(r), float(dist.mean[0])
    k = np.array([0, 7, n // 2, n - 1])
    u = torch.tensor((k + 0.5) / n, dtype=torch.float64)
    np.testing.assert_allclose(dist.icdf(u).numpy(), loc + r[k], rtol=1e-10)
    between = (r + np.r_[r[1:], r[-1] + 1.0]) / 2                 # between atoms: no rounding ties
    cdf = [float(dist.cdf(torch.tensor([loc + between[j]]))[0]) for j in k]
    np.testing.assert_allclose(cdf, (k + 1) / n)
