"""Anomaly detection from forecast intervals, checked against closed forms (a known AR(1) whose
one- and two-step predictive laws are Normal with known moments), scipy's Normal tail
probabilities, and properties that must hold whatever the data: streaming == batch, and no
forecast ever depends on the observation it scores (or any later one)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import requires_nab
import scipy.stats as st
import torch
from hypothesis import given, settings
from hypothesis import strategies as hs

import arforecast as af
from arforecast.anomaly import (AnomalyDetector, RollingZScore, alerts, plot_anomalies,
                                suppress_repeats, tail_score)
from arforecast.anomaly.scores import (TAIL_ANCHOR, CalibrationLaw, DistributionPredictive, Recalibrated,
                                      SamplePredictive)
from arforecast.anomaly.tails import t_isf_log, t_log_sf
from arforecast.base import Forecaster
from arforecast.datasets import simulate_ar
from arforecast.distributions import Empirical, Normal, StudentT
from arforecast.exceptions import DataError, NotFittedError
from arforecast.forecasts import Forecast
from arforecast.anomaly import detect_anomalies as _detect_anomalies


def detect_anomalies(*args, **kwargs):
    """The library's call; these tests check the model's own intervals (closed forms), so they
    ask for calibration only where they mean it (the library's default is calibrate=True)."""
    kwargs.setdefault("calibrate", False)
    return _detect_anomalies(*args, **kwargs)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny tensors per step: intra-op threads only add contention on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --------------------------------------------------------------------------- test models
class KnownAR1(Forecaster):
    """``y_t = mu + phi (y_{t-1} - mu) + sigma e_t`` with known parameters (nothing is learnt).

    ``predict`` gives the exact ``h``-step Normal marginals; the Stepper methods step it."""

    def __init__(self, phi: float = 0.6, sigma: float = 1.0, mu: float = 0.0) -> None:
        self.phi, self.sigma, self.mu = phi, sigma, mu

    def _fit(self, panel):
        self.fit_lengths_ = panel.lengths.copy()

    def _predict(self, panel, h, num_samples, seed, **options):
        last = panel.values[panel.indptr[1:] - 1]
        k = np.arange(1, h + 1)
        point = self.mu + self.phi ** k[None, :] * (last[:, None] - self.mu)
        sd = np.repeat(self.sigma * np.sqrt(np.cumsum(self.phi ** (2 * (k - 1))))[None, :], len(last), 0)
        return Forecast(panel, h, point, marginals=Normal(torch.from_numpy(point), torch.from_numpy(sd)))

    def start(self, context):
        return {"last": context.values[:, -1].clone()}

    def distribution(self, state):
        last = state["last"]
        return Normal(self.mu + self.phi * (last - self.mu), torch.full_like(last, self.sigma))

    def advance(self, state, value):
        return {"last": value.to(torch.float64).clone()}


class PredictOnlyAR1(KnownAR1):
    """The same model without the rollout protocol: the detector must use ``predict(y=...)``."""

    start = distribution = advance = None  # type: ignore[assignment]


class EmpiricalAR1(KnownAR1):
    """AR(1) with a bootstrap (no ``cdf``) predictive: tail probabilities come by bisection."""

    def distribution(self, state):
        last = state["last"]
        residuals = torch.from_numpy(st.norm.ppf((np.arange(400) + 0.5) / 400) * self.sigma)
        return Empirical(self.mu + self.phi * (last - self.mu), residuals)


def ar1_frame(n_series=2, length=300, phi=0.6, seed=0):
    return simulate_ar([phi], n_series=n_series, length=length, seed=seed)


# --------------------------------------------------------------------------- scores
def test_tail_score_and_normal_tail_probability_match_scipy():
    d = DistributionPredictive(Normal(torch.zeros(5, dtype=torch.float64), torch.full((5,), 2.0, dtype=torch.float64)))
    y = np.array([0.0, 1.0, -3.0, 6.0, -9.0])
    expected = 2 * st.norm.sf(np.abs(y) / 2.0)
    np.testing.assert_allclose(d.tail_probability(y), expected, rtol=1e-10)
    np.testing.assert_allclose(tail_score(expected), -np.log10(expected))
    lo, hi = d.interval(0.95)
    np.testing.assert_allclose(hi, st.norm.ppf(0.975, scale=2.0), rtol=1e-10)
    np.testing.assert_allclose(lo, -hi)


def test_far_tails_keep_their_precision_on_both_sides():
    for dist, ref in ((Normal(torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)), st.norm),
                      (StudentT(torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64), 4.0),
                       st.t(4))):
        p = DistributionPredictive(dist).tail_probability(np.array([12.0, -12.0]))
        np.testing.assert_allclose(p, 2 * ref.sf(12.0), rtol=1e-6)


