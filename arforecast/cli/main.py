"""The ``arforecast`` command: forecast, backtest, detect, demo.

Every subcommand reads a CSV (long ``unique_id,ds,y`` or wide with a time column, other column
names given by ``--id-col``/``--time-col``/``--target-col``), writes its results as CSV, Parquet
or JSON by the output's extension (``-`` writes CSV to standard output), can draw a picture, and
prints a short summary (``--quiet``: none).

Mistakes (a bad file, a bad option, data the model cannot use) end with one line on stderr and
exit code 2, before anything is written: every output is made in memory first and written only
when all of them are ready.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from typing import Any, NoReturn, Sequence

from arforecast.cli.io import (STDOUT, CliError, data_error_message, figure_format, read_covariates_csv,
                               read_series_csv, render_figure, render_table, table_format, write_outputs)
from arforecast.cli.models import (add_model_options, build_model, level_value, positive_float, positive_int,
                                   quantile_value)

#: the examples of each subcommand's ``--help``; each runs as written from a checkout of the
#: repository (tests/test_cli.py runs them all)
EXAMPLES = {
    "forecast": [
        "arforecast forecast --input datasets/example_hourly.csv --model ar --p 24 --seasonal-lags 168 \\\n"
        "    --horizon 48 --level 80 --level 95 --output forecast.csv --plot forecast.png",
        "arforecast forecast --input datasets/example_hourly.csv --model seasonal-naive --horizon 6 --output -",
    ],
    "backtest": [
        "arforecast backtest --input datasets/example_hourly.csv --model seasonal-naive --horizon 24 \\\n"
        "    --windows 5 --output backtest.parquet --metrics metrics.csv",
    ],
    "detect": [
        "arforecast detect --input datasets/example_hourly.csv --level 0.999 --output anomalies.json \\\n"
        "    --plot anomalies.png",
    ],
    "demo": [
        "arforecast demo --out demo-output --n-series 8 --no-neural",
    ],
}


def _epilog(command: str) -> str:
    lines = "\n".join("  " + example.replace("\n", "\n  ") for example in EXAMPLES[command])
    return f"examples (from a checkout of the repository):\n{lines}\n"


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (and exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_io_options(p: argparse.ArgumentParser, output_help: str) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--input", required=True, help="CSV file: long (id, time, value columns) or wide (a time column and one column per series)")
    g.add_argument("--id-col", default="unique_id", help="series id column of a long file (default: unique_id)")
    g.add_argument("--time-col", default="ds", help="time column (default: ds)")
    g.add_argument("--target-col", default="y", help="value column of a long file (default: y)")
    g.add_argument("--freq", default=None, help="pandas frequency if it cannot be inferred, e.g. h, D, W-SUN")
    r = p.add_argument_group("messy time stamps and missing values (docs/data.md; default: refuse messy stamps, "
                             "keep missing values). Rows are always sorted by time")
    r.add_argument("--sort", action="store_true", help=argparse.SUPPRESS)     # rows are always sorted now
    r.add_argument("--duplicates", choices=("raise", "first", "last", "mean"), default="raise",
                   help="several values at one time: keep the first, the last or their mean")
    r.add_argument("--gaps", choices=("raise", "mark", "ffill", "interpolate"), default="raise",
                   help="missing time steps: mark them as missing values, carry the last value, interpolate")
    r.add_argument("--off-grid", choices=("raise", "floor", "nearest"), default="raise",
                   help="time stamps between the steps of --freq: move them to the step before or the nearest")
    r.add_argument("--missing", choices=("allow", "raise"), default="allow",
                   help="empty values inside a series: keep them as missing values (every model handles them) or refuse")
    c = p.add_argument_group("covariates (docs/covariates.md; models that use them: arx, neural)")
    c.add_argument("--covariates", default=None, metavar="FILE",
                   help="CSV of covariates: the time column, the id column if they differ by series, one column per "
                        "covariate; rows after each series' end give the future-known values a forecast needs")
    c.add_argument("--past-only", action="append", default=None, metavar="NAME",
                   help="a covariate known only up to each forecast origin (repeat for several)")
    o = p.add_argument_group("output")
    o.add_argument("--output", default=STDOUT, help=output_help + " by extension: .csv, .parquet (needs pyarrow), "
                   ".json (records); - (default) writes CSV to standard output")
    o.add_argument("--plot", default=None, help="also draw a picture here (.png, .svg or .pdf; needs matplotlib)")
    o.add_argument("--seed", type=int, default=0, help="random seed for sampling and training (default: 0)")
    o.add_argument("-q", "--quiet", action="store_true", help="print no summary and no progress bars")


def build_parser() -> argparse.ArgumentParser:
    from arforecast import __version__
    parser = _Parser(prog="arforecast", description="Autoregressive forecasting from the command line.")
    parser.add_argument("--version", action="version", version=f"arforecast {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{forecast,backtest,detect,demo}")
    fmt = argparse.RawDescriptionHelpFormatter

    fc = sub.add_parser("forecast", help="forecast every series of a CSV", formatter_class=fmt,
                        epilog=_epilog("forecast"),
                        description="Fit a model to every series in the file and forecast the next --horizon steps.")
    _add_io_options(fc, "the forecasts (id, time, mean, one q<p> column per quantile)")
    add_model_options(fc)
    f = fc.add_argument_group("forecast")
    f.add_argument("--horizon", type=positive_int, default=None,
                   help="steps to forecast (default: one season of the data's frequency, e.g. 24 hourly, "
                        "7 daily, 12 monthly; required for data without a season)")
    f.add_argument("--samples", type=positive_int, default=None,
                   help="sample paths per series (default: none; AR and the baselines have exact intervals)")
    f.add_argument("--level", type=level_value, action="append", default=None,
                   help="central interval level to write, a fraction or a percentage (0.95 or 95), repeatable "
                        "(default: 95 when the model has a predictive distribution)")
    f.add_argument("--quantile", type=quantile_value, action="append", default=None,
                   help="a quantile to write, in (0, 1), repeatable")
    fc.set_defaults(func=_forecast)

    bt = sub.add_parser("backtest", help="rolling-origin evaluation", formatter_class=fmt, epilog=_epilog("backtest"),
                        description="Forecast from several past cut-offs and score what happened.")
    _add_io_options(bt, "every window's forecasts with the actual values")
    add_model_options(bt)
    b = bt.add_argument_group("backtest")
    b.add_argument("--horizon", type=positive_int, default=None,
                   help="steps per window (default: one season of the data's frequency; required for data "
                        "without a season)")
    b.add_argument("--windows", type=positive_int, default=3, help="number of cut-offs, counted back from the end (default: 3)")
    b.add_argument("--step", type=positive_int, default=None, help="steps between cut-offs (default: the horizon)")
    b.add_argument("--window", choices=("expanding", "sliding"), default="expanding",
                   help="train on all the history (expanding) or on the last --window-size values (default: expanding)")
    b.add_argument("--window-size", type=positive_int, default=None, help="training values of a sliding window")
    b.add_argument("--refit", default="always",
                   help="refit at every cut-off (always), only at the first (never), or every K windows (default: always)")
    b.add_argument("--samples", type=positive_int, default=None, help="sample paths per window (adds CRPS)")
    b.add_argument("--level", type=level_value, action="append", default=None,
                   help="interval level scored (coverage, MSIS), 0.95 or 95, repeatable (default: 95)")
    b.add_argument("--quantile", type=quantile_value, action="append", default=None,
                   help="a quantile kept and scored with WQL, repeatable")
    b.add_argument("--metrics", default=None, help="also write the metrics table here (.csv, .parquet, .json)")
    b.add_argument("--by", choices=("all", "unique_id", "cutoff", "window", "horizon_step"), default="cutoff",
                   help="rows of the --metrics table (default: cutoff)")
    b.add_argument("--n-jobs", type=int, default=1, help="parallel workers, -1 for all cores (default: 1)")
    bt.set_defaults(func=_backtest)

    dt = sub.add_parser("detect", help="flag anomalies from forecast intervals", formatter_class=fmt,
                        epilog=_epilog("detect"),
                        description="Score every observation against the forecast made before it arrived.")
    _add_io_options(dt, "one row per observation: mean, lower, upper, score, is_anomaly, incident_score, alert")
    add_model_options(dt, neural_calibrate=False)
    d = dt.add_argument_group("detection")
    d.add_argument("--level", type=level_value, default=0.99,
                   help="interval level, 0.99 or 99; points outside are flagged (default: 0.99)")
    d.add_argument("--horizon", type=positive_int, default=1,
                   help="score each point against the forecast made this many steps before it (default: 1)")
    d.add_argument("--history", type=_count_or_fraction, default=None,
                   help="observations per series used to fit before scoring starts: a count, or a fraction "
                        "of each series such as 0.15 (default: from the series' length and what the model needs)")
    d.add_argument("--samples", type=positive_int, default=None,
                   help="sample paths per forecast (default: the detector's own, 200, where it needs them)")
    d.add_argument("--refit", type=positive_int, default=None,
                   help="refit the model on everything seen every K points (default: never)")
    d.add_argument("--calibrate", choices=("conformal", "student_t", "no"), default="conformal",
                   help="judge points by the law of the model's past out-of-sample scores (conformal ranks, or a "
                        "fitted Student-t), or by the model's own tails with 'no' (default: conformal)")
    d.add_argument("--no-robust", action="store_true",
                   help="feed flagged points to the model as they are (default: feed a replacement)")
    d.add_argument("--replace-with", choices=("bound", "mean"), default="bound",
                   help="what replaces a flagged point: the interval bound or the forecast mean (default: bound)")
    d.add_argument("--lower-bound", type=float, default=None,
                   help="the smallest value the series can take (0 for counts): intervals are clipped to it")
    d.add_argument("--upper-bound", type=float, default=None,
                   help="the largest value the series can take (100 for a percentage): intervals are clipped to it")
    dt.set_defaults(func=_detect)

    demo = sub.add_parser("demo", help="the end-to-end demo on the bundled M4 Hourly data", formatter_class=fmt,
                          epilog=_epilog("demo"),
                          description="Fit the baselines, AR and a small NeuralAR on M4 Hourly, backtest them, write a "
                                      "score table, a fan chart and an anomaly plot into --out. Without options it "
                                      "uses all 414 series and trains NeuralAR for 60 s (a few minutes in all).")
    demo.add_argument("--out", default="demo-output", help="output folder (default: demo-output)")
    demo.add_argument("--n-series", type=positive_int, default=None, help="use only the first N series (default: all 414)")
    demo.add_argument("--neural-seconds", type=positive_float, default=60.0,
                      help="training time for the small NeuralAR (default: 60)")
    demo.add_argument("--no-neural", action="store_true", help="skip the neural model")
    demo.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    demo.set_defaults(func=_demo)
    return parser


def _count_or_fraction(text: str) -> int | float:
    """argparse type: a positive count, or a fraction in (0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count or a fraction in (0, 1), got {text!r}") from None
    if 0 < value < 1:
        return value
    if value >= 1 and value == int(value):
        return int(value)
    raise argparse.ArgumentTypeError(f"expected a count or a fraction in (0, 1), got {text!r}")


# ---------------------------------------------------------------------- shared steps
class _Outputs:
    """The files a command will write: checked first, filled in memory, written together at the end."""

    def __init__(self) -> None:
        self.planned: dict[str, tuple[str, str]] = {}
        self.ready: list[tuple[str, bytes]] = []

    def table(self, key: str, path: str | None, option: str) -> None:
        if path is not None:
            self._unique(path, option)
            self.planned[key] = (path, table_format(path, option))

    def figure(self, key: str, path: str | None, option: str = "--plot") -> None:
        if path is not None:
            self._unique(path, option)
            self.planned[key] = (path, figure_format(path, option))

    def _unique(self, path: str, option: str) -> None:
        for other, _ in self.planned.values():
            if other == path:
                raise CliError(f"{option} {path}: the same file is given for two outputs")
        if path == STDOUT and any(p == STDOUT for p, _ in self.planned.values()):
            raise CliError(f"{option}: only one output can go to standard output (-)")

    def wants(self, key: str) -> bool:
        return key in self.planned

    def add_table(self, key: str, df: Any) -> None:
        path, fmt = self.planned[key]
        self.ready.append((path, render_table(df, fmt)))

    def add_figure(self, key: str, fig: Any) -> None:
        path, fmt = self.planned[key]
        self.ready.append((path, render_figure(fig, fmt)))

    def write(self) -> None:
        write_outputs(self.ready)

    @property
    def to_stdout(self) -> bool:
        return any(path == STDOUT for path, _ in self.planned.values())


def _say(args: argparse.Namespace, outputs: _Outputs, *lines: str) -> None:
    """The summary: on stdout, or on stderr when stdout carries the data; nothing with --quiet."""
    if args.quiet:
        return
    stream = sys.stderr if outputs.to_stdout else sys.stdout
    for line in lines:
        print(line, file=stream)


def _where(path: str) -> str:
    return "standard output" if path == STDOUT else path


def _load(args: argparse.Namespace):
    """The input as a long frame with the user's column names, as read (the data layer sorts and
    fixes it as the options say: :func:`_data_options`)."""
    return read_series_csv(args.input, args.id_col, args.time_col, args.target_col)


def _data_options(args: argparse.Namespace) -> dict[str, str]:
    """The data-layer options of the flags (the same names as ``to_panel``'s)."""
    return {"duplicates": args.duplicates, "gaps": args.gaps, "off_grid": args.off_grid, "missing": args.missing}


def _covariates(args: argparse.Namespace) -> dict[str, Any]:
    """``X=`` and ``past_only=`` of the covariate flags, or nothing."""
    if args.covariates is None:
        if args.past_only:
            raise CliError("--past-only names a column of --covariates: give --covariates FILE")
        return {}
    X = read_covariates_csv(args.covariates, args.id_col, args.time_col)
    unknown = [n for n in args.past_only or () if n not in X.columns]
    if unknown:
        raise CliError(f"--past-only {unknown[0]!r}: no such column in {args.covariates}")
    return {"X": X, "past_only": tuple(args.past_only or ())}


def _panel(args: argparse.Namespace, df: Any):
    import arforecast as af
    return af.to_panel(df, freq=args.freq, id_col=args.id_col, time_col=args.time_col, target_col=args.target_col,
                       **_data_options(args))


def _horizon(args: argparse.Namespace, panel) -> int:
    """``--horizon``, or one season of the data's frequency."""
    if args.horizon is not None:
        return args.horizon
    if panel.season_length > 1:
        return panel.season_length
    what = "integer time" if panel.freq is None else f"frequency {panel.freq.freqstr!r}"
    raise CliError(f"data with {what} has no season to take a default horizon from: give --horizon")


def _samples_needed(args: argparse.Namespace) -> bool:
    """Whether the chosen model needs ``--samples`` for intervals (NeuralAR samples its forecasts)."""
    return args.model == "neural" and args.samples is None


# ---------------------------------------------------------------------- subcommands
def _forecast(args: argparse.Namespace) -> int:
    outputs = _Outputs()
    outputs.table("forecasts", args.output, "--output")
    outputs.figure("plot", args.plot)
    panel = _panel(args, _load(args))
    h = _horizon(args, panel)
    if _samples_needed(args) and (args.level or args.quantile):
        raise CliError("--level and --quantile need sample paths from the neural model: add --samples, e.g. --samples 100")
    levels = args.level if args.level is not None else ([] if _samples_needed(args) else [0.95])
    cov = _covariates(args)
    model = build_model(args).fit(panel, **cov)
    fc = model.predict(h, num_samples=args.samples, seed=args.seed, **({"X": cov["X"]} if cov else {}))
    frame = fc.to_frame(quantiles=args.quantile or (), levels=levels)
    outputs.add_table("forecasts", frame)
    if outputs.wants("plot"):
        fig = fc.plot(series=list(panel.ids[:4]), levels=levels or ())
        outputs.add_figure("plot", fig)
    outputs.write()
    id_col = frame.columns[0]
    _say(args, outputs, f"{type(model).__name__}: {panel.n_series} series, horizon {h} -> {_where(args.output)}",
         frame.groupby(id_col, sort=False)["mean"].agg(["first", "last", "mean"]).head(10).round(3).to_string())
    return 0


def _refit_option(text: str) -> bool | int:
    if text == "always":
        return True
    if text == "never":
        return False
    try:
        k = int(text)
    except ValueError:
        k = 0
    if k < 1:
        raise CliError(f"--refit must be always, never or a positive number of windows, got {text!r}")
    return k


def _backtest(args: argparse.Namespace) -> int:
    import arforecast as af
    outputs = _Outputs()
    outputs.table("forecasts", args.output, "--output")
    outputs.table("metrics", args.metrics, "--metrics")
    outputs.figure("plot", args.plot)
    refit = _refit_option(args.refit)
    if _samples_needed(args) and (args.level or args.quantile):
        raise CliError("--level and --quantile need sample paths from the neural model: add --samples, e.g. --samples 100")
    levels = args.level if args.level is not None else ([] if _samples_needed(args) else [0.95])
    panel = _panel(args, _load(args))
    h = _horizon(args, panel)
    result = af.backtest(build_model(args), panel, h=h, n_windows=args.windows, step=args.step or h,
                         window=args.window, window_size=args.window_size, refit=refit,
                         num_samples=args.samples, levels=levels, quantiles=args.quantile or (), seed=args.seed,
                         season_length=args.season_length, n_jobs=args.n_jobs, progress=args.progress,
                         **_covariates(args))
    outputs.add_table("forecasts", result.forecasts)
    if outputs.wants("metrics"):
        outputs.add_table("metrics", result.metrics(by=None if args.by == "all" else args.by).reset_index())
    if outputs.wants("plot"):
        outputs.add_figure("plot", result.plot(panel.ids[0]).figure)
    outputs.write()
    _say(args, outputs, f"backtest of {type(result.model).__name__}: {panel.n_series} series x {args.windows} "
         f"windows of {h} steps -> {_where(args.output)}", result.metrics().round(4).to_string())
    return 0


def _detect(args: argparse.Namespace) -> int:
    import arforecast as af
    outputs = _Outputs()
    outputs.table("anomalies", args.output, "--output")
    outputs.figure("plot", args.plot)
    df = _load(args)
    options: dict[str, Any] = {} if args.samples is None else {"num_samples": args.samples}
    bounds = None if args.lower_bound is None and args.upper_bound is None else (args.lower_bound, args.upper_bound)
    frame = af.detect_anomalies(df, build_model(args), level=args.level, h=args.horizon, start=args.history,
                                bounds=bounds,
                                refit=args.refit or False, robust=not args.no_robust,
                                calibrate=False if args.calibrate == "no" else args.calibrate, replace_with=args.replace_with,
                                seed=args.seed, progress=args.progress, freq=args.freq, id_col=args.id_col,
                                time_col=args.time_col, target_col=args.target_col, **_data_options(args),
                                **_covariates(args), **options)
    outputs.add_table("anomalies", frame)
    id_col = frame.columns[0]
    if outputs.wants("plot"):
        from arforecast.anomaly import plot_anomalies
        first = frame[id_col].iloc[0]
        ax = plot_anomalies(frame, unique_id=first, id_col=id_col, time_col=frame.columns[1],
                            target_col=frame.columns[2])
        outputs.add_figure("plot", ax.figure)
    outputs.write()
    flagged = frame.groupby(id_col, sort=False).agg(flagged=("is_anomaly", "sum"), alerts=("alert", "sum"),
                                                    points=("is_anomaly", "size"))
    _say(args, outputs, f"{int(flagged['flagged'].sum())} of {int(flagged['points'].sum())} points flagged at level "
         f"{args.level:g}, {int(flagged['alerts'].sum())} incident alerts -> {_where(args.output)}",
         flagged.head(10).to_string())
    return 0


def _demo(args: argparse.Namespace) -> int:
    from arforecast.cli.demo import run_demo
    return run_demo(args.out, n_series=args.n_series, neural_seconds=None if args.no_neural else args.neural_seconds,
                    quiet=args.quiet)


# ---------------------------------------------------------------------- entry point
def _one_line_warnings(command: str):
    """Warnings shown as ``arforecast <command>: warning: <text>`` (one line, no source line)."""
    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ARG001 - warnings' signature
        print(f"arforecast {command}: warning: {' '.join(str(message).split())}", file=sys.stderr)
    return show


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``arforecast`` console script; returns the exit code.

    0: done; 2: a usage or data mistake (one line on stderr, nothing written); 1: an unexpected
    internal error (one line; set ``ARFORECAST_DEBUG=1`` to see the traceback); 130: interrupted.
    """
    args = build_parser().parse_args(argv)
    # progress bars only for a person watching a terminal, never with --quiet
    args.progress = not args.quiet and sys.stderr.isatty()
    from arforecast import progress
    from arforecast.exceptions import DataError
    from arforecast.resources import MemoryRequestError
    prefix = f"arforecast {args.command}"
    switch = progress._SWITCH[0]
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warnings(args.command)
        try:
            if args.quiet:
                progress.set_progress(False)       # every bar of the library, whatever the call asks
            return args.func(args)
        except (CliError, DataError, ValueError, MemoryRequestError) as err:
            if os.environ.get("ARFORECAST_DEBUG"):
                raise
            print(f"{prefix}: error: {data_error_message(err)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"{prefix}: interrupted", file=sys.stderr)
            return 130
        except Exception as err:  # a bug, not the user's mistake: still one line, with a way to see more
            if os.environ.get("ARFORECAST_DEBUG"):
                raise
            print(f"{prefix}: internal error: {data_error_message(err)} (please report it; ARFORECAST_DEBUG=1 "
                  "shows the traceback)", file=sys.stderr)
            return 1
        finally:
            progress.set_progress(switch)


if __name__ == "__main__":
    sys.exit(main())
