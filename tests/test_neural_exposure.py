"""The exposure-bias training options (arforecast.models.neural.exposure): invariants.

* share 0 and weight 0 give the teacher-forced loss exactly (both backbones, both value kinds);
* scheduled sampling never touches the context, replaces target-side inputs only by predictions
  made from the true values before them (causal), and at share 1 with the mean feed equals the
  teacher-forced one-step means;
* the rollout's first step is the teacher-forced first step, and its gradient reaches the network;
* the share schedules start at 0, end at the final share and never decrease.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import arforecast as af
from arforecast.datasets import simulate_ar
from arforecast.models.neural import exposure
from arforecast.models.neural.config import Training
from arforecast.nn.training import WindowSampler

F = 32


def _model(backbone: str, values: str, perturb: bool = True, **training) -> af.NeuralAR:
    y = simulate_ar([0.6, -0.2], n_series=4, length=120, intercept=5.0, seed=0)
    model = af.NeuralAR(backbone, values, context_length=F, max_steps=3, seed=0, progress=False,
                        architecture=dict(d_model=8, n_layers=3), inputs=dict(lags=(), periods=(), ar_lags=(1, 2)),
                        training=dict(window_length=8, batch_size=8, validation_length=0, **training)).fit(y)
    if perturb:         # move the head off its zero start so that predictions depend on the inputs
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for p in model.network_.parameters():
                p.add_(0.05 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return model


def _batch(model: af.NeuralAR, n: int = 6) -> dict:
    series = [model.panel_.series(i) for i in range(model.panel_.n_series)]
    return WindowSampler(series, context=F, targets=8).sample(n, np.random.default_rng(1))


def _window(model, batch):
    return model._encode_window(torch.from_numpy(batch["values"]), torch.from_numpy(batch["positions"]), F)


@pytest.mark.parametrize("backbone", ["conv", "transformer"])
@pytest.mark.parametrize("values", ["continuous", "quantized"])
def test_zero_share_is_teacher_forcing(backbone, values):
    model = _model(backbone, values)
    batch = _batch(model)
    w = _window(model, batch)
    z, tokens = exposure.sampled_inputs(model, w, 0.0, "sample", torch.Generator().manual_seed(0))
    got = exposure.window_nll(model, w, z, tokens)
    want, _ = model._window_nll(torch.from_numpy(batch["values"]), torch.from_numpy(batch["positions"]), F)
    assert torch.equal(got, want)


def test_fit_with_zero_options_equals_teacher_forcing():
    """The options at 0 select the teacher-forced loss: identical training, identical weights."""
    a = _model("conv", "continuous", perturb=False)
    b = _model("conv", "continuous", perturb=False, scheduled_sampling=0.0, rollout_steps=3, rollout_weight=0.0)
    for p, q in zip(a.network_.parameters(), b.network_.parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("backbone", ["conv", "transformer"])
def test_sampled_inputs_are_causal(backbone):
    model = _model(backbone, "continuous")
    batch = _batch(model)
    w = _window(model, batch)
    z, _ = exposure.sampled_inputs(model, w, 1.0, "mean")
    assert torch.equal(z[:, :F], w["z"][:, :F])                 # the context is never replaced
    # changing the true value at target-side input column c changes no replaced input at or before c
    c = F + 3
    values = batch["values"].copy()
    values[:, c] += 10.0 * np.nanmean(np.abs(values), axis=1)
    w2 = model._encode_window(torch.from_numpy(values), torch.from_numpy(batch["positions"]), F)
    z2, _ = exposure.sampled_inputs(model, w2, 1.0, "mean")
    assert torch.allclose(z2[:, :c + 1], z[:, :c + 1], atol=1e-6)
    assert not torch.allclose(z2[:, c + 1:], z[:, c + 1:])      # ... but the later predictions see it


def test_full_share_of_means_is_the_one_step_mean():
    model = _model("conv", "continuous")
    w = _window(model, _batch(model))
    z, _ = exposure.sampled_inputs(model, w, 1.0, "mean")
    with torch.no_grad():
        params = exposure._params(model, w, w["z"], None)
    n_in = w["z"].shape[1] - F
    torch.testing.assert_close(z[:, F:], params["loc"][:, -(n_in + 1):-1])


def test_share_mixes_about_that_share():
    model = _model("conv", "continuous")
    w = _window(model, _batch(model, 64))
    z, _ = exposure.sampled_inputs(model, w, 0.3, "sample", torch.Generator().manual_seed(0))
    changed = (z[:, F:] != w["z"][:, F:]).float().mean()
    assert 0.2 < float(changed) < 0.4


@pytest.mark.parametrize("values", ["continuous", "quantized"])
def test_rollout_first_step_and_gradient(values):
    model = _model("transformer", values)
    w = _window(model, _batch(model))
    one = exposure.rollout_loss(model, w, 1)
    params = exposure._params(model, w, w["z"], w["tokens"])
    W = w["target"].shape[1]
    first = {k: v[:, -W] for k, v in params.items()}
    mean = model.network_.head.distribution(first, torch.ones_like(first["loc"])).mean
    want = ((w["target"][:, 0] - mean).abs() / first["scale"]).mean()
    torch.testing.assert_close(one, want)
    loss = exposure.rollout_loss(model, w, 4)
    model.network_.zero_grad()
    loss.backward()
    grads = [p.grad for p in model.network_.backbone.parameters() if p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)


@settings(max_examples=30, deadline=None)
@given(final=st.floats(0, 1), schedule=st.sampled_from(exposure.SCHEDULES))
def test_schedules_rise_from_zero_to_final(final, schedule):
    shares = [exposure.sampling_share(p, final, schedule) for p in np.linspace(0, 1, 21)]
    assert shares[0] == pytest.approx(0.0, abs=1e-12) and shares[-1] == pytest.approx(final)
    assert all(b >= a - 1e-12 for a, b in zip(shares, shares[1:]))


def test_options_are_checked():
    with pytest.raises(ValueError, match="scheduled_sampling"):
        Training(scheduled_sampling=1.5)
    with pytest.raises(ValueError, match="sampling_feed"):
        Training(sampling_feed="mode")
    with pytest.raises(ValueError, match="rollout_steps"):
        Training(rollout_steps=-1)
    with pytest.raises(ValueError, match="sampling_schedule"):
        Training(sampling_schedule="cosine")


def test_train_reports_the_budget_fraction():
    from arforecast.nn.training import train
    net = torch.nn.Linear(2, 1)
    seen = []
    train(net, lambda: net(torch.ones(4, 2)).pow(2).mean(), max_steps=10, progress=False, on_step=seen.append)
    assert seen == [k / 10 for k in range(10)]
