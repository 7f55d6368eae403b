"""NeuralAR reliability: transactional fit, atomic saves, safe loads, exact time index, scale equivariance, parameters."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch

import arforecast as af
from arforecast.datasets import simulate_ar
from arforecast.exceptions import ModelFileError, NotFittedError, TrainingError
from arforecast.models.neural.config import grouped
from arforecast.testing import DAMAGES, damaged_model_file

TINY = dict(context_length=24, d_model=8, n_layers=2, n_heads=2, attention_context=12, lags=(4,), periods=(),
            ar_lags=(1, 2), window_length=6, batch_size=8, validation_length=6, val_every=3, n_bins=32,
            value_range=(-4.0, 4.0), seed=0, progress=False)


def _make(max_steps: int = 6, **over) -> af.NeuralAR:
    return af.NeuralAR("conv", "continuous", max_steps=max_steps, **grouped({**TINY, **over}))


def _data(seed: int = 0, length: int = 80) -> pd.DataFrame:
    return simulate_ar([0.5, -0.2], n_series=2, length=length, intercept=10.0, seed=seed)


def _fail_at(monkeypatch, exc: BaseException, after: int) -> None:
    """Make the training loss raise ``exc`` (or turn NaN) after ``after`` training batches."""
    original = af.NeuralAR._window_nll
    calls = {"n": 0}

    def patched(self, values, positions, context):
        nll, scale = original(self, values, positions, context)
        if self.network_.training:
            calls["n"] += 1
            if calls["n"] > after:
                if isinstance(exc, TrainingError):
                    return nll * float("nan"), scale
                raise exc
        return nll, scale

    monkeypatch.setattr(af.NeuralAR, "_window_nll", patched)


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), TrainingError("nan")])
def test_a_failed_refit_leaves_forecasts_bit_identical(monkeypatch, exc):
    model = _make().fit(_data(0))
    before = model.predict(5, num_samples=4, seed=1)
    steps = model.training_.steps
    _fail_at(monkeypatch, exc, after=3)
    with pytest.raises(type(exc)):
        model.fit(_data(1, length=90))
    after = model.predict(5, num_samples=4, seed=1)
    np.testing.assert_array_equal(after.samples, before.samples)
    np.testing.assert_array_equal(after.point, before.point)
    assert model.training_.steps == steps and model.panel_.n_series == 2
    assert len(model.panel_.series(0)) == 80


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), TrainingError("nan")])
def test_an_interrupted_first_fit_keeps_the_best_checkpoint_and_says_so(monkeypatch, exc):
    model = _make(max_steps=50)
    _fail_at(monkeypatch, exc, after=7)
    with pytest.warns(RuntimeWarning, match="best checkpoint"), pytest.raises(type(exc)):
        model.fit(_data(0))
    assert model.training_.stopped == ("interrupted" if isinstance(exc, KeyboardInterrupt) else "not_finite")
    assert model.training_.steps == 7
    fc = model.predict(4)
    assert np.isfinite(fc.point).all()


def test_an_error_before_training_leaves_a_first_fit_unfitted(monkeypatch):
    model = _make()
    monkeypatch.setattr("arforecast.models.neural.estimator.fit_network",
                        lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        model.fit(_data())
    with pytest.raises(NotFittedError):
        model.predict(3)


def test_a_failing_save_leaves_the_old_file_loadable(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    model = _make().fit(_data())
    model.save(path)
    expect = af.NeuralAR.load(path).predict(4).point

    def broken(obj, f, *a, **k):
        f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    monkeypatch.undo()
    np.testing.assert_array_equal(af.NeuralAR.load(path).predict(4).point, expect)
    assert os.listdir(tmp_path) == ["m.pt"]          # no temporary file left behind


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


@pytest.mark.parametrize("kind", DAMAGES)
def test_loading_a_bad_file_raises_one_clear_error(tmp_path, kind):
    good = tmp_path / "good.pt"
    _make().fit(_data()).save(good)
    bad = damaged_model_file(good, kind, tmp_path / "bad.pt", evil=_Evil())
    with pytest.raises(ModelFileError) as info:
        af.NeuralAR.load(bad)
    assert "weights_only" not in str(info.value) and str(bad) in str(info.value)


@pytest.mark.parametrize("freq", ["h", "D", "cbd"])
def test_save_load_keeps_future_timestamps_exact(tmp_path, freq):
    if freq == "cbd":
        offset = pd.offsets.CustomBusinessDay(holidays=["2024-03-29", "2024-04-01", "2024-04-05"])
        idx = pd.date_range("2024-01-01", periods=60, freq=offset)
    else:
        idx = pd.date_range("2024-02-20", periods=60 if freq == "D" else 950, freq=freq, tz="Europe/Berlin")
    y = pd.Series(10 + np.sin(np.arange(len(idx))), index=idx)
    model = _make(max_steps=2).fit(y)
    model.save(tmp_path / "m.pt")
    loaded = af.NeuralAR.load(tmp_path / "m.pt")
    a, b = model.predict(48).mean, loaded.predict(48).mean
    assert a["ds"].tolist() == b["ds"].tolist()
    if freq == "h":      # the clocks go forward on 2024-03-31 in Berlin: one local hour is skipped
        assert str(b["ds"].dt.tz) == "Europe/Berlin"
        assert b["ds"].iloc[-1] - b["ds"].iloc[0] == pd.Timedelta(hours=47)
        assert b["ds"].iloc[0].utcoffset() != b["ds"].iloc[-1].utcoffset()       # the forecast crosses DST


@pytest.mark.parametrize("backbone,values", [("conv", "continuous"), ("conv", "quantized"),
                                             ("transformer", "continuous")])
@pytest.mark.parametrize("scale", [1e-12, 1e12])
def test_forecasts_are_scale_equivariant(backbone, values, scale):
    """A fixed floor (1e-10) in the scalers used to treat series of size 1e-11 as all-zero:
    forecasts were 5e6 times the history's level."""
    y = _data(0)
    make = lambda: af.NeuralAR(backbone, values, max_steps=4, **grouped(TINY))   # noqa: E731
    base = make().fit(y).predict(4, num_samples=8, seed=1)
    got = make().fit(y.assign(y=y["y"] * scale)).predict(4, num_samples=8, seed=1)
    np.testing.assert_allclose(got.point / scale, base.point, rtol=1e-6)
    np.testing.assert_allclose(got.samples / scale, base.samples, rtol=1e-6)


