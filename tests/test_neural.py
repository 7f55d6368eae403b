"""NeuralAR: causality, exact incremental state, likelihood against the true process, persistence,
training guards. Tiny models and short budgets keep the file fast."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

import arforecast as af
from arforecast.datasets import simulate_ar
from arforecast.exceptions import NotFittedError, TrainingError
from arforecast.models.neural import grouped
from arforecast.nn.training import train
from arforecast.nn.transformer import Transformer
from arforecast.nn.wavenet import WaveNet
from arforecast.rollout.checks import assert_incremental_matches_naive

TINY = dict(context_length=48, d_model=8, n_layers=3, n_heads=2, attention_context=12, lags=(4, 12),
            periods=(4,), ar_lags=(1, 2, 4), window_length=8, batch_size=8, validation_length=8,
            val_every=5, n_bins=64, value_range=(-4.0, 4.0), seed=0, progress=False)


def _make(*args, **flat) -> af.NeuralAR:
    """A NeuralAR from flat settings (``d_model=8, ema_decay=None, ...``, grouped for the constructor)."""
    return af.NeuralAR(*args, **grouped(flat))


def _data(n_series: int = 3, length: int = 120, seed: int = 0) -> pd.DataFrame:
    return simulate_ar([0.5, -0.2], n_series=n_series, length=length, intercept=10.0,
                       seasonal=[0.0, 1.0, 2.0, 1.0], seed=seed)


def _jiggle(model: af.NeuralAR, seed: int = 1) -> af.NeuralAR:
    """Random weights everywhere (an untrained head is zero, which would hide the backbone)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.network_.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen).to(p.device))
    return model


def full_precision():
    """cuDNN runs float32 convolutions in TF32 (about 1e-3 relative) by default on recent GPUs;
    the exact-equivalence checks turn that off (a no-op on the CPU)."""
    return torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled, benchmark=False,
                                      deterministic=True, allow_tf32=False)


_FITTED: dict = {}


def _fitted(backbone: str, values: str) -> af.NeuralAR:
    key = (backbone, values)
    if key not in _FITTED:
        _FITTED[key] = _jiggle(_make(backbone, values, max_steps=2, **TINY).fit(_data()))
    return _FITTED[key]


# --------------------------------------------------------------------------- causality
@settings(max_examples=8, deadline=None)
@given(backbone=st.sampled_from(["conv", "transformer"]), t=st.integers(0, 29), seed=st.integers(0, 10_000))
def test_backbones_are_causal(backbone, t, seed):
    torch.manual_seed(seed)
    net = (WaveNet(8, 4) if backbone == "conv" else Transformer(8, 2, 2)).eval()
    x = torch.randn(2, 30, 8)
    x2 = x.clone()
    x2[:, t] += torch.randn(2, 8)
    with torch.no_grad():
        a, b = net(x), net(x2)
    torch.testing.assert_close(a[:, :t], b[:, :t], rtol=0, atol=0)   # outputs before t: untouched
    assert not torch.allclose(a[:, t], b[:, t])                        # the test can fail


@pytest.mark.parametrize("backbone", ["conv", "transformer"])
@pytest.mark.parametrize("values", ["continuous", "quantized"])
def test_whole_network_is_causal(backbone, values):
    """Changing the value at time t changes no prediction of a value at time <= t."""
    model = _fitted(backbone, values)
    net = model.network_
    gen = torch.Generator().manual_seed(0)
    z = (torch.rand(2, 40, generator=gen) + 0.5).to(model.device_)
    obs = torch.ones_like(z)
    coef = net.fit_ar(z[:, :30], obs[:, :30])             # AR fixed from a context, as in a forecast
    pos = torch.arange(1, 41, device=model.device_).repeat(2, 1)
    for t in (5, 20, 35):
        z2 = z.clone()
        z2[:, t] += 0.7
        with torch.no_grad():
            a, b = net(z, obs, pos, 0, coef), net(z2, obs, pos, 0, coef)
        # column c predicts the value at time c + 1: times <= t are columns < t
        for k in a:
            torch.testing.assert_close(a[k][:, :t], b[k][:, :t], rtol=0, atol=0)
        assert not torch.allclose(a["loc"][:, t], b["loc"][:, t])


