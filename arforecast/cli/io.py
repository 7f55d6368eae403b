"""Reading the CLI's CSV input and writing its outputs, with one-line errors for bad files."""
from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import pandas as pd

from arforecast.exceptions import DataError


class CliError(Exception):
    """A user-facing problem: printed as one line, exit code 2."""


def read_series_csv(path: str, id_col: str = "unique_id", time_col: str = "ds",
                    target_col: str = "y") -> pd.DataFrame:
    """Read a long (``id, time, target`` columns) or wide (a time column plus one column per series) CSV.

    Returns a long frame with the given column names (wide files are melted, series named by
    their column).
    """
    file = Path(path)
    if not file.exists():
        raise CliError(f"{path}: no such file")
    try:
        # ids are labels, not numbers: "007" stays "007"
        df = pd.read_csv(file, dtype={id_col: str})
    except pd.errors.EmptyDataError:
        raise CliError(f"{path}: the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise CliError(f"{path}: not a readable CSV ({str(err).splitlines()[0]})") from None
    if df.empty:
        raise CliError(f"{path}: the file has a header but no rows")
    if time_col not in df.columns:
        raise CliError(f"{path}: missing time column {time_col!r} (columns: {', '.join(map(str, df.columns[:8]))}); "
                       "name it with --time-col")
    df[time_col] = _parse_times(df[time_col], path, time_col)
    if id_col in df.columns or target_col in df.columns:
        missing = [c for c in (id_col, time_col, target_col) if c not in df.columns]
        if missing:
            raise CliError(f"{path}: long format needs columns {id_col!r}, {time_col!r}, {target_col!r}; "
                           f"missing {missing}")
        return df[[id_col, time_col, target_col]]
    value_cols = [c for c in df.columns if c != time_col]
    if not value_cols:
        raise CliError(f"{path}: wide format needs at least one series column besides {time_col!r}")
    long = df.melt(id_vars=[time_col], value_vars=value_cols, var_name=id_col, value_name=target_col)
    return long.dropna(subset=[target_col])[[id_col, time_col, target_col]].reset_index(drop=True)


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


def write_table(df: pd.DataFrame, path: str) -> Path:
    """Write ``df`` as CSV, or Parquet when ``path`` ends in .parquet (needs pyarrow)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        if importlib.util.find_spec("pyarrow") is None:
            raise CliError("writing Parquet needs pyarrow: pip install pyarrow (or write .csv)")
        df.to_parquet(out, index=False)
    else:
        df.to_csv(out, index=False)
    return out


def data_error_message(err: Exception) -> str:
    """The one line shown for a DataError or ValueError raised by the library."""
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text if isinstance(err, (DataError, CliError)) else f"{type(err).__name__}: {text}"
