"""Missing values inside series: every forecaster fits and forecasts them, the classical fits equal
references on the complete rows, a context with holes is filled by the model itself."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import torch

import arforecast as af
from arforecast.datasets import simulate_ar
from arforecast.models import ar_kernels as K
from arforecast.models.arx import ARX
from arforecast.rollout.missing import plan_replay, replay_lengths
from arforecast.rollout.protocol import Context
from arforecast.testing import check_forecaster
from sklearn.base import clone

torch.set_num_threads(1)


def holey(n_series: int = 4, length: int = 160, seed: int = 0, share: float = 0.05, season: int = 12) -> pd.DataFrame:
    """A seasonal AR panel (monthly) with random holes everywhere and a long gap in one series."""
    rng = np.random.default_rng(seed)
    df = simulate_ar([0.5, 0.2], n_series=n_series, length=length, intercept=20.0, seed=seed)
    df["ds"] = np.tile(pd.date_range("2000-01-31", periods=length, freq="ME"), n_series)
    df["y"] = df["y"] + 3 * np.sin(2 * np.pi * np.tile(np.arange(length), n_series) / season)
    inside = df.groupby("unique_id").cumcount().between(1, length - 2).to_numpy()
    holes = inside & (rng.random(len(df)) < share)
    df.loc[holes, "y"] = np.nan
    first = df["unique_id"] == df["unique_id"].iloc[0]
    k = df.groupby("unique_id").cumcount()
    df.loc[first & k.between(length // 2, length // 2 + 2 * season), "y"] = np.nan   # a long gap
    df.loc[first & (k == length - 3), "y"] = np.nan                                 # a hole in the context
    return df


NEURAL = dict(context_length=24, max_steps=15, seed=0, progress=False, architecture=dict(d_model=8, n_layers=2),
              training=dict(window_length=6, batch_size=8, validation_length=6, val_every=5))

MODELS = [
    af.Naive(), af.SeasonalNaive(), af.Naive2(), af.Mean(), af.Drift(),
    af.AR(), af.AR(p=2), af.AR(p="aic", max_p=6, trend="ct"), af.AR(p=2, seasonal_lags=(12,), bootstrap=True),
    af.AR(p=1, d=1), af.AR(p=1, D=1), ARX(p=2),
    af.NeuralAR("conv", "continuous", **NEURAL), af.NeuralAR("transformer", "quantized", **NEURAL),
    af.Conformal(af.AR(p=1), h=6, n_windows=3), af.WithFallback(af.AR(p=2), af.Naive()),
    af.Ensemble([af.AR(p=1), af.Naive()]),
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: type(m).__name__ + str(sorted(
    (k, v) for k, v in m.get_params(deep=False).items() if k in ("p", "d", "D", "trend", "bootstrap", "backbone")
    and v not in (None, False))))
def test_every_forecaster_fits_and_forecasts_series_with_holes(model):
    y = holey()
    assert y["y"].isna().sum() > 30
    before = y.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if isinstance(model, af.NeuralAR):       # its point forecast with samples is their mean (test_neural)
            fitted = clone(model).fit(y)
            fc = fitted.predict(6, num_samples=50, seed=0)
            np.testing.assert_allclose(fc.point, fc.samples.mean(axis=1))
            np.testing.assert_array_equal(fitted.predict(6, num_samples=50, seed=0).samples, fc.samples)
            assert np.isfinite(fc.samples).all()
        else:
            check_forecaster(model, y, h=6, num_samples=300)    # the contract, caller's frame unchanged included
        fc = clone(model).fit(y).predict(6)
    assert np.isfinite(fc.point).all()
    pd.testing.assert_frame_equal(y, before)


def test_missing_raise_refuses_and_names_the_series():
    y = holey()
    with pytest.raises(af.DataError, match=r"series 's0' has a missing value \(NaN\) at .*missing='raise'"):
        af.AR(p=1).fit(y, missing="raise")
    with pytest.raises(ValueError, match="missing must be one of"):
        af.to_panel(y, missing="drop")


# ---------------------------------------------------------------------- references on the complete rows
def _complete_rows_ols(y: np.ndarray, lags: list[int], trend: str, hold: int):
    t = np.arange(hold, len(y))
    cols = ([np.ones(len(t))] if "c" in trend else []) + ([t + 1.0] if "t" in trend else [])
    X = np.column_stack(cols + [y[t - lag] for lag in lags])
    ok = ~np.isnan(X).any(axis=1) & ~np.isnan(y[t])
    return sm.OLS(y[t][ok], X[ok]).fit(), int(ok.sum())


@pytest.mark.parametrize("trend", ["n", "c", "t", "ct"])
@pytest.mark.parametrize("lags", [[1, 2], [1, 2, 3, 12]])
def test_ar_with_holes_equals_least_squares_on_the_complete_rows(trend, lags):
    df = holey(n_series=3, length=200, seed=3, share=0.08)
    model = af.AR(p=max(lags) if lags == [1, 2] else 3, seasonal_lags=None if lags == [1, 2] else (12,),
                  trend=trend).fit(df)
    for i, uid in enumerate(model.ids_):
        y = df.loc[df["unique_id"] == uid, "y"].to_numpy()
        ref, nobs = _complete_rows_ols(y, lags, trend, max(lags))
        k = K.deterministic_count(trend)
        got = model.coef_[i, np.searchsorted(model.lags_, lags)]
        np.testing.assert_allclose(got, ref.params[k:], rtol=0, atol=1e-8)
        if "c" in trend:
            np.testing.assert_allclose(model.intercept_[i], ref.params[0], rtol=0, atol=1e-8)
        if "t" in trend:
            np.testing.assert_allclose(model.trend_coef_[i], ref.params[k - 1], rtol=0, atol=1e-8)
        assert model.nobs_[i] == nobs
        np.testing.assert_allclose(model.sigma2_[i], ref.ssr / nobs, rtol=1e-8)


def test_ar_with_holes_after_differencing_is_least_squares_on_the_differenced_complete_rows():
    df = holey(n_series=2, length=150, seed=5)
    model = af.AR(p=2, d=1).fit(df)
    for i, uid in enumerate(model.ids_):
        w = np.diff(df.loc[df["unique_id"] == uid, "y"].to_numpy())   # a hole spoils two differences
        ref, _ = _complete_rows_ols(w, [1, 2], "c", 2)
        np.testing.assert_allclose(model.coef_[i], ref.params[1:], atol=1e-8)


def test_order_selection_with_holes_compares_orders_on_the_common_complete_rows():
    df = holey(n_series=2, length=300, seed=7, share=0.05)
    model = af.AR(p="aic", max_p=5).fit(df)
    for i, uid in enumerate(model.ids_):
        y = df.loc[df["unique_id"] == uid, "y"].to_numpy()
        t = np.arange(5, len(y))
        full = np.column_stack([y[t - lag] for lag in range(1, 6)] + [y[t]])
        ok = ~np.isnan(full).any(axis=1)
        aic = [sm.OLS(y[t][ok], np.column_stack([np.ones(ok.sum())] + [y[t - lag][ok] for lag in range(1, p + 1)]))
               .fit().aic for p in range(6)]
        assert model.order_[i] == int(np.argmin(aic))
        p = int(model.order_[i])                 # then refitted on its own complete rows
        ref, nobs = _complete_rows_ols(y, list(range(1, p + 1)), "c", p)
        np.testing.assert_allclose(model.coef_[i, :p], ref.params[1:], atol=1e-8)
        assert model.nobs_[i] == nobs


def test_automatic_ar_copes_with_holes_and_keeps_its_choices_on_clean_series():
    clean = holey(share=0.0)
    clean["y"] = clean["y"].interpolate()
    df = clean.copy()
    rng = np.random.default_rng(1)
    df.loc[rng.random(len(df)) < 0.05, "y"] = np.nan
    df.loc[df.groupby("unique_id").cumcount().isin([0, 159]), "y"] = clean["y"]
    a, b = af.AR().fit(clean), af.AR().fit(df)
    assert np.isfinite(b.predict(12).point).all()
    assert (a.d_ == b.d_).mean() >= 0.75 and (a.adjusted_ == b.adjusted_).mean() >= 0.75
    assert (b.nobs_ < a.nobs_).all()                          # estimated on fewer (complete) rows


def test_baselines_skip_or_carry_missing_values_as_their_definitions_say():
    y = pd.Series(np.arange(1.0, 25.0), index=pd.date_range("2024", periods=24, freq="MS"))
    y.iloc[[8, 20, 21]] = np.nan
    obs = y.dropna()
    assert af.Mean().fit(y).predict(2).point[0].tolist() == [obs.mean()] * 2
    assert af.Naive().fit(y).predict(2).point[0].tolist() == [24.0, 24.0]
    # the last observed value at each phase: month 9 and 10 of the last season are missing
    sn = af.SeasonalNaive().fit(y).predict(12).point[0]
    assert sn.tolist() == [13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0, 20.0, 10.0, 23.0, 24.0]
    assert af.Drift().fit(y).predict(1).point[0, 0] == 25.0


# ---------------------------------------------------------------------- a context with holes
def test_replay_plan_starts_each_row_before_its_first_hole():
    ctx = Context.from_list([[1.0, 2.0, np.nan, 4.0], [np.nan, 6.0, 7.0], [8.0, 9.0]])
    plan = plan_replay(ctx)
    assert plan.steps.tolist() == [2, 0, 0] and plan.context.lengths.tolist() == [2, 2, 2]
    assert plan.context.positions.tolist() == [2, 3, 2]
    assert plan_replay(Context.from_list([[1.0, 2.0], [3.0]])) is None
    y = np.r_[np.ones(10), np.nan, np.ones(3), np.nan, np.ones(2)]
    assert replay_lengths(y, np.array([0, len(y)]), 4).tolist() == [len(y) - 6]


def test_a_context_hole_is_filled_by_the_mean_path_and_by_each_sample_path():
    phi, c = 0.8, 1.0
    y = pd.Series(simulate_ar([phi], n_series=1, length=400, intercept=c, seed=2)["y"].to_numpy())
    model = af.AR(p=1).fit(y)
    phi, c = model.coef_[0, 0], model.intercept_[0]
    hist = y.copy()
    hist.iloc[-3:-1] = np.nan                                   # the last value is observed, two before it are not
    fc = model.predict(3, y=hist, num_samples=20000, seed=0)
    # the holes do not matter for the mean: y_T is observed; the path restarts from it
    expected = [c + phi * hist.iloc[-1]]
    for _ in range(2):
        expected.append(c + phi * expected[-1])
    np.testing.assert_allclose(fc.point[0], expected, rtol=1e-12)
    # a cut that ends on holes (a backtest window can): the forecast fills them first
    values = hist.to_numpy().copy()
    values[-1] = np.nan
    cut = af.Panel.from_arrays([values], ids=model.ids_)
    fc = model.predict(1, y=cut, num_samples=20000, seed=0)
    filled = values[-4]
    for _ in range(3):
        filled = c + phi * filled
    np.testing.assert_allclose(fc.point[0, 0], c + phi * filled, rtol=1e-12)
    # each path draws its own fills: the 1-step spread is that of a 4-step forecast
    sd4 = np.sqrt(model.sigma2_[0] * sum(phi ** (2 * k) for k in range(4)))
    lo, hi = fc.interval_values(0.9)
    np.testing.assert_allclose((hi[0, 0] - lo[0, 0]) / (2 * 1.6448536269514722), sd4, rtol=1e-9)
    assert abs(fc.samples[0, :, 0].std() / sd4 - 1) < 0.03


def test_neural_ar_masks_holes_in_its_loss_and_marks_them_in_its_inputs():
    y = holey(n_series=2, length=120)
    model = af.NeuralAR("conv", "continuous", **NEURAL).fit(y)
    values = torch.tensor([[1.0, np.nan, 3.0, 4.0, np.nan, 6.0]], dtype=torch.float64)
    z, observed, _ = model._encode(values, torch.ones(1, dtype=torch.float64))
    assert observed.tolist() == [[1.0, 0.0, 1.0, 1.0, 0.0, 1.0]] and z[0, 1] == 0 and z[0, 4] == 0
    # a missing target adds nothing to the loss: whatever stands in for it, the masked loss is the same
    from arforecast.nn.training import WindowSampler
    sampler = WindowSampler([np.r_[np.arange(1.0, 40.0), np.nan, np.arange(41.0, 60.0)]], context=24, targets=8)
    batch = sampler._batch(np.array([0]), np.array([35]), 8)
    assert batch["mask"].tolist() == [[True] * 4 + [False] + [True] * 3]
    with torch.no_grad():
        nll, _ = model._window_nll(torch.from_numpy(batch["values"]), torch.from_numpy(batch["positions"]), 24)
    assert torch.isfinite(nll).all()


def test_arx_with_holes_equals_least_squares_on_the_complete_rows_and_forecasts():
    from arforecast.models.arx import ARX
    rng = np.random.default_rng(4)
    t = pd.date_range("2024-01-01", periods=400, freq="h")
    x = pd.Series(rng.normal(size=400), index=t)
    noise = np.zeros(400)
    for k in range(1, 400):
        noise[k] = 0.6 * noise[k - 1] + rng.normal()
    y = pd.Series(2.0 * x.to_numpy() + noise + 5.0, index=t)
    y.iloc[rng.choice(np.arange(1, 396), 30, replace=False)] = np.nan
    y.iloc[-4] = np.nan                                        # a hole in the forecast's context
    train, future = y.iloc[:-2], x.iloc[-2:].to_frame("x")
    model = ARX(p=2).fit(train, X=x.iloc[:-2].to_frame("x"))
    v, xv = train.to_numpy(), x.to_numpy()[:-2]
    tt = np.arange(2, len(v))
    X = np.column_stack([np.ones(len(tt)), v[tt - 1], v[tt - 2], xv[tt]])
    ok = ~np.isnan(X).any(axis=1) & ~np.isnan(v[tt])
    ref = sm.OLS(v[tt][ok], X[ok]).fit()
    got = np.r_[model.intercept_[0], model.coef_[0], model.exog_coef_[0]]
    np.testing.assert_allclose(got, ref.params, atol=1e-8)
    assert model.nobs_[0] == ok.sum()
    fc = model.predict(2, X_future=future, num_samples=4000, seed=0)
    c, (p1, p2), b = model.intercept_[0], model.coef_[0], model.exog_coef_[0, 0]
    n, xa = len(v), x.to_numpy()
    fill = c + p1 * v[n - 3] + p2 * v[n - 4] + b * xa[n - 2]              # the hole, from the model's mean
    f1 = c + p1 * v[n - 1] + p2 * fill + b * xa[n]
    np.testing.assert_allclose(fc.point[0], [f1, c + p1 * f1 + p2 * v[n - 1] + b * xa[n + 1]], rtol=1e-12)
    assert np.all(np.abs(fc.samples.mean(axis=1) - fc.point) < 5 * fc.samples.std(axis=1) / np.sqrt(4000) + 1e-9)
    lo, hi = fc.interval_values(0.9)
    sd = (hi - lo) / (2 * 1.6448536269514722)
    np.testing.assert_allclose(sd[0], fc.samples[0].std(axis=0), rtol=0.05)   # the fill's error included
