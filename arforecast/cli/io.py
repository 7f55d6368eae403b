"""Reading the CLI's CSV input and writing its outputs, with one-line errors for bad files.

Outputs are rendered in memory first and written only once every one of them is ready, so a
command that fails never leaves a partial set of files behind.
"""
from __future__ import annotations

import importlib.util
import io
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from arforecast.exceptions import DataError

#: output formats by file extension; ``-`` writes CSV to standard output
TABLE_FORMATS = {".csv": "csv", ".parquet": "parquet", ".json": "json"}
STDOUT = "-"


class CliError(Exception):
    """A user-facing problem: printed as one line, exit code 2."""


def read_series_csv(path: str, id_col: str = "unique_id", time_col: str = "ds",
                    target_col: str = "y") -> pd.DataFrame:
    """Read a long (``id, time, target`` columns) or wide (a time column plus one column per series) CSV.

    Returns a long frame with the given column names (wide files are melted, series named by
    their column).
    """
    df = _read_csv(path, id_col, str(path))
    if df.empty:
        raise CliError(f"{path}: the file has a header but no rows")
    if time_col not in df.columns:
        raise CliError(f"{path}: missing time column {time_col!r} (columns: {', '.join(map(str, df.columns[:8]))}); "
                       "name it with --time-col")
    df[time_col] = _parse_times(df[time_col], path, time_col)
    if id_col in df.columns or target_col in df.columns:
        missing = [c for c in (id_col, time_col, target_col) if c not in df.columns]
        if missing:
            flags = {id_col: "--id-col", time_col: "--time-col", target_col: "--target-col"}
            raise CliError(f"{path}: long format needs columns {id_col!r}, {time_col!r}, {target_col!r}; "
                           f"missing {missing} (name them with {', '.join(flags[c] for c in missing)})")
        return df[[id_col, time_col, target_col]]
    value_cols = [c for c in df.columns if c != time_col]
    if not value_cols:
        raise CliError(f"{path}: wide format needs at least one series column besides {time_col!r}")
    long = df.melt(id_vars=[time_col], value_vars=value_cols, var_name=id_col, value_name=target_col)
    return long.dropna(subset=[target_col])[[id_col, time_col, target_col]].reset_index(drop=True)


def read_covariates_csv(path: str, id_col: str = "unique_id", time_col: str = "ds") -> pd.DataFrame:
    """Read a covariates CSV: the time column, the id column when the covariates differ by series,
    and one numeric column per covariate (rows past each series' end carry the future-known values).

    Returns a long frame keyed by id and time, or a frame indexed by time (covariates shared by
    every series) when the file has no id column; the layouts of docs/covariates.md.
    """
    df = _read_csv(path, id_col, f"--covariates {path}")
    if time_col not in df.columns:
        raise CliError(f"--covariates {path}: missing time column {time_col!r} (name it with --time-col)")
    df[time_col] = _parse_times(df[time_col], path, time_col)
    names = [c for c in df.columns if c not in (id_col, time_col)]
    if df.empty or not names:
        raise CliError(f"--covariates {path}: needs rows and at least one covariate column besides "
                       f"{id_col!r} and {time_col!r}")
    text = [c for c in names if not pd.api.types.is_numeric_dtype(df[c])]
    if text:
        raise CliError(f"--covariates {path}: covariate column {text[0]!r} is not numeric")
    if id_col in df.columns:
        return df[[id_col, time_col] + names]
    return df.set_index(time_col)[names]


