"""Datasets: the bundled M4 Hourly data and synthetic series with known parameters.

Example:
    >>> from arforecast.datasets import simulate_ar
    >>> df = simulate_ar([0.5, -0.2], n_series=2, length=50, seed=0)
    >>> sorted(df.columns), len(df)
    (['ds', 'unique_id', 'y'], 100)
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

M4_HOURLY_HORIZON = 48
M4_HOURLY_SEASONALITY = 24
_M4_START = pd.Timestamp("2000-01-01 00:00")


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
