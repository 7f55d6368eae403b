"""plot_anomalies: one series with its forecast band and the flagged points; zoom_anomalies: the
whole series above close-ups of its incidents (readable on series of 10,000 points and more)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

#: beyond this many points the forecast mean is not drawn by default (it hides the data)
MEAN_LINE_MAX_POINTS = 500


def _one_series(result: pd.DataFrame, unique_id: Any, id_col: str) -> tuple[pd.DataFrame, Any]:
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
    return frame, unique_id


def plot_anomalies(result: pd.DataFrame, unique_id: Any = None, *, ax: Any = None,
                   windows: Sequence[tuple] = (), title: str | None = None, start: Any = None, end: Any = None,
                   mean: bool | None = None, id_col: str = "unique_id", time_col: str = "ds",
                   target_col: str = "y") -> Any:
    """Plot the interval band, the observations over it, and the flagged points.

    The band is drawn first and the observations as a thin line over it; flagged points
    (``is_anomaly``) are small red dots and alerts (``alert``, when the result has it) red
    triangles above the series, so that both stay visible on long series.

    Args:
        result: the frame returned by :func:`~arforecast.anomaly.detect_anomalies` or
            :meth:`~arforecast.anomaly.AnomalyDetector.update`.
        unique_id: which series to plot (needed when ``result`` holds several).
        ax: a matplotlib Axes to draw on (a new figure otherwise).
        windows: optional ``(start, end)`` pairs to shade (e.g. labelled anomaly windows); they
            appear in the legend as "labelled window".
        title: the title (default: the series' id).
        start, end: the time range to show (a zoom); default the whole series.
        mean: draw the forecast mean; default only for series of at most 500 points.

    Returns:
        The matplotlib Axes.

    Example:
        >>> import numpy as np, pandas as pd
        >>> from arforecast.anomaly import RollingZScore, detect_anomalies
        >>> y = pd.Series(np.sin(np.arange(120) / 4), index=pd.date_range("2024", periods=120, freq="h"))
        >>> ax = plot_anomalies(detect_anomalies(y, RollingZScore(window=12), start=24))
        >>> print(", ".join(ax.get_legend_handles_labels()[1]))
        99% interval, observed, forecast mean, flagged, alert
    """
    import matplotlib.pyplot as plt  # imported here: matplotlib is only needed for plots

    frame, unique_id = _one_series(result, unique_id, id_col)
    if start is not None:
        frame = frame[frame[time_col] >= pd.Timestamp(start)]
    if end is not None:
        frame = frame[frame[time_col] <= pd.Timestamp(end)]
    if ax is None:
        _, ax = plt.subplots(figsize=(12, 4))
    t = frame[time_col]
    level = result.attrs.get("level")
    band = "interval" if level is None else f"{100 * level:g}% interval"
    ax.fill_between(t, frame["lower"], frame["upper"], color="tab:blue", alpha=0.2, lw=0, label=band)
    ax.plot(t, frame[target_col], color="black", lw=0.6 if len(frame) > MEAN_LINE_MAX_POINTS else 0.9,
            label="observed")
    if mean if mean is not None else len(frame) <= MEAN_LINE_MAX_POINTS:
        ax.plot(t, frame["mean"], color="tab:blue", lw=0.8, alpha=0.8, label="forecast mean")
    flagged = frame[frame["is_anomaly"].astype(bool)]
    ax.scatter(flagged[time_col], flagged[target_col], color="red", s=10, lw=0, zorder=3, label="flagged")
    if "alert" in frame.columns:
        alerts = frame[frame["alert"].astype(bool)]
        top = np.nanmax(frame[target_col].to_numpy()) if len(frame) and frame[target_col].notna().any() else 0.0
        ax.scatter(alerts[time_col], np.full(len(alerts), top), marker="v", color="red", s=40, zorder=4,
                   label="alert")
    if len(t):
        t0, t1 = t.min(), t.max()
        labelled = False
        for a, b in windows:
            a, b = pd.Timestamp(a), pd.Timestamp(b)
            if b >= t0 and a <= t1:  # only the windows in view
                ax.axvspan(max(a, t0), min(b, t1), color="tab:orange", alpha=0.2, lw=0,
                           label=None if labelled else "labelled window")
                labelled = True
    ax.set_title(title if title is not None else (str(unique_id) if unique_id is not None else ""))
    ax.legend(loc="upper left", fontsize="small")
    return ax


def zoom_anomalies(result: pd.DataFrame, unique_id: Any = None, *, n: int = 3, width: int | None = None,
                   windows: Sequence[tuple] = (), id_col: str = "unique_id", time_col: str = "ds",
                   target_col: str = "y") -> Any:
    """The whole series on top and, below it, close-ups of ``width`` points around its first
    ``n`` alerts (or flagged points when the result has no ``alert`` column), one per stretch of
    ``width / 2`` points.

    Args:
        width: points per close-up; default a tenth of the series, at least 50.
        windows: labelled windows to shade, as in :func:`plot_anomalies`.

    Returns:
        The matplotlib Figure.

    Example:
        >>> import numpy as np, pandas as pd
        >>> from arforecast.anomaly import RollingZScore, detect_anomalies
        >>> y = pd.Series(np.sin(np.arange(600) / 4), index=pd.date_range("2024", periods=600, freq="h"))
        >>> y.iloc[400] += 5
        >>> fig = zoom_anomalies(detect_anomalies(y, RollingZScore(window=24), start=96), n=2)
        >>> len(fig.axes)
        2
    """
    import matplotlib.pyplot as plt

    frame, unique_id = _one_series(result, unique_id, id_col)
    frame = frame.reset_index(drop=True)
    column = "alert" if "alert" in frame.columns else "is_anomaly"
    width = int(width) if width is not None else max(50, len(frame) // 10)
    where: list[int] = []
    for i in np.flatnonzero(frame[column].to_numpy(dtype=bool)):
        if len(where) >= int(n):
            break
        if not where or i - where[-1] > width // 2:    # one close-up per stretch of width points
            where.append(int(i))
    fig, axes = plt.subplots(1 + len(where), 1, figsize=(12, 3 * (1 + len(where))), squeeze=False)
    opts = dict(windows=windows, id_col=id_col, time_col=time_col, target_col=target_col)
    plot_anomalies(frame, unique_id, ax=axes[0, 0], **opts)
    times = frame[time_col]
    for k, i in enumerate(where):
        a, b = max(0, i - width // 2), min(len(frame) - 1, i + width // 2)
        plot_anomalies(frame, unique_id, ax=axes[k + 1, 0], start=times.iloc[a], end=times.iloc[b],
                       title=f"{column} at {times.iloc[i]}", mean=True, **opts)
        axes[0, 0].axvspan(times.iloc[a], times.iloc[b], color="grey", alpha=0.15, lw=0)
    fig.tight_layout()
    return fig
