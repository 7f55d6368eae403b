"""Scaler and quantizer: closed forms and round-trip properties."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from arforecast.data.scaling import MeanScaler, Quantizer


def test_mean_scaler_matches_numpy_nanmean_of_abs():
    rng = np.random.default_rng(0)
    x = rng.normal(3, 2, size=(4, 30))
    x[1, :5] = np.nan
    got = MeanScaler().scale(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, np.nanmean(np.abs(x), axis=1), rtol=1e-12)


def test_mean_scaler_falls_back_to_one_for_zero_or_empty_context():
    x = torch.tensor([[0.0, 0.0, 0.0], [float("nan")] * 3], dtype=torch.float64)
    assert MeanScaler().scale(x).tolist() == [1.0, 1.0]


@settings(max_examples=60, deadline=None)
@given(n_bins=st.integers(2, 4096), mu=st.sampled_from([None, 15.0, 255.0]),
       u=st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=20),
       scale=st.floats(1e-3, 1e4))
def test_round_trip_within_half_a_bin_inside_the_range(n_bins, mu, u, scale):
    q = Quantizer(n_bins=n_bins, low=-15.0, high=15.0, mu=mu)
    z = torch.tensor(u, dtype=torch.float64) * 30.0 - 15.0
    tokens = q.encode(z[None, :] * scale, torch.tensor([scale], dtype=torch.float64))
    back = q.decode(tokens, torch.tensor([scale], dtype=torch.float64))[0] / scale
    half_width = q.widths()[tokens[0]] / 2
    assert torch.all((back - z).abs() <= half_width * (1 + 1e-9) + 1e-12)


def test_uniform_bins_have_equal_width_and_mu_law_is_finer_near_zero():
    uni = Quantizer(n_bins=100, low=-5, high=5)
    np.testing.assert_allclose(uni.widths().numpy(), 0.1, rtol=1e-9)
    mu = Quantizer(n_bins=100, low=-5, high=5, mu=255.0)
    w = mu.widths()
    assert float(w[50]) < float(w[0]) / 10
    np.testing.assert_allclose(float(w.sum()), 10.0, rtol=1e-9)


def test_mu_law_compress_expand_are_inverse():
    q = Quantizer(n_bins=16, low=-3, high=3, mu=100.0)
    z = torch.linspace(-3, 3, 101, dtype=torch.float64)
    torch.testing.assert_close(q.expand(q.compress(z)), z)


def test_special_tokens_outside_values_and_clipping():
    q = Quantizer(n_bins=10, low=-1, high=1)
    scale = torch.tensor([1.0], dtype=torch.float64)
    tokens = q.encode(torch.tensor([[float("nan"), -50.0, 50.0]], dtype=torch.float64), scale)
    assert tokens.tolist() == [[q.missing_token, 0, 9]]
    assert q.vocab_size == 12 and q.pad_token == 10
    decoded = q.decode(torch.tensor([[q.pad_token, q.missing_token, 0]]), scale)
    assert torch.isnan(decoded[0, :2]).all() and float(decoded[0, 2]) == pytest.approx(-0.9)
