"""Building a forecaster from command-line options."""
from __future__ import annotations

import argparse
from typing import Any

from arforecast.cli.io import CliError

MODEL_CHOICES = ("ar", "seasonal-naive", "naive", "naive2", "mean", "drift", "neural")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """The options that pick and configure a model (shared by forecast, backtest and detect)."""
    g = parser.add_argument_group("model")
    g.add_argument("--model", choices=MODEL_CHOICES, default="ar",
                   help="forecaster to use (default: ar)")
    g.add_argument("--season-length", type=int, default=None,
                   help="season length for seasonal-naive / naive2 and the MASE scale "
                        "(default: from the data's frequency, e.g. 24 hourly, 7 daily, 12 monthly)")
    g.add_argument("--p", default=None,
                   help="AR order: an integer, 'aic' / 'aicc' / 'bic' to choose it per series with --max-p, "
                        "or 'auto' (default: AR's automatic model, differencing and order from the data)")
    g.add_argument("--max-p", type=int, default=None, help="largest order tried with --p aic/bic")
    g.add_argument("--trend", choices=("n", "c", "t", "ct"), default=None,
                   help="AR deterministic terms (default: AR's own)")
    g.add_argument("--backbone", choices=("conv", "transformer"), default="conv", help="neural backbone (default: conv)")
    g.add_argument("--values", choices=("quantized", "continuous"), default="continuous",
                   help="neural value type (default: continuous)")
    g.add_argument("--max-steps", type=int, default=300, help="neural training steps (default: 300)")
    g.add_argument("--time-limit", type=float, default=None, help="neural training time limit in seconds")


def build_model(args: argparse.Namespace) -> Any:
    """The forecaster the options describe."""
    import arforecast as af

    if args.model == "seasonal-naive":
        return af.SeasonalNaive(args.season_length)
    if args.model == "naive2":
        return af.Naive2(args.season_length)
    if args.model in ("naive", "mean", "drift"):
        return {"naive": af.Naive, "mean": af.Mean, "drift": af.Drift}[args.model]()
    if args.model == "ar":
        kwargs: dict[str, Any] = {}
        if args.p is not None:
            p: Any = args.p
            if p not in ("aic", "aicc", "bic", "auto"):
                try:
                    p = int(p)
                except ValueError:
                    raise CliError(f"--p must be an integer, 'aic', 'aicc', 'bic' or 'auto', got {args.p!r}") from None
            kwargs["p"] = p
        if args.trend is not None:
            kwargs["trend"] = args.trend
        if args.max_p is not None:
            kwargs["max_p"] = args.max_p
        if args.season_length is not None:
            kwargs["season_length"] = args.season_length
        return af.AR(**kwargs)
    return af.NeuralAR(backbone=args.backbone, values=args.values, max_steps=args.max_steps,
                       time_limit=args.time_limit, seed=getattr(args, "seed", None), progress=True)
