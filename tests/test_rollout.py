"""The rollout engine against closed forms, exact numpy recursions, brute-force enumeration and
its own naive (full recomputation) mode, with toy steppers whose answers are known."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.stats as st
import torch
from hypothesis import given, settings
from hypothesis import strategies as hs

from arforecast.distributions import Categorical, Empirical, Normal, StudentT
from arforecast.rollout import Context, path_memory, rollout
from arforecast.rollout.checks import assert_chunking_invariant, assert_incremental_matches_naive


# --------------------------------------------------------------------------- toy steppers
class LinearAR:
    """y[t] = c + sum_j phi[j] * y[t-1-j] + noise, one set of coefficients per fitted series.

    The state keeps the last p values (most recent last) plus, nested, the series index, so that
    the engine's row bookkeeping (map_state over a nested dict) is exercised.
    """

    def __init__(self, c, phi, sigma, noise="normal", df=5.0, residuals=None):
        self.c = torch.as_tensor(c, dtype=torch.float64)
        self.phi = torch.as_tensor(phi, dtype=torch.float64)        # [n_series, p]
        self.sigma = torch.as_tensor(sigma, dtype=torch.float64)
        self.noise, self.df = noise, df
        self.residuals = None if residuals is None else torch.as_tensor(residuals, dtype=torch.float64)

    def start(self, context):
        p = self.phi.shape[1]
        return {"lags": context.values[:, -p:].clone(), "meta": {"series": context.series.clone()}}

    def distribution(self, state):
        s = state["meta"]["series"]
        loc = self.c[s] + (state["lags"] * self.phi[s].flip(-1)).sum(-1)
        if self.noise == "normal":
            return Normal(loc, self.sigma[s])
        if self.noise == "t":
            return StudentT(loc, self.sigma[s], self.df)
        return Empirical(loc, self.residuals[s])

    def advance(self, state, value):
        return {"lags": torch.cat([state["lags"][:, 1:], value.unsqueeze(1)], 1), "meta": state["meta"]}


class MarkovChain:
    """A categorical Markov chain over bins with real centers; the state is the current bin."""

    def __init__(self, transition, centers):
        self.log_p = torch.log(torch.as_tensor(transition, dtype=torch.float64))
        self.centers = torch.as_tensor(centers, dtype=torch.float64)

    def _bin(self, value):
        return (value.unsqueeze(-1) - self.centers).abs().argmin(-1)

    def start(self, context):
        return {"bin": self._bin(context.values[:, -1])}

    def distribution(self, state):
        return Categorical(self.log_p[state["bin"]], self.centers)

    def advance(self, state, value):
        return {"bin": self._bin(value)}


def ar_model(noise="normal"):
    phi = [[0.6, 0.2], [-0.5, 0.3], [0.9, 0.0]]
    residuals = np.random.default_rng(1).normal(size=(3, 40))
    return LinearAR([1.0, -2.0, 0.5], phi, [1.0, 0.5, 2.0], noise=noise, residuals=residuals)


def ar_context():
    return Context.from_list([[0.3, 1.0, 2.0, 1.5], [4.0, 3.0], [10.0, 9.0, 8.0]])


def numpy_ar_paths(model, context, h, u, noise="normal"):
    """Reference recursion in numpy: each step feeds back ``loc + noise quantile(u)``."""
    B, S = u.shape[:2]
    out = np.empty((B, S, h))
    phi, c, sig = model.phi.numpy(), model.c.numpy(), model.sigma.numpy()
    for b in range(B):
        hist = context.values[b].numpy()[-phi.shape[1]:]
        for s in range(S):
            lags = list(hist)
            for t in range(h):
                loc = c[b] + sum(phi[b, j] * lags[-1 - j] for j in range(phi.shape[1]))
                if noise == "normal":
                    y = loc + sig[b] * st.norm.ppf(u[b, s, t])
                elif noise == "t":
                    y = loc + sig[b] * st.t.ppf(u[b, s, t], model.df)
                else:
                    res = np.sort(model.residuals[b].numpy())
                    y = loc + res[max(min(int(np.ceil(u[b, s, t] * len(res))) - 1, len(res) - 1), 0)]
                out[b, s, t] = y
                lags.append(y)
    return out


def engine_uniforms(B, S, h, seed):
    """The documented draw: [B, S, h] float64 from one generator seeded with ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand((B, S, h), generator=gen, dtype=torch.float64).numpy()