# --------------------------------------------------------------------------- incremental == naive
@pytest.mark.parametrize("backbone", ["conv", "transformer"])
@pytest.mark.parametrize("values", ["continuous", "quantized"])
def test_incremental_rollout_equals_naive_recomputation(backbone, values):
    model = _fitted(backbone, values)
    ctx = model._context(af.to_panel(_data(n_series=2, length=70, seed=3)))
    with full_precision():
        assert_incremental_matches_naive(model, ctx, h=8, seed=0, num_samples=2, atol=1e-4, rtol=1e-5)


def test_incremental_state_on_short_padded_contexts():
    model = _fitted("transformer", "continuous")
    panel = af.to_panel(pd.DataFrame({"unique_id": ["a"] * 20 + ["b"] * 60, "ds": list(range(20)) + list(range(60)),
                                      "y": np.r_[np.arange(20.0), np.sin(np.arange(60.0)) + 5]}))
    with full_precision():
        assert_incremental_matches_naive(model, model._context(panel), h=6, seed=1, atol=1e-4, rtol=1e-5)


# --------------------------------------------------------------------------- likelihood
def _true_ar2_nll(y: np.ndarray, start: int, phi=(0.6, -0.3), c=5.0, sigma=1.0) -> float:
    pred = c + phi[0] * y[start - 1:-1] + phi[1] * y[start - 2:-2]
    e = y[start:] - pred
    return float(np.mean(0.5 * math.log(2 * math.pi) + math.log(sigma) + 0.5 * (e / sigma) ** 2))


@pytest.mark.parametrize("values", ["continuous", "quantized"])
def test_small_model_fits_ar2_within_5_percent_of_true_nll(values):
    df = simulate_ar([0.6, -0.3], n_series=6, length=400, intercept=5.0, sigma=1.0, seed=7)
    train_part = df.groupby("unique_id").head(300)
    params = dict(TINY, lags=(), periods=(), ar_lags=(1, 2), context_length=64, window_length=16,
                  likelihood="normal", n_bins=512, value_range=(-3.0, 3.0), max_steps=15, learning_rate=3e-3)
    model = _make("conv", values, **params).fit(train_part)
    got = model.nll(df, start=300)
    want = np.mean([_true_ar2_nll(g["y"].to_numpy(), 300) for _, g in df.groupby("unique_id")])
    assert got <= want * 1.05, (got, want)
    assert got >= want * 0.9          # a density far better than the truth would be a bug


# --------------------------------------------------------------------------- Forecaster contract
def test_forecaster_contract_and_point_is_mean_of_paths():
    y = _data()
    model = _make("conv", "continuous", max_steps=3, **TINY)
    with pytest.raises(NotFittedError):
        model.predict(3)
    assert clone(model).get_params() == model.get_params()
    assert not [k for k in vars(model) if k.endswith("_")]
    assert model.fit(y) is model
    fc = model.predict(5, num_samples=16, seed=0)
    assert fc.samples.shape == (3, 16, 5)
    np.testing.assert_allclose(fc.point, fc.samples.mean(axis=1))
    again = model.predict(5, num_samples=16, seed=0)
    np.testing.assert_array_equal(fc.samples, again.samples)
    refit = clone(model).fit(y).predict(5, num_samples=16, seed=0)
    np.testing.assert_allclose(refit.samples, fc.samples, rtol=1e-6)
    assert model.predict(5).point.shape == (3, 5)        # mean path, no samples


