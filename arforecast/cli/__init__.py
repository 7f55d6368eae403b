"""The command line (``arforecast forecast | backtest | detect | demo``)."""
from arforecast.cli.main import build_parser, main

__all__ = ["main", "build_parser"]