# --------------------------------------------------------------------------- continuous models
def test_mean_path_matches_closed_form_ar1():
    # AR(1): E[y_{T+k}] = mu + phi^k (y_T - mu) with mu = c / (1 - phi).
    c, phi, y_T, h = 2.0, 0.7, 15.0, 12
    model = LinearAR([c], [[phi]], [1.0])
    paths = rollout(model, Context.from_list([[3.0, y_T]]), h).paths
    mu = c / (1 - phi)
    expected = mu + phi ** np.arange(1, h + 1) * (y_T - mu)
    np.testing.assert_allclose(paths[0, 0].numpy(), expected, rtol=1e-12)


def test_mean_path_matches_numpy_recursion_ar2():
    model, ctx = ar_model(), ar_context()
    paths = rollout(model, ctx, 7).paths
    zero_noise = np.full((3, 1, 7), 0.5)   # quantile 0.5 of a Normal is its mean
    np.testing.assert_allclose(paths.numpy(), numpy_ar_paths(model, ctx, 7, zero_noise), rtol=1e-12)


@pytest.mark.parametrize("noise", ["normal", "t", "empirical"])
def test_sample_paths_feed_back_each_draw(noise):
    # The reference recursion uses the documented uniforms [B, S, h] and scipy's quantiles.
    model, ctx = ar_model(noise), ar_context()
    res = rollout(model, ctx, 5, decoding="sample", num_samples=4, seed=11)
    expected = numpy_ar_paths(model, ctx, 5, engine_uniforms(3, 4, 5, 11), noise)
    np.testing.assert_allclose(res.paths.numpy(), expected, rtol=1e-9, atol=1e-9)


def test_sampled_marginal_matches_closed_form_distribution():
    # AR(1) with Normal noise: y_{T+k} ~ N(mu + phi^k (y_T - mu), sigma^2 (1 - phi^2k) / (1 - phi^2)).
    c, phi, sigma, y_T, h, S = 1.0, 0.8, 2.0, 9.0, 6, 20000
    model = LinearAR([c], [[phi]], [sigma])
    paths = rollout(model, Context.from_list([[y_T]]), h, decoding="sample", num_samples=S, seed=3).paths
    k = np.arange(1, h + 1)
    mu = c / (1 - phi)
    mean = mu + phi ** k * (y_T - mu)
    sd = sigma * np.sqrt((1 - phi ** (2 * k)) / (1 - phi ** 2))
    got = paths[0].numpy()
    np.testing.assert_allclose(got.mean(0), mean, atol=4 * sd.max() / math.sqrt(S))
    np.testing.assert_allclose(got.std(0), sd, rtol=0.03)
    assert st.kstest(got[:, -1], st.norm(mean[-1], sd[-1]).cdf).pvalue > 1e-3


@pytest.mark.parametrize("noise", ["normal", "t", "empirical"])
def test_incremental_matches_naive_continuous(noise):
    assert_incremental_matches_naive(ar_model(noise), ar_context(), h=6, seed=5,
                                     decodings=("mean", "greedy", "sample"))


def test_log_prob_of_sampled_paths_is_sum_of_step_densities():
    model, ctx = ar_model(), ar_context()
    res = rollout(model, ctx, 4, decoding="sample", num_samples=3, seed=2, return_log_prob=True)
    paths = res.paths.numpy()
    phi, c, sig = model.phi.numpy(), model.c.numpy(), model.sigma.numpy()
    for b in range(3):
        for s in range(3):
            lags, total = list(ctx.values[b].numpy()[-2:]), 0.0
            for t in range(4):
                loc = c[b] + phi[b, 0] * lags[-1] + phi[b, 1] * lags[-2]
                total += st.norm.logpdf(paths[b, s, t], loc, sig[b])
                lags.append(paths[b, s, t])
            assert res.log_prob[b, s].item() == pytest.approx(total, rel=1e-10)


