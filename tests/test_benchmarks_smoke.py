"""The quick benchmark suite runs end to end (a smoke test: it checks the suite runs, not the numbers)."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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