def test_global_model_forecasts_new_series():
    model = _make("conv", "quantized", max_steps=2, **TINY).fit(_data())
    other = _data(n_series=2, seed=5).assign(unique_id=lambda d: "new_" + d["unique_id"])
    fc = model.predict(4, y=other)
    assert sorted(fc.ids) == ["new_s0", "new_s1"] and np.isfinite(fc.point).all()


# --------------------------------------------------------------------------- persistence
@pytest.mark.parametrize("backbone,values", [("conv", "quantized"), ("transformer", "continuous")])
def test_save_load_gives_identical_forecasts(tmp_path, backbone, values):
    model = _make(backbone, values, max_steps=3, **TINY).fit(_data())
    path = tmp_path / "model.pt"
    model.save(path)
    loaded = af.NeuralAR.load(path)
    assert loaded.get_params() == model.get_params()
    a = model.predict(6, num_samples=8, seed=3)
    b = loaded.predict(6, num_samples=8, seed=3)
    np.testing.assert_array_equal(a.samples, b.samples)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())


def test_load_rejects_other_versions_and_files(tmp_path):
    model = _make("conv", "continuous", max_steps=1, **TINY).fit(_data())
    path = tmp_path / "m.pt"
    model.save(path)
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = 999
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(ValueError, match="format 999"):
        af.NeuralAR.load(tmp_path / "future.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a NeuralAR file"):
        af.NeuralAR.load(tmp_path / "other.pt")


# --------------------------------------------------------------------------- training guards
def test_nan_loss_stops_with_clear_error_keeping_last_good_weights():
    lin = torch.nn.Linear(2, 1)
    x = torch.randn(16, 2)
    seen = []

    def loss_fn():
        seen.append([p.detach().clone() for p in lin.parameters()])
        loss = (lin(x) ** 2).mean()
        return loss * float("nan") if len(seen) == 4 else loss

    with pytest.raises(TrainingError, match="step 3"):
        train(lin, loss_fn, max_steps=10, progress=False)
    for p, good in zip(lin.parameters(), seen[2]):      # weights that gave the last finite loss
        torch.testing.assert_close(p.detach(), good)


def test_nan_loss_in_neural_fit_raises_training_error(monkeypatch):
    model = _make("conv", "continuous", max_steps=5, **TINY)
    original = af.NeuralAR._window_nll
    calls = {"n": 0}

    def poisoned(self, values, positions, context):
        nll, scale = original(self, values, positions, context)
        calls["n"] += 1
        return (nll * float("nan") if self.network_.training and calls["n"] > 2 else nll), scale

    monkeypatch.setattr(af.NeuralAR, "_window_nll", poisoned)
    with pytest.raises(TrainingError, match="finite loss"):
        model.fit(_data())


def test_early_stopping_restores_best_weights():
    model = _make("conv", "continuous", max_steps=200, patience=2, learning_rate=0.3, val_every=2,
                        **{k: v for k, v in TINY.items() if k != "val_every"}).fit(_data())
    res = model.training_
    assert res.stopped == "early_stopping"
    assert res.best_val == min(h[3] for h in res.history)


def test_time_limit_bounds_training():
    model = _make("conv", "continuous", max_steps=10_000, time_limit=1.0, **TINY).fit(_data())
    assert model.training_.stopped == "time_limit" and model.training_.seconds < 10


def test_device_auto_and_bad_devices():
    model = _make("conv", "continuous", max_steps=1, device="auto", **TINY).fit(_data())
    assert model.device_.type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device"):
        _make(device="no-such-device", max_steps=1, **TINY).fit(_data())
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            _make(device="cuda", max_steps=1, **TINY).fit(_data())


def test_bad_parameters_raise_clear_errors():
    with pytest.raises(ValueError, match="backbone"):
        _make(backbone="lstm", **TINY).fit(_data())
    with pytest.raises(ValueError, match="values"):
        _make(values="ordinal", **TINY).fit(_data())