# --------------------------------------------------------------------------- seeds and chunks
@settings(max_examples=15, deadline=None)
@given(chunk=hs.integers(1, 40), num_samples=hs.integers(1, 9), seed=hs.integers(0, 2 ** 31))
def test_chunked_equals_unchunked_bit_identical(chunk, num_samples, seed):
    model, ctx = ar_model("t"), ar_context()
    full = rollout(model, ctx, 4, decoding="sample", num_samples=num_samples, seed=seed).paths
    part = rollout(model, ctx, 4, decoding="sample", num_samples=num_samples, seed=seed,
                   chunk_size=chunk).paths
    assert torch.equal(full, part)


def test_chunking_invariant_for_every_decoding_and_categorical():
    chain = MarkovChain(np.random.default_rng(0).dirichlet(np.ones(5), size=5), [-2., -1., 0., 1., 2.])
    ctx = Context.from_list([[0.0], [2.0], [-1.0]])
    assert_chunking_invariant(chain, ctx, h=6, seed=4, num_samples=6, chunk_sizes=(1, 4, 6, 13))
    assert_chunking_invariant(chain, ctx, h=6, seed=4, num_samples=6, chunk_sizes=(2, 5), top_p=0.7)
    for decoding in ("mean", "greedy"):
        ref = rollout(ar_model(), ar_context(), 5, decoding=decoding).paths
        assert torch.equal(ref, rollout(ar_model(), ar_context(), 5, decoding=decoding, chunk_size=1).paths)
    ref = rollout(chain, ctx, 4, decoding="beam", beam_width=3)
    got = rollout(chain, ctx, 4, decoding="beam", beam_width=3, chunk_size=4)
    assert torch.equal(ref.paths, got.paths) and torch.equal(ref.log_prob, got.log_prob)


def test_seeds_reproduce_and_streams_are_independent():
    model, ctx = LinearAR([0.0, 0.0], [[0.5], [0.5]], [1.0, 1.0]), Context.from_list([[1.0], [1.0]])
    a = rollout(model, ctx, 3, decoding="sample", num_samples=50, seed=1).paths
    assert torch.equal(a, rollout(model, ctx, 3, decoding="sample", num_samples=50, seed=1).paths)
    assert not torch.equal(a, rollout(model, ctx, 3, decoding="sample", num_samples=50, seed=2).paths)
    fresh = [rollout(model, ctx, 3, decoding="sample", num_samples=50).paths for _ in range(2)]
    assert not torch.equal(*fresh)
    # Two identical series get different draws, and the first-step draws are uncorrelated.
    first = a[:, :, 0].numpy()
    assert not np.array_equal(first[0], first[1])
    assert abs(np.corrcoef(first[0], first[1])[0, 1]) < 0.4
    assert np.unique(first).size == first.size


# --------------------------------------------------------------------------- categorical decoding
def random_chain(seed=0, K=4):
    rng = np.random.default_rng(seed)
    return MarkovChain(rng.dirichlet(np.ones(K), size=K), np.linspace(-1.5, 1.5, K))


def test_incremental_matches_naive_categorical():
    chain, ctx = random_chain(), Context.from_list([[0.5], [-1.5, 1.5]])
    assert_incremental_matches_naive(chain, ctx, h=5, seed=3, decodings=("mean", "greedy", "sample"))
    assert_incremental_matches_naive(chain, ctx, h=5, seed=3, decodings=("sample",), top_k=2,
                                     temperature=0.7)
    fast = rollout(chain, ctx, 5, decoding="beam", beam_width=3)
    slow = rollout(chain, ctx, 5, decoding="beam", beam_width=3, naive=True)
    assert torch.equal(fast.paths, slow.paths)
    torch.testing.assert_close(fast.log_prob, slow.log_prob)


def test_greedy_follows_the_most_likely_next_bin():
    chain, ctx = random_chain(1), Context.from_list([[0.5], [-1.5]])
    paths = rollout(chain, ctx, 6, decoding="greedy").paths[:, 0].numpy()
    P, centers = chain.log_p.exp().numpy(), chain.centers.numpy()
    for b, start in enumerate([0.5, -1.5]):
        k = int(np.abs(centers - start).argmin())
        for t in range(6):
            k = int(P[k].argmax())
            assert paths[b, t] == centers[k]


