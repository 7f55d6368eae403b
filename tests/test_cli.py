"""The command line as a user meets it: files, exit codes, one-line errors, every example.

Most calls run ``main()`` in this process (the same code path as the console script, without the
seconds of a fresh interpreter); two run the real ``python -m arforecast.cli`` as a subprocess.
"""
import io
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from arforecast.cli.main import EXAMPLES, build_parser, main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "datasets" / "example_hourly.csv"


def cli(capsys, *args):
    """Run ``arforecast *args`` here; return ``(exit code, stdout, stderr)``."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as stop:                      # argparse: --help, --version, usage errors
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(result, fragment):
    code, _, err = result
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1, err
    assert fragment in lines[0], lines[0]


@pytest.fixture
def custom(tmp_path):
    """A small long CSV with the user's own column names: store, when, sales (3 series x 120 hours)."""
    df = pd.read_csv(EXAMPLE).groupby("unique_id").head(120)
    path = tmp_path / "custom.csv"
    df.rename(columns={"unique_id": "store", "ds": "when", "y": "sales"}).to_csv(path, index=False)
    return path


CUSTOM = ("--id-col", "store", "--time-col", "when", "--target-col", "sales")


def test_forecast_long_csv_writes_quantiles_and_plot(tmp_path, capsys):
    out, png = tmp_path / "fc.csv", tmp_path / "fc.png"
    code, stdout, err = cli(capsys, "forecast", "--input", EXAMPLE, "--model", "seasonal-naive", "--horizon", 12,
                            "--level", 0.8, "--level", 95, "--output", out, "--plot", png)
    assert code == 0, err
    df = pd.read_csv(out)
    assert list(df.columns) == ["unique_id", "ds", "mean", "q0.025", "q0.1", "q0.9", "q0.975"]
    assert len(df) == 3 * 12 and (df["q0.025"] <= df["q0.975"]).all()
    assert pd.to_datetime(df["ds"]).min() > pd.to_datetime(pd.read_csv(EXAMPLE)["ds"]).max() - pd.Timedelta("1h")
    assert png.stat().st_size > 10_000
    assert "SeasonalNaive: 3 series, horizon 12" in stdout


def test_forecast_wide_csv_with_custom_time_column(tmp_path, capsys):
    long = pd.read_csv(EXAMPLE)
    wide = long.pivot(index="ds", columns="unique_id", values="y").reset_index().rename(columns={"ds": "time"})
    src = tmp_path / "wide.csv"
    wide.to_csv(src, index=False)
    out = tmp_path / "fc.csv"
    code, _, err = cli(capsys, "forecast", "--input", src, "--time-col", "time", "--model", "naive", "--horizon", 3,
                       "--output", out)
    assert code == 0, err
    df = pd.read_csv(out)
    assert list(df.columns[:2]) == ["unique_id", "time"]
    assert sorted(df["unique_id"].unique()) == ["H1", "H2", "H3"]
    last = long.groupby("unique_id")["y"].last()
    np.testing.assert_allclose(df.groupby("unique_id")["mean"].first().loc[last.index], last)


@pytest.mark.parametrize("command, extra, columns", [
    ("forecast", ("--horizon", 4), {"store", "when", "mean"}),
    ("backtest", ("--model", "seasonal-naive", "--horizon", 6, "--windows", 2), {"store", "cutoff", "when", "sales", "mean"}),
    ("detect", ("--model", "seasonal-naive", "--history", 60), {"store", "when", "sales", "mean", "is_anomaly"}),
])
def test_every_subcommand_keeps_custom_column_names(tmp_path, capsys, custom, command, extra, columns):
    out, png = tmp_path / "out.csv", tmp_path / "out.png"
    code, stdout, err = cli(capsys, command, "--input", custom, *CUSTOM, *extra, "--output", out, "--plot", png)
    assert code == 0, err
    df = pd.read_csv(out)
    assert columns <= set(df.columns) and "unique_id" not in df.columns and "ds" not in df.columns
    assert png.stat().st_size > 5_000
    assert command == "backtest" or "store" in stdout      # the per-series summary