def test_untrained_model_forecasts_as_its_local_ar():
    """Zero-initialized head: before training the mean path is the per-series ridge AR's forecast."""
    model = _make("conv", "continuous", max_steps=1, learning_rate=1e-12, warmup_steps=1, anchor_share=1.0,
                        **TINY).fit(_data())
    ctx = model._context(model.panel_)
    state = model.start(ctx)
    coef = model.network_.split_ar(state["coef"])[0].double().cpu()
    scale = state["scale"].cpu()                                    # the state lives on the model's device
    z = list((ctx.values.cpu() / scale[:, None]).T.numpy())         # columns oldest -> newest
    lags = TINY["ar_lags"]
    expected = []
    for _ in range(5):
        nxt = sum(coef[:, j].numpy() * z[-k] for j, k in enumerate(lags)) + coef[:, -1].numpy()
        expected.append(nxt)
        z.append(nxt)
    expected = np.stack(expected, 1) * scale[:, None].numpy()
    np.testing.assert_allclose(model.predict(5).point, expected, rtol=1e-4)


# --------------------------------------------------------------------------- interval calibration
def test_calibration_widens_an_overconfident_model_and_leaves_points_alone():
    """Halve the head's spread by hand: the validation CRPS must pick a wider factor back."""
    from arforecast.nn.heads import _inv_softplus
    from arforecast.nn.training import WindowSampler

    df = simulate_ar([0.6, -0.3], n_series=8, length=300, intercept=5.0, sigma=1.0, seed=3)
    params = dict(TINY, lags=(), periods=(), ar_lags=(1, 2), context_length=64, validation_length=24,
                  likelihood="normal", max_steps=1, learning_rate=1e-12, warmup_steps=1, calibrate="crps")
    model = _make("conv", "continuous", **params).fit(df)
    assert model.spread_ in af.models.neural.SPREAD_GRID and set(model.calibration_) == set(af.models.neural.SPREAD_GRID)
    assert 0.8 <= model.spread_ <= 1.25      # an untrained head is the local AR with its own residual spread

    series = [g["y"].to_numpy() for _, g in df.groupby("unique_id")]
    batch = WindowSampler(series, context=64, targets=8, validation_length=24).validation()
    head = model.network_.head
    with torch.no_grad():
        head.scale_bias.fill_(_inv_softplus(0.5 * float(torch.nn.functional.softplus(head.scale_bias))))
    point_before = model.predict(6).point
    spread, scores = model._calibrate_spread(batch, 64)
    assert spread >= 1.4, scores
    model.spread_ = spread
    np.testing.assert_allclose(model.predict(6).point, point_before)   # the mean path does not move
    state = model.start(model._context(model.panel_))
    wide = model.distribution(state)
    model.spread_ = 1.0
    narrow = model.distribution(state)
    np.testing.assert_allclose((wide.scale / narrow.scale).cpu().numpy(), spread, rtol=1e-6)


def test_calibration_off_keeps_the_network_spread():
    model = _make("conv", "continuous", max_steps=2, **TINY).fit(_data())
    assert model.config_.training.calibrate is None and model.spread_ == 1.0 and not hasattr(model, "calibration_")
    interval = _make("conv", "continuous", max_steps=2, calibrate="interval", **TINY).fit(_data())
    assert interval.spread_ == min(interval.calibration_, key=interval.calibration_.get)
    with pytest.raises(ValueError, match="calibrate"):
        _make(calibrate="msis", **TINY).fit(_data())
    with pytest.raises(ValueError, match="ar_scale"):
        _make(ar_scale="yes", **TINY).fit(_data())