def test_top_k_one_and_cold_temperature_reduce_to_greedy():
    chain, ctx = random_chain(2, K=6), Context.from_list([[0.0], [1.5], [-1.5]])
    greedy = rollout(chain, ctx, 8, decoding="greedy").paths
    top1 = rollout(chain, ctx, 8, decoding="sample", num_samples=20, seed=0, top_k=1).paths
    cold = rollout(chain, ctx, 8, decoding="sample", num_samples=20, seed=0, temperature=1e-3).paths
    assert torch.equal(top1, greedy.expand_as(top1))
    assert torch.equal(cold, greedy.expand_as(cold))
    # Sanity: without the restriction the samples do differ from the greedy path.
    free = rollout(chain, ctx, 8, decoding="sample", num_samples=20, seed=0).paths
    assert not torch.equal(free, greedy.expand_as(free))


def test_sampled_top_p_never_leaves_the_nucleus():
    # From bin 0 the nucleus at p=0.75 is {bin 1 (0.5), bin 3 (0.3)}; bins 0 and 2 must never occur.
    P = np.array([[0.05, 0.5, 0.15, 0.3]] * 4)
    chain = MarkovChain(P, [0.0, 1.0, 2.0, 3.0])
    paths = rollout(chain, Context.from_list([[0.0]]), 1, decoding="sample", num_samples=2000,
                    seed=0, top_p=0.75).paths.numpy().ravel()
    assert set(np.unique(paths)) == {1.0, 3.0}
    assert abs((paths == 1.0).mean() - 0.5 / 0.8) < 0.04


def hand_made_chain():
    """From bin 0: bin 1 w.p. 0.6, bin 2 w.p. 0.4; bin 1 spreads evenly; bin 2 stays w.p. 0.9.

    Over two steps greedy takes 0 -> 1 -> (any, 1/3): probability 0.2, while the most likely path
    is 0 -> 2 -> 2 with probability 0.36.
    """
    P = [[0.0, 0.6, 0.4], [1 / 3, 1 / 3, 1 / 3], [0.05, 0.05, 0.9]]
    return MarkovChain(np.array(P) + 1e-300, [10.0, 20.0, 30.0])


def test_beam_finds_the_known_most_likely_path_where_greedy_does_not():
    chain, ctx = hand_made_chain(), Context.from_list([[10.0]])
    greedy = rollout(chain, ctx, 2, decoding="greedy", return_log_prob=True)
    assert greedy.paths[0, 0, 0].item() == 20.0
    assert greedy.log_prob[0, 0].item() == pytest.approx(math.log(0.6 / 3))
    beam = rollout(chain, ctx, 2, decoding="beam", beam_width=2)
    assert beam.paths[0, 0].tolist() == [30.0, 30.0]
    assert beam.log_prob[0, 0].item() == pytest.approx(math.log(0.36))
    assert beam.log_prob[0, 0] >= beam.log_prob[0, 1]


def test_beam_width_one_equals_greedy():
    chain, ctx = random_chain(3, K=5), Context.from_list([[0.0], [1.5], [-0.75]])
    greedy = rollout(chain, ctx, 7, decoding="greedy", return_log_prob=True)
    beam = rollout(chain, ctx, 7, decoding="beam", beam_width=1)
    assert torch.equal(beam.paths, greedy.paths)
    torch.testing.assert_close(beam.log_prob, greedy.log_prob)


def test_exhaustive_beam_equals_brute_force_ranking():
    # With beam_width = K**h nothing is pruned: the beams are all paths, sorted by probability.
    K, h = 3, 3
    chain, start = random_chain(4, K=K), 0.5
    P, centers = chain.log_p.exp().numpy(), chain.centers.numpy()
    k0 = int(np.abs(centers - start).argmin())
    brute = []
    for path in itertools.product(range(K), repeat=h):
        prob, prev = 1.0, k0
        for k in path:
            prob, prev = prob * P[prev, k], k
        brute.append((math.log(prob), [centers[k] for k in path]))
    brute.sort(key=lambda x: -x[0])
    beam = rollout(chain, Context.from_list([[start]]), h, decoding="beam", beam_width=K ** h,
                   length_penalty=0.6)
    np.testing.assert_allclose(beam.log_prob[0].numpy(), [lp for lp, _ in brute], rtol=1e-12)
    # Paths may tie (a product of transitions can be reordered), so match each beam by path.
    by_path = {tuple(p): lp for lp, p in brute}
    assert len({tuple(p) for p in beam.paths[0].tolist()}) == K ** h
    for path, lp in zip(beam.paths[0].tolist(), beam.log_prob[0].tolist()):
        assert lp == pytest.approx(by_path[tuple(path)], rel=1e-12)
    # The GNMT penalty rescales every (equal-length) path alike.
    np.testing.assert_allclose(beam.score[0].numpy(), beam.log_prob[0].numpy() / ((5 + h) / 6) ** 0.6)


