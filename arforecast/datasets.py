"""Datasets: M4 Hourly, M3 (shared folder) and synthetic series with known parameters.

Example:
    >>> from arforecast.datasets import simulate_ar
    >>> df = simulate_ar([0.5, -0.2], n_series=2, length=50, seed=0)
    >>> sorted(df.columns), len(df)
    (['ds', 'unique_id', 'y'], 100)
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

M4_HOURLY_HORIZON = 48
M4_HOURLY_SEASONALITY = 24
_M4_START = pd.Timestamp("2000-01-01 00:00")

#: the M3 groups, their forecast horizons and the seasons M3 results use for MASE
M3_GROUPS = ("yearly", "quarterly", "monthly", "other")
M3_HORIZONS = {"yearly": 6, "quarterly": 8, "monthly": 18, "other": 8}
M3_SEASONS = {"yearly": 1, "quarterly": 4, "monthly": 12, "other": 1}


def data_dirs() -> list[Path]:
    """Folders searched for data, in order: ``$ARFORECAST_DATA``, the checkout's ``datasets/``,
    and the shared folder ``../shared/datasets`` beside the checkout."""
    root = Path(__file__).resolve().parents[1]
    dirs = [Path(p) for p in os.environ.get("ARFORECAST_DATA", "").split(os.pathsep) if p]
    dirs += [root / "datasets", root.parent / "shared" / "datasets"]
    return dirs


def find_data(relative: str) -> Path:
    """The first existing ``<dir>/<relative>`` among :func:`data_dirs`, or FileNotFoundError."""
    for d in data_dirs():
        if (d / relative).exists():
            return d / relative
    raise FileNotFoundError(f"{relative} not found in any of {[str(d) for d in data_dirs()]}; "
                            "set ARFORECAST_DATA to the folder that holds it")


def _read_m4_wide(path: Path) -> pd.DataFrame:
    wide = pd.read_csv(path, index_col=0)
    ids = np.repeat(wide.index.to_numpy(), wide.shape[1])
    values = wide.to_numpy(dtype=np.float64).ravel()
    step = np.tile(np.arange(wide.shape[1]), wide.shape[0])
    long = pd.DataFrame({"unique_id": ids, "step": step, "y": values})
    return long.dropna(subset=["y"]).reset_index(drop=True)


def load_m4_hourly(n_series: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """M4 Hourly as long frames ``(train, test)`` with columns ``unique_id, ds, y``.

    Each series sits on a synthetic hourly index starting 2000-01-01 (M4 gives no dates); the
    test part (48 values per series) continues it. ``n_series`` keeps the first ``n`` series.
    """
    folder = find_data("m4_hourly")
    train = _read_m4_wide(folder / "train.csv")
    test = _read_m4_wide(folder / "test.csv")
    ids = pd.unique(train["unique_id"])
    if n_series is not None:
        ids = ids[:n_series]
        train = train[train["unique_id"].isin(ids)]
        test = test[test["unique_id"].isin(ids)]
    lengths = train.groupby("unique_id", sort=False).size()
    train = train.assign(ds=_M4_START + pd.to_timedelta(train["step"], unit="h"))
    test = test.assign(ds=_M4_START + pd.to_timedelta(test["step"] + test["unique_id"].map(lengths), unit="h"))
    cols = ["unique_id", "ds", "y"]
    return train[cols].reset_index(drop=True), test[cols].reset_index(drop=True)


def load_m3(group: str, n_series: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One M3 group as long frames ``(train, test)`` with columns ``unique_id, ds, y``.

    Read from ``m3/`` in :func:`data_dirs` (``../shared/datasets/m3``). ``ds`` is datetime64
    (year, quarter or month starts) for ``"yearly"``, ``"quarterly"`` and ``"monthly"``, and the
    integer step ``0, 1, 2, ...`` for ``"other"``; the test part holds the last
    ``M3_HORIZONS[group]`` values of each series and continues its training part.
    ``n_series`` keeps the first ``n`` series of the file.

    Example (needs the M3 files):
        >>> train, test = load_m3("monthly", n_series=2)  # doctest: +SKIP
        >>> test.groupby("unique_id").size().tolist()      # doctest: +SKIP
        [18, 18]
    """
    if group not in M3_GROUPS:
        raise ValueError(f"group must be one of {M3_GROUPS}, got {group!r}")
    if n_series is not None and (isinstance(n_series, bool) or not isinstance(n_series, (int, np.integer))
                                 or n_series < 1):
        raise ValueError(f"n_series must be a positive integer or None, got {n_series!r}")
    folder = find_data("m3")
    frames = []
    for part in ("train", "test"):
        df = pd.read_csv(folder / f"{group}_{part}.csv", dtype={"unique_id": str, "y": np.float64})
        df["ds"] = df["ds"].astype(np.int64) if group == "other" else pd.to_datetime(df["ds"], format="%Y-%m-%d")
        frames.append(df)
    train, test = frames
    if n_series is not None:
        ids = pd.unique(train["unique_id"])[:n_series]
        train = train[train["unique_id"].isin(ids)]
        test = test[test["unique_id"].isin(ids)]
    cols = ["unique_id", "ds", "y"]
    return train[cols].reset_index(drop=True), test[cols].reset_index(drop=True)


