"""Conformal, WithFallback and Ensemble: coverage, bit-identical fallbacks, one-member ensembles, contract."""
import warnings

import numpy as np
import pandas as pd
import pytest

import arforecast as af
from arforecast.exceptions import DataError
from arforecast.forecasts import sample_quantiles
from arforecast.testing import check_forecaster


def _ar1_panel(n_series: int, length: int, phi: float = 0.7, seed: int = 0, df: float | None = None) -> pd.DataFrame:
    """Stationary AR(1) series, each with its own noise scale (log-normal across series);
    Student-t noise with ``df`` degrees of freedom if given."""
    rng = np.random.default_rng(seed)
    scale = np.exp(rng.normal(0.0, 1.0, n_series))
    noise = rng.standard_normal((n_series, length + 50)) if df is None else rng.standard_t(df, (n_series, length + 50))
    e = noise * scale[:, None]
    y = np.zeros_like(e)
    for t in range(1, y.shape[1]):
        y[:, t] = phi * y[:, t - 1] + e[:, t]
    y = y[:, 50:] + 10 * scale[:, None]
    return pd.DataFrame({"unique_id": np.repeat([f"s{i}" for i in range(n_series)], length),
                         "ds": np.tile(np.arange(length), n_series), "y": y.ravel()})


def _split(df: pd.DataFrame, h: int) -> tuple[pd.DataFrame, np.ndarray]:
    last = df.groupby("unique_id", sort=False).cumcount(ascending=False) < h
    return df[~last].reset_index(drop=True), df.loc[last, "y"].to_numpy().reshape(-1, h)


# ---------------------------------------------------------------------- conformal coverage
H, LEVEL, N_SERIES = 3, 0.8, 1000


@pytest.fixture(scope="module")
def exchangeable():
    return _split(_ar1_panel(N_SERIES, 120 + H, seed=11, df=2.5), H)


class GlobalNaive(af.Naive):
    """Naive, declared global: ``Conformal(local=True)`` then calibrates on the newest calibration fits."""

    is_global = True


@pytest.mark.parametrize("model", [af.AR(p=1), af.Naive(), af.Mean(), af.SeasonalNaive(season_length=2),
                                   af.Ensemble([af.AR(p=1), af.Naive()]), GlobalNaive()],
                         ids=["AR1", "Naive", "Mean", "SeasonalNaive2", "Ensemble", "GlobalNaive"])
@pytest.mark.parametrize("method,local", [("normalized", True), ("scaled", True), ("normalized", False)])
def test_conformal_covers_at_nominal_level(exchangeable, model, method, local):
    """Stationary AR(1) series with Student-t(2.5) noise whose scales differ: the calibration
    errors (backtest windows at the end of the train part) and the test errors are exchangeable,
    so each step's central 80% interval covers 80% of the test values. Monte-Carlo error: 1000 series per step (sd 0.013)
    plus the calibration quantile's own noise (3000 errors, sd 0.007): tolerance 0.05, about 3.4 sd."""
    train, y = exchangeable
    cp = af.Conformal(model, h=H, n_windows=3, method=method, local=local).fit(train)
    assert cp.local_by_ == ("recency" if model.is_global else "length")
    if local and model.is_global:        # the newest window holds every neighbour: only it is fitted
        assert cp.n_windows_ == 1 and cp.n_local_ is None and cp.n_calibration_ == N_SERIES
    else:
        assert cp.n_windows_ == 3 and cp.n_local_ == (N_SERIES if local else None)
    lo, hi = cp.predict(H).interval_values(LEVEL)
    covered = ((y >= lo) & (y <= hi)).mean(axis=0)            # per step, over series
    assert np.all(np.abs(covered - LEVEL) < 0.05), covered
    assert abs(covered.mean() - LEVEL) < 0.03, covered


class HeldOutAR(af.AR):
    """An AR that, like NeuralAR, fits on all but the last ``validation_length_`` values."""

    validation_length_ = H

    def _fit(self, panel):
        super()._fit(panel.head(panel.lengths - self.validation_length_))