def test_small_beam_keeps_the_best_paths_of_brute_force():
    K, h, W = 4, 4, 16
    chain = random_chain(5, K=K)
    P, centers = chain.log_p.exp().numpy(), chain.centers.numpy()
    best = max(itertools.product(range(K), repeat=h),
               key=lambda path: np.prod([P[a, b] for a, b in zip((0,) + path[:-1], path)]))
    beam = rollout(chain, Context.from_list([[centers[0]]]), h, decoding="beam", beam_width=W)
    assert beam.paths[0, 0].tolist() == [centers[k] for k in best]


# --------------------------------------------------------------------------- errors
def test_clear_errors():
    model, ctx = ar_model(), ar_context()
    with pytest.raises(ValueError, match="categorical"):
        rollout(model, ctx, 3, decoding="sample", num_samples=2, top_k=3)
    with pytest.raises(ValueError, match="categorical"):
        rollout(model, ctx, 3, decoding="sample", num_samples=2, temperature=0.5)
    with pytest.raises(ValueError, match="categorical"):
        rollout(model, ctx, 3, decoding="beam")
    with pytest.raises(ValueError, match="decoding='sample'"):
        rollout(model, ctx, 3, decoding="mean", num_samples=10)
    with pytest.raises(ValueError, match="decoding must be one of"):
        rollout(model, ctx, 3, decoding="nucleus")
    with pytest.raises(ValueError, match="top_p"):
        rollout(random_chain(), ctx, 3, decoding="sample", top_p=1.5)
    with pytest.raises(ValueError, match="h must be"):
        rollout(model, ctx, 0)
    with pytest.raises(ValueError, match="chunk_size"):
        rollout(model, ctx, 3, chunk_size=0)
    with pytest.raises(TypeError, match="Stepper"):
        rollout(object(), ctx, 3)


def test_progress_bar_and_point():
    res = rollout(ar_model(), ar_context(), 4, decoding="sample", num_samples=3, seed=0,
                  chunk_size=2, progress=True)
    np.testing.assert_allclose(res.point.numpy(), res.paths.mean(1).numpy())
    assert res.numpy().shape == (3, 3, 4) and res.paths.dtype == torch.float64


def test_non_finite_mean_path_is_an_error_not_a_forecast():
    # A Student-t with df <= 1 has no mean: the mean path would be NaN.
    model = ar_model("t")
    model.df = 0.8
    with pytest.raises(ValueError, match="non-finite value at step 1 for context row 0"):
        rollout(model, ar_context(), 3)
    assert torch.isfinite(rollout(model, ar_context(), 3, decoding="sample", num_samples=5, seed=0).paths).all()


def test_path_memory_counts_the_state_and_distribution_of_one_path():
    # AR(2) state: 2 lags + 1 series index (8 bytes each); Normal: loc (new) + scale (gathered).
    assert path_memory(ar_model(), ar_context(), h=5) == 8 * 2 + 8 + 8 + 8
    # A state that grows with every step (like a key/value cache) is measured at step h.
    class Growing(LinearAR):
        def distribution(self, state):
            return super().distribution({"lags": state["lags"][:, -2:], "meta": state["meta"]})

        def advance(self, state, value):
            return {"lags": torch.cat([state["lags"], value.unsqueeze(1)], 1), "meta": state["meta"]}
    grow = Growing([1.0, -2.0, 0.5], [[0.6, 0.2]] * 3, [1.0, 0.5, 2.0])
    assert path_memory(grow, ar_context(), h=10) - path_memory(grow, ar_context(), h=5) == 5 * 8


def test_empty_context_gives_empty_paths():
    res = rollout(ar_model(), Context.from_list([]), 3, decoding="sample", num_samples=4, seed=0)
    assert tuple(res.paths.shape) == (0, 4, 3)