def test_alerts_keep_one_flag_per_burst():
    out = pd.DataFrame({"unique_id": ["a"] * 6 + ["b"] * 3,
                        "is_anomaly": [True, True, False, True, False, True, True, False, True]})
    assert alerts(out, cooldown=2).tolist() == [True, False, False, True, False, False, True, False, False]
    assert alerts(out, cooldown=0).tolist() == out["is_anomaly"].tolist()
    with pytest.raises(ValueError, match="cooldown"):
        suppress_repeats([True], cooldown=-1)
    assert alerts(out, cooldown=2, rule="incident").tolist() == [True] + [False] * 5 + [True, False, False]
    with pytest.raises(ValueError, match="rule"):
        suppress_repeats([True], cooldown=1, rule="burst")


@settings(max_examples=200, deadline=None)
@given(flags=hs.lists(hs.booleans(), max_size=60), cooldown=hs.integers(0, 8))
def test_incident_alerts_are_first_flags_after_a_quiet_spell(flags, cooldown):
    got = suppress_repeats(flags, cooldown, rule="incident")
    # by definition: a flag with no flag in the cooldown steps before it
    want = [f and not any(flags[max(0, i - cooldown):i]) for i, f in enumerate(flags)]
    assert got.tolist() == want
    assert not (got & ~suppress_repeats(flags, cooldown)).any()  # a subset of the cooldown's alerts


def test_sample_tail_probability_is_never_zero_and_matches_rank():
    samples = np.arange(1.0, 100.0)[None, :]  # 99 draws 1..99
    p = SamplePredictive(samples).tail_probability(np.array([1000.0]))
    assert p[0] == pytest.approx(2 / 100)
    p_mid = SamplePredictive(samples).tail_probability(np.array([50.0]))
    assert p_mid[0] == pytest.approx(1.0)


def test_bisection_tail_probability_matches_the_normal_it_discretizes():
    model = EmpiricalAR1()
    state = {"last": torch.tensor([0.0, 1.0], dtype=torch.float64)}
    pred = DistributionPredictive(model.distribution(state))
    y = np.array([2.0, -1.5])
    exact = 2 * st.norm.sf(np.abs(y - np.array([0.0, 0.6])))
    np.testing.assert_allclose(pred.tail_probability(y), exact, atol=0.006)


# --------------------------------------------------------------------------- closed forms
def test_one_step_detection_matches_closed_form():
    df = ar1_frame(n_series=2, length=200)
    out = detect_anomalies(KnownAR1(0.6), df, level=0.95, start=20, robust=False)
    assert list(out.columns) == ["unique_id", "ds", "y", "mean", "lower", "upper", "score", "is_anomaly",
                                 "incident_score", "alert"]
    assert len(out) == len(df)
    for uid, g in out.groupby("unique_id"):
        y = g["y"].to_numpy()
        scored = g.iloc[20:]
        mean = 0.6 * y[19:-1]
        np.testing.assert_allclose(scored["mean"], mean, rtol=1e-12)
        z = st.norm.ppf(0.975)
        np.testing.assert_allclose(scored["upper"], mean + z, rtol=1e-10)
        np.testing.assert_allclose(scored["lower"], mean - z, rtol=1e-10)
        p = 2 * st.norm.sf(np.abs(y[20:] - mean))
        np.testing.assert_allclose(scored["score"], -np.log10(p), rtol=1e-8)
        np.testing.assert_array_equal(scored["is_anomaly"], np.abs(y[20:] - mean) > z)
        assert g.iloc[:20]["score"].isna().all() and not g.iloc[:20]["is_anomaly"].any()


def test_two_step_detection_matches_closed_form_mixture():
    df = ar1_frame(n_series=1, length=60, seed=3)
    out = detect_anomalies(KnownAR1(0.6), df, level=0.9, h=2, num_samples=3000, start=10,
                           robust=False, seed=1)
    y = out["y"].to_numpy()
    scored = out.iloc[10:]
    mean = 0.36 * y[8:-2]
    sd = np.sqrt(1 + 0.36)
    np.testing.assert_allclose(scored["mean"], mean, atol=0.05)
    np.testing.assert_allclose(scored["upper"], mean + st.norm.ppf(0.95) * sd, atol=0.08)
    p = 2 * st.norm.sf(np.abs(y[10:] - mean) / sd)
    np.testing.assert_allclose(10 ** -scored["score"].to_numpy(), p, atol=0.03)