@pytest.mark.parametrize("name, reader", [
    ("fc.csv", pd.read_csv),
    ("fc.parquet", pd.read_parquet),
    ("fc.json", lambda p: pd.read_json(p, orient="records")),
    ("-", None),
])
def test_output_formats_hold_the_same_table(tmp_path, capsys, custom, name, reader):
    pytest.importorskip("pyarrow") if name.endswith(".parquet") else None
    target = name if name == "-" else tmp_path / name
    code, stdout, err = cli(capsys, "forecast", "--input", custom, *CUSTOM, "--model", "naive", "--horizon", 3,
                            "--output", target)
    assert code == 0, err
    df = pd.read_csv(io.StringIO(stdout)) if name == "-" else reader(target)
    assert list(df.columns) == ["store", "when", "mean", "q0.025", "q0.975"] and len(df) == 9
    np.testing.assert_allclose(df.groupby("store")["mean"].first().to_numpy(),
                               pd.read_csv(custom).groupby("store")["sales"].last().to_numpy())
    if name == "-":
        assert "Naive: 3 series" in err                # the summary stays off the data stream


def test_parquet_without_pyarrow_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a))
    result = cli(capsys, "forecast", "--input", EXAMPLE, "--output", tmp_path / "fc.parquet")
    assert_one_line_error(result, "writing Parquet needs pyarrow")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("content, fragment", [
    ("", "the file is empty"),
    ("unique_id,ds,y\n", "header but no rows"),
    ("unique_id,when,y\na,2024-01-01,1\n", "missing time column 'ds'"),
    ("unique_id,ds\na,2024-01-01\na,2024-01-02\n", "long format needs columns"),
    ("unique_id,ds,y\na,2024-01-01,1\na,yesterday,2\na,2024-01-03,3\n", "not dates, e.g. 'yesterday'"),
    ("unique_id,ds,y\n" + "".join(f"a,2024-01-{d:02d},1\n" for d in range(1, 6))
     + "".join(f"b,2024-01-01 {h:02d}:00,1\n" for h in range(5)), "frequency"),
    ("unique_id,ds,y\na,2024-01-01,1\na,2024-01-02,x\na,2024-01-03,2\n", "non-numeric"),
    ("unique_id,ds,y\na,2024-01-01,1\na,2024-01-03,2\na,2024-01-04,3\na,2024-01-05,3\n", "--freq"),
])
def test_bad_files_get_one_line_and_exit_code_2(tmp_path, capsys, content, fragment):
    src = tmp_path / "bad.csv"
    src.write_text(content)
    result = cli(capsys, "forecast", "--input", src, "--model", "naive", "--output", tmp_path / "o.csv")
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "o.csv").exists()


BAD_OPTIONS = [
    (("forecast", "--horizon", 0), "--horizon: expected a positive integer, got '0'"),
    (("forecast", "--samples", -1), "--samples: expected a positive integer"),
    (("forecast", "--level", 1), "--level: expected a level such as 0.95 or 95, got '1'"),
    (("forecast", "--level", 150), "got '150'"),
    (("forecast", "--quantile", 2), "--quantile: expected a probability"),
    (("forecast", "--model", "arima"), "invalid choice: 'arima'"),
    (("forecast", "--p", "x"), "--p must be an integer, 'aic', 'aicc', 'bic' or 'auto', got 'x'"),
    (("forecast", "--p", 2, "--max-p", 4), "--max-p only applies with --p aic, aicc, bic or auto"),
    (("forecast", "--d", "two"), "--d must be a non-negative integer or 'auto', got 'two'"),
    (("forecast", "--seasonal-lags", "24,x"), "--seasonal-lags: expected comma-separated positive integers"),
    (("forecast", "--season-length", 0), "--season-length: expected a positive integer"),
    (("forecast", "--model", "seasonal-naive", "--season-length", 5000), "needs at least 5001 observations"),
    (("forecast", "--freq", "D"), "has a timestamp off the grid of frequency 'D'"),
    (("forecast", "--missing", "skip"), "invalid choice: 'skip'"),
    (("forecast", "--model", "neural", "--level", 0.9), "add --samples"),
    (("forecast", "--time-limit", 0), "--time-limit: expected a positive number"),
    (("forecast", "--output", "fc.xlsx"), "unknown format '.xlsx'"),
    (("forecast", "--output", "fc"), "unknown format '(no extension)'"),
    (("forecast", "--plot", "fc.jpeg"), "unknown image format 'jpeg'"),
    (("forecast", "--output", "same.csv", "--plot", "same.csv"), "the same file is given for two outputs"),
    (("backtest", "--output", "same.csv", "--metrics", "same.csv"), "the same file is given for two outputs"),
    (("backtest", "--refit", "sometimes"), "--refit must be always, never or a positive number"),
    (("backtest", "--windows", 500, "--horizon", 24), "too short"),
    (("detect", "--history", 5000), "leaves no point to score"),
    (("detect", "--history", 0), "--history: expected a count or a fraction"),
    (("detect", "--level", 0), "--level: expected a level"),
]