# ------------------------------------------------------------------ simulated panels with known truth
#: the hourly and daily panels of issue 15: test lengths
SIM_HOURLY_H = 48
SIM_DAILY_H = 28
#: hour-of-day and day-of-week shapes of the simulated cycles (unit amplitude)
_HOURS = np.arange(24)
DAILY_SHAPE = np.sin(2 * np.pi * _HOURS / 24) + 0.5 * np.cos(4 * np.pi * _HOURS / 24)
WEEKLY_SHAPE = np.array([0.4, 0.6, 0.6, 0.5, 0.3, -1.0, -1.4])  # Monday .. Sunday


def _ar_noise(phi: np.ndarray, sigma: float, n_series: int, length: int, rng: np.random.Generator,
              burn_in: int = 200) -> np.ndarray:
    """``u_t = sum_k phi_k u_{t-k} + sigma e_t`` with ``e_t`` iid N(0, 1), burn-in dropped: ``[n, length]``."""
    p = len(phi)
    u = np.zeros((n_series, burn_in + length + p))
    e = sigma * rng.standard_normal((n_series, burn_in + length))
    for t in range(burn_in + length):
        u[:, t + p] = u[:, t:t + p][:, ::-1] @ phi + e[:, t]
    return u[:, p + burn_in:]


def _seasonal_panel(freq: str, phase_of: Any, shape: np.ndarray, phi: Sequence[float], sigma: float,
                    n_series: int, train_length: int, h: int, first: pd.Timestamp, spread: int,
                    seed: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    if n_series < 1 or train_length < 1 or h < 1:
        raise ValueError("n_series, train_length and h must be positive")
    length = train_length + h
    step = pd.tseries.frequencies.to_offset(freq)
    level = rng.uniform(5.0, 15.0, n_series)
    amplitude = rng.uniform(1.0, 3.0, n_series)
    offsets = rng.integers(0, spread, n_series)          # each series starts on its own step
    noise = _ar_noise(np.asarray(phi, dtype=np.float64), sigma, n_series, length, rng)
    frames = []
    for i in range(n_series):
        ds = pd.date_range(first + offsets[i] * step, periods=length, freq=freq)
        y = level[i] + amplitude[i] * shape[phase_of(ds)] + noise[i]
        frames.append(pd.DataFrame({"unique_id": f"s{i:02d}", "ds": ds, "y": y}))
    full = pd.concat(frames, ignore_index=True)
    in_test = full.groupby("unique_id", sort=False).cumcount() >= train_length
    return full[~in_test].reset_index(drop=True), full[in_test].reset_index(drop=True)


def simulate_hourly_panel(n_series: int = 20, train_length: int = 576, h: int = SIM_HOURLY_H,
                          seed: int | None = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An hourly panel with a calendar daily cycle plus AR(2) noise, as ``(train, test)`` long frames.

    Series ``i`` (id ``s00``, ``s01``, ...) is, at hourly timestamp ``t``,
    ``y_t = level_i + amp_i * DAILY_SHAPE[hour(t)] + u_t`` with
    ``u_t = 0.5 u_{t-1} + 0.2 u_{t-2} + 0.3 e_t`` (``e_t`` iid N(0, 1), 200 burn-in steps) and
    ``DAILY_SHAPE[k] = sin(2 pi k / 24) + 0.5 cos(4 pi k / 24)``. ``level_i ~ U(5, 15)``,
    ``amp_i ~ U(1, 3)``; series ``i`` starts ``k_i ~ U{0, ..., 1439}`` hours after 2021-01-01
    00:00 (so at its own hour of day). The cycle follows the clock, not the series' position.
    The first ``train_length`` values are the training part, the next ``h`` the test part.

    Example:
        >>> train, test = simulate_hourly_panel(n_series=3)
        >>> len(train), len(test), train["ds"].dt.hour.nunique() > 1
        (1728, 144, True)
    """
    return _seasonal_panel("h", lambda ds: ds.hour.to_numpy(), DAILY_SHAPE, (0.5, 0.2), 0.3, n_series,
                           train_length, h, pd.Timestamp("2021-01-01"), 24 * 60, seed)


def simulate_daily_panel(n_series: int = 20, train_length: int = 386, h: int = SIM_DAILY_H,
                         seed: int | None = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A daily panel with a calendar weekly cycle plus AR(1) noise, as ``(train, test)`` long frames.

    Series ``i`` (id ``s00``, ``s01``, ...) is, on day ``t``,
    ``y_t = level_i + amp_i * WEEKLY_SHAPE[weekday(t)] + u_t`` with ``u_t = 0.6 u_{t-1} + 0.3 e_t``
    (``e_t`` iid N(0, 1), 200 burn-in steps) and ``WEEKLY_SHAPE = (0.4, 0.6, 0.6, 0.5, 0.3, -1.0,
    -1.4)`` for Monday .. Sunday. ``level_i ~ U(5, 15)``, ``amp_i ~ U(1, 3)``; series ``i`` starts
    ``k_i ~ U{0, ..., 364}`` days after 2019-01-01 (so on its own weekday). The first
    ``train_length`` values are the training part, the next ``h`` the test part.

    Example:
        >>> train, test = simulate_daily_panel(n_series=2, train_length=30, h=7)
        >>> len(train), len(test), str(train["ds"].dtype)
        (60, 14, 'datetime64[ns]')
    """
    return _seasonal_panel("D", lambda ds: ds.dayofweek.to_numpy(), WEEKLY_SHAPE, (0.6,), 0.3, n_series,
                           train_length, h, pd.Timestamp("2019-01-01"), 365, seed)


def simulate_ar(coefs: Sequence[float], n_series: int = 1, length: int = 200, intercept: float = 0.0,
                sigma: float = 1.0, seasonal: Sequence[float] | None = None, burn_in: int = 200,
                freq: str = "h", seed: int | None = None) -> pd.DataFrame:
    """Simulate ``y_t = intercept + sum_k coefs[k] y_{t-k-1} + s_t + sigma * e_t`` as a long frame.

    Args:
        coefs: AR coefficients ``phi_1..phi_p``.
        seasonal: optional additive seasonal pattern ``s`` repeated every ``len(seasonal)`` steps.
        burn_in: steps simulated and dropped so that the process starts near stationarity.
    """
    rng = np.random.default_rng(seed)
    phi = np.asarray(coefs, dtype=np.float64)
    p = len(phi)
    total = length + burn_in
    y = np.zeros((n_series, total + p))
    noise = sigma * rng.standard_normal((n_series, total))
    for t in range(total):
        lagged = y[:, t:t + p][:, ::-1]
        y[:, t + p] = intercept + lagged @ phi + noise[:, t]
    y = y[:, p + burn_in:]
    if seasonal is not None:
        pattern = np.asarray(seasonal, dtype=np.float64)
        y = y + pattern[np.arange(length) % len(pattern)][None, :]
    ds = pd.date_range("2020-01-01", periods=length, freq=freq)
    return pd.DataFrame({
        "unique_id": np.repeat([f"s{i}" for i in range(n_series)], length),
        "ds": np.tile(ds, n_series),
        "y": y.ravel(),
    })