def test_predict_fallback_equals_stepping():
    df = ar1_frame(n_series=2, length=120)
    a = detect_anomalies(KnownAR1(0.5), df, level=0.9, start=30)
    b = detect_anomalies(PredictOnlyAR1(0.5), df, level=0.9, start=30)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-10)
    # horizon 2: exact marginals (fallback) against the sampled mixture (stepper)
    c = detect_anomalies(PredictOnlyAR1(0.5), df, level=0.9, h=2, start=30, robust=False)
    d = detect_anomalies(KnownAR1(0.5), df, level=0.9, h=2, start=30, robust=False, num_samples=2000)
    np.testing.assert_allclose(c["mean"], d["mean"], atol=0.06)


def test_empirical_predictive_without_cdf_flags_like_the_normal():
    df = ar1_frame(n_series=1, length=300)
    a = detect_anomalies(KnownAR1(0.6), df, level=0.95, start=30, robust=False)
    b = detect_anomalies(EmpiricalAR1(0.6), df, level=0.95, start=30, robust=False)
    assert (a["is_anomaly"] != b["is_anomaly"]).sum() <= 2
    np.testing.assert_allclose(10 ** -a["score"].iloc[30:], 10 ** -b["score"].iloc[30:], atol=0.01)


# --------------------------------------------------------------------------- no look-ahead
@settings(max_examples=15, deadline=None)
@given(k=hs.integers(40, 99), bump=hs.floats(-50, 50).filter(lambda b: abs(b) > 1e-3),
       horizon=hs.integers(1, 3), robust=hs.booleans())
def test_no_forecast_uses_the_observation_it_scores(k, bump, horizon, robust):
    """Changing y_k changes no forecast of points up to k + horizon - 1 (made before y_k)."""
    y = pd.Series(ar1_frame(n_series=1, length=100, seed=11)["y"].to_numpy(),
                  index=pd.date_range("2024-01-01", periods=100, freq="h"))
    y2 = y.copy()
    y2.iloc[k] += bump
    kw = dict(level=0.95, h=horizon, start=30, robust=robust, num_samples=50)
    a = detect_anomalies(KnownAR1(0.6), y, **kw)
    b = detect_anomalies(KnownAR1(0.6), y2, **kw)
    upto = min(k + horizon, 100)
    for col in ("mean", "lower", "upper"):
        np.testing.assert_array_equal(a[col].to_numpy()[:upto], b[col].to_numpy()[:upto])
    np.testing.assert_array_equal(a["score"].to_numpy()[:k], b["score"].to_numpy()[:k])


def test_detector_follows_sklearn_conventions():
    from sklearn.base import clone
    det = AnomalyDetector(KnownAR1(0.5), level=0.9, refit=10, calibrate=False)
    assert clone(det).get_params()["level"] == 0.9 and clone(det).get_params()["refit"] == 10
    assert not hasattr(det, "model_")
    df = ar1_frame(n_series=1, length=60)
    assert det.fit(df) is det and det.model.get_params() == {"phi": 0.5, "sigma": 1.0, "mu": 0.0}
    assert det.model_ is not det.model  # the user's model is cloned, never fitted in place
    assert not hasattr(det.model, "fit_lengths_")


def test_model_is_fitted_only_on_the_training_head():
    df = ar1_frame(n_series=2, length=100)
    det = AnomalyDetector(KnownAR1(), calibrate=False).fit(df.groupby("unique_id").head(40))
    assert det.model_.fit_lengths_.tolist() == [40, 40]


# --------------------------------------------------------------------------- streaming
def _stream(model, y_long, head, chunks, **kw):
    det = AnomalyDetector(model, **kw).fit(y_long.groupby("unique_id").head(head))
    rest = y_long.groupby("unique_id").apply(lambda g: g.iloc[head:], include_groups=False).reset_index(level=0)
    rest = rest.reset_index(drop=True)
    pos = rest.groupby("unique_id").cumcount()
    outs = []
    for a, b in zip(chunks[:-1], chunks[1:]):
        part = rest[(pos >= a) & (pos < b)]
        if len(part):
            outs.append(det.update(part))
    return pd.concat(outs, ignore_index=True)


