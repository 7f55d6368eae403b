"""Next-step distributions against scipy.stats and hand-made cases."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as st
import torch
from hypothesis import given, settings
from hypothesis import strategies as hs

from arforecast.distributions import Categorical, Empirical, Normal, StudentT

U = np.array([1e-12, 1e-6, 1e-3, 0.025, 0.1, 0.3, 0.5, 0.7, 0.9, 0.975, 0.999, 1 - 1e-9])


def t64(x):
    return torch.as_tensor(np.array(x, dtype=np.float64))


# --------------------------------------------------------------------------- Normal
def test_normal_against_scipy():
    loc, scale = t64([0.0, -3.0, 100.0]), t64([1.0, 0.2, 15.0])
    d = Normal(loc[:, None], scale[:, None])
    ref = st.norm(loc.numpy()[:, None], scale.numpy()[:, None])
    x = ref.ppf(U)
    np.testing.assert_allclose(d.icdf(t64(U)).numpy(), x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(d.log_prob(t64(x)).numpy(), ref.logpdf(x), rtol=1e-12)
    np.testing.assert_allclose(d.cdf(t64(x)).numpy(), ref.cdf(x), rtol=1e-9)
    np.testing.assert_allclose(d.quantile(0.9).numpy().ravel(), ref.ppf(0.9).ravel(), rtol=1e-12)


# --------------------------------------------------------------------------- Student-t
@pytest.mark.parametrize("df", [0.5, 1.0, 1.7, 2.0, 3.0, 4.5, 10.0, 30.0, 1e3, 1e6])
def test_student_t_against_scipy(df):
    loc, scale = 2.0, 3.0
    d = StudentT(t64(loc), t64(scale), t64(df))
    ref = st.t(df, loc, scale)
    x = ref.ppf(U)
    np.testing.assert_allclose(d.icdf(t64(U)).numpy(), x, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(d.log_prob(t64(x)).numpy(), ref.logpdf(x), rtol=1e-10)
    np.testing.assert_allclose(d.cdf(t64(x)).numpy(), ref.cdf(x), rtol=1e-9, atol=1e-15)


def test_student_t_moments_and_batching():
    df = t64([0.8, 1.5, 3.0, 8.0])
    d = StudentT(t64([1.0, 2.0, 3.0, 4.0]), t64([2.0, 2.0, 2.0, 2.0]), df)
    mean, var = d.mean.numpy(), d.variance.numpy()
    assert np.isnan(mean[0]) and np.isnan(var[0]) and np.isinf(var[1])
    np.testing.assert_allclose(mean[1:], [2.0, 3.0, 4.0])
    np.testing.assert_allclose(var[2:], [st.t(3.0, scale=2).var(), st.t(8.0, scale=2).var()])
    u = t64([0.1, 0.4, 0.6, 0.95])
    batched = d.icdf(u).numpy()
    np.testing.assert_allclose(batched, st.t.ppf(u.numpy(), df.numpy(), loc=[1, 2, 3, 4], scale=2),
                               rtol=1e-10)
    # float32 parameters give float32 results with float32 accuracy.
    d32 = StudentT(torch.zeros(3), torch.ones(3), torch.tensor([2.5, 5.0, 9.0]))
    q = d32.icdf(torch.tensor([0.01, 0.5, 0.99]))
    assert q.dtype == torch.float32
    np.testing.assert_allclose(q.numpy(), st.t.ppf([0.01, 0.5, 0.99], [2.5, 5.0, 9.0]), rtol=1e-6)


@settings(max_examples=40, deadline=None)
@given(df=hs.floats(0.6, 200.0), x=hs.floats(-50.0, 50.0))
def test_student_t_cdf_icdf_round_trip(df, x):
    d = StudentT(t64(0.0), t64(1.0), t64(df))
    u = d.cdf(t64(x))
    # Upper-tail u = 1 - tiny keeps few significant digits of the tail mass; the lower tail keeps all.
    if 1e-300 < float(u) < 1 - 1e-8:
        assert float(d.icdf(u)) == pytest.approx(x, rel=1e-7, abs=1e-9)


# --------------------------------------------------------------------------- Categorical
def test_categorical_moments_and_log_prob():
    probs = np.array([0.1, 0.4, 0.2, 0.3])
    centers = np.array([-1.0, 0.5, 2.0, 4.0])
    d = Categorical(t64(np.log(probs)), t64(centers))
    assert float(d.mean) == pytest.approx(probs @ centers)
    assert float(d.variance) == pytest.approx(probs @ (centers - probs @ centers) ** 2)
    assert float(d.mode) == 0.5
    # log_prob of a real value is the log mass of the bin it falls in, edges halfway between centers.
    x = t64([-5.0, -1.0, -0.26, -0.24, 0.5, 1.2, 1.3, 3.0, 3.1, 100.0])
    expected_bins = [0, 0, 0, 1, 1, 1, 2, 2, 3, 3]
    for xi, k in zip(x, expected_bins):
        assert float(d.log_prob(xi)) == pytest.approx(np.log(probs[k]))
    np.testing.assert_allclose(d.cdf(t64(centers)).numpy(), np.cumsum(probs), rtol=1e-12)


def test_categorical_round_trip_by_inverse_cdf():
    # On a fine grid of uniforms the inverse CDF reproduces every bin's mass (to the grid step),
    # and mapping the drawn values back to bins recovers the bin each came from.
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(7), size=3)
    centers = np.sort(rng.normal(size=(3, 7)), axis=1) * np.array([[1.0], [10.0], [0.1]])
    d = Categorical(t64(np.log(probs))[:, None, :].expand(3, 1000, 7),
                    t64(centers)[:, None, :])
    u = (np.arange(1000) + 0.5) / 1000
    values = d.icdf(t64(np.broadcast_to(u, (3, 1000)))).numpy()
    bins = d.bin_of(t64(values)).numpy()
    for r in range(3):
        np.testing.assert_array_equal(centers[r][bins[r]], values[r])
        freq = np.bincount(bins[r], minlength=7) / 1000
        np.testing.assert_allclose(freq, probs[r], atol=1.5e-3)


def test_categorical_top_p_keeps_smallest_set_reaching_p():
    probs = np.array([0.1, 0.4, 0.2, 0.3])
    d = Categorical(t64(np.log(probs)), t64([0.0, 1.0, 2.0, 3.0]))
    kept = lambda p: set(np.flatnonzero(d.top_p(p).probs.numpy() > 0))  # noqa: E731
    assert kept(0.3) == {1}                 # 0.4 alone reaches 0.3
    assert kept(0.4) == {1}                 # ... and exactly 0.4
    assert kept(0.41) == {1, 3}
    assert kept(0.7) == {1, 3}              # 0.4 + 0.3 reaches 0.7 exactly
    assert kept(0.71) == {1, 3, 2}
    assert kept(0.95) == {0, 1, 2, 3}
    assert kept(1.0) == {0, 1, 2, 3}
    np.testing.assert_allclose(d.top_p(0.65).probs.numpy(), [0, 0.4 / 0.7, 0, 0.3 / 0.7])


def test_categorical_top_k_and_temperature():
    logits = t64([[1.0, 3.0, 2.0, 0.0], [0.0, -1.0, 5.0, 4.0]])
    d = Categorical(logits, t64([0.0, 1.0, 2.0, 3.0]))
    probs = d.top_k(2).probs.numpy()
    np.testing.assert_array_equal(probs > 0, [[0, 1, 1, 0], [0, 0, 1, 1]])
    np.testing.assert_allclose(probs.sum(1), 1.0)
    np.testing.assert_allclose(d.with_temperature(2.0).probs.numpy(),
                               torch.softmax(logits / 2, -1).numpy())
    # Cold temperature: all mass on the mode; the inverse CDF then returns the mode for any u.
    cold = d.with_temperature(1e-4)
    np.testing.assert_array_equal(cold.icdf(t64([1e-9, 1 - 1e-9])).numpy(), d.mode.numpy())
    with pytest.raises(ValueError):
        d.top_k(0)
    with pytest.raises(ValueError):
        d.with_temperature(0.0)
    with pytest.raises(ValueError):
        d.top_p(0.0)


def test_categorical_icdf_never_hits_a_masked_bin():
    # float32 cumulative sums do not end exactly at 1; uniforms close to 1 must still land on a
    # kept bin, never on the trailing bins that top_k removed.
    logits = torch.randn(64, 4096, generator=torch.Generator().manual_seed(0))
    d = Categorical(logits, torch.linspace(-1, 1, 4096)).top_k(5)
    kept = d.probs > 0
    for u in (1e-12, 0.5, 1 - 1e-12, 1 - 2 ** -53):
        v = d.icdf(torch.full((64,), u, dtype=torch.float64))
        idx = d.bin_of(v)
        assert kept.gather(1, idx[:, None]).all()


# --------------------------------------------------------------------------- Empirical
def test_empirical_quantiles_are_inverted_cdf_sample_quantiles():
    rng = np.random.default_rng(0)
    res = rng.standard_t(3, size=(2, 37))
    loc = np.array([10.0, -4.0])
    d = Empirical(t64(loc), t64(res))
    for q in (0.01, 0.1, 0.5, 0.77, 0.99):
        expected = loc + np.quantile(res, q, axis=1, method="inverted_cdf")
        np.testing.assert_allclose(d.quantile(q).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(d.mean.numpy(), loc + res.mean(1))
    # Uniforms on a grid hit every residual equally often.
    u = (np.arange(37 * 20) + 0.5) / (37 * 20)
    draws = d.icdf(t64(np.broadcast_to(u[:, None], (len(u), 2)))).numpy()
    for r in range(2):
        vals, counts = np.unique(draws[:, r], return_counts=True)
        np.testing.assert_allclose(np.sort(vals), np.sort(loc[r] + res[r]))
        assert set(counts) == {20}
    with pytest.raises(NotImplementedError):
        d.log_prob(t64(0.0))


def test_sample_uses_the_generator():
    d = StudentT(t64([0.0, 1.0]), t64([1.0, 1.0]), t64(4.0))
    a = d.sample(torch.Generator().manual_seed(3))
    b = d.sample(torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == (2,)


@pytest.mark.parametrize("K", [5, 128, 1000, 4096])
def test_categorical_icdf_matches_numpy_inverse_cdf(K):
    # The two-level search (used above 128 bins) against numpy's search of the full float64 CDF;
    # bins of zero mass (a third of them) are never returned.
    rng = np.random.default_rng(K)
    probs = rng.dirichlet(np.full(K, 0.3), size=50) * (rng.uniform(size=(50, K)) > 1 / 3)
    probs /= probs.sum(1, keepdims=True)
    with np.errstate(divide="ignore"):
        d = Categorical(t64(np.log(probs)), t64(np.arange(K, dtype=float)))
    u = rng.uniform(size=50)
    got = d.icdf(t64(u)).numpy().astype(int)
    cdf = np.cumsum(probs, 1)
    expected = np.array([np.searchsorted(cdf[r], u[r]) for r in range(50)])
    near_edge = np.array([np.min(np.abs(cdf[r] - u[r])) < 1e-12 for r in range(50)])
    np.testing.assert_array_equal(got[~near_edge], expected[~near_edge])
    assert (probs[np.arange(50), got] > 0).all()


@settings(max_examples=50, deadline=None)
@given(seed=hs.integers(0, 10 ** 6), K=hs.integers(1, 300), p=hs.floats(0.01, 1.0))
def test_top_p_is_the_smallest_set_reaching_p(seed, K, p):
    probs = np.random.default_rng(seed).dirichlet(np.full(K, 0.5))
    kept = Categorical(t64(np.log(probs)), t64(np.arange(K, dtype=float))).top_p(p).probs.numpy() > 0
    mass = np.sort(probs[kept])
    assert mass.sum() >= p - 1e-9                                  # reaches p ...
    assert mass.size == 1 or mass[1:].sum() < p + 1e-9             # ... and no smaller set would
    assert probs[~kept].max(initial=0) <= mass.min()               # it holds the most likely bins


def test_empirical_ragged_table_with_index():
    # Series with different numbers of residuals share one NaN-padded table, rows pick a series.
    rng = np.random.default_rng(3)
    r0, r1 = rng.normal(size=7), rng.normal(size=4)
    table = np.full((2, 7), np.nan)
    table[0], table[1, :4] = r0, r1
    index, loc = np.array([1, 0, 1]), np.array([1.0, 2.0, 3.0])
    d = Empirical(t64(loc), t64(table), counts=torch.tensor([7, 4]), index=torch.tensor(index))
    sets = [r0, r1]
    for q in (0.01, 0.3, 0.5, 0.99):
        expected = [loc[b] + np.quantile(sets[index[b]], q, method="inverted_cdf") for b in range(3)]
        np.testing.assert_allclose(d.quantile(q).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(d.mean.numpy(), loc + [r1.mean(), r0.mean(), r1.mean()], rtol=1e-12)
    np.testing.assert_allclose(d.variance.numpy(), [r1.var(), r0.var(), r1.var()], rtol=1e-12)