def test_conformal_calibrated_on_the_final_model_covers(exchangeable):
    """``refit="final"`` scores the final model itself on values it held out of its fit: on
    exchangeable data it covers at the level (tolerances as above) with one fit only; a model that
    trained on those values is warned about, and other strings are refused."""
    train, y = exchangeable
    cp = af.Conformal(HeldOutAR(p=1), h=H, n_windows=1, refit="final").fit(train)
    assert cp.n_calibration_ == N_SERIES
    lo, hi = cp.predict(H).interval_values(LEVEL)
    covered = ((y >= lo) & (y <= hi)).mean(axis=0)
    assert np.all(np.abs(covered - LEVEL) < 0.05), covered
    # the calibration forecasts are the final model's, re-conditioned on each series cut h before its end
    cut = train.groupby("unique_id", sort=False).head(120 - H)
    ref = cp.model_.predict(H, y=cut)
    last = train.groupby("unique_id", sort=False).tail(H)["y"].to_numpy().reshape(-1, H)
    lo_q, hi_q = ref.quantile_values(list(cp._spread_quantiles))        # the central 90% interval by default
    np.testing.assert_allclose(np.sort(np.abs(cp._errors), axis=0), np.sort(np.abs((last - ref.point) / (hi_q - lo_q)),
                                                                             axis=0), rtol=1e-10)
    with pytest.warns(UserWarning, match="did not hold the last 3 values out of its fit"):
        af.Conformal(af.AR(p=1), h=H, n_windows=1, refit="final").fit(train.iloc[:120 * 20])
    with pytest.raises(ValueError, match="refit must be"):
        af.Conformal(af.AR(p=1), h=H, refit="last").fit(train)


def test_conformal_refit_auto_calibrates_the_final_model_only_when_it_held_the_windows_out(exchangeable):
    """``refit="auto"`` (default) is ``"final"`` exactly when the fitted model held out every
    calibration window (``validation_length_`` at least their span), else ``True``; either way
    its intervals equal those of that explicit choice."""
    train, _ = exchangeable
    cases = [(HeldOutAR(p=1), 1, "final"), (HeldOutAR(p=1), 2, True), (af.AR(p=1), 1, True)]
    for model, n_windows, expected in cases:
        auto = af.Conformal(model, h=H, n_windows=n_windows).fit(train)
        assert auto.refit_ == expected
        explicit = af.Conformal(model, h=H, n_windows=n_windows, refit=expected).fit(train)
        np.testing.assert_array_equal(auto.predict(H).interval_values(LEVEL), explicit.predict(H).interval_values(LEVEL))


def test_conformal_spread_level_does_not_matter_for_a_location_scale_model(exchangeable):
    """With normal marginals every central interval's width is one multiple of the scale, so the
    normalized scores, and the calibrated intervals, do not depend on which width scales them;
    a spread_level outside (0, 1) is refused."""
    train, _ = exchangeable
    iqr = af.Conformal(af.AR(p=1), h=H, n_windows=2, spread_level=0.5).fit(train).predict(H).interval_values(LEVEL)
    wide = af.Conformal(af.AR(p=1), h=H, n_windows=2, spread_level=0.9).fit(train).predict(H).interval_values(LEVEL)
    np.testing.assert_allclose(wide, iqr, rtol=1e-9)
    for bad in (0.0, 1.0, True, "0.9"):
        with pytest.raises(ValueError, match="spread_level"):
            af.Conformal(af.AR(p=1), h=H, spread_level=bad).fit(train)