def _read_csv(path: str, id_col: str, what: str) -> pd.DataFrame:
    """The CSV at ``path`` (ids read as labels: "007" stays "007"); errors name ``what``."""
    file = Path(path)
    if not file.exists():
        raise CliError(f"{what}: no such file")
    if file.is_dir():
        raise CliError(f"{what}: is a folder, not a CSV file")
    try:
        return pd.read_csv(file, dtype={id_col: str})
    except pd.errors.EmptyDataError:
        raise CliError(f"{what}: the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise CliError(f"{what}: not a readable CSV ({str(err).splitlines()[0]})") from None


def _parse_times(col: pd.Series, path: str, name: str) -> pd.Series:
    if pd.api.types.is_integer_dtype(col):
        return col
    parsed = pd.to_datetime(col, errors="coerce", format="mixed")
    if col.dtype == object and _slashed(col):
        # "03/04/2024" is read month-first by pandas, "13/04/2024" day-first: one file, two rules.
        # Read the whole column one way, the day-first one if the month-first one cannot hold.
        month_first = pd.to_datetime(col, errors="coerce", format="mixed", dayfirst=False)
        day_first = pd.to_datetime(col, errors="coerce", format="mixed", dayfirst=True)
        parsed = day_first if _has_day_over_12(col, 0) else month_first
        if not _has_day_over_12(col, 0) and not _has_day_over_12(col, 1) and not month_first.equals(day_first):
            warnings.warn(f"{path}: dates in column {name!r} such as {col.iloc[0]!r} could be month-first or "
                          "day-first; read month-first. Write ISO dates (YYYY-MM-DD) to be sure", UserWarning,
                          stacklevel=2)
    bad = parsed.isna() & col.notna()
    if bad.any() or col.isna().any():
        first = col[bad | col.isna()].iloc[0]
        raise CliError(f"{path}: column {name!r} has values that are not dates, e.g. {first!r}")
    return parsed


def _slashed(col: pd.Series) -> bool:
    return bool(col.astype(str).str.match(r"^\s*\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}").all())


def _has_day_over_12(col: pd.Series, field: int) -> bool:
    """Whether the ``field``-th number of some ``a/b/yyyy`` date exceeds 12 (so it is a day)."""
    parts = col.astype(str).str.extract(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-]")[field]
    return bool((pd.to_numeric(parts, errors="coerce") > 12).any())


# ---------------------------------------------------------------------- outputs
def table_format(path: str, option: str = "--output") -> str:
    """The format of a table output path (``csv``, ``parquet``, ``json`` or ``stdout``), or a CliError.

    Checked before any work is done, so that a bad name fails at once.
    """
    if path == STDOUT:
        return "stdout"
    suffix = Path(path).suffix.lower()
    if suffix not in TABLE_FORMATS:
        raise CliError(f"{option} {path}: unknown format {suffix or '(no extension)'!r}; "
                       f"use a .csv, .parquet or .json name, or - for standard output (CSV)")
    fmt = TABLE_FORMATS[suffix]
    if fmt == "parquet" and importlib.util.find_spec("pyarrow") is None:
        raise CliError(f"{option} {path}: writing Parquet needs pyarrow (pip install pyarrow), "
                       "or use a .csv or .json name")
    _check_writable(path, option)
    return fmt


def figure_format(path: str, option: str = "--plot") -> str:
    """The image format of a ``--plot`` path (png, svg or pdf), or a CliError; needs matplotlib."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in ("png", "svg", "pdf"):
        raise CliError(f"{option} {path}: unknown image format {suffix or '(no extension)'!r}; use .png, .svg or .pdf")
    if importlib.util.find_spec("matplotlib") is None:
        raise CliError(f"{option} needs matplotlib: pip install matplotlib (or drop {option})")
    _check_writable(path, option)
    return suffix


def _check_writable(path: str, option: str) -> None:
    out = Path(path)
    if out.is_dir():
        raise CliError(f"{option} {path}: is a folder; give a file name")
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise CliError(f"{option} {path}: {parent} is not a folder")


def render_table(df: pd.DataFrame, fmt: str) -> bytes:
    """``df`` as the bytes of a ``csv``/``stdout`` (CSV), ``parquet`` or ``json`` (records) file."""
    if fmt in ("csv", "stdout"):
        return df.to_csv(index=False).encode()
    if fmt == "json":
        return df.to_json(orient="records", date_format="iso", indent=1).encode()
    buf = io.BytesIO()
    frame = df.copy()
    frame.columns = [str(c) for c in frame.columns]
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def render_figure(fig: Any, fmt: str) -> bytes:
    """A matplotlib figure as the bytes of an image file, the figure then closed."""
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def write_outputs(outputs: list[tuple[str, bytes]]) -> None:
    """Write every ``(path, bytes)``; ``-`` goes to standard output."""
    for path, data in outputs:
        if path == STDOUT:
            sys.stdout.write(data.decode())
            sys.stdout.flush()
            continue
        out = Path(path)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
        except OSError as err:
            raise CliError(f"cannot write {path}: {err.strerror or err}") from None


def write_table(df: pd.DataFrame, path: str) -> Path | str:
    """Write ``df`` in the format its name says (see :func:`table_format`)."""
    write_outputs([(path, render_table(df, table_format(path)))])
    return path if path == STDOUT else Path(path)


#: the library's keyword arguments named in its error hints, and the CLI option that sets each
OPTION_OF = {"freq": "--freq", "num_samples": "--samples", "season_length": "--season-length",
             "id_col": "--id-col", "time_col": "--time-col", "target_col": "--target-col", "start": "--history",
             "max_p": "--max-p", "refit": "--refit", "h": "--horizon"}


def as_options(text: str) -> str:
    """Python hints in a library message written as the CLI's options.

    Example:
        >>> as_options("pass freq=..., e.g. freq='h'; or name them with id_col=, time_col=")
        'pass --freq, e.g. --freq h; or name them with --id-col, --time-col'
    """
    names = "|".join(sorted(OPTION_OF, key=len, reverse=True))
    text = re.sub(rf"(?<![\w.-])({names})='([^']*)'", lambda m: f"{OPTION_OF[m[1]]} {m[2]}", text)
    text = re.sub(rf"(?<![\w.-])({names})=(\.\.\.)?", lambda m: OPTION_OF[m[1]], text)
    return text


def data_error_message(err: Exception) -> str:
    """The one line shown for an error raised by the library, its Python hints as CLI options."""
    text = as_options(" ".join(str(err).split())) if str(err) else type(err).__name__
    return text if isinstance(err, (DataError, CliError, ValueError)) else f"{type(err).__name__}: {text}"
