"""NeuralAR on a GPU gives what it gives on the CPU. Skipped where CUDA is absent (CI); the rest of
the neural tests use ``device="auto"``, so on a GPU machine they train and roll out on CUDA too."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from test_neural import TINY, _data, _jiggle, _make, full_precision

import arforecast as af
from arforecast.anomaly import AnomalyDetector
from arforecast.rollout.checks import assert_incremental_matches_naive

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.mark.parametrize("backbone", ["conv", "transformer"])
@pytest.mark.parametrize("values", ["continuous", "quantized"])
def test_cuda_forecasts_equal_cpu_forecasts(tmp_path, backbone, values):
    cpu = _jiggle(_make(backbone, values, max_steps=3, **dict(TINY, device="cpu")).fit(_data()))
    cpu.save(tmp_path / "model.pt")
    gpu = af.NeuralAR.load(tmp_path / "model.pt", device="cuda")
    assert next(gpu.network_.parameters()).is_cuda
    with full_precision():
        np.testing.assert_allclose(gpu.predict(6).point, cpu.predict(6).point, rtol=1e-5, atol=1e-5)
    # by default cuDNN convolutions run in TF32 (a 10-bit mantissa): agreement to about 1e-3
    np.testing.assert_allclose(gpu.predict(6).point, cpu.predict(6).point, rtol=2e-3, atol=1e-3)
    # sampled paths: the same law (CUDA draws its own random numbers), seeded on the GPU too
    a, b = cpu.predict(6, num_samples=2000, seed=0), gpu.predict(6, num_samples=2000, seed=0)
    np.testing.assert_array_equal(b.samples, gpu.predict(6, num_samples=2000, seed=0).samples)
    spread = a.samples[:, :, 0].std(axis=1)
    assert np.all(np.abs(a.samples[:, :, 0].mean(axis=1) - b.samples[:, :, 0].mean(axis=1)) < 0.15 * spread)
    np.testing.assert_allclose(b.samples[:, :, 0].std(axis=1), spread, rtol=0.15)


@pytest.mark.parametrize("backbone", ["conv", "transformer"])
def test_incremental_rollout_equals_naive_recomputation_on_cuda(backbone):
    model = _jiggle(_make(backbone, "continuous", max_steps=2, **dict(TINY, device="cuda")).fit(_data()))
    ctx = model._context(af.to_panel(_data(n_series=2, length=70, seed=3)))
    with full_precision():
        assert_incremental_matches_naive(model, ctx, h=8, seed=0, num_samples=2, atol=1e-4, rtol=1e-5)
    # TF32 convolutions (the default) in the full recomputation: equal to about 1e-3
    assert_incremental_matches_naive(model, ctx, h=8, seed=0, num_samples=2, atol=1e-2, rtol=2e-3)


def test_training_and_anomaly_detection_on_cuda_follow_the_cpu():
    df = _data(n_series=2, length=200, seed=4)
    out = {}
    for device in ("cpu", "cuda"):
        model = _make("conv", "continuous", max_steps=20, **dict(TINY, device=device))
        det = AnomalyDetector(model, level=0.99, calibrate=True).fit(df.groupby("unique_id").head(120))
        out[device] = det.update(df.groupby("unique_id").tail(80))
        assert det.model_.device_.type == device
    # same initial weights and batches; only floating-point rounding differs over 20 Adam steps
    np.testing.assert_allclose(out["cuda"]["mean"], out["cpu"]["mean"], rtol=1e-3, atol=1e-3)
    assert (out["cuda"]["is_anomaly"] == out["cpu"]["is_anomaly"]).mean() >= 0.98