def _two_lengths(n: int, h: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Random walks: ``n`` short ones (60 values, noise sd 1) and ``n`` long ones (200 values, sd 3);
    train part, the last ``h`` values and which series are long."""
    rng = np.random.default_rng(seed)
    parts, long_ = [], np.repeat([False, True], n)
    for i, is_long in enumerate(long_):
        length, sd = (200, 3.0) if is_long else (60, 1.0)
        parts.append(pd.DataFrame({"unique_id": f"s{i}", "ds": np.arange(length),
                                   "y": np.cumsum(rng.normal(0, sd, length))}))
    train, y = _split(pd.concat(parts, ignore_index=True), h)
    return train, y, long_


def test_local_conformal_calibrates_each_history_length_on_its_own_kind():
    """Errors are exchangeable among series of one length, not across lengths (the long series are
    three times as noisy; raw errors, ``method="pooled"``). Scores of the calibration forecasts
    nearest in history length (``local=True``) cover at the level in each group; pooling all of
    them over-covers the short series and under-covers the long ones. Monte-Carlo error: 800
    test errors per group (sd 0.014) plus the calibration quantile's (1600 scores): tolerance 0.05."""
    h, n = 2, 400
    train, y, long_ = _two_lengths(n, h, seed=5)
    for local, ok in ((True, True), (False, False)):
        cp = af.Conformal(af.Naive(), h=h, n_windows=3, method="pooled", local=local).fit(train)
        lo, hi = cp.predict(h).interval_values(LEVEL)
        covered = (y >= lo) & (y <= hi)
        by_group = np.array([covered[~long_].mean(), covered[long_].mean()])
        assert np.all(np.abs(by_group - LEVEL) < 0.05) == ok, (local, by_group)
    assert cp.n_local_ is None and af.Conformal(af.Naive(), h=h, local=50).fit(train).n_local_ == 50
    # a global model is calibrated on the newest fits, whatever the length: the last window of every
    # series (with 800 series, more than MIN_LOCAL, that window alone is fitted); with fewer series,
    # the newest windows until MIN_LOCAL forecasts
    last = af.backtest(af.Naive(), train, h, n_windows=1, progress=False).forecasts
    errors = (last["y"] - last["mean"]).to_numpy().reshape(-1, h)
    mirrored = np.sort(np.concatenate([errors[:, 0], -errors[:, 0]]))
    cp = af.Conformal(GlobalNaive(), h=h, n_windows=3, method="pooled").fit(train)
    assert cp.n_windows_ == 1 and cp.n_local_ is None
    np.testing.assert_allclose(cp.scores_[0, :cp.counts_[0]], mirrored)
    cp = af.Conformal(GlobalNaive(), h=h, n_windows=3, method="pooled", local=1000).fit(train)
    assert cp.n_windows_ == 2 and cp.n_local_ == 1000
    table, counts, index = cp._local_sets(np.array([60, 200]), h)
    assert np.all(index[0] == index[1]) and counts[0] == 2 * 2 * 2 * n    # both windows (ties kept), mirrored
    few = train[train["unique_id"].isin([f"s{i}" for i in range(30)])]
    assert af.Conformal(GlobalNaive(), h=h, n_windows=3, method="pooled").fit(few).n_windows_ == 3
    # local_by="recency" calibrates a local model on the newest fits too, like the global one
    cp = af.Conformal(af.Naive(), h=h, n_windows=3, method="pooled", local_by="recency").fit(train)
    assert cp.local_by_ == "recency" and cp.n_windows_ == 1
    np.testing.assert_allclose(cp.scores_[0, :cp.counts_[0]], mirrored)
    with pytest.raises(ValueError, match="local must be"):
        af.Conformal(af.Naive(), h=h, local=0).fit(train)
    with pytest.raises(ValueError, match="local_by must be one of"):
        af.Conformal(af.Naive(), h=h, local_by="age").fit(train)


@pytest.mark.parametrize("local_by", ["length", "recency"])
def test_conformal_covers_at_nominal_level_with_either_neighbourhood(exchangeable, local_by):
    """On exchangeable data both neighbourhoods (history length, newest fits) cover at the level;
    tolerances as in ``test_conformal_covers_at_nominal_level``."""
    train, y = exchangeable
    cp = af.Conformal(af.AR(p=1), h=H, n_windows=3, local_by=local_by).fit(train)
    lo, hi = cp.predict(H).interval_values(LEVEL)
    covered = ((y >= lo) & (y <= hi)).mean(axis=0)
    assert np.all(np.abs(covered - LEVEL) < 0.05), covered
    assert abs(covered.mean() - LEVEL) < 0.03, covered


def test_raw_models_miss_the_level(exchangeable):
    """Heavy tails make the models' Normal intervals wrong, so the coverage test has teeth."""
    train, y = exchangeable
    for model in (af.AR(p=1), af.Naive(), af.SeasonalNaive(season_length=2)):
        lo, hi = model.fit(train).predict(H).interval_values(LEVEL)
        assert abs(((y >= lo) & (y <= hi)).mean() - LEVEL) > 0.05


def test_conformal_sample_paths_have_the_conformal_marginals(exchangeable):
    train, _ = exchangeable
    cp = af.Conformal(af.AR(p=1), h=H, n_windows=2).fit(train.iloc[:120 * 50])
    fc = cp.predict(H, num_samples=199, seed=1)
    qs = [0.05, 0.25, 0.5, 0.9]                    # (S + 1) q are integers: type-6 quantiles are samples
    np.testing.assert_allclose(sample_quantiles(fc.samples, qs), fc.quantile_values(qs), rtol=1e-12)
    # the paths keep the model's ordering at every step (a rank-preserving map of its paths)
    raw = cp.model_.predict(H, num_samples=199, seed=1).samples
    assert np.array_equal(np.argsort(raw, axis=1, kind="stable"), np.argsort(fc.samples, axis=1, kind="stable"))


def test_score_law_quantiles_are_order_statistics_and_cdf_inverts_them():
    import torch
    from arforecast.wrappers.laws import ScoreLaw
    rng = np.random.default_rng(0)
    table = np.sort(rng.normal(size=(3, 49)), axis=1)
    loc, scale = rng.normal(size=(4, 3)), np.exp(rng.normal(size=(4, 3)))
    law = ScoreLaw(loc, scale, table, np.array([49, 49, 49]), np.tile(np.arange(3), (4, 1)))
    for k in (1, 10, 49):                                   # the k-th of n scores is the k / (n + 1) quantile
        np.testing.assert_allclose(law.quantile(k / 50).numpy(), loc + scale * table[:, k - 1], rtol=1e-12)
    u = rng.uniform(0.03, 0.97, size=(4, 3))
    np.testing.assert_allclose(law.cdf(law.icdf(torch.from_numpy(u))).numpy(), u, atol=1e-12)
    mc = law.values_at(rng.uniform(size=(4, 200_000, 3))).mean(axis=1)
    np.testing.assert_allclose(law.mean.numpy(), mc, atol=0.01 * scale.max())


def test_conformal_recondition_and_backtest():
    df = _ar1_panel(30, 100, seed=2)
    cp = af.Conformal(af.AR(p=2), h=4, n_windows=3).fit(df)
    a, b = cp.predict(4), cp.predict(4, y=df)
    np.testing.assert_array_equal(a.point, b.point)
    np.testing.assert_allclose(a.quantile_values([0.1, 0.9]), b.quantile_values([0.1, 0.9]), rtol=1e-12)
    short = df.groupby("unique_id").head(90)
    assert cp.predict(3, y=short).point.shape == (30, 3)
    for refit in (False, True):
        res = af.backtest(af.Conformal(af.AR(p=2), h=4, n_windows=2), df, h=4, n_windows=2, refit=refit,
                          levels=[0.9], progress=False)
        assert np.isfinite(res.metrics()["coverage_90"].iloc[0])


def test_conformal_per_series_scores_and_errors():
    df = _ar1_panel(5, 80, seed=3)
    with pytest.warns(UserWarning, match="10 scores per series; central intervals above level 0.82"):
        cp = af.Conformal(af.Naive(), h=2, n_windows=5, step=1, method="series").fit(df)
    assert cp.calibrated_.all() and cp.scores_.shape == (2 + 5 * 2, 2 * 5 * 5)
    with pytest.raises(ValueError, match="calibrated for horizons up to h=2"):
        cp.predict(3)
    with pytest.raises(ValueError, match="method must be one of"):
        af.Conformal(af.Naive(), h=2, method="nope").fit(df)
    with pytest.raises(DataError, match="no series has"):
        af.Conformal(af.AR(p=2), h=30, n_windows=3).fit(df)


# ---------------------------------------------------------------------- fallback
class Picky(af.AR):
    """An AR whose least squares fail (as they can numerically) on a constant series."""

    def _fit(self, panel):
        if any(np.ptp(panel.series(i)) == 0 for i in range(panel.n_series)):
            raise np.linalg.LinAlgError("singular normal equations")
        super()._fit(panel)


def _with_bad_series() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Good series, plus one too short for AR(3) and one whose fit fails."""
    good = _ar1_panel(6, 80, seed=4)
    short = pd.DataFrame({"unique_id": "short", "ds": np.arange(4), "y": [1.0, 2.0, 1.5, 1.7]})
    flat = pd.DataFrame({"unique_id": "flat", "ds": np.arange(80), "y": np.full(80, 5.0)})
    return good, pd.concat([good.iloc[:160], short, flat, good.iloc[160:]], ignore_index=True)


def test_fallback_leaves_the_other_series_bit_identical():
    good, mixed = _with_bad_series()
    with pytest.warns(af.FallbackWarning, match="2 series use the fallback Naive"):
        model = af.WithFallback(Picky(p=3), fallback=af.Naive()).fit(mixed)
    assert model.fallback_reasons_["short"] == "too short for Picky: 4 values, it needs 8"
    assert model.fallback_reasons_["flat"] == "Picky.fit failed: singular normal equations"
    assert model.uses_fallback_.tolist() == [False, False, True, True, False, False, False, False]
    fc = model.predict(5, num_samples=30, seed=7)
    ref = af.AR(p=3).fit(good).predict(5, num_samples=30, seed=7)
    ids = list(fc.ids)
    keep = [ids.index(u) for u in ref.ids]
    np.testing.assert_array_equal(fc.point[keep], ref.point)
    np.testing.assert_array_equal(fc.samples[keep], ref.samples)
    np.testing.assert_array_equal(fc.quantile_values([0.1, 0.9])[:, keep], ref.quantile_values([0.1, 0.9]))
    naive = af.Naive().fit(mixed).predict(5, num_samples=30, seed=7)
    for uid in ("short", "flat"):
        np.testing.assert_array_equal(fc.point[ids.index(uid)], naive.point[ids.index(uid)])
    # re-conditioning on newer histories keeps the split
    np.testing.assert_array_equal(model.predict(5, y=mixed).point, fc.point)


def test_fallback_does_not_hide_a_model_that_fits_no_series():
    good, _ = _with_bad_series()

    class Broken(af.AR):
        def _fit(self, panel):
            raise ValueError("misconfigured")

    with pytest.raises(ValueError, match="misconfigured"):
        af.WithFallback(Broken(p=2), fallback=af.Naive()).fit(good)


def test_fallback_when_a_forecast_is_not_finite():
    good, _ = _with_bad_series()

    class Flaky(af.AR):
        """An AR whose forecast of series 's2' is NaN (a numerical failure at predict time)."""

        def _predict(self, panel, h, num_samples, seed, **options):
            fc = super()._predict(panel, h, num_samples, seed, **options)
            fc.point[list(panel.ids).index("s2")] = np.nan
            return fc

    model = af.WithFallback(Flaky(p=2), fallback=af.Naive()).fit(good)
    assert model.fallback_reasons_ == {}
    with pytest.warns(af.FallbackWarning, match="'s2'"):
        fc = model.predict(4)
    assert model.fallback_reasons_ == {"s2": "Flaky forecast is not finite"}
    ref = af.AR(p=2).fit(good).predict(4)
    others = [i for i, u in enumerate(fc.ids) if u != "s2"]
    np.testing.assert_array_equal(fc.point[others], ref.point[others])
    np.testing.assert_array_equal(fc.quantile_values(0.9)[others], ref.quantile_values(0.9)[others])
    np.testing.assert_array_equal(fc.point[2], af.Naive().fit(good).predict(4).point[2])
    with warnings.catch_warnings():
        warnings.simplefilter("error", af.FallbackWarning)      # warned once: not again for s2
        model.predict(4)


def test_fallback_in_backtest_and_anomaly_detection():
    good, _ = _with_bad_series()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", af.FallbackWarning)
        res = af.backtest(af.WithFallback(af.AR(p=2), af.Naive()), good.iloc[:240], h=3, n_windows=2,
                          levels=[0.9], progress=False)
        assert np.isfinite(res.metrics()["coverage_90"].iloc[0])
        small = pd.concat([good[good.unique_id == "s0"].iloc[:60],
                           pd.DataFrame({"unique_id": "x", "ds": np.arange(12), "y": np.arange(12.0) % 3})])
        out = af.detect_anomalies(af.WithFallback(af.AR(p=3), af.Naive()), small, start=8, level=0.99)
    assert len(out) == 72 and out["is_anomaly"].dtype == bool


# ---------------------------------------------------------------------- ensemble
@pytest.mark.parametrize("combine", ["mixture", "quantiles"])
@pytest.mark.parametrize("weights", [None, "learn", [2.0]])
def test_one_member_ensemble_equals_the_member(combine, weights):
    df = _ar1_panel(8, 90, seed=5)
    member = af.AR(p=2)
    ens = af.Ensemble([member], weights=weights, combine=combine, h=4).fit(df)
    a, b = ens.predict(4, num_samples=20, seed=3), af.AR(p=2).fit(df).predict(4, num_samples=20, seed=3)
    np.testing.assert_array_equal(a.point, b.point)
    np.testing.assert_array_equal(a.samples, b.samples)
    np.testing.assert_array_equal(a.quantile_values([0.05, 0.5, 0.95]), b.quantile_values([0.05, 0.5, 0.95]))


def test_ensemble_combines_and_learns():
    df = _ar1_panel(40, 120, phi=0.9, seed=6)
    ens = af.Ensemble([af.AR(p=1), af.Mean()], weights="learn", h=4, n_windows=2).fit(df)
    assert ens.weights_[0] > 0.7                            # AR(1) is the better model of AR(1) data
    fixed = af.Ensemble([af.AR(p=1), af.Mean()], weights=[0.5, 0.5]).fit(df)
    fc = fixed.predict(4, num_samples=100, seed=0)
    p1, p2 = af.AR(p=1).fit(df).predict(4), af.Mean().fit(df).predict(4)
    np.testing.assert_allclose(fc.point, 0.5 * p1.point + 0.5 * p2.point)
    q = fc.quantile_values(0.9)                          # mixture: cdf at its quantile is 0.9
    cdf = 0.5 * p1.marginals.cdf(__import__("torch").from_numpy(q)).numpy() + \
        0.5 * p2.marginals.cdf(__import__("torch").from_numpy(q)).numpy()
    np.testing.assert_allclose(cdf, 0.9, atol=1e-9)
    avg = af.Ensemble([af.AR(p=1), af.Mean()], combine="quantiles").fit(df).predict(4)
    np.testing.assert_allclose(avg.quantile_values(0.9), 0.5 * p1.quantile_values(0.9) + 0.5 * p2.quantile_values(0.9))


# ---------------------------------------------------------------------- contract
@pytest.mark.parametrize("model", [
    af.Conformal(af.AR(p=1), h=5, n_windows=3),
    af.Conformal(af.Naive(), h=5, n_windows=3, method="series", step=1),
    af.Conformal(af.Mean(), h=5, n_windows=3, method="scaled", symmetric=False),
    af.WithFallback(af.AR(p=2), af.Naive()),
    af.Ensemble([af.AR(p=1), af.Naive()]),
    af.Ensemble([af.AR(p=1), af.Naive()], combine="quantiles", weights="learn", h=5),
], ids=["conformal", "conformal-series", "conformal-scaled-signed", "fallback", "ensemble", "ensemble-learn"])
def test_wrappers_pass_the_contract(model):
    y = af.datasets.simulate_ar([0.6], n_series=4, length=120, seed=1)
    check_forecaster(model, y, h=5)
