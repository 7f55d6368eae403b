"""Forecast: one result object for point and probabilistic forecasts.

It holds, for ``n`` series and horizon ``h``:

* ``point``: ``[n, h]`` point forecast (the model's mean forecast);
* ``samples``: ``[n, num_samples, h]`` sample paths when samples were asked for;
* ``marginals``: a distribution of batch shape ``[n, h]`` with each step's exact predictive
  distribution, where the model has it in closed form (AR and the baselines: Normal).

Quantiles and intervals come from ``marginals`` when present (exact) and from ``samples``
otherwise. **Sampled quantiles** use one definition everywhere: Hyndman & Fan type 6 (numpy's
``method="weibull"``), which takes the ``k``-th of ``S`` sorted samples as the ``k / (S + 1)``
quantile. That is the expected value of the predictive CDF at that order statistic, so a central
``level`` interval read off ``S`` sample paths covers a new draw from the same law with
probability ``level`` whatever ``S``; numpy's default (type 7) puts the bounds further in and
covers less (95% intervals from 100 paths: 93.1%, from 200: 94.1%).
Every accessor returns the same shape whatever the input's layout: a long frame ``<id>, <time>,
<value columns>`` with the caller's id and time column names (``unique_id, ds`` for a Series or
a wide frame); ``layout="wide"`` or ``layout="series"`` asks for another arrangement (the table
is in docs/data.md).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from arforecast.data.panel import Panel
from arforecast.levels import as_level, as_levels, as_quantiles, interval_quantiles

#: the arrangements an accessor can return (see :meth:`Forecast.to_frame` and docs/data.md)
LAYOUTS = ("long", "wide", "series")


def quantile_column(q: float) -> str:
    """Name of the column holding quantile ``q`` in long frames, e.g. ``"q0.025"``."""
    return f"q{q:g}"


def sample_quantiles(samples: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """Type-6 quantiles of ``samples [n, S, h]`` -> ``[len(qs), n, h]`` (NaN where S == 0)."""
    return np.quantile(samples, np.asarray(qs, dtype=np.float64), axis=1, method="weibull")


class Forecast:
    """Point forecasts, sample paths and marginal distributions of a panel, with future timestamps.

    Example:
        >>> import arforecast as af
        >>> y = pd.Series(np.arange(30.0), index=pd.date_range("2024-01-01", periods=30, freq="D"))
        >>> fc = af.Naive().fit(y).predict(3)
        >>> fc.mean.columns.tolist(), fc.mean["mean"].tolist()
        (['unique_id', 'ds', 'mean'], [29.0, 29.0, 29.0])
        >>> lower, upper = fc.interval(90, layout="series")
        >>> bool((lower < fc.point[0]).all())
        True
    """

    def __init__(self, panel: Panel, h: int, point: np.ndarray, samples: np.ndarray | None = None,
                 marginals: Any = None, model: str | None = None,
                 log_prob: np.ndarray | None = None) -> None:
        self.panel = panel
        self.h = int(h)
        self.point = np.asarray(point, dtype=np.float64)
        self.samples = None if samples is None else np.asarray(samples, dtype=np.float64)
        self.marginals = marginals
        self.model = model
        self.log_prob = log_prob
        expected = (panel.n_series, self.h)
        if self.point.shape != expected:
            raise ValueError(f"point forecast has shape {self.point.shape}, expected {expected}")
        if self.samples is not None and (self.samples.ndim != 3 or self.samples.shape[0] != expected[0]
                                         or self.samples.shape[2] != expected[1]):
            raise ValueError(f"samples have shape {self.samples.shape}, expected [n, S, h] with "
                             f"n={expected[0]}, h={expected[1]}")
        self._index: list[pd.Index] | None = None
        self._flat: pd.Index | None = None

    @property
    def index(self) -> list[pd.Index]:
        """The future timestamps (or integer steps) of each series, built on first use."""
        if self._index is None:
            self._index = [self.panel.future_index(i, self.h) for i in range(self.panel.n_series)]
        return self._index

    def _times(self) -> pd.Index:
        """All future timestamps, flat (series after series): one array computation."""
        if self._flat is None:
            self._flat = self.panel.future_times(self.h)
        return self._flat

    # ------------------------------------------------------------------ arrays
    @property
    def ids(self) -> np.ndarray:
        return self.panel.ids

    @property
    def num_samples(self) -> int:
        return 0 if self.samples is None else int(self.samples.shape[1])

    def quantile_values(self, qs: float | Sequence[float]) -> np.ndarray:
        """Quantiles as an array: ``[n, h]`` for one ``q``, ``[len(qs), n, h]`` for a list."""
        scalar = np.ndim(qs) == 0
        qs_arr = np.asarray(as_quantiles(qs), dtype=np.float64)
        if self.marginals is not None:
            out = np.stack([_to_numpy(self.marginals.quantile(float(q))) for q in qs_arr])
        elif self.samples is not None:
            out = sample_quantiles(self.samples, qs_arr)
        else:
            raise ValueError("this forecast has no predictive distribution: call "
                             "predict(h, num_samples=...) to get sample paths")
        return out[0] if scalar else out

    def interval_values(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """Central interval with coverage ``level`` (0.95 or 95) as two ``[n, h]`` arrays."""
        lo, hi = self.quantile_values(list(interval_quantiles(as_level(level))))
        return lo, hi

    # ------------------------------------------------------------------ pandas views
    @property
    def id_col(self) -> str:
        """Name of the id column of long outputs: the caller's for long input, else ``unique_id``."""
        lay = self.panel.layout
        return lay.id_col if lay.kind == "long" else "unique_id"

    @property
    def time_col(self) -> str:
        """Name of the time column of long outputs: the caller's for long input, else ``ds``."""
        lay = self.panel.layout
        return lay.time_col if lay.kind == "long" else "ds"

    def _arrange(self, blocks: dict[str, np.ndarray], layout: str, single: bool) -> Any:
        """``[n, h]`` arrays (one per value column) in ``layout``; ``single``: one value asked for."""
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        id_col, time_col, n = self.id_col, self.time_col, self.panel.n_series
        if layout == "long":
            times = self._times() if n else pd.Index([])
            frame = pd.DataFrame({id_col: np.repeat(self.ids, self.h), time_col: times})
            for key, arr in blocks.items():
                frame[key] = arr.reshape(-1)
            return frame
        if layout == "series":
            if n != 1:
                raise ValueError(f"layout='series' needs a forecast of one series, this one has {n}; use "
                                 "layout='long' or 'wide', or forecast one series (predict(h, y=...))")
            index = self.index[0].rename(time_col)
            if single:
                (key, arr), = blocks.items()
                return pd.Series(arr[0], index=index, name=key)
            return pd.DataFrame({key: arr[0] for key, arr in blocks.items()}, index=index)
        lay = self.panel.layout
        columns = pd.Index(list(self.ids), name=lay.name if lay.kind == "wide" else id_col)
        frames = {}
        for key, arr in blocks.items():
            df = pd.concat([pd.Series(arr[i], index=ix) for i, ix in enumerate(self.index)], axis=1) if n \
                else pd.DataFrame()
            df.columns = columns
            df.index.name = time_col
            frames[key] = df
        if single:
            return next(iter(frames.values()))
        return pd.concat(frames, axis=1, names=["value", columns.name])

    @property
    def mean(self) -> pd.DataFrame:
        """The point forecast as a long frame ``<id>, <time>, mean`` (see :meth:`to_frame` for other layouts)."""
        return self._arrange({"mean": self.point}, "long", True)

    @property
    def median(self) -> pd.DataFrame:
        """The predictive median as a long frame ``<id>, <time>, median``."""
        return self._arrange({"median": self.quantile_values(0.5)}, "long", True)

    def quantile(self, q: float | Sequence[float], *, layout: str = "long") -> Any:
        """Quantile(s) ``q`` of each step's predictive distribution, one ``q<p>`` column each.

        ``layout``: ``"long"`` (a frame ``<id>, <time>, q0.1, ...``), ``"wide"`` (time x series;
        with a list of ``q``, columns ``(q<p>, series)``) or ``"series"`` (one series: a Series
        for one ``q``, a frame for a list).
        """
        qs = as_quantiles(q)
        values = self.quantile_values(qs)
        return self._arrange({quantile_column(x): values[k] for k, x in enumerate(qs)}, layout, np.ndim(q) == 0)

    def interval(self, level: float = 0.95, *, layout: str = "long") -> tuple[Any, Any]:
        """``(lower, upper)`` bounds of the central ``level`` interval (``0.95`` or ``95``).

        Each bound has one value column (``lower``, ``upper``) in ``layout``: a long frame
        (default), a wide frame (time x series) or a Series (one series).
        """
        lo, hi = self.interval_values(level)
        return self._arrange({"lower": lo}, layout, True), self._arrange({"upper": hi}, layout, True)

    def to_frame(self, quantiles: float | Sequence[float] = (), levels: float | Sequence[float] = (), *,
                 layout: str = "long") -> pd.DataFrame:
        """The mean plus one ``q<p>`` column per quantile, as one frame.

        ``levels`` (fractions or percentages: ``0.95`` or ``95``) add the two quantiles of each
        central interval (``95`` -> ``q0.025``, ``q0.975``). ``layout``: ``"long"`` (default:
        ``<id>, <time>, mean, q...``), ``"wide"`` (time x columns ``(value, series)``) or
        ``"series"`` (one series: time x ``mean, q...``).
        """
        qs = sorted(set(as_quantiles(quantiles)) | {q for lv in as_levels(levels) for q in interval_quantiles(lv)})
        blocks = {"mean": self.point}
        if qs:
            values = self.quantile_values(qs)
            blocks.update({quantile_column(q): values[k] for k, q in enumerate(qs)})
        return self._arrange(blocks, layout, False)

    def plot(self, *args: Any, **kwargs: Any) -> Any:
        """Fan chart of history and nested intervals (see :func:`arforecast.plotting.plot_forecast`)."""
        from arforecast.plotting import plot_forecast
        return plot_forecast(self, *args, **kwargs)

    def __repr__(self) -> str:
        kind = "marginals" if self.marginals is not None else ("samples" if self.samples is not None else "point")
        return (f"Forecast(model={self.model!r}, n_series={self.panel.n_series}, h={self.h}, "
                f"num_samples={self.num_samples}, distribution={kind})")


def _to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)