@pytest.mark.parametrize("ar_scale", [True, False])
def test_untrained_scale_follows_each_series_own_noise_with_ar_scale(ar_scale):
    """Two AR(2) series, noise 1 and 5: with ar_scale the untrained head's one-step scales differ
    by the noise ratio (the local AR's residual spread); without it only through the mean scaling."""
    quiet = simulate_ar([0.5, -0.2], n_series=1, length=300, intercept=100.0, sigma=1.0, seed=1)
    loud = simulate_ar([0.5, -0.2], n_series=1, length=300, intercept=100.0, sigma=5.0, seed=2)
    y = pd.concat([quiet, loud.assign(unique_id="loud")])
    params = dict(TINY, lags=(), periods=(), ar_lags=(1, 2), context_length=128, likelihood="normal",
                  max_steps=1, learning_rate=1e-12, warmup_steps=1, ar_scale=ar_scale)
    model = _make("conv", "continuous", **params).fit(y)
    state = model.start(model._context(model.panel_))
    sd = model.distribution(state).scale.cpu().numpy()
    ratio = sd[1] / sd[0]
    if ar_scale:
        assert 4.0 < ratio < 6.25, ratio
    else:
        assert 0.8 < ratio < 1.25, ratio       # the mean levels are alike, so one global spread


# --------------------------------------------------------------------------- settings and layering
def test_grouped_settings_set_params_and_clone():
    model = _make("conv", "continuous", max_steps=2, **TINY)
    assert model.architecture.d_model == 8 and model.inputs.ar_lags == (1, 2, 4)
    model.set_params(training__ema_decay=None, architecture__d_model=4, max_steps=3)
    assert model.training.ema_decay is None and model.architecture.d_model == 4 and model.max_steps == 3
    assert model.training.window_length == TINY["window_length"]       # the other fields stay
    assert clone(model).get_params() == model.get_params()
    with pytest.raises(ValueError, match="unknown Training settings"):
        af.NeuralAR(training={"windows": 3}).fit(_data())


def test_models_do_not_import_evaluation():
    """Layering: data -> models -> rollout -> evaluation; models/ never imports evaluation/."""
    import ast
    from pathlib import Path
    offenders = []
    for path in (Path(af.__file__).parent / "models").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names if n.startswith("arforecast.evaluation")]
    assert not offenders


# --------------------------------------------------------------------------- settings from the data
FREQS = ["h", "30min", "D", "B", "W", "MS", "QS", "YS", None]


