"""The automatic, integrated AR (``AR()``): differencing and seasonal adjustment integrated back
exactly (against statsmodels AutoReg on the transformed series), KPSS against statsmodels, the
chosen ``d`` on simulated panels whose truth is known, and defaults that fit every frequency."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from scipy.signal import lfilter
from statsmodels.tsa.ar_model import AutoReg, ar_select_order
from statsmodels.tsa.seasonal import seasonal_decompose
from statsmodels.tsa.stattools import kpss

import arforecast as af
from arforecast.datasets import simulate_ar
from arforecast.exceptions import DataError
from arforecast.models import ar_auto
from arforecast.models.differencing import level_polynomial
from arforecast.testing import check_forecaster

H = 10


def _close(ours, ref, rtol=1e-8):
    ours, ref = np.asarray(ours, dtype=float), np.asarray(ref, dtype=float)
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=1e-10 * np.max(np.abs(ref), initial=0.0))


def _frame(series, freq="MS", start="2001-01-01"):
    return pd.concat([pd.DataFrame({"unique_id": f"s{i}", "ds": pd.date_range(start, periods=len(y), freq=freq),
                                    "y": y}) for i, y in enumerate(series)], ignore_index=True)


@pytest.fixture(scope="module")
def walks():
    rng = np.random.default_rng(3)
    # random walks with drift whose increments are an AR(2): ARIMA(2, 1, 0)
    return [100 + np.cumsum(0.3 + lfilter([1.0], [1.0, -0.5, 0.2], rng.normal(size=n))) for n in (150, 97, 230)]


# --------------------------------------------------------------------------- exact integration
@pytest.mark.parametrize("trend", ["n", "c", "ct"])
def test_first_differences_equal_autoreg_on_diff(walks, trend):
    model = af.AR(p=2, d=1, trend=trend).fit(_frame(walks))
    fc = model.predict(H)
    lo, hi = fc.interval_values(0.9)
    for i, y in enumerate(walks):
        res = AutoReg(np.diff(y), lags=2, trend=trend).fit()
        _close(model.coefficients().iloc[i].drop("sigma2").to_numpy(), res.params)
        _close(model.sigma2_[i], res.sigma2)
        pred = res.get_prediction(start=len(y) - 1, end=len(y) + H - 2)
        _close(fc.point[i], y[-1] + np.cumsum(pred.predicted_mean))
        # the integrated error variance: psi of the level polynomial = cumulated psi of the differences
        psi = np.r_[1.0, np.zeros(H - 1)]
        for j in range(1, H):
            psi[j] = res.params[-2] * psi[j - 1] + (res.params[-1] * psi[j - 2] if j >= 2 else 0.0)
        sd = np.sqrt(res.sigma2 * np.cumsum(np.cumsum(psi) ** 2))
        _close((hi[i] - lo[i]) / (2 * 1.6448536269514722), sd, 1e-7)
    assert model.d_.tolist() == [1, 1, 1]


def test_seasonal_differences_equal_autoreg(walks):
    m = 12
    model = af.AR(p=1, D=1, season_length=m).fit(_frame(walks))
    fc = model.predict(H)
    for i, y in enumerate(walks):
        w = y[m:] - y[:-m]
        res = AutoReg(w, lags=1, trend="c").fit()
        _close(model.coefficients().iloc[i].drop("sigma2").to_numpy(), res.params)
        fw = res.predict(start=len(w), end=len(w) + H - 1)
        ext = list(y)
        for v in fw:
            ext.append(ext[-m] + v)
        _close(fc.point[i], ext[len(y):])


def test_level_polynomial_is_the_product():
    coef, lags = level_polynomial(np.array([[0.4, 0.0, 0.3]]), np.array([1, 2, 4]), np.array([1]), np.array([1]), 4)
    poly = np.convolve(np.convolve([1, -0.4, 0, 0, -0.3], [1, -1]), [1, 0, 0, 0, -1])
    _close(coef[0], -poly[1:])
    assert lags.tolist() == list(range(1, len(poly)))


def test_sample_paths_integrate_like_the_intervals(walks):
    model = af.AR(p=2, d=1).fit(_frame(walks[:1]))
    fc = model.predict(H, num_samples=20_000, seed=1)
    lo, hi = fc.interval_values(0.95)
    q = np.quantile(fc.samples[0], [0.025, 0.975], axis=0)
    sd = (hi[0] - lo[0]) / (2 * 1.959964)
    assert np.all(np.abs(q[0] - lo[0]) < 5 * 0.019 * sd) and np.all(np.abs(q[1] - hi[0]) < 5 * 0.019 * sd)


def _seasonal_series(n, seed, m=12):
    rng = np.random.default_rng(seed)
    level = 50 + np.cumsum(0.2 + rng.normal(size=n))
    return level * (1 + 0.3 * np.sin(2 * np.pi * np.arange(n) / m)) + rng.normal(size=n)


def test_seasonal_adjustment_equals_autoreg_on_the_adjusted_series():
    ys = [_seasonal_series(120, 0), _seasonal_series(90, 1)]
    model = af.AR(p=2, d=1, deseasonalize=True).fit(_frame(ys, start="2001-05-01"))
    assert model.adjusted_.all() and model.season_length_ == 12
    fc = model.predict(H)
    for i, y in enumerate(ys):
        si = np.asarray(seasonal_decompose(y, model="multiplicative", period=12).seasonal)
        adj = y / si
        res = AutoReg(np.diff(adj), lags=2, trend="c").fit()
        _close(model.coefficients().iloc[i].drop("sigma2").to_numpy(), res.params)
        future = si[len(y) - 12:][np.arange(H) % 12]
        _close(fc.point[i], (adj[-1] + np.cumsum(res.predict(start=len(y) - 1, end=len(y) + H - 2))) * future)


def test_seasonal_phases_come_from_the_calendar():
    """Re-conditioning on a window that starts at another phase gives the same forecast."""
    y = _seasonal_series(150, 2)
    series = pd.Series(y, index=pd.date_range("2001-03-01", periods=150, freq="MS"))
    model = af.AR().fit(series)
    assert model.adjusted_[0]
    full = model.predict(H)
    for cut in (1, 5, 30):
        _close(model.predict(H, y=series.iloc[cut:]).point, full.point, 1e-12)
    # a history shorter than what the series' own model reads is refused, not zero-padded
    reads = int(model.context_lengths_[0])
    assert reads > 3
    with pytest.raises(DataError, match="shorter"):
        model.predict(H, y=series.iloc[-(reads - 1):])


def test_bootstrap_with_seasonal_adjustment_scales_the_residuals():
    y = _seasonal_series(150, 4)
    model = af.AR(bootstrap=True).fit(pd.Series(y, index=pd.date_range("2001-01-01", periods=150, freq="MS")))
    fc = model.predict(12, num_samples=500, seed=0)
    spread = fc.samples[0, :, 0].std()
    factor = model.seasonal_index_[0, (model.panel_.next_positions()[0]) % 12]
    assert abs(spread / (np.sqrt(model.sigma2_[0]) * factor) - 1) < 0.2


# --------------------------------------------------------------------------- the automatic choices
def test_kpss_statistic_equals_statsmodels():
    rng = np.random.default_rng(0)
    for y in (rng.normal(size=80), np.cumsum(rng.normal(size=200)), np.sin(np.arange(50.0))):
        lags = ar_auto.kpss_lags(len(y))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = kpss(y, regression="c", nlags=lags)[0]
        _close(ar_auto.kpss_statistic(y, lags), ref, 1e-10)


@pytest.mark.parametrize("length", [40, 120])
def test_chosen_d_on_simulated_panels(length):
    walks = simulate_ar([1.0], n_series=100, length=length, intercept=0.3, seed=1)
    stationary = simulate_ar([0.6, -0.3], n_series=100, length=length, intercept=1.0, seed=2)
    d_walk = af.AR().fit(walks).d_
    d_stat = af.AR().fit(stationary).d_
    assert np.mean(d_walk == 1) >= 0.8
    assert np.mean(d_stat == 0) >= 0.85


def test_aicc_selection_matches_statsmodels_fits():
    rng = np.random.default_rng(5)
    y = lfilter([1.0], [1.0, -0.5, 0.3], rng.normal(size=120))
    model = af.AR(p="aicc", max_p=6).fit(pd.Series(y))
    ref = []
    for k in range(7):
        res = AutoReg(y, lags=k, trend="c", hold_back=6).fit()
        n_params = len(res.params) + 1
        ref.append(res.aic + 2 * n_params * (n_params + 1) / (res.nobs - n_params - 1))
    _close(model.criteria_[0], ref, 1e-8)
    assert model.order_[0] == int(np.argmin(ref))


def test_criterion_orders_are_capped_by_each_series_length():
    """A weekly panel with short series: every series gets ar_select_order's choice up to its own cap."""
    rng = np.random.default_rng(1)
    ys = [lfilter([1.0], [1.0, -0.6], rng.normal(size=n)) for n in (300, 60, 20)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # and no thin-fit warning
        model = af.AR(p="aic", max_p=52).fit(_frame(ys, freq="W"))
    assert model.max_order_.tolist() == [52, 19, 6]         # two equations per coefficient
    for i, y in enumerate(ys):
        sel = ar_select_order(y, int(model.max_order_[i]), ic="aic", trend="c")
        assert model.order_[i] == (0 if sel.ar_lags is None else max(sel.ar_lags))


@pytest.mark.parametrize("freq", ["30min", "h", "D", "B", "W", "MS", "QS", "YS", None])
def test_defaults_fit_every_frequency_and_length(freq):
    rng = np.random.default_rng(0)
    lengths = [3, 8, 14, 40, 120] + ([700] if freq in ("30min", "h", "D", "B") else [])
    parts = []
    for i, n in enumerate(lengths):
        y = 50 + np.cumsum(rng.normal(size=n)) + 3 * np.sin(np.arange(n))
        ds = pd.date_range("2001-01-01", periods=n, freq=freq) if freq else np.arange(n)
        parts.append(pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": y}))
    df = pd.concat(parts, ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # no collinearity warning on short series
        model = af.AR().fit(df, freq=freq)
    assert model.season_length_ == (af.data.frequency.season_length(freq) if freq else 1)
    fc = model.predict(7, num_samples=20, seed=0)
    lo, hi = fc.interval_values(0.9)
    assert np.isfinite(fc.point).all() and np.isfinite(lo).all() and np.all(hi >= lo)
    assert (model.max_order_ <= np.maximum(1, (np.array(lengths) - 2) // ar_auto.LENGTH_PER_LAG)).all()
    summary = model.summary()
    assert list(summary.index) == [f"s{i}" for i in range(len(lengths))] and set(summary["d"]) <= {0, 1}


def test_too_short_series_get_the_fallback_and_explicit_models_refuse_them():
    model = af.AR().fit(_frame([np.array([1.0, 2.0]), np.arange(30.0) + np.sin(np.arange(30.0))], freq="YS"))
    assert model.summary().loc["s0", "fallback"].startswith("2 observed values")
    with pytest.raises(DataError, match="s0"):
        af.AR(p=1).fit(_frame([np.array([1.0, 2.0]), np.arange(30.0)], freq="YS"))


def test_default_contract(walks):
    check_forecaster(af.AR(), _frame(walks[:2]), h=5)


def test_explicit_arguments_keep_the_plain_ar(walks):
    model = af.AR(p=2).fit(_frame(walks[:1]))
    assert model.d_.tolist() == [0] and not model.adjusted_.any()
    res = AutoReg(walks[0], lags=2, trend="c").fit()
    _close(model.coefficients().iloc[0].drop("sigma2").to_numpy(), res.params)


@settings(max_examples=10, deadline=None)
@given(p=st.integers(0, 3), d=st.integers(0, 2), D=st.integers(0, 1), m=st.sampled_from([2, 4, 7]),
       trend=st.sampled_from(["n", "c", "t"]), seed=st.integers(0, 2**31 - 1))
def test_any_integration_equals_autoreg_on_the_differenced_series(p, d, D, m, trend, seed):
    """Forecasts of AR(p, d, D) = AutoReg on (1-B)^d (1-B^m)^D y, its forecasts integrated back."""
    rng = np.random.default_rng(seed)
    y = 20 + np.cumsum(np.cumsum(rng.normal(size=90)) * 0.1 + rng.normal(size=90))
    model = af.AR(p=p, d=d, D=D, season_length=m, trend=trend).fit(pd.Series(y))
    w = y.copy()
    for _ in range(D):
        w = w[m:] - w[:-m]
    w = np.diff(w, n=d)
    res = AutoReg(w, lags=p, trend=trend).fit()
    _close(model.coefficients().iloc[0].drop("sigma2").to_numpy(), res.params, 1e-7)
    # integrate: rebuild the intermediate series and extend each by the forecasts of the next
    levels = [y]
    for _ in range(D):
        levels.append(levels[-1][m:] - levels[-1][:-m])
    for _ in range(d):
        levels.append(np.diff(levels[-1]))
    path = list(res.predict(start=len(w), end=len(w) + H - 1))
    for k in range(d):                              # undo the lag-1 differences, innermost first
        base = levels[-2 - k]
        path = list(np.cumsum(path) + base[-1])
    for k in range(D):
        base = list(levels[D - 1 - k])
        for v in path:
            base.append(base[-m] + v)
        path = base[len(levels[D - 1 - k]):]
    _close(model.predict(H).point[0], path, 1e-6)


@pytest.mark.parametrize("d, D", [(1, 0), (0, 1), (1, 1)])
def test_seasonal_lags_with_differencing_equal_autoreg(walks, d, D):
    """AR(p, d, D, seasonal_lags) = AutoReg(lags=[1..p, seasonal lags]) on the differenced series,
    its forecasts integrated back."""
    m, lags = 4, (4, 8)
    model = af.AR(p=2, d=d, D=D, season_length=m, seasonal_lags=lags).fit(_frame(walks[:2], freq="QS"))
    fc = model.predict(H)
    for i, y in enumerate(walks[:2]):
        w = y.copy()
        for _ in range(D):
            w = w[m:] - w[:-m]
        w = np.diff(w, n=d)
        res = AutoReg(w, lags=[1, 2, *lags], trend="c").fit()
        _close(model.coefficients().iloc[i].drop("sigma2").to_numpy(), res.params)
        _close(model.sigma2_[i], res.sigma2)
        path = list(res.predict(start=len(w), end=len(w) + H - 1))
        if d:
            base = y if not D else y[m:] - y[:-m]
            path = list(np.cumsum(path) + base[-1])
        if D:
            ext = list(y)
            for v in path:
                ext.append(ext[-m] + v)
            path = ext[len(y):]
        _close(fc.point[i], path, 1e-7)
