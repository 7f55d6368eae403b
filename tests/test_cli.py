"""The command line, run as a user would: a subprocess per call, files and exit codes checked."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "datasets" / "example_hourly.csv"


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "arforecast.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def assert_one_line_error(proc, fragment):
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [l for l in proc.stderr.strip().splitlines() if l]
    assert len(lines) == 1, proc.stderr
    assert fragment in lines[0], lines[0]


def test_forecast_long_csv_writes_quantiles_and_plot(tmp_path):
    out, png = tmp_path / "fc.csv", tmp_path / "fc.png"
    proc = run("forecast", "--input", EXAMPLE, "--model", "seasonal-naive", "--horizon", 12,
               "--level", 0.8, "--level", 0.95, "--output", out, "--plot", png)
    assert proc.returncode == 0, proc.stderr
    df = pd.read_csv(out)
    assert list(df.columns) == ["unique_id", "ds", "mean", "q0.025", "q0.1", "q0.9", "q0.975"]
    assert len(df) == 3 * 12 and (df["q0.025"] <= df["q0.975"]).all()
    assert pd.to_datetime(df["ds"]).min() > pd.to_datetime(pd.read_csv(EXAMPLE)["ds"]).max() - pd.Timedelta("1h")
    assert png.stat().st_size > 10_000
    assert "SeasonalNaive: 3 series, horizon 12" in proc.stdout


def test_forecast_wide_csv_with_custom_time_column(tmp_path):
    long = pd.read_csv(EXAMPLE)
    wide = long.pivot(index="ds", columns="unique_id", values="y").reset_index().rename(columns={"ds": "time"})
    src = tmp_path / "wide.csv"
    wide.to_csv(src, index=False)
    out = tmp_path / "fc.csv"
    proc = run("forecast", "--input", src, "--time-col", "time", "--model", "naive", "--horizon", 3, "--output", out)
    assert proc.returncode == 0, proc.stderr
    df = pd.read_csv(out)
    assert sorted(df["unique_id"].unique()) == ["H1", "H2", "H3"]
    last = long.groupby("unique_id")["y"].last()
    np.testing.assert_allclose(df.groupby("unique_id")["mean"].first().loc[last.index], last)


@pytest.mark.parametrize("content, fragment", [
    ("", "the file is empty"),
    ("unique_id,ds,y\n", "header but no rows"),
    ("unique_id,when,y\na,2024-01-01,1\n", "missing time column 'ds'"),
    ("unique_id,ds\na,2024-01-01\na,2024-01-02\n", "long format needs columns"),
    ("unique_id,ds,y\na,2024-01-01,1\na,yesterday,2\na,2024-01-03,3\n", "not dates, e.g. 'yesterday'"),
    ("unique_id,ds,y\n" + "".join(f"a,2024-01-{d:02d},1\n" for d in range(1, 6))
     + "".join(f"b,2024-01-01 {h:02d}:00,1\n" for h in range(5)), "frequency"),
    ("unique_id,ds,y\na,2024-01-01,1\na,2024-01-02,x\na,2024-01-03,2\n", "non-numeric"),
])
def test_bad_files_get_one_line_and_exit_code_2(tmp_path, content, fragment):
    src = tmp_path / "bad.csv"
    src.write_text(content)
    proc = run("forecast", "--input", src, "--model", "naive", "--output", tmp_path / "o.csv")
    assert_one_line_error(proc, fragment)
    assert not (tmp_path / "o.csv").exists()


def test_missing_file_and_bad_options(tmp_path):
    assert_one_line_error(run("forecast", "--input", tmp_path / "nope.csv", "--output", tmp_path / "o.csv"), "no such file")
    proc = run("forecast", "--input", EXAMPLE, "--model", "naive", "--horizon", 0, "--output", tmp_path / "o.csv")
    assert_one_line_error(proc, "--horizon: expected a positive integer")


def test_help_explains_every_option_with_an_example():
    for sub in ("forecast", "backtest", "detect", "demo"):
        proc = run(sub, "--help")
        assert proc.returncode == 0
        assert "example:" in proc.stdout and "arforecast " + sub in proc.stdout


def test_backtest_writes_forecasts_metrics_and_plot(tmp_path):
    out, met, png = tmp_path / "bt.csv", tmp_path / "metrics.csv", tmp_path / "bt.png"
    proc = run("backtest", "--input", EXAMPLE, "--model", "ar", "--p", 24, "--horizon", 12, "--windows", 3,
               "--output", out, "--metrics", met, "--plot", png)
    assert proc.returncode == 0, proc.stderr
    df = pd.read_csv(out)
    assert {"unique_id", "cutoff", "ds", "y", "mean"} <= set(df.columns)
    assert df["cutoff"].nunique() == 3 and len(df) == 3 * 3 * 12
    assert (pd.to_datetime(df["ds"]) > pd.to_datetime(df["cutoff"])).all()
    assert len(pd.read_csv(met)) == 3 and png.stat().st_size > 10_000


def test_detect_flags_an_injected_spike(tmp_path):
    long = pd.read_csv(EXAMPLE)
    spiked = long.copy()
    row = spiked.index[(spiked["unique_id"] == "H2")][300]
    spiked.loc[row, "y"] = spiked.loc[row, "y"] * 5
    src, out, png = tmp_path / "spiked.csv", tmp_path / "anomalies.csv", tmp_path / "a.png"
    spiked.to_csv(src, index=False)
    proc = run("detect", "--input", src, "--model", "ar", "--p", 24, "--level", 0.999, "--history", 100,
               "--output", out, "--plot", png)
    assert proc.returncode == 0, proc.stderr
    df = pd.read_csv(out)
    assert {"unique_id", "ds", "y", "mean", "lower", "upper", "score", "is_anomaly"} <= set(df.columns)
    hit = df[(df["unique_id"] == "H2") & (df["ds"] == spiked.loc[row, "ds"])]
    assert bool(hit["is_anomaly"].iloc[0])
    assert png.stat().st_size > 10_000


def test_demo_runs_end_to_end(tmp_path):
    proc = run("demo", "--out", tmp_path / "demo", "--n-series", 8, "--no-neural")
    assert proc.returncode == 0, proc.stderr
    for name in ("m4_hourly_scores.csv", "backtest_scores.csv", "forecasts.csv", "fan_chart.png", "anomalies.png",
                 "anomalies.csv"):
        assert (tmp_path / "demo" / name).stat().st_size > 0, name
    table = pd.read_csv(tmp_path / "demo" / "m4_hourly_scores.csv", index_col=0)
    assert {"Naive2", "SeasonalNaive", "AR(48)"} <= set(table.index)
    assert table.loc["Naive2", "OWA"] == pytest.approx(1.0)