def _panel_frame(freq, lengths=(40, 100), seed=0, start="2001-01-01") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for i, n in enumerate(lengths):
        ds = np.arange(n) + 5 * i if freq is None else pd.date_range(start, periods=n, freq=freq)
        y = 10 + np.sin(np.arange(n) / 3.0) + 0.3 * rng.standard_normal(n)
        frames.append(pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": y}))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("freq", FREQS, ids=[str(f) for f in FREQS])
def test_default_arguments_fit_and_forecast_every_frequency(freq):
    from arforecast.data.frequency import season_lengths
    model = af.NeuralAR(max_steps=2, seed=0, progress=False).fit(_panel_frame(freq))
    assert model.periods_ == season_lengths(freq)
    assert set(model.lags_) <= set(season_lengths(freq)) and max(model.ar_lags_) <= model.context_length_ // 2
    if freq in ("YS", None):
        assert model.lags_ == () and model.periods_ == ()
    fc = model.predict(6, num_samples=4, seed=0)
    assert np.isfinite(fc.point).all() and fc.samples.shape == (2, 4, 6)


def test_chosen_settings_follow_the_rule_and_explicit_arguments_win():
    hourly = af.to_panel(_panel_frame("h", lengths=(700, 960)))
    chosen = af.models.neural.defaults.choose(hourly, None, af.models.neural.Inputs(), af.models.neural.Training())
    assert chosen["context_length_"] == 512 and chosen["lags_"] == (24, 168) and chosen["periods_"] == (24, 168)
    assert chosen["validation_length_"] == chosen["window_length_"] == 48
    assert chosen["d_model_"] == 32 and af.models.neural.defaults.width_for(350_000) == 64
    assert chosen["ar_lags_"] == (1, 2, 3, 23, 24, 25, 47, 48, 72, 96, 120, 144, 167, 168, 169)   # M4 Hourly's
    model = _make("conv", "continuous", max_steps=1, context_length=30, lags=(5,), periods=(), ar_lags=(1,),
                  validation_length=6, window_length=4, d_model=8, n_layers=2, progress=False).fit(_panel_frame("h"))
    assert (model.context_length_, model.lags_, model.periods_, model.ar_lags_) == (30, (5,), (), (1,))
    assert (model.validation_length_, model.window_length_) == (6, 4)
    assert model.config_.inputs.lags == (5,) and model.inputs.periods == ()


def test_save_load_keeps_the_chosen_settings(tmp_path):
    model = af.NeuralAR("conv", "continuous", max_steps=1, seed=0, progress=False,
                        architecture=dict(d_model=8, n_layers=2)).fit(_panel_frame("D", lengths=(120, 90)))
    model.save(tmp_path / "m.pt")
    loaded = af.NeuralAR.load(tmp_path / "m.pt")
    for name in ("d_model_", "context_length_", "lags_", "periods_", "ar_lags_", "validation_length_", "window_length_"):
        assert getattr(loaded, name) == getattr(model, name), name
    np.testing.assert_array_equal(loaded.predict(5).point, model.predict(5).point)


# --------------------------------------------------------------------------- the untrained model is its local AR
_UNTRAINED: dict = {}


def _untrained(ar_prior: float) -> af.NeuralAR:
    if ar_prior not in _UNTRAINED:
        _UNTRAINED[ar_prior] = _make("conv", "continuous", **dict(TINY, ar_lags=(1, 2, 7, 12), context_length=48),
                                     ar_prior=ar_prior, anchor_share=1.0, max_steps=1, learning_rate=1e-12,
                                     warmup_steps=1).fit(_data())
    return _UNTRAINED[ar_prior]


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 90), seed=st.integers(0, 10_000), ar_prior=st.sampled_from([0.0, 30.0, 1e6]))
def test_untrained_model_is_its_local_ar_for_any_context_length(n, seed, ar_prior):
    """Contexts shorter than the lags (2 values, lag 12) and longer than the context (90 > 48):
    the untrained mean path is the local AR's own recursive forecast, lags it cannot estimate
    dropped -- with or without the panel's pooled prior pulling the coefficients."""
    from arforecast.nn.local_ar import LocalAR
    model = _untrained(ar_prior)
    assert model.ar_prior_ == ar_prior
    y = 10 + np.random.default_rng(seed).standard_normal(n)
    got = model.predict(6, y=pd.Series(y, index=pd.date_range("2022-01-01", periods=n, freq="h"))).point[0]
    ctx = y[-model.context_length_:]
    scale = np.abs(ctx).mean()
    z = torch.from_numpy(ctx / scale)[None, :]
    ar = LocalAR(model.ar_lags_, model.config_.inputs.ar_ridge, prior=model.network_.ar_prior.cpu(),
                 prior_weight=ar_prior)
    coef = ar.fit(z, torch.ones_like(z))
    want = ar.forecast(z, coef, 6)[0].numpy() * scale
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * scale)
    if n <= 12:       # too short for lag 12: it is dropped, not broken
        assert float(coef[0, 3]) == 0.0


