"""The ``arforecast`` command: forecast, backtest, detect, demo.

Every subcommand reads a CSV (long ``unique_id,ds,y`` or wide with a time column), writes its
results as CSV (Parquet with a ``.parquet`` name), can draw a PNG, and prints a short summary.
A bad file ends with a one-line error and exit code 2.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from arforecast.cli.io import CliError, data_error_message, read_series_csv, write_table
from arforecast.cli.models import add_model_options, build_model
from arforecast.exceptions import DataError

EPILOG_FORECAST = """example:
  arforecast forecast --input datasets/example_hourly.csv --model ar --horizon 48 \\
      --samples 200 --level 0.95 --output forecast.csv --plot forecast.png
"""
EPILOG_BACKTEST = """example:
  arforecast backtest --input datasets/example_hourly.csv --model seasonal-naive --windows 5 \\
      --output backtest.csv --metrics metrics.csv
"""
EPILOG_DETECT = """example:
  arforecast detect --input datasets/example_hourly.csv --level 0.99 --output anomalies.csv --plot anomalies.png
"""
EPILOG_DEMO = """example:
  arforecast demo --out demo-output
"""


def _add_io_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--input", required=True, help="CSV file: long (id, time, value columns) or wide (a time column and one column per series)")
    g.add_argument("--id-col", default="unique_id", help="series id column of a long file (default: unique_id)")
    g.add_argument("--time-col", default="ds", help="time column (default: ds)")
    g.add_argument("--target-col", default="y", help="value column of a long file (default: y)")
    g.add_argument("--freq", default=None, help="pandas frequency if it cannot be inferred, e.g. h, D, W-SUN")
    g.add_argument("--output", required=True, help="where to write the results (.csv, or .parquet with pyarrow)")
    g.add_argument("--plot", default=None, help="also draw a PNG here (needs matplotlib)")
    g.add_argument("--seed", type=int, default=0, help="random seed for sampling and training (default: 0)")


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's error style: one line on stderr, exit code 2 (``--help`` shows usage)."""

    def error(self, message: str) -> None:   # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="arforecast", description="Autoregressive forecasting from the command line.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    fmt = argparse.RawDescriptionHelpFormatter

    fc = sub.add_parser("forecast", help="forecast every series of a CSV", formatter_class=fmt, epilog=EPILOG_FORECAST,
                        description="Fit a model to every series in the file and forecast the next --horizon steps.")
    _add_io_options(fc)
    add_model_options(fc)
    fc.add_argument("--horizon", type=_positive, default=None,
                    help="steps to forecast (default: one season of the data's frequency, e.g. 24 hourly, "
                         "7 daily, 12 monthly; required for data without a season)")
    fc.add_argument("--samples", type=_positive, default=None, help="sample paths per series (default: none; AR and baselines have exact intervals)")
    fc.add_argument("--level", type=float, action="append", default=None,
                    help="central interval level(s) to write, repeatable (default: 0.95)")
    fc.set_defaults(func=_forecast)

    bt = sub.add_parser("backtest", help="rolling-origin evaluation", formatter_class=fmt, epilog=EPILOG_BACKTEST,
                        description="Forecast from several past cut-offs and score what happened.")
    _add_io_options(bt)
    add_model_options(bt)
    bt.add_argument("--horizon", type=_positive, default=None,
                    help="steps per window (default: one season of the data's frequency; required for data "
                         "without a season)")
    bt.add_argument("--windows", type=_positive, default=3, help="number of cut-offs, counted back from the end (default: 3)")
    bt.add_argument("--step", type=_positive, default=None, help="steps between cut-offs (default: the horizon)")
    bt.add_argument("--refit", choices=("always", "never"), default="always", help="refit at every cut-off or only once (default: always)")
    bt.add_argument("--samples", type=_positive, default=None, help="sample paths per window")
    bt.add_argument("--level", type=float, default=0.95, help="interval level scored (default: 0.95)")
    bt.add_argument("--metrics", default=None, help="also write the metrics table here")
    bt.set_defaults(func=_backtest)

    dt = sub.add_parser("detect", help="flag anomalies from forecast intervals", formatter_class=fmt, epilog=EPILOG_DETECT,
                        description="Score every observation against the forecast made before it arrived.")
    _add_io_options(dt)
    add_model_options(dt)
    dt.add_argument("--level", type=float, default=0.99, help="interval level; points outside are flagged (default: 0.99)")
    dt.add_argument("--history", type=_positive, default=None,
                    help="observations per series used to fit before scoring starts (default: from the "
                         "series' length and what the model needs; see detect_anomalies' start)")
    dt.add_argument("--samples", type=_positive, default=None, help="sample paths per forecast (default: use the model's distribution)")
    dt.set_defaults(func=_detect)

    demo = sub.add_parser("demo", help="the end-to-end demo on the bundled M4 Hourly data", formatter_class=fmt,
                          epilog=EPILOG_DEMO,
                          description="Fit the baselines, AR and a small NeuralAR on M4 Hourly, backtest them, write a score "
                                      "table, a fan chart and an anomaly plot into --out.")
    demo.add_argument("--out", default="demo-output", help="output folder (default: demo-output)")
    demo.add_argument("--n-series", type=int, default=None, help="use only the first N series (default: all 414)")
    demo.add_argument("--neural-seconds", type=float, default=60.0, help="training time for the small NeuralAR (default: 60)")
    demo.add_argument("--no-neural", action="store_true", help="skip the neural model")
    demo.set_defaults(func=_demo)
    return parser


