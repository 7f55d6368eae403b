"""The ``arforecast`` command line.

Example:
    $ arforecast demo --out demo-output
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence


def _demo(args: argparse.Namespace) -> int:
    import pandas as pd

    import arforecast as af
    from arforecast.evaluation.m4 import m4_hourly_table

    models = {"SeasonalNaive": af.SeasonalNaive(24), "Naive": af.Naive(), "Drift": af.Drift(),
              "Mean": af.Mean()}
    if hasattr(af, "AR"):
        models["AR(48)"] = af.AR(p=48, trend="c")
    print(f"M4 Hourly, h=48: fitting {', '.join(models)} (and Naive2, the OWA reference)", flush=True)
    table = m4_hourly_table(models, n_series=args.n_series)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "m4_hourly_scores.csv")
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        print(table.round(3).to_string())
    print(f"score table written to {out / 'm4_hourly_scores.csv'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arforecast", description="Autoregressive forecasting from the command line.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="forecast the bundled M4 Hourly data and print the score table",
                          description="Fit the models on the bundled M4 Hourly train part, forecast 48 hours, "
                                      "and score them on the test part. Example: arforecast demo --out demo-output")
    demo.add_argument("--out", default="demo-output", help="folder for the outputs (default: demo-output)")
    demo.add_argument("--n-series", type=int, default=None, help="use only the first N series (default: all 414)")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