@pytest.mark.parametrize("args, fragment", BAD_OPTIONS, ids=lambda v: " ".join(map(str, v)) if isinstance(v, tuple) else "")
def test_bad_options_get_one_line_and_nothing_is_written(tmp_path, capsys, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    command, *rest = args
    if "--output" not in rest:
        rest += ["--output", "out.csv"]
    result = cli(capsys, command, "--input", EXAMPLE, *rest, "--plot", "out.png") if "--plot" not in rest \
        else cli(capsys, command, "--input", EXAMPLE, *rest)
    assert_one_line_error(result, fragment)
    assert not list(tmp_path.iterdir()), list(tmp_path.iterdir())


def test_missing_input_and_output_to_a_folder(tmp_path, capsys):
    assert_one_line_error(cli(capsys, "forecast", "--input", tmp_path / "nope.csv"), "no such file")
    assert_one_line_error(cli(capsys, "forecast", "--input", EXAMPLE, "--output", tmp_path), "unknown format")
    (tmp_path / "dir.csv").mkdir()
    assert_one_line_error(cli(capsys, "forecast", "--input", EXAMPLE, "--output", tmp_path / "dir.csv"), "is a folder")


def test_warnings_are_one_line(tmp_path, capsys):
    src = tmp_path / "slashed.csv"
    src.write_text("unique_id,ds,y\n" + "".join(f"a,01/{d:02d}/2024,{d % 3}\n" for d in range(1, 12)))
    code, _, err = cli(capsys, "forecast", "--input", src, "--model", "naive", "--horizon", 2, "--output", "-")
    assert code == 0, err
    warning = [line for line in err.splitlines() if "warning:" in line]
    assert len(warning) == 1 and "month-first or day-first" in warning[0]
    assert not any(line.strip().startswith("warnings.warn") for line in err.splitlines())


def test_version_and_quiet(tmp_path, capsys):
    from arforecast import __version__
    code, out, _ = cli(capsys, "--version")
    assert code == 0 and out.strip() == f"arforecast {__version__}"
    code, out, err = cli(capsys, "forecast", "--input", EXAMPLE, "--model", "naive", "--horizon", 2,
                         "--output", tmp_path / "fc.csv", "--quiet")
    assert code == 0 and out == "" and err == "", err
    assert len(pd.read_csv(tmp_path / "fc.csv")) == 6


def test_model_options_reach_the_model():
    from arforecast.cli.models import build_model
    parser = build_parser()
    ar = build_model(parser.parse_args(["forecast", "--input", "x.csv", "--p", "aic", "--max-p", "6",
                                        "--seasonal-lags", "24,168", "--trend", "ct", "--bootstrap"]))
    assert (ar.p, ar.max_p, tuple(ar.seasonal_lags), ar.trend, ar.bootstrap) == ("aic", 6, (24, 168), "ct", True)
    ar = build_model(parser.parse_args(["forecast", "--input", "x.csv", "--d", "auto", "--seasonal-d", "1",
                                        "--season-length", "12", "--deseasonalize", "no"]))
    assert (ar.p, ar.d, ar.D, ar.season_length, ar.deseasonalize) == ("auto", "auto", 1, 12, False)
    neural = build_model(parser.parse_args(["forecast", "--input", "x.csv", "--model", "neural", "--time-limit", "5",
                                            "--context-length", "96", "--calibrate", "crps", "--device", "cpu"]))
    assert (neural.time_limit, neural.context_length, neural.training.calibrate, neural.device) == (5.0, 96, "crps", "cpu")
    args = parser.parse_args(["detect", "--input", "x.csv", "--level", "99.9", "--refit", "50", "--calibrate",
                              "conformal", "--history", "0.2"])
    assert (args.level, args.refit, args.calibrate, args.history) == (0.999, 50, "conformal", 0.2)


def test_detect_flags_an_injected_spike(tmp_path, capsys):
    long = pd.read_csv(EXAMPLE)
    spiked = long.copy()
    row = spiked.index[(spiked["unique_id"] == "H2")][300]
    spiked.loc[row, "y"] = spiked.loc[row, "y"] * 5
    src, out = tmp_path / "spiked.csv", tmp_path / "anomalies.csv"
    spiked.to_csv(src, index=False)
    code, _, err = cli(capsys, "detect", "--input", src, "--model", "ar", "--p", 24, "--level", 99.9,
                       "--history", 100, "--output", out)
    assert code == 0, err
    df = pd.read_csv(out)
    assert {"unique_id", "ds", "y", "mean", "lower", "upper", "score", "is_anomaly"} <= set(df.columns)
    hit = df[(df["unique_id"] == "H2") & (df["ds"] == spiked.loc[row, "ds"])]
    assert bool(hit["is_anomaly"].iloc[0])
    assert bool(hit["alert"].iloc[0])      # the spike is a new record too: an incident alert


def test_detect_without_options_flags_a_sensible_share(tmp_path, capsys):
    """The documented default: AR() from the data, level 0.99, alerts from incident scores;
    with --lower-bound 0 no interval goes below zero."""
    out = tmp_path / "anomalies.csv"
    code, stdout, err = cli(capsys, "detect", "--input", EXAMPLE, "--lower-bound", 0, "--output", out)
    assert code == 0, err
    df = pd.read_csv(out)
    scored = df["score"].notna()
    assert 0.001 <= df.loc[scored, "is_anomaly"].mean() <= 0.05
    assert df["alert"].sum() <= 0.02 * scored.sum() and (df["lower"].dropna() >= 0).all()
    assert "incident alerts" in stdout


def test_backtest_writes_forecasts_and_metrics(tmp_path, capsys):
    out, met = tmp_path / "bt.csv", tmp_path / "metrics.json"
    code, _, err = cli(capsys, "backtest", "--input", EXAMPLE, "--model", "ar", "--p", 24, "--horizon", 12,
                       "--windows", 3, "--refit", "never", "--level", 80, "--output", out, "--metrics", met)
    assert code == 0, err
    df = pd.read_csv(out)
    assert {"unique_id", "cutoff", "ds", "y", "mean", "q0.1", "q0.9"} <= set(df.columns)
    assert df["cutoff"].nunique() == 3 and len(df) == 3 * 3 * 12
    assert (pd.to_datetime(df["ds"]) > pd.to_datetime(df["cutoff"])).all()
    metrics = pd.read_json(met, orient="records")
    assert len(metrics) == 3 and "coverage_80" in metrics.columns


# ---------------------------------------------------------------------- examples, as written
def _commands(text):
    """Every ``arforecast ...`` command of ``text`` (backslash continuations joined)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [line.strip() for line in joined.splitlines() if line.strip().startswith("arforecast ")]


HELP_EXAMPLES = [c for examples in EXAMPLES.values() for c in _commands("\n".join(examples))]
DOC_EXAMPLES = [c for block in re.findall(r"```bash\n(.*?)```", (ROOT / "docs" / "cli.md").read_text(), re.S)
                for c in _commands(block)]


def test_help_shows_the_examples(capsys):
    for sub, examples in EXAMPLES.items():
        code, out, _ = cli(capsys, sub, "--help")
        assert code == 0 and "examples" in out
        for example in examples:
            assert example.split()[1] == sub and example.splitlines()[0].strip() in out


@pytest.mark.parametrize("command", sorted(set(HELP_EXAMPLES) | set(DOC_EXAMPLES)))
def test_every_help_and_docs_example_runs_as_written(command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "datasets").symlink_to(ROOT / "datasets")
    args = shlex.split(command)[1:]
    code, out, err = cli(capsys, *args)
    assert code == 0, err
    assert "Traceback" not in err
    for flag in ("--output", "--plot", "--metrics"):
        if flag in args and args[args.index(flag) + 1] != "-":
            assert (tmp_path / args[args.index(flag) + 1]).stat().st_size > 0
    if "-" in args:
        assert len(pd.read_csv(io.StringIO(out))) > 0
    if args[0] == "demo":
        folder = tmp_path / args[args.index("--out") + 1]
        for name in ("m4_hourly_scores.csv", "backtest_scores.csv", "forecasts.csv", "fan_chart.png",
                     "anomalies.png", "anomalies.csv"):
            assert (folder / name).stat().st_size > 0, name
        table = pd.read_csv(folder / "m4_hourly_scores.csv", index_col=0)
        assert table.loc["Naive2", "OWA"] == pytest.approx(1.0)


def test_docs_show_every_help_example():
    assert set(HELP_EXAMPLES) <= set(DOC_EXAMPLES)


# ---------------------------------------------------------------------- the real console command
def test_console_command_writes_stdout_and_fails_in_one_line(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "arforecast.cli", *map(str, args)], capture_output=True,
                              text=True, cwd=tmp_path, timeout=300)
    ok = run("forecast", "--input", EXAMPLE, "--model", "naive", "--horizon", 2, "--output", "-")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[0] == "unique_id,ds,mean,q0.025,q0.975" and len(ok.stdout.splitlines()) == 7
    bad = run("detect", "--input", EXAMPLE, "--history", 5000, "--output", "a.csv", "--plot", "a.png")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_covariates_file_reaches_arx_in_forecast_backtest_and_detect(tmp_path, capsys):
    """``--covariates`` (long, with future rows) and ``--past-only``: the CLI forecast equals
    ``ARX().fit(y, X=...).predict(h, X=...)``; backtest and detect run with them; bad files and flags
    are one-line errors."""
    import arforecast as af
    rng = np.random.default_rng(0)
    t = pd.date_range("2024-01-01", periods=160, freq="h")
    rows_y, rows_x = [], []
    for k in range(2):
        x = rng.normal(size=160)
        y = 5.0 + 2.0 * x + rng.normal(scale=0.1, size=160)
        rows_y.append(pd.DataFrame({"unique_id": f"s{k}", "ds": t[:150], "y": y[:150]}))
        rows_x.append(pd.DataFrame({"unique_id": f"s{k}", "ds": t, "x": x, "sold": rng.normal(size=160)}))
    y_df, x_df = pd.concat(rows_y, ignore_index=True), pd.concat(rows_x, ignore_index=True)
    y_path, x_path, out = tmp_path / "y.csv", tmp_path / "x.csv", tmp_path / "fc.csv"
    y_df.to_csv(y_path, index=False)
    x_df.to_csv(x_path, index=False)
    code, _, err = cli(capsys, "forecast", "--input", y_path, "--covariates", x_path, "--past-only", "sold",
                       "--model", "arx", "--p", 1, "--horizon", 10, "--output", out)
    assert code == 0, err
    ref = af.ARX(p=1).fit(y_df, X=x_df, past_only=["sold"]).predict(10, X=x_df)
    np.testing.assert_allclose(pd.read_csv(out)["mean"].to_numpy(), ref.point.reshape(-1), rtol=1e-9)
    code, _, err = cli(capsys, "backtest", "--input", y_path, "--covariates", x_path, "--model", "arx",
                       "--horizon", 5, "--windows", 2, "--output", tmp_path / "bt.csv")
    assert code == 0, err
    code, _, err = cli(capsys, "detect", "--input", y_path, "--covariates", x_path, "--model", "arx",
                       "--output", tmp_path / "an.csv")
    assert code == 0, err
    assert_one_line_error(cli(capsys, "forecast", "--input", y_path, "--past-only", "sold"), "--covariates")
    assert_one_line_error(cli(capsys, "forecast", "--input", y_path, "--covariates", x_path, "--past-only", "nope"),
                          "no such column")
    assert_one_line_error(cli(capsys, "forecast", "--input", y_path, "--covariates", tmp_path / "none.csv"),
                          "no such file")
    assert_one_line_error(cli(capsys, "forecast", "--input", y_path, "--model", "arx", "--d", 1), "--d does not apply")