def _load(args: argparse.Namespace):
    import arforecast as af
    df = read_series_csv(args.input, args.id_col, args.time_col, args.target_col)
    panel = af.to_panel(df, freq=args.freq, id_col=args.id_col, time_col=args.time_col, target_col=args.target_col)
    return df, panel


def _positive(text: str) -> int:
    """argparse type: a positive integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _horizon(args: argparse.Namespace, panel) -> int:
    """``--horizon``, or one season of the data's frequency."""
    if args.horizon is not None:
        return args.horizon
    if panel.season_length > 1:
        return panel.season_length
    what = "integer time" if panel.freq is None else f"frequency {panel.freq.freqstr!r}"
    raise CliError(f"data with {what} has no season to take a default horizon from: give --horizon")


def _forecast(args: argparse.Namespace) -> int:
    _, panel = _load(args)
    model = build_model(args).fit(panel)
    levels = args.level or [0.95]
    for lv in levels:
        if not 0 < lv < 1:
            raise CliError(f"--level must lie strictly between 0 and 1, got {lv}")
    h = _horizon(args, panel)
    fc = model.predict(h, num_samples=args.samples, seed=args.seed)
    has_dist = fc.marginals is not None or fc.samples is not None
    frame = fc.to_frame(levels=levels if has_dist else ())
    out = write_table(frame, args.output)
    if args.plot:
        fc.plot(series=list(panel.ids[:4]), levels=levels, path=args.plot)
    print(f"{type(model).__name__}: {panel.n_series} series, horizon {h} -> {out}")
    print(frame.groupby(panel.layout.id_col, sort=False)["mean"].agg(["first", "last", "mean"]).head(10).round(3).to_string())
    return 0


def _backtest(args: argparse.Namespace) -> int:
    import arforecast as af
    _, panel = _load(args)
    h = _horizon(args, panel)
    result = af.backtest(build_model(args), panel, h=h, n_windows=args.windows,
                         step=args.step or h, refit=args.refit == "always",
                         num_samples=args.samples, levels=[args.level], seed=args.seed,
                         season_length=args.season_length, progress=False)
    out = write_table(result.forecasts, args.output)
    table = result.metrics(by="cutoff")
    if args.metrics:
        write_table(table.reset_index(), args.metrics)
    if args.plot:
        result.plot(panel.ids[0]).figure.savefig(args.plot, dpi=110)
    print(f"backtest of {args.model}: {panel.n_series} series x {args.windows} windows -> {out}")
    print(result.metrics().round(4).to_string())
    return 0


def _detect(args: argparse.Namespace) -> int:
    import arforecast as af
    _, panel = _load(args)
    options = {} if args.samples is None else {"num_samples": args.samples}
    frame = af.detect_anomalies(build_model(args), panel, level=args.level, start=args.history,
                                seed=args.seed, **options)
    out = write_table(frame, args.output)
    if args.plot:
        from arforecast.anomaly import plot_anomalies
        plot_anomalies(frame, unique_id=panel.ids[0]).figure.savefig(args.plot, dpi=110)
    flagged = frame.groupby("unique_id", sort=False)["is_anomaly"].agg(["sum", "size"])
    print(f"{int(flagged['sum'].sum())} of {int(flagged['size'].sum())} scored points flagged at level {args.level} -> {out}")
    print(flagged.rename(columns={"sum": "flagged", "size": "scored"}).head(10).to_string())
    return 0


def _demo(args: argparse.Namespace) -> int:
    from arforecast.cli.demo import run_demo
    return run_demo(args.out, n_series=args.n_series, neural_seconds=None if args.no_neural else args.neural_seconds)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``arforecast`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CliError, DataError) as err:
        print(f"arforecast {args.command}: error: {data_error_message(err)}", file=sys.stderr)
        return 2
    except ValueError as err:
        print(f"arforecast {args.command}: error: {data_error_message(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
