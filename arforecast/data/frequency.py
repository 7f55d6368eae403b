"""What a frequency implies: the seasonal periods worth modelling, calendar positions, time features.

One place knows that hourly data has daily and weekly cycles, that monthly data has a yearly
one, and where on the calendar a timestamp sits. Everything else (model defaults, phases of
global models, the MASE season of a backtest) asks here.

=================================  =============================  ==========================
frequency                          ``season_lengths``             calendar position unit
=================================  =============================  ==========================
sub-daily (``h``, ``30min``, ...)  a day and a week in steps      steps since 1970-01-01
daily (``D``)                      7 and 365                      days since 1970-01-01
business day (``B``)               5                              business days since 1970
weekly (``W``, ``W-MON``, ...)     52                             weeks since 1970-01-01
semi-monthly (``SMS``, ``SM``)     24                             half-months since 1970
monthly (``MS``, ``ME``, ...)      12                             months since 1970-01
quarterly (``QS``, ``QE``, ...)    4                              quarters since 1970
yearly (``YS``, ``YE``, ...)       none                           years since 1970
integer steps (``None``)           none                           the integer time itself
=================================  =============================  ==========================

A multiple of a frequency (``2h``, ``2MS``) keeps the periods that are whole multiples of it
(``2h``: 12 and 84; ``5MS``: none).

Example:
    >>> season_lengths("h"), season_lengths("MS"), season_length("YS"), season_lengths(None)
    ((24, 168), (12,), 1, ())
    >>> calendar_positions(pd.DatetimeIndex(["1970-03-01", "2000-01-01"]), "MS").tolist()
    [2, 360]
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries import offsets as O

_DAY_NS = 86_400 * 10 ** 9
_EPOCH = pd.Timestamp("1970-01-01")

#: calendar periods of each family, in units of the family's base step
_PERIODS = {"day": (7, 365), "bday": (5,), "week": (52,), "semimonth": (24,), "month": (12,),
            "quarter": (4,), "year": ()}


def to_offset(freq: Any) -> pd.DateOffset | None:
    """A pandas offset from a string or offset; ``None`` stays ``None`` (integer time)."""
    if freq is None:
        return None
    return pd.tseries.frequencies.to_offset(freq)


def _family(offset: pd.DateOffset) -> tuple[str, int]:
    """``(family, n)``: the calendar family of an offset and its multiple."""
    n = int(offset.n)
    if isinstance(offset, (O.MonthBegin, O.MonthEnd, O.BusinessMonthBegin, O.BusinessMonthEnd)):
        return "month", n
    if isinstance(offset, (O.QuarterBegin, O.QuarterEnd, O.BQuarterBegin, O.BQuarterEnd)):
        return "quarter", n
    if isinstance(offset, (O.YearBegin, O.YearEnd, O.BYearBegin, O.BYearEnd)):
        return "year", n
    if isinstance(offset, O.Week):
        return "week", n
    if isinstance(offset, (O.SemiMonthBegin, O.SemiMonthEnd)):
        return "semimonth", n
    if isinstance(offset, O.BusinessDay):
        return "bday", n
    nanos = _fixed_nanos(offset)
    if nanos is not None:
        if nanos % _DAY_NS == 0:
            return "day", nanos // _DAY_NS
        return "tick", nanos
    return "other", n


def _fixed_nanos(offset: pd.DateOffset) -> int | None:
    """Length of a fixed-duration offset in nanoseconds (``Day`` included), else ``None``."""
    if isinstance(offset, O.Day):          # a Tick before pandas 3, a calendar day since: 24 h here
        return int(offset.n) * _DAY_NS
    if isinstance(offset, O.Tick):
        return int(pd.Timedelta(offset).value)
    return None


def shift_times(times: pd.DatetimeIndex, steps: int, freq: Any) -> pd.DatetimeIndex:
    """``times`` moved ``steps`` steps of ``freq`` on, as ``pd.date_range`` lays the steps out.

    A day in a time zone is a calendar day (23 or 25 hours across a clock change), as in
    ``date_range``; plain offset arithmetic would add 24 hours and land an hour off.

    Example:
        >>> t = pd.DatetimeIndex([pd.Timestamp("2024-03-30", tz="Europe/Berlin")])
        >>> str(shift_times(t, 2, "D")[0])
        '2024-04-01 00:00:00+02:00'
    """
    offset = to_offset(freq)
    times = pd.DatetimeIndex(times)
    if times.tz is None or _family(offset)[0] != "day":
        return times + int(steps) * offset
    wall = times.tz_localize(None) + int(steps) * offset
    ambiguous = np.array([bool(t.dst()) for t in times]) if len(times) else "raise"
    return wall.tz_localize(times.tz, ambiguous=ambiguous, nonexistent="shift_forward")


def season_lengths(freq: Any) -> tuple[int, ...]:
    """The seasonal periods worth modelling for ``freq``, shortest first (``()`` for none).

    Example:
        >>> season_lengths("30min"), season_lengths("D"), season_lengths("W-SUN")
        ((48, 336), (7, 365), (52,))
    """
    offset = to_offset(freq)
    if offset is None:
        return ()
    family, n = _family(offset)
    if family == "tick":
        per_day = _DAY_NS / n
        if per_day < 2 or per_day != int(per_day):
            return ()
        return (int(per_day), 7 * int(per_day))
    base = _PERIODS.get(family, ())
    return tuple(p // n for p in base if p % n == 0 and p // n > 1)


def season_length(freq: Any) -> int:
    """The main (shortest) seasonal period of ``freq``, 1 when it has none.

    Example:
        >>> season_length("h"), season_length("QS"), season_length(None)
        (24, 4, 1)
    """
    periods = season_lengths(freq)
    return periods[0] if periods else 1


def lags_for(freq: Any, max_lag: int | None = None) -> tuple[int, ...]:
    """Seasonal lags for ``freq``: each period and, for the main one, one season more.

    ``max_lag`` drops lags beyond it (a series too short for a yearly lag, say).

    Example:
        >>> lags_for("h"), lags_for("MS", max_lag=20), lags_for("YS")
        ((24, 48, 168), (12,), ())
    """
    periods = season_lengths(freq)
    lags = set(periods)
    if periods:
        lags.add(2 * periods[0])
    out = tuple(sorted(lags))
    return out if max_lag is None else tuple(k for k in out if k <= max_lag)


def calendar_positions(times: pd.DatetimeIndex, freq: Any) -> np.ndarray:
    """Steps of ``freq`` from the start of 1970 to each timestamp (int64, vectorized).

    Phases modulo a season are then calendar phases: with hourly data ``position % 24`` is the
    hour of the day, with monthly data ``position % 12`` the month of the year (0 = January),
    whatever date a series starts on. Time-zone-aware timestamps are read in their own wall
    clock. Offsets of no known family are counted step by step from 1970 (slow but exact).

    Example:
        >>> calendar_positions(pd.DatetimeIndex(["1970-01-02 05:00"]), "h").tolist()
        [29]
    """
    offset = to_offset(freq)
    times = pd.DatetimeIndex(times)
    if times.tz is not None:
        times = times.tz_localize(None)
    if len(times) == 0:
        return np.zeros(0, dtype=np.int64)
    family, n = _family(offset)
    ns = times.as_unit("ns").asi8
    if family == "tick":
        return np.floor_divide(ns, n)
    if family == "day":
        return np.floor_divide(np.floor_divide(ns, _DAY_NS), n)
    if family == "week":
        return np.floor_divide(np.floor_divide(ns, _DAY_NS), 7 * n)
    if family == "bday":
        days = times.to_numpy().astype("datetime64[D]")
        return np.floor_divide(np.busday_count(np.datetime64("1970-01-01"), days), n).astype(np.int64)
    years = times.year.to_numpy().astype(np.int64) - 1970
    months = years * 12 + times.month.to_numpy().astype(np.int64) - 1
    if family == "month":
        return np.floor_divide(months, n)
    if family == "quarter":
        return np.floor_divide(np.floor_divide(months, 3), n)
    if family == "year":
        return np.floor_divide(years, n)
    if family == "semimonth":
        half = (times.day.to_numpy() >= 15).astype(np.int64)
        return np.floor_divide(2 * months + half, n)
    return np.array([_count_steps(t, offset) for t in times], dtype=np.int64)


def _count_steps(t: pd.Timestamp, offset: pd.DateOffset) -> int:
    """Steps of an irregular offset between the first of its timestamps in 1970 and ``t``."""
    anchor = offset.rollforward(_EPOCH)
    if t >= anchor:
        return len(pd.date_range(anchor, t, freq=offset)) - 1
    return -(len(pd.date_range(t, anchor, freq=offset)) - 1)


def time_features(times: pd.DatetimeIndex, freq: Any) -> tuple[np.ndarray, tuple[str, ...]]:
    """Calendar features of each timestamp, each scaled to ``[-0.5, 0.5]``, and their names.

    Only the features finer than a year that the frequency can resolve: hourly data gets hour of
    day, day of week, day of month and day of year; daily data day of week, month and year;
    monthly data month of year; yearly data none.

    Example:
        >>> x, names = time_features(pd.date_range("2024-01-01", periods=3, freq="MS"), "MS")
        >>> names, x[:, 0].round(3).tolist()
        (('month_of_year',), [-0.5, -0.409, -0.318])
    """
    times = pd.DatetimeIndex(times)
    offset = to_offset(freq)
    family, n = _family(offset) if offset is not None else ("year", 1)
    rank = {"tick": 0, "day": 1, "bday": 1, "week": 2, "semimonth": 3, "month": 3, "quarter": 4,
            "year": 5, "other": 5}[family]
    feats: list[tuple[str, np.ndarray]] = []
    if family == "tick" and n < 3_600 * 10 ** 9:
        feats.append(("minute_of_hour", times.minute.to_numpy() / 59.0 - 0.5))
    if rank == 0:
        feats.append(("hour_of_day", times.hour.to_numpy() / 23.0 - 0.5))
    if rank <= 1:
        feats += [("day_of_week", times.dayofweek.to_numpy() / 6.0 - 0.5),
                  ("day_of_month", (times.day.to_numpy() - 1) / 30.0 - 0.5),
                  ("day_of_year", (times.dayofyear.to_numpy() - 1) / 365.0 - 0.5)]
    if rank == 2:
        week = times.isocalendar().week.to_numpy().astype(np.float64)
        feats.append(("week_of_year", (week - 1) / 52.0 - 0.5))
    if rank in (3, 4):
        feats.append(("month_of_year", (times.month.to_numpy() - 1) / 11.0 - 0.5))
    names = tuple(name for name, _ in feats)
    if not feats:
        return np.zeros((len(times), 0)), names
    return np.stack([np.asarray(v, dtype=np.float64) for _, v in feats], axis=1), names
