"""The NAB (Numenta Anomaly Benchmark) development subset: labelled files and their windows.

The CSV files are read as they are (``timestamp, value``, rows in file order): NAB scores
detections row by row in that order, so :func:`load_nab_file` keeps the quirks (a clock that
goes back, a repeated hour, week-long gaps). :func:`load_nab_series` puts a file on a regular
grid through :func:`arforecast.data.regularize.regularize` for forecasting, and
:func:`grid_positions` maps every file row to its point on that grid, so that scores computed on
the grid can be handed back to NAB's row-by-row scorer.

Example:
    >>> from arforecast.datasets_nab import load_nab_file, load_nab_windows, nab_files
    >>> "realKnownCause/nyc_taxi.csv" in nab_files()
    True
    >>> raw = load_nab_file("realKnownCause/nyc_taxi.csv")
    >>> list(raw.columns), len(raw), len(load_nab_windows()["realKnownCause/nyc_taxi.csv"])
    (['timestamp', 'value'], 10320, 5)
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from arforecast.data.regularize import regularize
from arforecast.datasets import find_data

NAB_FOLDER = "nab"
WINDOWS_FILE = "combined_windows.json"
#: how a NAB file is put on a regular grid by default: sort (a clock that jumps back), average
#: the values that share a grid point (a repeated hour), move off-grid stamps to the grid point
#: before them, and leave NaN where nothing was observed (gaps).
NAB_REGULARIZE = dict(sort=True, duplicates="mean", off_grid="floor", gaps="mark")


def nab_root() -> Path:
    """The folder holding the NAB subset (see :func:`arforecast.datasets.find_data`)."""
    return find_data(NAB_FOLDER)


def load_nab_windows() -> dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]]:
    """NAB's anomaly windows: ``{"<folder>/<file>.csv": [(start, end), ...]}``, ends inclusive."""
    with open(nab_root() / WINDOWS_FILE) as fh:
        raw = json.load(fh)
    return {name: [(pd.Timestamp(a), pd.Timestamp(b)) for a, b in wins] for name, wins in raw.items()}


def nab_files(folders: Sequence[str] | None = None) -> list[str]:
    """Relative names of the labelled files (those in the windows file), optionally by folder."""
    names = list(load_nab_windows())
    if folders is not None:
        folders = [folders] if isinstance(folders, str) else list(folders)
        names = [n for n in names if n.split("/")[0] in folders]
    missing = [n for n in names if not (nab_root() / n).exists()]
    if missing:
        raise FileNotFoundError(f"NAB files listed in {WINDOWS_FILE} are missing: {missing[:3]}")
    return names


def load_nab_file(name: str) -> pd.DataFrame:
    """One NAB file as it is: columns ``timestamp`` (datetime64) and ``value`` (float64), rows in
    file order (not sorted, duplicates kept)."""
    path = nab_root() / name
    if not path.exists():
        raise FileNotFoundError(f"no NAB file {name!r} under {nab_root()}; known: {nab_files()[:3]} ...")
    frame = pd.read_csv(path)
    return pd.DataFrame({"timestamp": pd.to_datetime(frame["timestamp"], format="%Y-%m-%d %H:%M:%S"),
                         "value": frame["value"].astype(np.float64)})


def load_nab_series(name: str, **options) -> pd.Series:
    """A NAB file on a regular grid, as a Series named after the file.

    ``options`` are passed to :func:`~arforecast.data.regularize.regularize` and default to
    :data:`NAB_REGULARIZE` (gaps are left as NaN; pass ``gaps="ffill"`` for a gap-free series).
    """
    raw = load_nab_file(name)
    series = pd.Series(raw["value"].to_numpy(), index=pd.DatetimeIndex(raw["timestamp"]), name=name)
    return regularize(series, **{**NAB_REGULARIZE, **options})


def grid_positions(timestamps: pd.Series | pd.Index, grid: pd.DatetimeIndex,
                   off_grid: str = "floor") -> np.ndarray:
    """Position on ``grid`` (a regular index) of each of ``timestamps``, as ``regularize`` put it.

    Example:
        >>> grid = pd.date_range("2024-01-01", periods=4, freq="h")
        >>> grid_positions(pd.to_datetime(["2024-01-01 02:00", "2024-01-01 00:40"]), grid).tolist()
        [2, 0]
    """
    step = grid[1] - grid[0]
    offset = (pd.DatetimeIndex(timestamps) - grid[0]) / step
    pos = np.floor(np.asarray(offset) + (0.5 if off_grid == "nearest" else 0.0)).astype(np.int64)
    if pos.min() < 0 or pos.max() >= len(grid):
        raise ValueError("some timestamps fall outside the grid")
    return pos
