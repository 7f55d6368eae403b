"""Honest time and progress: train() keeps its time_limit, bars follow the binding budget, one switch."""
import time

import numpy as np
import pandas as pd
import pytest
import torch

import arforecast as af
from arforecast import progress
from arforecast.nn.training import train


@pytest.fixture(autouse=True, scope="module")
def warm_optimizer():
    """The first AdamW of a process imports torch._dynamo (~2 s, counted by train): pay it here."""
    torch.optim.AdamW(torch.nn.Linear(1, 1).parameters())


def slow_problem(step_seconds, val_seconds):
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1)
    x, y = torch.randn(64, 3), torch.randn(64, 1)

    def loss_fn():
        time.sleep(step_seconds)
        return torch.mean((net(x) - y) ** 2)

    def val_fn():
        time.sleep(val_seconds)
        with torch.no_grad():
            return float(torch.mean((net(x) - y) ** 2))
    return net, loss_fn, val_fn


@pytest.mark.parametrize("step_seconds, val_seconds", [(0.02, 0.0), (0.02, 0.25)])
def test_time_limit_includes_validations_and_is_kept(step_seconds, val_seconds):
    net, loss_fn, val_fn = slow_problem(step_seconds, val_seconds)
    start = time.perf_counter()
    result = train(net, loss_fn, max_steps=10_000, time_limit=1.0, val_fn=val_fn, val_every=10, progress=False)
    wall = time.perf_counter() - start
    assert result.stopped == "time_limit" and result.steps >= 10
    assert wall <= 1.0 * 1.05, wall                       # never more than 5% over, validations included
    # and the budget is used: it stops only when one more step and a last validation would not fit
    assert wall >= 1.0 - val_seconds - 2 * step_seconds - 0.1, wall


class Recorder:
    """Stands in for tqdm: records the bars made and their final totals."""
    made = []

    def __init__(self, *args, total=None, **kwargs):
        self.total, self.n = total, 0
        Recorder.made.append(self)

    def update(self, k=1):
        self.n += k

    def set_postfix(self, **kwargs):
        pass

    def refresh(self):
        pass

    def close(self):
        pass


def test_the_bar_counts_to_the_budget_that_binds(monkeypatch):
    import tqdm.auto
    monkeypatch.setattr(tqdm.auto, "tqdm", Recorder)
    Recorder.made = []
    net, loss_fn, _ = slow_problem(0.02, 0.0)
    result = train(net, loss_fn, max_steps=100_000, time_limit=0.5, progress=True)
    bar, = Recorder.made
    assert bar.total == bar.n == result.steps < 100_000            # the time bound, not 0/100000
    Recorder.made = []
    result = train(net, loss_fn, max_steps=5, time_limit=60, progress=True)
    assert Recorder.made[0].total == Recorder.made[0].n == result.steps == 5


def test_one_switch_silences_every_bar(monkeypatch):
    import tqdm.auto
    monkeypatch.setattr(tqdm.auto, "tqdm", Recorder)
    Recorder.made = []
    net, loss_fn, _ = slow_problem(0.0, 0.0)
    y = pd.Series(np.sin(np.arange(120) / 3), index=pd.date_range("2024", periods=120, freq="h"))
    try:
        af.set_progress(False)
        train(net, loss_fn, max_steps=3, progress=True)
        af.detect_anomalies(af.AR(p=2), y, start=60, progress=True)
        assert Recorder.made == []
        af.set_progress(None)
        monkeypatch.setenv("ARFORECAST_PROGRESS", "0")
        train(net, loss_fn, max_steps=3, progress=True)
        assert Recorder.made == []
        monkeypatch.delenv("ARFORECAST_PROGRESS")
        train(net, loss_fn, max_steps=3, progress=True)
        assert len(Recorder.made) == 1
    finally:
        af.set_progress(None)
    with pytest.raises(ValueError, match="True, False or None"):
        af.set_progress("off")
    assert progress.progress_enabled(False) is False