@pytest.mark.parametrize("horizon,robust,refit,calibrate", [(1, True, False, False), (2, True, 17, False),
                                                            (1, False, 25, True)])
def test_streaming_flags_equal_batch(horizon, robust, refit, calibrate):
    df = ar1_frame(n_series=3, length=160, seed=5)
    df.loc[df.index[[60, 200, 420]], "y"] += 8.0  # outliers so that robust mode matters
    kw = dict(level=0.95, h=horizon, robust=robust, refit=refit, calibrate=calibrate, num_samples=64,
              seed=2)
    batch = detect_anomalies(df, KnownAR1(0.6), start=40, incidents=False, **kw)  # incidents: batch only
    stream = _stream(KnownAR1(0.6), df, 40, [0, 1, 2, 7, 30, 31, 75, 120], **kw)
    stream = stream.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)
    scored = batch.groupby("unique_id").apply(lambda g: g.iloc[40:], include_groups=False)
    scored = scored.reset_index(level=0).reset_index(drop=True)
    pd.testing.assert_frame_equal(stream, scored, check_exact=False, rtol=1e-12)
    assert batch["is_anomaly"].sum() > 0


@pytest.mark.parametrize("make", [lambda: af.AR(p=2, seasonal_lags=(12,), trend="ct"),
                                  lambda: RollingZScore(window=24)])
def test_refit_rescoring_in_one_pass_equals_stepping(make, monkeypatch):
    """After a refit the window is re-scored one prefix per row (the model's ``context_width``);
    the result must be what stepping through the window gives."""
    df = ar1_frame(n_series=2, length=400, seed=4)
    df.loc[df.index[[150, 600]], "y"] += 6.0
    kw = dict(level=0.99, refit=40, calibrate=True, start=100)
    one_pass = AnomalyDetector._batched_normal_scores
    calls = []
    monkeypatch.setattr(AnomalyDetector, "_batched_normal_scores",
                        lambda self, *args: calls.append(1) or one_pass(self, *args))
    fast = detect_anomalies(make(), df, **kw)
    assert len(calls) == 1 + 300 // 40  # the fit, then every refit
    with pytest.raises(NotFittedError):
        af.AR(p=2).context_width
    model = make()
    monkeypatch.setattr(type(model), "context_width", property(lambda self: None))
    slow = detect_anomalies(model, df, **kw)
    assert len(calls) == 1 + 300 // 40
    pd.testing.assert_frame_equal(fast, slow, check_exact=False, rtol=1e-9, atol=1e-12)
    assert fast["is_anomaly"].sum() > 0


def test_streaming_with_unequal_updates_per_series_equals_batch():
    df = ar1_frame(n_series=2, length=100, seed=9)
    batch = detect_anomalies(df, KnownAR1(0.6), start=30, level=0.9, incidents=False)
    det = AnomalyDetector(KnownAR1(0.6), level=0.9, calibrate=False).fit(df.groupby("unique_id").head(30))
    s0, s1 = (df[df.unique_id == u].iloc[30:] for u in ("s0", "s1"))
    parts = [det.update(s0.iloc[:50]), det.update(pd.concat([s0.iloc[50:], s1.iloc[:5]])),
             det.update(s1.iloc[5:])]
    got = pd.concat(parts).sort_values(["unique_id", "ds"]).reset_index(drop=True)
    want = batch[batch["score"].notna()].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)


def test_update_scores_only_new_points_and_checks_continuity():
    y = pd.Series(ar1_frame(n_series=1, length=80)["y"].to_numpy(),
                  index=pd.date_range("2024-01-01", periods=80, freq="h"))
    det = AnomalyDetector(KnownAR1(), calibrate=False).fit(y.iloc[:50])
    out = det.update(y.iloc[50:52])
    assert out["ds"].tolist() == list(y.index[50:52])
    with pytest.raises(DataError, match="continue the series"):
        det.update(y.iloc[55:60])
    with pytest.raises(DataError, match="were not in the history"):
        det.update(pd.DataFrame({"unique_id": ["other"], "ds": [y.index[52]], "y": [0.0]}))
    assert len(det.update(y.iloc[52:53])) == 1


