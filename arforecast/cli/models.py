"""Building a forecaster from command-line options."""
from __future__ import annotations

import argparse
from typing import Any

from arforecast.cli.io import CliError

MODEL_CHOICES = ("ar", "arx", "seasonal-naive", "naive", "naive2", "mean", "drift", "neural")


def positive_int(text: str) -> int:
    """argparse type: a positive integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a positive number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def level_value(text: str) -> float:
    """argparse type: an interval level, a fraction (0.95) or a percentage (95)."""
    from arforecast.levels import as_level
    try:
        return as_level(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a level such as 0.95 or 95, got {text!r}") from None


def quantile_value(text: str) -> float:
    """argparse type: a quantile probability in (0, 1)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a probability strictly between 0 and 1, got {text!r}")
    return value


def lag_list(text: str) -> tuple[int, ...]:
    """argparse type: comma-separated positive lags, e.g. ``24,168`` (``none`` for no lags)."""
    if text.strip().lower() in ("none", ""):
        return ()
    try:
        lags = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers such as 24,168, got {text!r}") from None
    if any(lag < 1 for lag in lags):
        raise argparse.ArgumentTypeError(f"lags must be positive, got {text!r}")
    return lags


def add_model_options(parser: argparse.ArgumentParser, *, neural_calibrate: bool = True) -> None:
    """The options that pick and configure a model (shared by forecast, backtest and detect)."""
    g = parser.add_argument_group("model")
    g.add_argument("--model", choices=MODEL_CHOICES, default="ar",
                   help="forecaster to use (default: ar)")
    g.add_argument("--season-length", type=positive_int, default=None,
                   help="season length for seasonal-naive / naive2 and the MASE scale "
                        "(default: from the data's frequency, e.g. 24 hourly, 7 daily, 12 monthly)")
    a = parser.add_argument_group("ar options (arx: --p as an integer, --trend, --seasonal-lags, --bootstrap)")
    a.add_argument("--p", default=None,
                   help="AR order: an integer, 'aic' / 'aicc' / 'bic' to choose it per series with --max-p, "
                        "or 'auto' (default: AR's automatic model, differencing and order from the data)")
    a.add_argument("--max-p", type=positive_int, default=None,
                   help="largest order tried with --p aic/aicc/bic (optional with auto)")
    a.add_argument("--trend", choices=("n", "c", "t", "ct"), default=None,
                   help="AR deterministic terms: none, constant, time, both (default: AR's own)")
    a.add_argument("--seasonal-lags", type=lag_list, default=None, metavar="LAGS",
                   help="extra AR lags, comma-separated, e.g. 24,168 (default: none, or chosen with auto)")
    a.add_argument("--d", default=None,
                   help="differences at lag 1: an integer or 'auto' (KPSS per series; default: AR's own)")
    a.add_argument("--seasonal-d", type=int, default=None, dest="D",
                   help="seasonal differences at --season-length (AR's D; default 0)")
    a.add_argument("--deseasonalize", choices=("yes", "no"), default=None,
                   help="multiplicative seasonal adjustment where a test finds the season (default: AR's own)")
    a.add_argument("--bootstrap", action="store_true",
                   help="AR sample paths from each series' own residuals instead of Gaussian noise")
    n = parser.add_argument_group("neural options")
    n.add_argument("--backbone", choices=("conv", "transformer"), default="conv", help="neural backbone (default: conv)")
    n.add_argument("--values", choices=("quantized", "continuous"), default="continuous",
                   help="neural value type (default: continuous)")
    n.add_argument("--context-length", type=positive_int, default=None,
                   help="values each neural forecast conditions on (default: NeuralAR's own)")
    n.add_argument("--max-steps", type=positive_int, default=300, help="neural training steps (default: 300)")
    n.add_argument("--time-limit", type=positive_float, default=None,
                   help="neural training time limit in seconds (training stops at whichever of "
                        "--max-steps and --time-limit comes first)")
    n.add_argument("--batch-size", type=positive_int, default=None, help="neural training batch size (default: NeuralAR's own)")
    n.add_argument("--learning-rate", type=positive_float, default=None, help="neural learning rate (default: NeuralAR's own)")
    n.add_argument("--device", default="auto", help="neural device: auto, cpu, cuda, cuda:1, ... (default: auto)")
    if neural_calibrate:
        n.add_argument("--calibrate", choices=("crps", "interval"), default=None,
                       help="neural: rescale the predictive spread on the validation part (default: no)")


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
                if p < 0:
                    raise CliError(f"--p must be a non-negative integer, 'aic', 'aicc', 'bic' or 'auto', got {args.p!r}")
            kwargs["p"] = p
        if args.max_p is not None:
            if isinstance(kwargs.get("p"), int):
                raise CliError("--max-p only applies with --p aic, aicc, bic or auto")
            kwargs["max_p"] = args.max_p
        if args.d is not None:
            if args.d == "auto":
                kwargs["d"] = "auto"
            else:
                try:
                    kwargs["d"] = int(args.d)
                except ValueError:
                    raise CliError(f"--d must be a non-negative integer or 'auto', got {args.d!r}") from None
        if args.D is not None:
            kwargs["D"] = args.D
        if args.deseasonalize is not None:
            kwargs["deseasonalize"] = args.deseasonalize == "yes"
        if args.season_length is not None:
            kwargs["season_length"] = args.season_length
        return af.AR(**kwargs, **_linear_options(args))
    if args.model == "arx":
        return _arx(args)
    kwargs = {"backbone": args.backbone, "values": args.values, "max_steps": args.max_steps,
              "time_limit": args.time_limit, "seed": getattr(args, "seed", None), "device": args.device,
              "progress": getattr(args, "progress", True)}
    for option in ("context_length", "batch_size", "learning_rate", "calibrate"):
        value = getattr(args, option, None)
        if value is not None:
            kwargs[option] = value
    from arforecast.models.neural.config import grouped
    return af.NeuralAR(**grouped(kwargs))           # batch_size etc. belong to the training settings


def _arx(args: argparse.Namespace) -> Any:
    """ARX from the AR flags it shares (an integer ``--p``, ``--trend``, ``--seasonal-lags``, ``--bootstrap``)."""
    import arforecast as af

    unused = [flag for flag, value in (("--max-p", args.max_p), ("--d", args.d), ("--seasonal-d", args.D),
                                       ("--deseasonalize", args.deseasonalize)) if value is not None]
    if unused:
        raise CliError(f"{unused[0]} does not apply to --model arx")
    kwargs: dict[str, Any] = {}
    if args.p is not None:
        try:
            kwargs["p"] = int(args.p)
        except ValueError:
            raise CliError(f"--p must be a non-negative integer with --model arx, got {args.p!r}") from None
        if kwargs["p"] < 0:
            raise CliError(f"--p must be a non-negative integer with --model arx, got {args.p!r}")
    return af.ARX(**kwargs, **_linear_options(args))


def _linear_options(args: argparse.Namespace) -> dict[str, Any]:
    """The flags AR and ARX share: ``--trend``, ``--seasonal-lags``, ``--bootstrap``."""
    out: dict[str, Any] = {}
    if args.trend is not None:
        out["trend"] = args.trend
    if args.seasonal_lags is not None:
        out["seasonal_lags"] = args.seasonal_lags
    if args.bootstrap:
        out["bootstrap"] = True
    return out
