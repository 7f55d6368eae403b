"""Covariates: the data layer (layouts, errors), ARX against statsmodels, exact rollouts."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import arforecast as af
from arforecast.data.covariates import build_covariates
from arforecast.data.frames import to_panel
from arforecast.exceptions import DataError
from arforecast.models.arx import ARX
from arforecast.rollout.engine import rollout
from arforecast.rollout.protocol import Context


def simulated(n: int = 600, seed: int = 0, rho: float = 0.6, beta: float = 2.0):
    """``y = beta x + u`` with ``u`` an AR(1) and ``x`` an AR(1) covariate, hourly."""
    rng = np.random.default_rng(seed)
    x, u = np.zeros(n), np.zeros(n)
    e, v = rng.normal(size=n), rng.normal(size=n)
    for t in range(1, n):
        x[t] = 0.5 * x[t - 1] + v[t]
        u[t] = rho * u[t - 1] + e[t]
    idx = pd.date_range("2024-01-01", periods=n, freq="h")
    z = np.sin(np.arange(n) / 5.0) + 0.3 * rng.normal(size=n)
    X = pd.DataFrame({"x": x, "z": z}, index=idx)
    y = pd.Series(5.0 + beta * x - 0.7 * z + u, index=idx, name="y")
    return y, X


def lagged_exog(X: pd.DataFrame, terms, hold):
    cols = {f"{c}.L{m}": X[c].shift(m).to_numpy() for c, m in terms}
    E = pd.DataFrame(cols).fillna(0.0)
    assert not E.iloc[hold:].isna().any().any()
    return E.to_numpy()


# ---------------------------------------------------------------------- references
@pytest.mark.parametrize("trend", ["n", "c", "ct"])
def test_arx_equals_statsmodels_autoreg_with_exog(trend):
    from statsmodels.tsa.ar_model import AutoReg
    y, X = simulated()
    model = ARX(p=3, trend=trend, seasonal_lags=(24,), x_lags=(0, 1)).fit(y, X=X)
    terms = [("x", 0), ("x", 1), ("z", 0), ("z", 1)]
    assert model.exog_terms_ == terms
    hold = 24
    ref = AutoReg(y.to_numpy(), lags=[1, 2, 3, 24], trend=trend, exog=lagged_exog(X, terms, hold),
                  hold_back=hold).fit()
    ours = model.coefficients().iloc[0].drop("sigma2").to_numpy()
    np.testing.assert_allclose(ours, ref.params, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(model.sigma2_[0], ref.sigma2, rtol=1e-8)
    np.testing.assert_allclose(model.aic_[0], ref.aic, rtol=1e-8)


def test_arx_standard_errors_equal_ols_on_the_same_design():
    import statsmodels.api as sm
    y, X = simulated(seed=3)
    model = ARX(p=2, x_lags=(0, 2), past_lags=(1, 24)).fit(y, X=X, past_only=["z"])
    assert model.exog_terms_ == [("x", 0), ("x", 2), ("z", 1), ("z", 24)]
    hold = 24
    v = y.to_numpy()
    design = np.column_stack([np.ones(len(v)), np.roll(v, 1), np.roll(v, 2),
                              lagged_exog(X, model.exog_terms_, hold)])[hold:]
    ols = sm.OLS(v[hold:], design).fit()
    np.testing.assert_allclose(model.coefficients().iloc[0].drop("sigma2").to_numpy(), ols.params, rtol=1e-8,
                               atol=1e-10)
    np.testing.assert_allclose(model.bse_[0], ols.bse, rtol=1e-7)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_covariate_coefficient_is_within_four_standard_errors_of_the_truth(seed):
    # y = 2 x + u, u_t = 0.6 u_{t-1} + e_t  =>  y_t = 0.6 y_{t-1} + 2 x_t - 1.2 x_{t-1} + e_t
    y, X = simulated(n=800, seed=seed)
    model = ARX(p=1, x_lags=(0, 1)).fit(y, X=X[["x", "z"]])
    k = 2 + model.exog_terms_.index(("x", 0))                  # const, y.L1, then the covariate terms
    est, se = model.exog_coef_[0, model.exog_terms_.index(("x", 0))], model.bse_[0, k]
    assert abs(est - 2.0) < 4 * se
    assert se < 0.1                                             # and the test has power


def test_arx_without_covariates_is_ar():
    y, _ = simulated()
    a = ARX(p=2, seasonal_lags=(24,)).fit(y)
    b = af.AR(p=2, seasonal_lags=(24,), d=0, deseasonalize=False).fit(y)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-8)
    np.testing.assert_allclose(a.predict(30).point, b.predict(30).point, rtol=1e-8)


def test_point_forecast_is_the_recursion_with_the_future_covariates():
    y, X = simulated()
    fit_y, fit_X, fut = y.iloc[:-5], X.iloc[:-5], X.iloc[-5:]
    model = ARX(p=2, x_lags=(0, 1)).fit(fit_y, X=fit_X)
    fc = model.predict(5, X_future=fut)
    c = model.coefficients().iloc[0]
    hist, xs = list(fit_y.to_numpy()), X.to_numpy()
    n = len(fit_y)
    for s in range(5):
        t = n + s
        hist.append(c["const"] + c["y.L1"] * hist[-1] + c["y.L2"] * hist[-2]
                    + c["x.L0"] * xs[t, 0] + c["x.L1"] * xs[t - 1, 0] + c["z.L0"] * xs[t, 1] + c["z.L1"] * xs[t - 1, 1])
    np.testing.assert_allclose(fc.point[0], hist[n:], rtol=1e-10)
    assert fc.mean["ds"].tolist() == list(fut.index)


def test_sample_paths_are_exact_incremental_equals_naive():
    y, X = simulated()
    model = ARX(p=2, x_lags=(0, 3)).fit(y.iloc[:-6], X=X.iloc[:-6], past_only=["z"])
    panel = to_panel(y.iloc[:-6])
    cov = model._predict_covariates(panel, 6, None, X.iloc[-6:], None)
    width = model._width()
    ctx = Context(torch.from_numpy(panel.padded(width)), torch.tensor([width]), torch.tensor([0]),
                  torch.from_numpy(panel.next_positions()),
                  torch.from_numpy(model._covariate_block(panel, cov, width, 6)))
    fast = rollout(model, ctx, 6, decoding="sample", num_samples=50, seed=1).paths
    slow = rollout(model, ctx, 6, decoding="sample", num_samples=50, seed=1, naive=True).paths
    torch.testing.assert_close(fast, slow, rtol=1e-12, atol=1e-12)
    # the samples average to the point forecast (Gaussian innovations around the exact mean path)
    fc = model.predict(6, num_samples=4000, seed=0, X_future=X.iloc[-6:])
    assert np.all(np.abs(fc.samples.mean(axis=1) - fc.point) < 4 * np.sqrt(model.sigma2_[0] * 3 / 4000) + 1e-9)


def test_past_only_future_values_are_never_read():
    y, X = simulated()
    model = ARX(p=2).fit(y.iloc[:-4], X=X.iloc[:-4], past_only=["z"])
    fut = X.iloc[-4:].copy()
    a = model.predict(4, X_future=fut).point
    fut["z"] = 1e6
    b = model.predict(4, X_future=fut).point
    c = model.predict(4, X_future=fut[["x"]]).point          # past-only columns may be left out
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_recondition_on_newer_history_with_its_covariates():
    y, X = simulated()
    model = ARX(p=2).fit(y.iloc[:400], X=X.iloc[:400])
    full = ARX(p=2).fit(y.iloc[:400], X=X.iloc[:400])
    a = model.predict(3, y=y.iloc[:500], X=X.iloc[:500], X_future=X.iloc[500:503]).point
    b = full.predict(3, y=y.iloc[:500], X=X.iloc[:503]).point                 # X may hold the future too
    np.testing.assert_allclose(a, b)
    # lag 0 only reads the future; a lag-1 model needs the covariates of the new history's last step
    np.testing.assert_allclose(model.predict(3, y=y.iloc[:500], X_future=X.iloc[500:503]).point, a)
    lagged = ARX(p=2, x_lags=(0, 1)).fit(y.iloc[:400], X=X.iloc[:400])
    with pytest.raises(DataError, match="covariate 'x'"):
        lagged.predict(3, y=y.iloc[:500], X_future=X.iloc[500:503])


# ---------------------------------------------------------------------- layouts
def long_frames(n_series: int = 3, n: int = 300):
    ys, xs = [], []
    for k in range(n_series):
        y, X = simulated(n=n, seed=10 + k)
        ys.append(pd.DataFrame({"unique_id": f"s{k}", "ds": y.index, "y": y.to_numpy()}))
        xs.append(pd.DataFrame({"unique_id": f"s{k}", "ds": X.index, "x": X["x"].to_numpy(), "z": X["z"].to_numpy()}))
    return pd.concat(ys, ignore_index=True), pd.concat(xs, ignore_index=True)


def test_long_frames_like_statsforecast_x_df():
    y, X = long_frames()
    train_y = y.groupby("unique_id").head(290)
    train_X = X.groupby("unique_id").head(290)
    future = X.groupby("unique_id").tail(10).sample(frac=1.0, random_state=0)      # any row order
    y0, X0, f0 = train_y.copy(), train_X.copy(), future.copy()
    model = ARX(p=1).fit(train_y, X=train_X)
    fc = model.predict(10, X_future=future)
    pd.testing.assert_frame_equal(train_y, y0)
    pd.testing.assert_frame_equal(train_X, X0)
    pd.testing.assert_frame_equal(future, f0)                   # never mutated
    for k in range(3):
        uid = f"s{k}"
        one = ARX(p=1).fit(train_y[train_y.unique_id == uid].set_index("ds")["y"],
                           X=train_X[train_X.unique_id == uid].set_index("ds")[["x", "z"]])
        ref = one.predict(10, X_future=X[X.unique_id == uid].set_index("ds")[["x", "z"]].iloc[-10:]).point[0]
        np.testing.assert_allclose(fc.point[k], ref, rtol=1e-9)


def test_wide_frames_take_a_dict_of_wide_frames_and_shared_covariates_a_time_indexed_frame():
    y, X = long_frames(2)
    wide_y = y.pivot(index="ds", columns="unique_id", values="y")
    wide_x = {c: X.pivot(index="ds", columns="unique_id", values=c) for c in ("x", "z")}
    a = ARX(p=1).fit(wide_y.iloc[:-4], X={c: f.iloc[:-4] for c, f in wide_x.items()})
    b = ARX(p=1).fit(y.groupby("unique_id").head(296), X=X.groupby("unique_id").head(296))
    np.testing.assert_allclose(a.exog_coef_, b.exog_coef_, rtol=1e-10)
    fa = a.predict(4, X_future={c: f.iloc[-4:] for c, f in wide_x.items()})
    fb = b.predict(4, X_future=X.groupby("unique_id").tail(4))
    np.testing.assert_allclose(fa.point, fb.point, rtol=1e-10)
    # a time-indexed frame without ids: one covariate shared by every series
    cal = pd.DataFrame({"hour": wide_y.index.hour.to_numpy(dtype=float)}, index=wide_y.index)
    m = ARX(p=1).fit(wide_y.iloc[:-4], X=cal.iloc[:-4])
    assert m.predict(4, X_future=cal.iloc[-4:]).point.shape == (2, 4)


# ---------------------------------------------------------------------- errors
def test_clear_errors_for_missing_misaligned_nan_and_wrong_shape_covariates():
    y, X = simulated()
    model = ARX(p=1).fit(y.iloc[:-4], X=X.iloc[:-4])
    with pytest.raises(DataError, match="X_future"):
        model.predict(4)                                                      # none given
    with pytest.raises(DataError, match="'x' for series 'y' at Timestamp"):
        model.predict(4, X_future=X.iloc[-3:])                                # too short
    shifted = X.iloc[-4:].copy()
    shifted.index = shifted.index + pd.Timedelta("1h")
    with pytest.raises(DataError, match="misaligned"):
        model.predict(4, X_future=shifted)                                    # one step late
    off = X.iloc[-4:].copy()
    off.index = off.index + pd.Timedelta("30min")
    with pytest.raises(DataError, match="off y's"):
        model.predict(4, X_future=off)                                        # off the hourly grid
    nan = X.iloc[-4:].copy()
    nan.iloc[2, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        model.predict(4, X_future=nan)
    with pytest.raises(DataError, match=r"lacks covariate\(s\) \['z'\]"):
        model.predict(4, X_future=X.iloc[-4:][["x"]])                          # wrong shape
    with pytest.raises(DataError, match="not numeric"):
        model.predict(4, X_future=X.iloc[-4:].assign(z="a"))
    with pytest.raises(DataError, match="on every timestamp of y"):
        ARX(p=1).fit(y, X=X.iloc[5:])                                         # history not covered
    with pytest.raises(DataError, match="past_only"):
        ARX(p=1).fit(y, X=X, past_only=["nope"])
    with pytest.raises(DataError, match="fitted without covariates"):
        ARX(p=1).fit(y).predict(3, X_future=X.iloc[-3:])


def test_baselines_ignore_covariates_with_a_warning():
    y, X = simulated()
    with pytest.warns(UserWarning, match="does not use covariates"):
        model = af.SeasonalNaive(24).fit(y, X=X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = af.SeasonalNaive(24).fit(y).predict(5).point
    with pytest.warns(UserWarning, match="does not use covariates"):
        np.testing.assert_array_equal(model.predict(5, X_future=X.iloc[:5]).point, plain)


def test_static_covariates_are_checked_and_kept():
    y, X = long_frames(2)
    static = pd.DataFrame({"unique_id": ["s0", "s1"], "size": [1.0, 2.0]})
    panel = to_panel(y)
    cov = build_covariates(panel, X, static=static)
    assert cov.static_names == ("size",) and cov.static[:, 0].tolist() == [1.0, 2.0]
    with pytest.raises(DataError, match="no row for series"):
        build_covariates(panel, X, static=static.iloc[:1])
    with pytest.raises(DataError, match="NaN"):
        build_covariates(panel, X, static=static.assign(size=[1.0, np.nan]))


# ---------------------------------------------------------------------- NeuralAR
def neural(seed: int = 0, steps: int = 150, **extra):
    from arforecast.models.neural import grouped
    flat = dict(context_length=48, d_model=16, n_layers=3, lags=(), periods=(), ar_lags=(1, 2), window_length=8,
                batch_size=32, validation_length=24, val_every=50, seed=seed, progress=False, device="cpu")
    flat.update(extra)
    return af.NeuralAR("conv", "continuous", max_steps=steps, **grouped(flat))


def covariate_panel(n_series: int = 4, n: int = 400, seed: int = 0):
    """y = 3 x + small AR noise with x white noise known in advance: only x can predict y."""
    rng = np.random.default_rng(seed)
    ys, xs = [], []
    for k in range(n_series):
        x = rng.normal(size=n)
        y = 10 + 3 * x + 0.3 * rng.normal(size=n)
        t = pd.date_range("2024", periods=n, freq="h")
        ys.append(pd.DataFrame({"unique_id": k, "ds": t, "y": y}))
        xs.append(pd.DataFrame({"unique_id": k, "ds": t, "x": x}))
    return pd.concat(ys, ignore_index=True), pd.concat(xs, ignore_index=True)


def test_neural_rollout_with_covariates_is_exact_incremental_equals_naive():
    from arforecast.rollout.checks import assert_incremental_matches_naive
    y, X = covariate_panel(n_series=2, n=200)
    static = pd.DataFrame({"unique_id": [0, 1], "size": [1.0, 2.0]})
    model = neural(steps=5).fit(y, X=X, static=static)
    with torch.no_grad():                          # random weights everywhere: nothing hidden by zeros
        gen = torch.Generator().manual_seed(0)
        for p in model.network_.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen))
    panel = to_panel(y.groupby("unique_id").head(150))
    cov = build_covariates(panel, X, h=8, static=static, spec=model.covariate_spec_)
    ctx = model._context(panel, cov, 8)
    assert ctx.covariates.shape == (2, 48 + 8, 2)
    assert_incremental_matches_naive(model, ctx, h=8, seed=0, num_samples=2, atol=1e-4, rtol=1e-5)


def test_neural_ar_learns_from_a_future_known_covariate():
    y, X = covariate_panel()
    train_y, train_X = y.groupby("unique_id").head(376), X.groupby("unique_id").head(376)
    future = X.groupby("unique_id").tail(24)
    truth = y.groupby("unique_id").tail(24)["y"].to_numpy().reshape(4, 24)
    with_x = neural().fit(train_y, X=train_X).predict(24, X_future=future).point
    without = neural().fit(train_y).predict(24).point
    err_with, err_without = np.abs(with_x - truth).mean(), np.abs(without - truth).mean()
    assert err_with < 0.6 * err_without, (err_with, err_without)


# ---------------------------------------------------------------------- anomaly detection
@pytest.mark.parametrize("calibrate", [False, True])
def test_anomaly_detection_reads_covariates_window_by_window_without_leaks(calibrate):
    y, X = simulated(n=400)
    run = lambda X_: af.detect_anomalies(ARX(p=1), y, X=X_, past_only=["z"], start=200, calibrate=calibrate)
    base = run(X)["mean"].to_numpy()
    t = 300
    past = X.copy()
    past.iloc[t, 1] += 50.0                      # a past-only value at t: read by the forecast of t + 1 on
    moved = run(past)["mean"].to_numpy()
    np.testing.assert_array_equal(base[:t + 1], moved[:t + 1])
    assert moved[t + 1] != base[t + 1]
    known = X.copy()
    known.iloc[t, 0] += 50.0                     # a future-known value at t: read by the forecast of t
    moved = run(known)["mean"].to_numpy()
    np.testing.assert_array_equal(base[:t], moved[:t])
    assert moved[t] != base[t]
    # the covariate explains y: far fewer false alarms than the same AR without it
    plain = af.detect_anomalies(ARX(p=1), y, start=200, calibrate=calibrate)
    with_x = run(X)
    assert np.nanmean(np.abs(with_x["y"] - with_x["mean"])) < 0.7 * np.nanmean(np.abs(plain["y"] - plain["mean"]))


def test_anomaly_detection_refuses_past_only_covariates_beyond_one_step():
    y, X = simulated(n=300)
    with pytest.raises(DataError, match="h=1"):
        af.detect_anomalies(ARX(p=1), y, X=X, past_only=["z"], h=3, start=150)
    out = af.detect_anomalies(ARX(p=1), y, X=X, h=3, start=150, num_samples=50)     # future-known only: fine
    assert out["mean"].notna().sum() == 150


# ---------------------------------------------------------------------- property: any lags, same as OLS
from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=15, deadline=None)
@given(p=st.integers(0, 4), x_lags=st.sets(st.integers(0, 6), min_size=1, max_size=3),
       past_lags=st.sets(st.integers(1, 6), min_size=1, max_size=2), trend=st.sampled_from(["n", "c", "t", "ct"]),
       seed=st.integers(0, 1000))
def test_arx_equals_ols_on_its_design_for_any_lags(p, x_lags, past_lags, trend, seed):
    import statsmodels.api as sm
    y, X = simulated(n=200, seed=seed)
    model = ARX(p=p, trend=trend, x_lags=tuple(x_lags), past_lags=tuple(past_lags)).fit(y, X=X, past_only=["z"])
    hold = max([p] + list(x_lags) + list(past_lags))
    v = y.to_numpy()
    cols = []
    if "c" in trend:
        cols.append(np.ones(len(v)))
    if "t" in trend:
        cols.append(np.arange(1.0, len(v) + 1))
    cols += [np.roll(v, lag) for lag in range(1, p + 1)]
    design = np.column_stack(cols + [lagged_exog(X, model.exog_terms_, hold)])[hold:] if cols else \
        lagged_exog(X, model.exog_terms_, hold)[hold:]
    ref = sm.OLS(v[hold:], design).fit()
    ours = model.coefficients().iloc[0].drop("sigma2").to_numpy()
    np.testing.assert_allclose(ours, ref.params, rtol=1e-7, atol=1e-9)


# ---------------------------------------------------------------------- the EPF benchmark's protocol
from conftest import _have  # noqa: E402


@pytest.mark.skipif(not _have("epf/NP.csv"), reason="EPF data not found (../shared/datasets/epf or $ARFORECAST_DATA)")
def test_epf_day_ahead_protocol_on_a_short_slice():
    import benchmarks.epf as E
    y, X = E.load("NP")
    assert len(y) == 52416 and list(X.columns) == ["c1", "c2"] and y.index.freq == "h"
    y, X = y.iloc[:24 * 400], X.iloc[:24 * 400]
    actual, point, _ = E.day_ahead(ARX(**E.TARGET, x_lags=(0,)), y, X, 7, refit=7)
    assert actual.shape == point.shape == (7 * 24,)
    np.testing.assert_array_equal(actual, y.to_numpy()[-7 * 24:])     # the last 7 days, midnight to 23:00
    # the first day's forecast is a model fitted on the data before it, with that day's covariates
    model = ARX(**E.TARGET, x_lags=(0,)).fit(y.iloc[:-7 * 24], X=X.iloc[:-7 * 24])
    first = model.predict(24, X_future=X.iloc[-7 * 24:-6 * 24]).point[0]
    np.testing.assert_allclose(point[:24], first, rtol=1e-9)


def test_forecast_and_compare_pass_covariates_like_single_model_calls():
    """``af.forecast`` / ``af.compare`` with ``X=``: each column equals that model's own
    ``fit(y, X=...).predict(h, X_future=...)``, and AR warns that it ignores them."""
    y, X = long_frames()
    train_y, test_y = y.groupby("unique_id").head(290), y.groupby("unique_id").tail(10)
    train_X, future = X.groupby("unique_id").head(290), X.groupby("unique_id").tail(10)
    with pytest.warns(UserWarning, match="AR does not use covariates"):
        out = af.forecast({"arx": ARX(p=1), "ar": af.AR(p=1)}, train_y, h=10, X=train_X, X_future=future)
    ref = ARX(p=1).fit(train_y, X=train_X).predict(10, X_future=future).point.reshape(-1)
    np.testing.assert_array_equal(out["arx"].to_numpy(), ref)
    np.testing.assert_array_equal(out["ar"].to_numpy(), af.AR(p=1).fit(train_y).predict(10).point.reshape(-1))
    both = af.forecast(ARX(p=1), train_y, h=10, X=X)            # X holding the future rows too
    np.testing.assert_array_equal(both["ARX"].to_numpy(), ref)
    table = af.compare([ARX(p=1), af.Naive2()], train_y, test_y, X=X)
    assert table.loc["ARX", "MAE"] < 0.5 * table.loc["Naive2", "MAE"]
    with pytest.raises(ValueError, match="need X"):
        af.forecast(ARX(p=1), train_y, h=10, X_future=future)


def test_neural_ar_with_covariates_saves_and_loads_the_same_forecasts(tmp_path):
    """Past-only, future-known and static covariates survive save/load: the same forecast with
    the same X_future, on the kept history and on a newer one."""
    y, X = covariate_panel(n_series=2, n=200)
    X = X.assign(sold=np.random.default_rng(5).normal(size=len(X)))
    static = pd.DataFrame({"unique_id": [0, 1], "size": [1.0, 2.0]})
    train_y, train_X = y.groupby("unique_id").head(180), X.groupby("unique_id").head(180)
    future = X.groupby("unique_id").tail(20).drop(columns="sold")
    model = neural(steps=20).fit(train_y, X=train_X, static=static, past_only=["sold"])
    model.save(tmp_path / "m.pt")
    loaded = af.NeuralAR.load(tmp_path / "m.pt")
    assert loaded.covariate_spec_ == model.covariate_spec_
    np.testing.assert_array_equal(loaded.predict(20, X_future=future).point, model.predict(20, X_future=future).point)
    newer = y.groupby("unique_id").head(190)
    a = model.predict(10, y=newer, X=X, num_samples=20, seed=1).samples
    b = loaded.predict(10, y=newer, X=X, num_samples=20, seed=1).samples
    np.testing.assert_array_equal(a, b)
    with pytest.raises(DataError):
        loaded.predict(20)                               # still needs the future values


def test_wrappers_hand_covariates_to_the_models_that_read_them():
    """Ensemble, WithFallback and Conformal pass X / X_future on to ARX (not to AR or Naive): the
    ARX parts equal ARX alone, bit for bit; Conformal's point is ARX's and its calibration fits
    see the covariates (intervals near ARX's own, far narrower than without them)."""
    y, X = long_frames()
    train_y, train_X = y.groupby("unique_id").head(280), X.groupby("unique_id").head(280)
    future = X.groupby("unique_id").tail(20).groupby("unique_id").head(10)
    alone = ARX(p=1).fit(train_y, X=train_X).predict(10, X_future=future)
    plain = af.AR(p=1).fit(train_y).predict(10)
    ens = af.Ensemble([ARX(p=1), af.AR(p=1)], weights=[0.75, 0.25]).fit(train_y, X=train_X)
    np.testing.assert_allclose(ens.predict(10, X_future=future).point, 0.75 * alone.point + 0.25 * plain.point,
                               rtol=1e-12)
    short = pd.concat([train_y[train_y.unique_id != "s2"], train_y[train_y.unique_id == "s2"].head(3)])
    with pytest.warns(af.FallbackWarning):
        fb = af.WithFallback(ARX(p=1), af.Naive()).fit(short, X=train_X)
    got = fb.predict(10, X=X).point                      # s2 ends early: X holds its future too
    np.testing.assert_array_equal(got[:2], ARX(p=1).fit(short[short.unique_id != "s2"], X=train_X)
                                  .predict(10, X_future=future[future.unique_id != "s2"]).point)
    conf = af.Conformal(ARX(p=1), h=10, n_windows=2).fit(train_y, X=train_X)
    fc = conf.predict(10, X_future=future)
    np.testing.assert_array_equal(fc.point, alone.point)
    blind = af.Conformal(af.AR(p=1), h=10, n_windows=2).fit(train_y).predict(10)
    width = lambda f: np.mean(np.diff(f.interval_values(0.9), axis=0))            # noqa: E731
    own = width(alone)                         # ARX's own interval, which knows x
    assert 0.7 * own < width(fc) < 1.4 * own < width(blind), (width(fc), own, width(blind))


@pytest.mark.parametrize("calibrate", [False, True])
def test_streaming_detector_with_covariates_equals_detect_anomalies(calibrate):
    """AnomalyDetector.fit(history, X=...) then update(new, X=...) in two parts gives the batch
    detection's rows exactly; updates without X, or X for a detector fitted without, are refused."""
    y, X = simulated(n=400)
    batch = af.detect_anomalies(y, ARX(p=1), X=X, past_only=["z"], start=200, calibrate=calibrate)
    det = af.AnomalyDetector(ARX(p=1), calibrate=calibrate).fit(y.iloc[:200], X=X.iloc[:200], past_only=["z"])
    with pytest.raises(DataError, match="update\\(new_points, X=...\\)"):
        det.update(y.iloc[200:210])
    first = det.update(y.iloc[200:330], X=X.iloc[200:330])
    second = det.update(y.iloc[330:], X=X.iloc[330:])
    streamed = pd.concat([first, second], ignore_index=True)
    scored = batch.iloc[200:].reset_index(drop=True)
    for col in ("mean", "lower", "upper", "is_anomaly"):
        np.testing.assert_array_equal(streamed[col].to_numpy(), scored[col].to_numpy())
    plain = af.AnomalyDetector(ARX(p=1)).fit(y.iloc[:200])
    with pytest.raises(DataError, match="without covariates"):
        plain.update(y.iloc[200:210], X=X.iloc[200:210])


def test_covariates_extended_appends_continuing_rows_and_refuses_the_rest():
    y, X = long_frames(n_series=2, n=40)
    head_y, tail_y = y.groupby("unique_id").head(30), y.groupby("unique_id").tail(10)
    held = build_covariates(to_panel(head_y), X)
    new = build_covariates(to_panel(tail_y), X)
    whole = build_covariates(to_panel(y), X)
    both = held.extended(new)
    np.testing.assert_array_equal(both.values, whole.values)
    np.testing.assert_array_equal(both.indptr, whole.indptr)
    with pytest.raises(DataError, match="must continue"):
        held.extended(build_covariates(to_panel(y.groupby("unique_id").tail(5)), X))
    with pytest.raises(DataError, match="not fitted"):
        held.subset([0]).extended(new)
    with pytest.raises(DataError, match="differ"):
        held.extended(build_covariates(to_panel(tail_y), X.drop(columns="z")))
