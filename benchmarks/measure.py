"""Shared by benchmarks/defaults.py and benchmarks/simulated_panels.py: fit a model, forecast the
test horizon, keep per-series errors, and report a model that raises (or forecasts NaN) as an
error message instead of stopping the run.

Example:
    >>> import arforecast as af
    >>> from arforecast.datasets import simulate_daily_panel
    >>> train, test = simulate_daily_panel(n_series=2, train_length=30, h=7)
    >>> run = measure(lambda: af.Naive(), train, test, h=7)
    >>> run.error, run.y.shape == run.point.shape == (2, 7)
    ('', True)
"""
from __future__ import annotations

import json
import os
import platform
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from arforecast.evaluation.scoring import actuals_matrix

#: fitted attributes shown in the "chosen" column when a model has them (what its defaults became)
CHOSEN = ("anchor_share_", "season_length_", "order_", "lags_", "periods_", "ar_lags_", "context_length_")


@dataclass
class Measured:
    """One model on one data set: actuals and point forecasts ``[n_series, h]`` (None on error)."""
    seconds: float
    y: np.ndarray | None = None
    point: np.ndarray | None = None
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    chosen: str = ""


def one_line(text: str, limit: int = 160) -> str:
    """``text`` on one line, at most ``limit`` characters, safe inside a markdown table cell."""
    text = " ".join(str(text).split()).replace("|", "/")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _summary(value: Any) -> str:
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        return one_line(str(value), 40)
    arr = arr.ravel()
    if arr.size == 0:
        return "()"
    if arr.size == 1:
        return f"{arr[0]:g}"
    if arr.size <= 8:
        return "(" + ", ".join(f"{v:g}" for v in arr) + ")"
    if np.all(arr == arr[0]):
        return f"{arr[0]:g} (all {arr.size})"
    return f"median {np.median(arr):g}, {arr.min():g}-{arr.max():g}"


def chosen(model: Any) -> str:
    """The fitted attributes of :data:`CHOSEN` that ``model`` has, summarized on one line."""
    parts = []
    trained = getattr(model, "training_", None)          # a trained network: its optimizer steps
    if trained is not None and hasattr(trained, "steps"):
        parts.append(f"steps={trained.steps} (best {trained.best_step})")
    for name in CHOSEN:
        try:
            value = getattr(model, name)
        except Exception:  # an attribute that is not there, or a property that refuses
            continue
        if value is not None:
            parts.append(f"{name}={_summary(value)}")
    return one_line("; ".join(parts), 120)


def measure(factory: Callable[[], Any], train: pd.DataFrame, test: pd.DataFrame, h: int) -> Measured:
    """Fit ``factory()`` on ``train``, forecast ``h`` steps and align them with ``test``.

    Any exception (and a forecast that is not finite) becomes ``Measured.error``; warnings are
    collected, not printed. ``seconds`` is the fit + predict wall time.
    """
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = factory()
            fc = model.fit(train).predict(h)
            seconds = time.perf_counter() - start
            y = actuals_matrix(fc, test)
            point = np.asarray(fc.point, dtype=np.float64)
        except Exception as err:  # noqa: BLE001 - reporting every failure is the point
            return Measured(time.perf_counter() - start, error=one_line(f"{type(err).__name__}: {err}"),
                            warnings=_messages(caught))
    out = Measured(seconds, y, point, warnings=_messages(caught), chosen=chosen(model))
    bad = ~np.all(np.isfinite(point), axis=1)
    if bad.any():
        out.error = f"non-finite forecasts for {int(bad.sum())} of {len(bad)} series"
    return out


def _messages(caught: list) -> list[str]:
    seen: list[str] = []
    for w in caught:
        text = one_line(f"{w.category.__name__}: {w.message}", 120)
        if text not in seen:
            seen.append(text)
    return seen


def set_threads(threads: int) -> None:
    """One thread count for torch and the BLAS/OpenMP pools (numpy, scipy)."""
    import torch
    from threadpoolctl import threadpool_limits
    torch.set_num_threads(threads)
    threadpool_limits(threads)


def markdown(df: pd.DataFrame, digits: int = 3) -> str:
    """A markdown table; floats to ``digits`` places, NaN as empty."""
    cells = df.copy()
    for col in cells.columns:
        if pd.api.types.is_float_dtype(cells[col]):
            cells[col] = cells[col].map(lambda v: f"{v:.{digits}f}" if pd.notna(v) else "")
    lines = ["| " + " | ".join(map(str, cells.columns)) + " |", "| " + " | ".join("---" for _ in cells.columns) + " |"]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in cells.itertuples(index=False)]
    return "\n".join(lines)


def machine() -> str:
    """Date, machine, load and torch threads, for the header of a recorded table (timed figures
    and what a time-limited model trains depend on how busy the machine was)."""
    import torch
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {platform.machine()}, {os.cpu_count()} cores, "
            f"load average {load}; Python {platform.python_version()}, torch {torch.__version__} on "
            f"{torch.get_num_threads()} thread(s)")


#: where recorded tables go (the smoke tests point it elsewhere)
RESULTS = Path(os.environ.get("ARFORECAST_BENCH_RESULTS", Path(__file__).resolve().parent / "results"))


def record(stem: str, text: str, command: str, total: float, table: pd.DataFrame) -> None:
    """Write ``results/<stem>.md`` (the printed text) and ``.json`` (the table and how it was made)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.md").write_text(text)
    (RESULTS / f"{stem}.json").write_text(json.dumps(
        {"command": command.strip(), "seconds_total": total, "machine": machine(),
         "table": table.to_dict(orient="records")}, indent=2, default=float))
    print(f"saved {RESULTS / stem}.md and .json")


def report(title: str, command: str, total: float, description: str, table: pd.DataFrame,
           stem: str | None = None) -> str:
    """Print a benchmark's table under its title, command, machine and description; with
    ``stem``, also :func:`record` it. Returns the printed text."""
    text = "\n".join([f"## {title}", "", f"Command: `{command.strip()}` ({total:.0f} s); {machine()}.", "",
                      description, "", markdown(table), ""])
    print()
    print(text)
    if stem is not None:
        record(stem, text, command, total, table)
    return text
