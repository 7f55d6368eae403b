"""The combination of the automatic AR(): its point forecast is the weighted mean of its members'
(each the AR with that d and trend), the weights are tempered Akaike weights, the sample paths
agree with the intervals, re-conditioning works, and constant and short series keep a defined
forecast."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.signal import lfilter
from scipy.stats import t as student_t

import arforecast as af
from arforecast.models import ar_combination as C

H = 8


def _frame(series, freq="QS"):
    return pd.concat([pd.DataFrame({"unique_id": f"s{i}", "ds": pd.date_range("1990-01-01", periods=len(y), freq=freq),
                                    "y": y}) for i, y in enumerate(series)], ignore_index=True)


@pytest.fixture(scope="module")
def panel():
    rng = np.random.default_rng(5)
    walk = 100 + np.cumsum(0.5 + rng.normal(size=60))
    stationary = 20 + lfilter([1.0], [1.0, -0.6, 0.3], rng.normal(size=80))
    trend = 50 + 0.8 * np.arange(45) + rng.normal(size=45)
    return _frame([walk, stationary, trend])


def test_point_is_the_weighted_mean_of_the_members(panel):
    model = af.AR().fit(panel)
    assert [m.d for m in model.members_] == [0, 1, 1] and [m.trend for m in model.members_] == ["c", "c", "n"]
    w = model.member_weights_
    np.testing.assert_allclose(w.sum(axis=0), 1.0)
    auto_alone = af.AR(combine=False).fit(panel).predict(H).point
    members = [auto_alone] + [af.AR(d=d, trend=trend).fit(panel).predict(H).point
                              for _, d, trend in C.member_specs()]
    np.testing.assert_allclose(model.predict(H).point, np.einsum("kn,knh->nh", w, np.stack(members)), rtol=1e-10)


def test_weights_are_tempered_akaike_weights():
    sigma2 = np.array([[1.0, 2.0], [1.5, 2.0]])
    nobs = np.array([[40, 30], [39, 30]])
    k = np.array([[2, 1], [3, 1]])
    w = C.member_weights(sigma2, nobs, k, temperature=4.0)
    n = 39.0
    ic = [n * np.log(1.0) + 2 * 3 + 2 * 3 * 4 / (n - 4), n * np.log(1.5) + 2 * 4 + 2 * 4 * 5 / (n - 5)]
    a = np.exp(-0.5 * (np.array(ic) - min(ic)) / 4.0)
    np.testing.assert_allclose(w[:, 0], a / a.sum())
    np.testing.assert_allclose(w[:, 1], [0.5, 0.5])                 # equal fits: equal weights


def test_combined_sd_of_members_driven_by_one_innovation():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 3, 5))
    w = np.array([[0.3, 0.5, 1.0], [0.7, 0.5, 0.0]])
    mix = w[0][:, None] * a + w[1][:, None] * b
    np.testing.assert_allclose(C.combined_sd([a, b], w), np.sqrt(np.cumsum(mix ** 2, axis=1)))


def test_intervals_are_student_t_and_paths_match_their_variance(panel):
    model = af.AR().fit(panel)
    fc = model.predict(H, num_samples=20_000, seed=3)
    lo, hi = fc.interval_values(0.95)
    df = fc.marginals.df.numpy()                       # [n, h]: each series' df on every step
    scale = (hi - lo) / (2 * student_t.ppf(0.975, df))
    np.testing.assert_allclose((hi + lo) / 2, fc.point, rtol=1e-10)
    # the paths carry the same variance (Normal): their sd within 3% of the marginal scale
    np.testing.assert_allclose(fc.samples.std(axis=1), scale, rtol=0.03)
    np.testing.assert_allclose(fc.samples.mean(axis=1), fc.point, atol=0.05 * scale.max())
    # wider than the members' own Normal intervals: the estimation and model terms add variance
    plain = af.AR(combine=False).fit(panel).predict(H).interval_values(0.95)
    assert np.all(hi - lo >= plain[1] - plain[0] - 1e-9)


def test_same_seed_same_paths(panel):
    model = af.AR().fit(panel)
    a = model.predict(4, num_samples=50, seed=7).samples
    np.testing.assert_array_equal(a, model.predict(4, num_samples=50, seed=7).samples)


def test_new_history_reconditions_every_member(panel):
    model = af.AR().fit(panel)
    by = panel.groupby("unique_id", sort=False)
    newer = panel[(by.cumcount() < by["y"].transform("size") - 3).to_numpy()]
    fc = model.predict(H, y=newer)
    rows = np.arange(3)
    members = [model] + model.members_
    from arforecast.data.frames import to_panel
    p = to_panel(newer)
    expected = sum(model.member_weights_[k][:, None] * m._paths(p, rows, H, None, None)[0]
                   for k, m in enumerate(members))
    np.testing.assert_allclose(fc.point, expected, rtol=1e-10)


def test_constant_and_short_series_keep_a_defined_forecast():
    ys = [np.full(30, 5.0), np.array([1.0, 2.0, 3.0]), np.ones(4), np.r_[np.zeros(10), np.ones(10)]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model = af.AR().fit(_frame(ys, freq="MS"))
    fc = model.predict(H, num_samples=10, seed=0)
    lo, hi = fc.interval_values(0.9)
    assert np.isfinite(fc.point).all() and np.isfinite(lo).all() and np.isfinite(hi).all()
    np.testing.assert_allclose(fc.point[0], 5.0)                    # a constant stays constant
    np.testing.assert_allclose(fc.point[2], 1.0)
    assert np.isfinite(fc.samples).all()


def test_combine_needs_the_automatic_mode():
    with pytest.raises(ValueError, match="combine"):
        af.AR(p=2, combine=True).fit(_frame([np.arange(30.0)]))
    model = af.AR(d=1).fit(_frame([np.arange(30.0) + np.sin(np.arange(30))]))
    assert not hasattr(model, "members_")                          # an explicit d: one model
