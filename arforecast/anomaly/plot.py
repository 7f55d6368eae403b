"""plot_anomalies: one series with its forecast band and the points flagged as anomalies."""
from __future__ import annotations

from typing import Any, Sequence

import pandas as pd


def plot_anomalies(result: pd.DataFrame, unique_id: Any = None, *, ax: Any = None,
                   windows: Sequence[tuple] = (), title: str | None = None,
                   id_col: str = "unique_id", time_col: str = "ds", target_col: str = "y") -> Any:
    """Plot the observations, the forecast mean and interval band, and the flagged points.

    Args:
        result: the frame returned by :func:`~arforecast.anomaly.detect_anomalies` or
            :meth:`~arforecast.anomaly.AnomalyDetector.update`.
        unique_id: which series to plot (needed when ``result`` holds several).
        ax: a matplotlib Axes to draw on (a new figure otherwise).
        windows: optional ``(start, end)`` pairs to shade (e.g. labelled anomaly windows).

    Returns:
        The matplotlib Axes.

    Example:
        >>> import numpy as np, pandas as pd
        >>> from arforecast.anomaly import RollingZScore, detect_anomalies
        >>> y = pd.Series(np.sin(np.arange(120) / 4), index=pd.date_range("2024", periods=120, freq="h"))
        >>> ax = plot_anomalies(detect_anomalies(RollingZScore(window=12), y, start=24))
        >>> print(", ".join(ax.get_legend_handles_labels()[1]))
        observed, forecast mean, 99% interval, flagged
    """
    import matplotlib.pyplot as plt  # imported here: matplotlib is only needed for plots

    frame = result
    if id_col in frame.columns:
        ids = pd.unique(frame[id_col])
        if unique_id is None:
            if len(ids) > 1:
                raise ValueError(f"the result holds {len(ids)} series; pass unique_id= one of {list(ids[:5])}")
            unique_id = ids[0]
        frame = frame[frame[id_col] == unique_id]
        if frame.empty:
            raise ValueError(f"no series {unique_id!r} in the result")
    if ax is None:
        _, ax = plt.subplots(figsize=(12, 4))
    t = frame[time_col]
    level = result.attrs.get("level")
    band = "interval" if level is None else f"{100 * level:g}% interval"
    t0, t1 = t.min(), t.max()
    for a, b in windows:
        if b >= t0 and a <= t1:  # only the windows in view
            ax.axvspan(max(a, t0), min(b, t1), color="tab:orange", alpha=0.15, lw=0)
    ax.plot(t, frame[target_col], color="black", lw=0.8, label="observed")
    ax.plot(t, frame["mean"], color="tab:blue", lw=0.8, alpha=0.8, label="forecast mean")
    ax.fill_between(t, frame["lower"], frame["upper"], color="tab:blue", alpha=0.25, lw=0,
                    label=band)
    flagged = frame[frame["is_anomaly"].astype(bool)]
    ax.scatter(flagged[time_col], flagged[target_col], color="red", s=18, zorder=3, label="flagged")
    ax.set_title(title if title is not None else (str(unique_id) if unique_id is not None else ""))
    ax.legend(loc="upper left", fontsize="small")
    return ax
