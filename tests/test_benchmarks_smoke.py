"""The quick benchmark suite and the separately recorded scripts run end to end (smoke tests: they check
that the scripts run and their tables are complete, not the numbers)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import _have

ROOT = Path(__file__).resolve().parents[1]
requires_m3 = pytest.mark.skipif(not _have("m3/yearly_train.csv"),
                                 reason="M3 not found (../shared/datasets/m3 or $ARFORECAST_DATA)")


def test_quick_suite_runs(tmp_path):
    env = {**os.environ, "ARFORECAST_BENCH_RESULTS": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "run", "--suite", "quick"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    sys.path.insert(0, str(ROOT))
    from benchmarks.__main__ import BENCHMARKS
    for name in BENCHMARKS:
        result = json.loads((tmp_path / "quick" / f"{name}.json").read_text())
        assert result["benchmark"] == name and result["environment"]["versions"]["arforecast"]


def _script(tmp_path, name: str, *args: str) -> str:
    env = {**os.environ, "ARFORECAST_BENCH_RESULTS": str(tmp_path)}
    proc = subprocess.run([sys.executable, f"benchmarks/{name}.py", "--quick", "--record", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return (tmp_path / f"{name}_quick.md").read_text()


@requires_m3
def test_defaults_table_runs_every_model_on_every_data_set(tmp_path):
    text = _script(tmp_path, "defaults")
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| M") or line.startswith("| all")]
    models = ["ref Naive2(m)", "ref SeasonalNaive(m)", "Naive()", "SeasonalNaive()", "Naive2()", "Mean()", "Drift()",
              "AR()", "NeuralAR(time_limit=1)"]
    data_sets = ["M3 yearly", "M3 quarterly", "M3 monthly", "M3 other", "M4 Hourly", "all M3"]
    assert sorted((r[0].lstrip("| "), r[3]) for r in rows) == sorted((d, m) for d in data_sets for m in models)
    result = json.loads((tmp_path / "defaults_quick.json").read_text())
    reference = [r for r in result["table"] if r["model"] == "ref Naive2(m)"]
    assert all(r["sMAPE/Naive2"] == 1.0 and r["error"] == "" for r in reference)


@requires_m3
def test_neural_m3_table_and_budget_split(tmp_path):
    sys.path.insert(0, str(ROOT))
    from benchmarks.neural_m3 import budgets
    split = budgets({"a": 1, "b": 3}, total=100, floor=20)
    assert split == {"a": 35.0, "b": 65.0} and sum(split.values()) == 100
    _script(tmp_path, "neural_m3", "--groups", "other")
    result = json.loads((tmp_path / "neural_m3_quick.json").read_text())
    models = {r["model"] for r in result["table"]}
    assert models == {"Naive2", "SeasonalNaive", "AR()", "NeuralAR", "NeuralAR network alone"}
    assert all(r["sMAPE/Naive2"] == 1.0 for r in result["table"] if r["model"] == "Naive2")


def test_simulated_panels_table_runs_every_combination(tmp_path):
    text = _script(tmp_path, "simulated_panels")
    result = json.loads((tmp_path / "simulated_panels_quick.json").read_text())
    names = {(r["panel"], r["model"]) for r in result["table"]}
    for panel in ("hourly", "daily"):
        for combo in ("conv-quantized", "conv-continuous", "transformer-quantized", "transformer-continuous"):
            assert (panel, f"NeuralAR {combo}") in names
        assert {(panel, "ref SeasonalNaive(m)"), (panel, "SeasonalNaive()"), (panel, "AR()")} <= names
    assert "beats SN" in text


def test_probe_quick_subset_runs_and_finds_nothing_unsafe():
    """``benchmarks/probe.py --quick``: every case is classified; the subset holds the fixed cases of
    issue #16 (scale, categorical ids, tz-aware time, model files), so none may be wrong, unsafe or mutate."""
    sys.path.insert(0, str(ROOT))
    from benchmarks import probe
    counts, listed = probe.run(quick=True)
    assert sum(counts.values()) == len(probe.cases(quick=True)) > 20
    assert set(counts) <= set(probe.CLASSES)
    for cls in ("silent_wrong", "mutation", "unsafe_load", "hang"):
        assert counts.get(cls, 0) == 0, [x for x in listed if x[0] == cls]


def test_scale_benchmark_runs(tmp_path):
    text = _script(tmp_path, "scale")
    for case in ("to_panel long", "AR(24).fit wide", "pickle of a fitted AR", "peak extra memory"):
        assert case in text