@pytest.mark.parametrize("scale", [1e-40, 1e40])
def test_magnitudes_float32_cannot_carry_are_refused(scale):
    with pytest.raises(af.DataError, match="float32.*rescale"):
        _make().fit(_data().assign(y=lambda d: d["y"] * scale))


@pytest.mark.parametrize("group,field,bad", [
    ("output", "n_bins", 1), ("output", "n_bins", 2.5), ("output", "value_range", (3.0, -3.0)),
    ("output", "mu_law", -1.0), ("training", "ema_decay", 2.0), ("training", "ema_decay", 0.0),
    ("training", "grad_clip", -1.0), ("training", "grad_clip", float("nan")), ("training", "learning_rate", 0.0),
    ("training", "weight_decay", -0.1), ("training", "warmup_steps", -1), ("training", "patience", 0),
    ("architecture", "n_heads", 0), ("architecture", "n_layers", 0), ("inputs", "ar_ridge", -1.0)])
def test_settings_that_cannot_work_are_refused_naming_the_field(group, field, bad):
    with pytest.raises(ValueError, match=field):
        af.NeuralAR(max_steps=2, progress=False, **{group: {field: bad}}).fit(_data())
    from arforecast.models.neural.config import GROUPS
    with pytest.raises(ValueError, match=field):
        GROUPS[group](**{field: bad})


@pytest.mark.parametrize("bad", [-1, 1.5, True, "0"])
def test_neural_seed_must_be_a_non_negative_integer(bad):
    with pytest.raises(ValueError, match="seed"):
        af.NeuralAR(seed=bad, max_steps=2, progress=False).fit(_data())


def test_naive2_season_and_cli_step_are_checked(tmp_path, capsys):
    """Both were already refused (kept here so that the issue's list is covered)."""
    with pytest.raises(ValueError, match="season_length"):
        af.Naive2(0).fit(_data())
    from arforecast.cli import main
    path = tmp_path / "y.csv"
    _data().to_csv(path, index=False)
    with pytest.raises(SystemExit):
        main(["backtest", str(path), "--horizon", "2", "--step", "0"])
    assert "step" in capsys.readouterr().err


@pytest.mark.parametrize("n", [48, 150])
def test_default_neural_on_a_short_series_stays_near_its_history(n):
    """Issue #16: the default NeuralAR on 48 hourly values around 10 gave a 0.00 mean path, and on
    120-200 values 90% intervals 20-100 times the history's range. (The defaults chosen from the
    data since the neural rework already pass; kept as a regression test, budget cut to 60 steps.)"""
    rng = np.random.default_rng(0)
    y = pd.Series(10 + rng.normal(0, 0.4, n), index=pd.date_range("2024-01-01", periods=n, freq="h"))
    fc = af.NeuralAR(progress=False, seed=0, max_steps=60).fit(y).predict(24, num_samples=100, seed=0)
    span = float(np.ptp(y))
    assert np.all(np.abs(fc.point - y.mean()) < span)
    lo, hi = fc.interval_values(0.9)
    assert float(np.mean(hi - lo)) < 3 * span


def test_a_file_with_tampered_settings_is_refused(tmp_path):
    good, bad = tmp_path / "good.pt", tmp_path / "bad.pt"
    _make().fit(_data()).save(good)
    payload = torch.load(good, weights_only=True)
    payload["chosen"]["context_length_"] = "many"
    torch.save(payload, bad)
    with pytest.raises(ModelFileError, match="context_length_"):
        af.NeuralAR.load(bad)


def test_damaged_model_file_refuses_unknown_kinds_and_evil_without_its_object(tmp_path):
    good = tmp_path / "good.pt"
    good.write_bytes(b"0123456789")
    with pytest.raises(ValueError, match="kind must be one of"):
        damaged_model_file(good, "melted", tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="evil="):
        damaged_model_file(good, "evil", tmp_path / "bad.pt")