def test_errors_are_clear():
    y = pd.Series(np.arange(50.0), index=pd.date_range("2024-01-01", periods=50, freq="h"))
    with pytest.raises(NotFittedError):
        AnomalyDetector(KnownAR1(), calibrate=False).update(y)
    with pytest.raises(ValueError, match="level"):
        detect_anomalies(KnownAR1(), y, level=150)  # 1.5 would be 1.5%: fractions and percentages are both levels
    with pytest.raises(ValueError, match="h must"):
        detect_anomalies(KnownAR1(), y, h=0)
    with pytest.raises(ValueError, match="calibrate"):
        detect_anomalies(KnownAR1(), y, calibrate="gaussian")
    with pytest.raises(DataError, match="training values"):
        detect_anomalies(RollingZScore(window=30), y, start=10)


# --------------------------------------------------------------------------- missing values
def test_missing_values_are_not_scored_and_the_mean_is_fed_forward():
    y = pd.Series(ar1_frame(n_series=1, length=60)["y"].to_numpy(),
                  index=pd.date_range("2024-01-01", periods=60, freq="h"))
    y.iloc[[30, 31, 45]] = np.nan
    out = detect_anomalies(KnownAR1(0.6), y, start=10, level=0.95)
    assert out["score"].iloc[[30, 31, 45]].isna().all()
    assert not out["is_anomaly"].iloc[[30, 31, 45]].any()
    # the forecast of 32 is made from the imputed mean of 31, itself phi * mean of 30
    m30 = 0.6 * y.iloc[29]
    assert out["mean"].iloc[32] == pytest.approx(0.6 * 0.6 * m30)
    assert np.isnan(out["y"].iloc[30])


# --------------------------------------------------------------------------- robustness
@pytest.mark.parametrize("replace_with,share", [("mean", 1 / 3), ("bound", 0.6)])
def test_robust_mode_keeps_outliers_out_of_the_next_forecasts(replace_with, share):
    df = ar1_frame(n_series=4, length=400, phi=0.9, seed=21)
    spikes = np.arange(60, 1600, 23)
    df.loc[df.index[spikes], "y"] += 12.0
    truth = np.zeros(len(df), dtype=bool)
    truth[spikes] = True
    plain = detect_anomalies(KnownAR1(0.9), df, level=0.99, robust=False)
    robust = detect_anomalies(KnownAR1(0.9), df, level=0.99, robust=True, replace_with=replace_with)
    fp_plain = int((plain["is_anomaly"] & ~truth).sum())
    fp_robust = int((robust["is_anomaly"] & ~truth).sum())
    # Without robustness the point after each spike is forecast from the spike (an error of
    # about -10.8) and flagged. Fed the mean, its error is e_t+1 + 0.9 e_t: flagged 6% of the
    # time; fed the bound (2.58 above the mean), 0.9 (e_t - 2.58) + e_t+1: about 42%.
    assert fp_robust < fp_plain * share
    assert robust["is_anomaly"].to_numpy()[spikes].mean() >= plain["is_anomaly"].to_numpy()[spikes].mean()


def test_robust_run_cap_learns_a_level_shift():
    walk = np.cumsum(np.random.default_rng(0).normal(size=200)) + np.r_[np.zeros(100), np.full(100, 20.0)]
    y = pd.Series(walk, index=pd.date_range("2024-01-01", periods=200, freq="h"))
    for replace_with in ("mean", "bound"):
        capped = detect_anomalies(KnownAR1(1.0), y, start=50, robust=3, replace_with=replace_with)
        assert capped["is_anomaly"].iloc[100:103].all()  # the jump, replaced 3 times, then learnt
        assert capped["is_anomaly"].iloc[104:].sum() <= 3
    # without a cap, the mean never lets the shift in; the bound climbs 2.58 per step towards it
    forever = detect_anomalies(KnownAR1(1.0), y, start=50, robust=10 ** 6, replace_with="mean")
    assert forever["is_anomaly"].iloc[104:].sum() > 80
    climbing = detect_anomalies(KnownAR1(1.0), y, start=50, robust=10 ** 6, replace_with="bound")
    assert 3 <= climbing["is_anomaly"].iloc[100:115].sum() <= 12
    assert climbing["is_anomaly"].iloc[115:].sum() <= 3


