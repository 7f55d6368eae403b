"""The resource guards: refuse a request that cannot fit (or would run for hours) before starting it.

A forecast of ``h`` steps with ``num_samples`` paths for ``n`` series holds ``n * num_samples * h``
float64 values several times over (the paths, their sorted copy for quantiles, the rollout's
working copies). :func:`check_memory` compares such an estimate with the *memory budget*: by
default half of this machine's physical memory, or ``ARFORECAST_MEMORY_BUDGET`` (bytes, or a
number with ``KB``/``MB``/``GB``/``TB``), or what :func:`set_memory_budget` set.

Example:
    >>> set_memory_budget("1GB")
    >>> check_memory(10 ** 6, "a small forecast")        # fine: 1 MB
    >>> try:
    ...     check_memory(5 * 2 ** 30, "predict(h=10**9)")
    ... except MemoryError as err:
    ...     print(str(err)[:49])
    predict(h=10**9) needs about 5.4 GB of memory, mo
    >>> set_memory_budget(None)                           # back to the default
"""
from __future__ import annotations

import os
import re

#: what one value costs, times the copies a forecast keeps of it (paths, sorted copy, work space)
BYTES_PER_VALUE = 8 * 4
_UNITS = {"": 1, "B": 1, "KB": 10 ** 3, "MB": 10 ** 6, "GB": 10 ** 9, "TB": 10 ** 12}
_budget: int | None = None


class MemoryRequestError(MemoryError, ValueError):
    """A request would need more memory than the budget (see :mod:`arforecast.resources`)."""


def parse_bytes(text: str | int) -> int:
    """``"8GB"`` -> ``8_000_000_000``; plain integers are bytes.

    Example:
        >>> parse_bytes("1.5 GB"), parse_bytes(1024)
        (1500000000, 1024)
    """
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*([0-9.]+)\s*([KMGT]?B?)\s*", str(text).upper())
    if not match:
        raise ValueError(f"cannot read a memory size from {text!r}; write e.g. 8GB or 500MB")
    return int(float(match.group(1)) * _UNITS[match.group(2) if match.group(2) != "K" else "KB"])


def machine_memory() -> int | None:
    """Physical memory of this machine in bytes, or ``None`` where the OS does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def memory_budget() -> int:
    """The budget in bytes: :func:`set_memory_budget`, else ``ARFORECAST_MEMORY_BUDGET``, else
    half the machine's memory (4 GB where it is unknown)."""
    if _budget is not None:
        return _budget
    env = os.environ.get("ARFORECAST_MEMORY_BUDGET")
    if env:
        return parse_bytes(env)
    total = machine_memory()
    return total // 2 if total else 4 * 10 ** 9


def set_memory_budget(size: str | int | None) -> None:
    """Set the budget for this process (``None``: back to the default)."""
    global _budget
    _budget = None if size is None else parse_bytes(size)


def check_memory(n_bytes: float, what: str) -> None:
    """Raise :class:`MemoryRequestError` if ``what`` needs more than the budget."""
    budget = memory_budget()
    if n_bytes > budget:
        raise MemoryRequestError(
            f"{what} needs about {n_bytes / 1e9:.1f} GB of memory, more than the budget of "
            f"{budget / 1e9:.1f} GB (half this machine's memory unless set); ask for less (smaller h or "
            "num_samples, fewer series at a time), or raise the budget with "
            "arforecast.resources.set_memory_budget('64GB') or ARFORECAST_MEMORY_BUDGET=64GB")


#: the longest horizon a forecast steps through without being asked to (see :func:`set_max_horizon`)
DEFAULT_MAX_HORIZON = 1_000_000
_max_horizon: int | None = None


def max_horizon() -> int:
    """The step budget: :func:`set_max_horizon`, else ``ARFORECAST_MAX_HORIZON``, else 1,000,000."""
    if _max_horizon is not None:
        return _max_horizon
    env = os.environ.get("ARFORECAST_MAX_HORIZON")
    return int(env) if env else DEFAULT_MAX_HORIZON


def set_max_horizon(h: int | None) -> None:
    """Set the step budget for this process (``None``: back to the default)."""
    global _max_horizon
    _max_horizon = None if h is None else int(h)


def check_forecast_request(n_series: int, h: int, num_samples: int | None) -> None:
    """The guards every ``predict`` runs: the horizon within the step budget (forecasts are
    rolled out one step at a time, tens of microseconds each: ten million steps take minutes
    whatever the memory), and paths of ``n_series x max(num_samples, 1) x h`` values within the
    memory budget.

    Example:
        >>> try:
        ...     check_forecast_request(3, 10 ** 7, None)
        ... except MemoryRequestError as err:
        ...     print(str(err)[:58])
        predict(h=10000000) asks for more steps than the budget of
    """
    if h > max_horizon():
        raise MemoryRequestError(
            f"predict(h={h}) asks for more steps than the budget of {max_horizon():,} (each step is one pass "
            "of the model, so this would run for a long time); ask for a shorter horizon, or raise the budget "
            "with arforecast.resources.set_max_horizon(...) or ARFORECAST_MAX_HORIZON")
    values = float(n_series) * float(h) * float(max(num_samples or 0, 1))
    check_memory(values * BYTES_PER_VALUE,
                 f"predict(h={h}, num_samples={num_samples}) for {n_series} series")
