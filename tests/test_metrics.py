"""Metrics against hand-computed values, closed forms and utilsforecast (an independent implementation)."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from hypothesis import given, settings, strategies as st

from arforecast import metrics

ulosses = pytest.importorskip("utilsforecast.losses")

RNG = np.random.default_rng(7)
Y = RNG.uniform(1, 10, size=(3, 6))
F = Y + RNG.normal(size=(3, 6))
INSAMPLE = [RNG.uniform(1, 10, size=n) for n in (20, 25, 30)]


def long_frame(**cols):
    n, h = Y.shape
    base = {"unique_id": np.repeat([f"s{i}" for i in range(n)], h), "ds": np.tile(np.arange(h), n), "y": Y.ravel()}
    base.update({k: v.ravel() for k, v in cols.items()})
    return pd.DataFrame(base)


def test_hand_computed_values():
    y, f = np.array([[2.0, 4.0]]), np.array([[1.0, 5.0]])
    assert metrics.mae(y, f)[0] == 1.0
    assert metrics.rmse(y, f)[0] == 1.0
    assert metrics.smape(y, f)[0] == pytest.approx(100 * (1 / 3 + 1 / 9))
    # in-sample seasonal differences with m=1: |3-1|, |2-3| -> scale 1.5
    assert metrics.mase(y, f, [np.array([1.0, 3.0, 2.0])], 1)[0] == pytest.approx(1 / 1.5)
    lo, hi = np.array([[1.5, 4.5]]), np.array([[3.0, 6.0]])
    assert metrics.coverage(y, lo, hi)[0] == 0.5
    # width 1.5 each, second point below lower by 0.5: penalty 2/0.05*0.5 = 20
    assert metrics.msis(y, lo, hi, [np.array([1.0, 3.0, 2.0])], 1, level=0.95)[0] == pytest.approx((1.5 + 1.5 + 20) / 2 / 1.5)
    assert metrics.owa(10.0, 1.0, 20.0, 2.0) == 0.5
    ql = metrics.pinball_loss(y, np.array([[[1.0, 5.0]]]), [0.9])
    assert ql[0, 0] == pytest.approx((0.9 * 1 + 0.1 * 1) / 2)


def test_smape_mae_rmse_match_utilsforecast():
    df = long_frame(model=F)
    ref_smape = ulosses.smape(df, ["model"]).set_index("unique_id")["model"].to_numpy()
    np.testing.assert_allclose(metrics.smape(Y, F), 200 * ref_smape, rtol=1e-12)
    np.testing.assert_allclose(metrics.mae(Y, F), ulosses.mae(df, ["model"])["model"], rtol=1e-12)
    np.testing.assert_allclose(metrics.rmse(Y, F), ulosses.rmse(df, ["model"])["model"], rtol=1e-12)


def test_mase_matches_utilsforecast():
    df = long_frame(model=F)
    train = pd.DataFrame({"unique_id": np.repeat([f"s{i}" for i in range(3)], [len(s) for s in INSAMPLE]),
                          "ds": np.concatenate([np.arange(len(s)) for s in INSAMPLE]), "y": np.concatenate(INSAMPLE)})
    ref = ulosses.mase(df, ["model"], seasonality=4, train_df=train)["model"].to_numpy()
    np.testing.assert_allclose(metrics.mase(Y, F, INSAMPLE, 4), ref, rtol=1e-12)


def test_quantile_loss_and_wql_match_utilsforecast():
    qs = np.array([0.1, 0.5, 0.9])
    qhat = np.stack([F - 1, F, F + 1])
    df = long_frame(**{f"m-q{int(q * 100)}": qhat[k] for k, q in enumerate(qs)})
    models = {"m": [f"m-q{int(q * 100)}" for q in qs]}
    ref = ulosses.mqloss(df, models, quantiles=qs)["m"].to_numpy()
    np.testing.assert_allclose(metrics.pinball_loss(Y, qhat, qs).mean(axis=0), ref, rtol=1e-12)
    one = df[df.unique_id == "s0"]
    ref_wql = ulosses.scaled_crps(one, models, quantiles=qs)["m"].iloc[0]
    assert metrics.weighted_quantile_loss(Y[:1], qhat[:, :1], qs) == pytest.approx(ref_wql, rel=1e-9)


def test_crps_from_samples_equals_pairwise_definition_and_normal_closed_form():
    samples = RNG.normal(size=(2, 50, 3))
    y = RNG.normal(size=(2, 3))
    brute = (np.abs(samples - y[:, None]).mean(1)
             - 0.5 * np.abs(samples[:, :, None] - samples[:, None, :]).mean((1, 2)))
    np.testing.assert_allclose(metrics.crps_from_samples(y, samples), brute.mean(1), rtol=1e-12)
    # Normal(0,1) at y=0.3: closed form sigma*(z(2Phi(z)-1) + 2phi(z) - 1/sqrt(pi))
    z = 0.3
    exact = z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi)
    big = np.random.default_rng(1).normal(size=(1, 40_000, 1))
    assert metrics.crps_from_samples(np.array([[z]]), big)[0] == pytest.approx(exact, abs=5e-3)


def test_coverage_matches_utilsforecast():
    lo, hi = F - 1, F + 1
    df = long_frame(**{"m-lo-90": lo, "m-hi-90": hi})
    ref = ulosses.coverage(df, ["m"], level=90)["m"].to_numpy()
    np.testing.assert_allclose(metrics.coverage(Y, lo, hi), ref, rtol=1e-12)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.mae(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="MASE with season_length=24 needs more than 24"):
        metrics.mase(np.zeros((1, 2)), np.zeros((1, 2)), [np.arange(10.0)], 24)


def test_per_value_scores_are_what_the_series_means_average():
    rng = np.random.default_rng(4)
    y, samples = rng.normal(size=(3, 5)), rng.normal(size=(3, 40, 5))
    lo, hi = y - 1.0, y + rng.uniform(-2, 2, size=(3, 5))
    per_step = metrics.crps_per_step(y, samples)
    assert per_step.shape == (3, 5)
    np.testing.assert_allclose(per_step.mean(1), metrics.crps_from_samples(y, samples), rtol=1e-12)
    unit = [np.arange(10.0)] * 3                      # seasonal scale 1 with m = 1
    np.testing.assert_allclose(metrics.interval_score(y, lo, hi, 0.9).mean(1), metrics.msis(y, lo, hi, unit, 1, 0.9))
    y_nan = y.copy()
    y_nan[0, 2] = np.nan
    assert np.isnan(metrics.crps_per_step(y_nan, samples)[0, 2]) and np.isfinite(metrics.crps_per_step(y_nan, samples)[1]).all()


def test_per_value_scores_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="samples"):
        metrics.crps_per_step(np.zeros((3, 5)), np.zeros((3, 40, 4)))
    with pytest.raises(ValueError, match="shape"):
        metrics.interval_score(np.zeros((3, 5)), np.zeros((3, 5)), np.zeros((3, 4)))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(float("nan"))), min_size=3, max_size=40), st.integers(1, 3),
       st.integers(0, 2 ** 31 - 1))
def test_lag_abs_means_equals_a_loop_over_overlapping_segments(values, lag, seed):
    """The shared MASE-scale kernel against the plain per-segment nanmean, with missing values and
    overlapping segments (backtest windows)."""
    from arforecast.data.panel import lag_abs_means
    v = np.asarray(values)
    rng = np.random.default_rng(seed)
    if len(v) <= lag + 1:
        return
    starts = rng.integers(0, len(v) - lag - 1, size=5)
    lengths = np.array([rng.integers(lag + 1, len(v) - a + 1) for a in starts])
    got = lag_abs_means(v, starts, lengths, lag)
    for a, n, g in zip(starts, lengths, got):
        d = np.abs(v[a + lag:a + n] - v[a:a + n - lag])
        want = np.nan if np.isnan(d).all() else np.nanmean(d)
        np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-9, equal_nan=True)


def test_lag_abs_means_refuses_segments_too_short_for_the_lag():
    from arforecast.data.panel import lag_abs_means
    with pytest.raises(ValueError, match="more than lag=2"):
        lag_abs_means(np.arange(5.0), np.array([0]), np.array([2]), 2)
    with pytest.raises(ValueError, match="lag=0"):
        lag_abs_means(np.arange(5.0), np.array([0]), np.array([5]), 0)
    assert lag_abs_means(np.arange(5.0), np.array([], dtype=int), np.array([], dtype=int), 1).shape == (0,)