@pytest.mark.parametrize("make", [lambda: KnownAR1(0.6), lambda: RollingZScore(window=24)])
def test_rescoring_after_a_refit_scores_what_was_observed(make):
    """The window re-scored after a refit must hold the scores the stream gave: forecasts from the
    values fed (robust replacements included), judged against the values observed. Scoring the
    replacements would drop every flagged point's large score and thin the calibration's tail.
    The two models learn nothing, so the refit changes no forecast (stepping and batched paths)."""
    df = ar1_frame(n_series=2, length=400, seed=8)
    df.loc[df.index[[220, 260, 300, 630, 700]], "y"] += 9.0
    det = AnomalyDetector(make(), level=0.99, calibrate=True, robust=True, refit=150)
    det.fit(df.groupby("unique_id").head(200))
    first = det.update(df.groupby("unique_id").nth(list(range(200, 349))))
    assert first["is_anomaly"].sum() >= 5
    streamed = [list(z) for z in det.normal_scores_]
    det.update(df.groupby("unique_id").nth(349))  # the 150th step: refit and re-score
    for before, after in zip(streamed, det.normal_scores_):
        assert len(after) == 175  # the second half of the 350 values seen
        np.testing.assert_allclose(after[:-1], before[-174:], rtol=1e-9, atol=1e-12)
        assert max(np.abs(after)) > 5


def test_replace_with_is_checked():
    with pytest.raises(ValueError, match="replace_with"):
        AnomalyDetector(KnownAR1(), replace_with="median", calibrate=False).fit(ar1_frame(n_series=1, length=50))


# --------------------------------------------------------------------------- calibration
def test_calibration_on_simulated_ar_known_model():
    df = ar1_frame(n_series=4, length=1500, seed=4)
    for level in (0.95, 0.99):
        out = detect_anomalies(KnownAR1(0.6), df, level=level, robust=False)
        rate = out.loc[out["score"].notna(), "is_anomaly"].mean()
        assert 0.5 * (1 - level) <= rate <= 2 * (1 - level)