def test_pooled_prior_recovers_the_panel_dynamics_and_pulls_short_contexts():
    """One AR(2) shared by series of different levels: the pooled fit finds its coefficients;
    a 12-value context's own fit is far off, and the prior weight moves it to the prior."""
    from arforecast.nn.local_ar import LocalAR, pooled_prior
    df = simulate_ar([0.5, 0.3], n_series=10, length=300, sigma=1.0, seed=0)
    series = [g["y"].to_numpy() + 20 * (i + 1) for i, (_, g) in enumerate(df.groupby("unique_id"))]
    prior = pooled_prior(series, (1, 2), ridge=0.0)
    X, y = [], []                      # reference: least squares on the stacked, scaled, centred equations
    for v in series:
        v = v / np.abs(v).mean()
        x = np.stack([v[1:-1], v[:-2]], 1)
        X.append(x - x.mean(0))
        y.append(v[2:] - v[2:].mean())
    np.testing.assert_allclose(prior[1].numpy(), np.linalg.lstsq(np.concatenate(X), np.concatenate(y), rcond=None)[0],
                               atol=1e-4)
    np.testing.assert_allclose(prior[1].numpy(), [0.5, 0.3], atol=0.06)       # the truth, within sampling error
    assert float(prior[0, 1]) == 0.0 and abs(float(prior[0, 0]) - 0.5 / 0.7) < 0.06  # AR(1) fit of the AR(2)
    z = torch.from_numpy(series[0][:12] / np.abs(series[0][:12]).mean())[None, :]
    alone = LocalAR((1, 2), ridge=1e-6).fit(z, torch.ones_like(z))
    pulled = [LocalAR((1, 2), ridge=1e-6, prior=prior, prior_weight=w).fit(z, torch.ones_like(z))[0, :2]
              for w in (1.0, 30.0, 1e6)]
    dist = [float((p - prior[1]).abs().sum()) for p in pulled]
    assert dist[0] > dist[1] > dist[2] and dist[2] < 1e-3
    torch.testing.assert_close(LocalAR((1, 2), ridge=1e-6, prior=prior, prior_weight=0.0).fit(z, torch.ones_like(z)),
                               alone)


def test_prior_weight_and_lags_are_chosen_on_validation_windows():
    """ar_prior=None, ar_lags=None: the weight is one of PRIOR_WEIGHTS, the lags one of the two
    candidates, each scored; the choice survives save / load."""
    from arforecast.models.neural.prior import PRIOR_WEIGHTS
    model = _make("conv", "continuous", **dict(TINY, ar_lags=None, periods=(24,), lags=(24,)), max_steps=1).fit(_data())
    assert model.ar_prior_ in PRIOR_WEIGHTS
    assert len(model.ar_prior_scores_) == 2 * len(PRIOR_WEIGHTS)
    assert min(model.ar_prior_scores_, key=model.ar_prior_scores_.get) == (model.ar_lags_, model.ar_prior_)


# --------------------------------------------------------------------------- only the context matters
_CTX_MODEL: dict = {}


def _context_model() -> af.NeuralAR:
    if not _CTX_MODEL:
        # the network alone: the anchor (AR(), anchor.py) reads each series' whole history
        _CTX_MODEL["m"] = _jiggle(_make("conv", "continuous", max_steps=2, **dict(TINY, periods=(4, 24),
                                                                                  anchor_share=1.0))
                                  .fit(_data()))
    return _CTX_MODEL["m"]


@settings(max_examples=15, deadline=None)
@given(a=st.integers(0, 200), b=st.integers(0, 200), seed=st.integers(0, 10_000))
def test_forecasts_depend_only_on_the_context_values_and_timestamps(a, b, seed):
    """The same last context_length values at the same timestamps give the same forecast, whatever
    longer history precedes them; the same values an hour later give another one (calendar phases)."""
    model = _context_model()
    F = model.context_length_
    rng = np.random.default_rng(seed)
    tail = 10 + rng.standard_normal(F)
    end = pd.Timestamp("2023-06-01 17:00")

    def series(prefix: int, shift: int = 0) -> pd.Series:
        values = np.r_[10 + 3 * rng.standard_normal(prefix), tail]
        return pd.Series(values, index=pd.date_range(end=end + pd.Timedelta(hours=shift), periods=len(values),
                                                     freq="h"))

    fa = model.predict(5, num_samples=3, seed=1, y=series(a))
    fb = model.predict(5, num_samples=3, seed=1, y=series(b))
    np.testing.assert_allclose(fa.point, fb.point, rtol=1e-6)
    np.testing.assert_allclose(fa.samples, fb.samples, rtol=1e-6)
    shifted = model.predict(5, y=series(a, shift=1)).point
    assert not np.allclose(shifted, model.predict(5, y=series(a)).point)
