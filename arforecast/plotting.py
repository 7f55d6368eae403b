"""Pictures: fan charts of forecasts (matplotlib, an optional dependency: ``pip install arforecast[plot]``)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from arforecast.levels import as_levels


def _pyplot() -> Any:
    try:
        import matplotlib
        if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
            import os
            if not os.environ.get("DISPLAY"):
                matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install 'arforecast[plot]'") from err
    return plt


def plot_forecast(forecast: Any, series: Sequence[Any] | Any | None = None, history: int | None = 200,
                  levels: Sequence[float] = (0.5, 0.8, 0.95), actual: Any = None, n_paths: int = 0,
                  ax: Any = None, path: str | None = None) -> Any:
    """Fan chart: the recent history, the point forecast and nested central intervals.

    Args:
        forecast: a :class:`~arforecast.Forecast`.
        series: id(s) of the series to draw (default: the first, up to 4 if a list is given).
        history: how many past observations to show (None: all).
        levels: nested interval levels (fractions or percentages), drawn from widest (lightest) to narrowest.
        actual: optional data (any layout the model accepts) holding what really happened.
        n_paths: also draw this many sample paths, when the forecast has samples.
        ax: a matplotlib Axes (one series) to draw into; else a new figure is made.
        path: if given, save the figure there (PNG).

    Returns:
        the matplotlib Figure.

    Example:
        >>> import numpy as np, pandas as pd, arforecast as af
        >>> y = pd.Series(np.sin(np.arange(96) / 4) + 5, index=pd.date_range("2024", periods=96, freq="h"))
        >>> fig = af.SeasonalNaive(24).fit(y).predict(24).plot()
    """
    plt = _pyplot()
    panel = forecast.panel
    ids = list(panel.ids)
    if series is None:
        wanted = [ids[0]]
    elif isinstance(series, (list, tuple, np.ndarray)):
        wanted = list(series)
    else:
        wanted = [series]
    missing = [s for s in wanted if s not in ids]
    if missing:
        raise ValueError(f"series {missing} not in this forecast; it has {ids[:5]}{'...' if len(ids) > 5 else ''}")
    if ax is not None and len(wanted) != 1:
        raise ValueError("ax= draws one series; pass a single id")
    if ax is None:
        fig, axes = plt.subplots(len(wanted), 1, figsize=(10, 3.2 * len(wanted)), squeeze=False)
        axes = axes[:, 0]
    else:
        fig, axes = ax.figure, [ax]
    actual_panel = None
    if actual is not None:
        from arforecast.data.frames import to_panel
        actual_panel = to_panel(actual)
    has_dist = forecast.marginals is not None or forecast.samples is not None
    for a, uid in zip(axes, wanted):
        i = ids.index(uid)
        past_x, past_y = panel.time_index(i), panel.series(i)
        if history is not None:
            past_x, past_y = past_x[-history:], past_y[-history:]
        a.plot(past_x, past_y, color="black", lw=1.0, label="history")
        fx = forecast.index[i]
        if has_dist:
            for k, level in enumerate(sorted(as_levels(levels), reverse=True)):
                lo, hi = forecast.interval_values(level)
                shade = 0.15 + 0.2 * k
                a.fill_between(fx, lo[i], hi[i], color="tab:blue", alpha=shade, lw=0,
                               label=f"{int(round(level * 100))}% interval")
        if n_paths and forecast.samples is not None:
            for s in range(min(n_paths, forecast.num_samples)):
                a.plot(fx, forecast.samples[i, s], color="tab:blue", lw=0.5, alpha=0.5)
        a.plot(fx, forecast.point[i], color="tab:blue", lw=1.6, label="forecast")
        if actual_panel is not None and uid in list(actual_panel.ids):
            k = list(actual_panel.ids).index(uid)
            ax_idx = actual_panel.time_index(k)
            keep = ax_idx.isin(fx)
            a.plot(ax_idx[keep], actual_panel.series(k)[keep], color="tab:red", lw=1.0, label="actual")
        a.set_title(f"{uid} - {forecast.model or 'forecast'}")
        a.legend(loc="upper left", fontsize=8, ncol=3)
    fig.autofmt_xdate()
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