def heavy_tailed_ar1(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    e = 2.0 * rng.standard_t(3, size=n)
    y = np.zeros(n)
    for t in range(1, n):
        y[t] = 0.6 * y[t - 1] + e[t]
    return pd.Series(y, index=pd.date_range("2024-01-01", periods=n, freq="h"))


def test_recalibration_fixes_an_overconfident_model():
    """A Normal(sigma=1) model of Student-t(3) noise with scale 2 flags far too much; judged by
    the Student-t fitted to its normal scores, the flag rate is back near 1 - level, and scores
    agree with the interval."""
    y = heavy_tailed_ar1()
    raw = detect_anomalies(KnownAR1(0.6, sigma=1.0), y, level=0.99, robust=False)
    cal = detect_anomalies(KnownAR1(0.6, sigma=1.0), y, level=0.99, robust=False, calibrate=True)
    scored = cal[cal["score"].notna()]
    assert raw.loc[raw["score"].notna(), "is_anomaly"].mean() > 0.2
    assert 0.005 <= scored["is_anomaly"].mean() <= 0.02
    np.testing.assert_array_equal(scored["is_anomaly"], scored["score"] > 2)
    assert np.isfinite(scored[["lower", "upper"]].to_numpy()).all()


def test_recalibration_leaves_a_calibrated_model_calibrated():
    df = ar1_frame(n_series=3, length=1500, seed=4)
    out = detect_anomalies(KnownAR1(0.6), df, level=0.99, robust=False, calibrate=True)
    assert 0.005 <= out.loc[out["score"].notna(), "is_anomaly"].mean() <= 0.02


def uniform_noise(n=4000, seed=0):
    """i.i.d. uniform noise of unit variance: bounded, so Normal tails never reach 1% of it."""
    e = np.random.default_rng(seed).uniform(-np.sqrt(3), np.sqrt(3), size=n)
    return pd.Series(e, index=pd.date_range("2024-01-01", periods=n, freq="h"))


def test_conformal_calibration_flags_one_percent_of_bounded_noise():
    """A Normal(0, 1) forecast of uniform noise never leaves its 99% interval (|z| <= 1.73 <
    2.58); a Student-t fitted to the normal scores cannot fix that, their ranks do."""
    y = uniform_noise()
    kw = dict(level=0.99, robust=False, start=1000)
    rate = {}
    for calibrate in (False, "student_t", True):
        out = detect_anomalies(KnownAR1(0.0, sigma=1.0), y, calibrate=calibrate, **kw)
        rate[calibrate] = out.loc[out["score"].notna(), "is_anomaly"].mean()
    assert rate[False] == 0.0 and rate["student_t"] < 0.005
    assert 0.005 <= rate[True] <= 0.02


def test_calibration_law_is_continuous_at_the_anchor_and_monotone():
    z = np.random.default_rng(3).standard_t(4, size=1500)
    law = CalibrationLaw(z)
    a = law.anchor
    assert a == np.sort(np.abs(z))[-TAIL_ANCHOR]
    at, above = law.log_p(np.array([a, np.nextafter(a, np.inf)]))
    assert at == pytest.approx(np.log((TAIL_ANCHOR + 1) / 1501)) and above == pytest.approx(at, abs=1e-9)
    grid = np.sort(np.concatenate([np.linspace(0, 2 * a, 4001), [10.0, 100.0, 1e4, 1e8]]))
    log_p = law.log_p(grid)
    assert np.all(np.diff(log_p) <= 0) and np.isfinite(log_p).all()
    assert law.log_p(np.array([0.0]))[0] == 0.0 and law.log_p(np.array([-1.0]))[0] == law.log_p(np.array([1.0]))[0]
    assert np.isnan(law.log_p(np.array([np.nan]))[0])


def exceedance_ratio(law_of, dist, alpha: float, n: int = 2000, reps: int = 20) -> float:
    """Mean over ``reps`` laws (each from ``n`` past scores of ``dist``) of the true share of
    ``|Z|`` beyond the law's threshold at ``alpha``, relative to ``alpha`` (1 = calibrated)."""
    rng = np.random.default_rng(11)
    return float(np.mean([2 * dist.sf(law_of(dist.rvs(size=n, random_state=rng)).threshold(alpha)) / alpha
                          for _ in range(reps)]))


@pytest.mark.parametrize("name, dist", [("normal", st.norm()), ("laplace", st.laplace()),
                                        ("t3", st.t(3)), ("logistic", st.logistic())])
def test_top_tail_puts_the_far_bound_where_the_true_law_does(name, dist):
    """Beyond the conformal body (alpha 1e-3 < 11/2001), the true exceedance probability of the
    bound stays within [0.5, 2] of alpha for Normal, exponential and power-law tails."""
    ratio = exceedance_ratio(CalibrationLaw, dist, 1e-3)
    assert 0.5 <= ratio <= 2.0, ratio


@pytest.mark.parametrize("nu", [1.0, 1.5, 4.0, 20.0, 1000.0])
def test_t_tail_stays_finite_monotone_and_invertible_far_out(nu):
    """scipy's t logsf is -inf for t_1 beyond 1e154 (x^2 overflows) and for large nu far sooner;
    the tail law must keep ranking such points and invert exactly."""
    x = np.logspace(-1, 300, 5000)
    log_sf = t_log_sf(x, nu)
    assert np.isfinite(log_sf).all() and (np.diff(log_sf) <= 1e-9).all()
    far = log_sf < -1
    np.testing.assert_allclose(t_isf_log(log_sf[far], nu), x[far], rtol=1e-10)


def test_a_tail_fitted_to_all_scores_misses_an_exponential_tail():
    """The reason for the top fit: driven by the peaked centre of a Laplace law, a Student-t
    fitted to all scores puts the 0.999 bound far too wide (flags a fraction of what it should)."""
    ratio = exceedance_ratio(lambda z: CalibrationLaw(z, tail="all"), st.laplace(), 1e-3)
    assert ratio < 0.3
    with pytest.raises(ValueError, match="tail must be one of"):
        CalibrationLaw(np.zeros(100), tail="pareto")


@pytest.mark.parametrize("mode", ["conformal", "student_t"])
def test_recalibrated_interval_agrees_with_the_tail_probability(mode):
    rng = np.random.default_rng(5)
    laws = [CalibrationLaw(2.0 * rng.standard_t(3, size=n), mode) for n in (40, 300, 2000)]
    base = DistributionPredictive(Normal(torch.tensor([0.5, -1.0, 3.0], dtype=torch.float64),
                                         torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)))
    pred = Recalibrated(base, laws)
    for level in (0.5, 0.9, 0.95, 0.99, 0.999, 0.99999):
        lower, upper = pred.interval(level)
        for _ in range(200):
            y = pred.mean + rng.standard_t(2, size=3) * (upper - pred.mean) * 0.9
            outside = (y < lower) | (y > upper)
            np.testing.assert_array_equal(outside, pred.tail_probability(y) < 1 - level)
            np.testing.assert_array_equal(outside, pred.score(y) > -np.log10(1 - level))
    y = np.array([1e3, -1e5, 1e9])  # far beyond where p underflows: finite, ordered scores
    assert np.isfinite(pred.score(y)).all() and (pred.score(2 * y) > pred.score(y)).all()


def test_student_t_quantiles_stay_ordered_far_in_the_tails():
    """Thresholds far beyond where Phi(-z) underflows (a narrow calibration law, level 0.999)
    must give a wide interval, not an inverted one."""
    base = DistributionPredictive(StudentT(torch.tensor([0.0, 1.0], dtype=torch.float64),
                                           torch.tensor([1.0, 2.0], dtype=torch.float64),
                                           torch.tensor([3.0, 1.5], dtype=torch.float64)))
    for z in (5.0, 30.0, 40.0, 128.0, 1e4):
        lo, hi = base.quantile_normal(np.array([-z, -z])), base.quantile_normal(np.array([z, z]))
        assert (lo < base.mean).all() and (hi > base.mean).all()
    np.testing.assert_allclose(base.normal_score(base.quantile_normal(np.array([-8.0, 6.0]))), [-8.0, 6.0], rtol=1e-6)


def test_rolling_zscore_calibration_on_white_noise_and_closed_form():
    rng = np.random.default_rng(0)
    y = pd.Series(rng.normal(size=3000), index=pd.date_range("2024-01-01", periods=3000, freq="5min"))
    out = detect_anomalies(RollingZScore(window=200), y, level=0.99, robust=False)
    rate = out.loc[out["score"].notna(), "is_anomaly"].mean()
    assert 0.005 <= rate <= 0.02
    k = 2000
    window = y.iloc[k - 200:k]
    assert out["mean"].iloc[k] == pytest.approx(window.mean())
    assert out["upper"].iloc[k] == pytest.approx(window.mean() + st.norm.ppf(0.995) * window.std(ddof=1))


def test_calibration_of_ar_if_available():
    AR = getattr(af, "AR", None)
    if AR is None:
        pytest.skip("arforecast.AR is not available yet")
    df = simulate_ar([0.5, -0.3], n_series=3, length=1200, seed=8)
    out = detect_anomalies(AR(p=2), df, level=0.99, robust=False)
    rate = out.loc[out["score"].notna(), "is_anomaly"].mean()
    assert 0.005 <= rate <= 0.02


@requires_nab
def test_calibration_of_bootstrap_ar_on_nab_noise_file():
    """NAB's art_noisy is bounded (uniform) noise: Normal tails never reach it, the residual
    bootstrap does; 15% of the file trains, the rest is scored."""
    AR = getattr(af, "AR", None)
    if AR is None:
        pytest.skip("arforecast.AR is not available yet")
    from arforecast.datasets_nab import load_nab_series
    y = load_nab_series("artificialNoAnomaly/art_noisy.csv")
    out = detect_anomalies(AR(p=2, bootstrap=True), y, level=0.99, robust=False)
    assert 0.005 <= out.loc[out["score"].notna(), "is_anomaly"].mean() <= 0.02


def test_rolling_zscore_is_a_forecaster_with_the_usual_contract():
    y = pd.Series(np.arange(10.0))
    m = RollingZScore(window=4)
    assert m.fit(y) is m
    fc = m.predict(3, num_samples=5, seed=0)
    assert fc.mean["mean"].tolist() == [7.5] * 3
    assert fc.samples.shape == (1, 5, 3)
    from sklearn.base import clone
    assert clone(m).get_params() == {"window": 4}


# --------------------------------------------------------------------------- plot
def test_plot_draws_band_and_flags(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    y = pd.Series(np.sin(np.arange(200) / 6), index=pd.date_range("2024-01-01", periods=200, freq="h"))
    y.iloc[[120, 160]] += 4
    out = detect_anomalies(RollingZScore(window=24), y, level=0.999, start=48)
    ax = plot_anomalies(out, windows=[(y.index[115], y.index[125])])
    assert ax.get_legend_handles_labels()[1] == ["99.9% interval", "observed", "forecast mean", "flagged", "alert",
                                                 "labelled window"]
    flagged = next(c for c in ax.collections if c.get_label() == "flagged").get_offsets()
    assert len(flagged) == int(out["is_anomaly"].sum()) >= 2
    ax.figure.savefig(tmp_path / "anomalies.png")
    assert (tmp_path / "anomalies.png").stat().st_size > 0
    with pytest.raises(ValueError, match="unique_id"):
        plot_anomalies(detect_anomalies(KnownAR1(), ar1_frame(n_series=2, length=60), start=10))
