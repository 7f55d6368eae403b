"""The rolling z-score detector, written as a forecaster so it runs through the same detector.

``RollingZScore(window)`` forecasts the next value as ``Normal(m, s)`` with ``m`` and ``s`` the
mean and standard deviation (``ddof=1``) of the last ``window`` values. Flagging a point outside
the central ``level`` interval is then the classic rule ``|y - m| / s > z`` with
``z = Phi^-1((1 + level) / 2)`` (``level=0.997`` is the "3 sigma" rule). It implements the rollout
protocol (its state is the last ``window`` values), so it is scored exactly like AR or NeuralAR.

Example:
    >>> import pandas as pd
    >>> fc = RollingZScore(window=3).fit(pd.Series([1.0, 2.0, 3.0, 4.0])).predict(2)
    >>> fc.mean["mean"].tolist(), round(float(fc.marginals.scale[0, 0]), 4)
    ([3.0, 3.0], 1.0)
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from arforecast.base import Forecaster
from arforecast.data.panel import Panel
from arforecast.distributions import Normal
from arforecast.forecasts import Forecast
from arforecast.rollout.protocol import Context, State

#: the shortest window chosen from the data (a season of daily data, 7, is too few for a spread)
MIN_DEFAULT_WINDOW = 30
#: floor on the scale relative to the window's largest value, so a flat window gives a tiny (not zero) spread
_SCALE_FLOOR = 1e-9
#: the spread of an all-zero window
_TINY = 1e-300


class RollingZScore(Forecaster):
    """Mean and standard deviation of the last ``window`` values as a Normal forecast.

    Args:
        window: number of past values (at least 2); ``None`` (default): one season of the data's
            frequency (:func:`arforecast.data.frequency.season_length`: a day of hourly or
            5-minute data, a week of daily data), and at least ``MIN_DEFAULT_WINDOW`` values.
            The window used is ``window_`` after ``fit``.

    Example:
        >>> import numpy as np, pandas as pd
        >>> y = pd.Series(np.arange(100.0), index=pd.date_range("2024", periods=100, freq="5min"))
        >>> RollingZScore().fit(y).window_
        288
    """

    def __init__(self, window: int | None = None) -> None:
        self.window = window

    @property
    def min_length(self) -> int:
        return 2 if self.window is None else self._w()

    def _describe_need(self) -> str:
        return f"(window={self.window})"

    @property
    def context_width(self) -> int:
        """Values the rollout state holds (see :mod:`arforecast.rollout.protocol`)."""
        return self._w()

    def _w(self) -> int:
        w = getattr(self, "window_", None) if self.window is None else self.window
        if w is None:
            raise ValueError("RollingZScore(window=None) takes its window from the data: fit it first")
        if isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 2:
            raise ValueError(f"window must be an integer >= 2, got {w!r}")
        return int(w)

    def _fit(self, panel: Panel) -> None:
        # nothing to learn but the window: the forecast is a function of the last values
        self.window_ = self._w() if self.window is not None else max(panel.season_length, MIN_DEFAULT_WINDOW)

    def _predict(self, panel: Panel, h: int, num_samples: int | None, seed: int | None,
                 **options: Any) -> Forecast:
        if options:
            raise TypeError(f"RollingZScore.predict() got unexpected options {sorted(options)}")
        dist = self.distribution(self.start(Context.from_list([panel.series(i) for i in range(panel.n_series)])))
        loc = dist.loc.numpy()[:, None].repeat(h, axis=1)
        scale = dist.scale.numpy()[:, None].repeat(h, axis=1)
        samples = None
        if num_samples is not None:
            rng = np.random.default_rng(seed)
            samples = loc[:, None, :] + scale[:, None, :] * rng.standard_normal((panel.n_series, num_samples, h))
        return Forecast(panel, h, loc, samples=samples,
                        marginals=Normal(torch.from_numpy(loc), torch.from_numpy(scale)), model="RollingZScore")

    # ------------------------------------------------------------------ rollout protocol
    def start(self, context: Context) -> State:
        w = self._w()
        values = context.values[:, -w:]
        if values.shape[1] < w:
            pad = torch.full((values.shape[0], w - values.shape[1]), float("nan"), dtype=torch.float64)
            values = torch.cat([pad, values], dim=1)
        return {"window": values.to(torch.float64)}

    def distribution(self, state: State) -> Normal:
        win = state["window"]
        mean = torch.nanmean(win, dim=1)
        n = (~torch.isnan(win)).sum(dim=1)
        var = torch.nansum((win - mean[:, None]) ** 2, dim=1) / (n - 1).clamp(min=1)
        # relative floors only, so that rescaling the data rescales the forecast exactly
        size = torch.nan_to_num(win.abs(), nan=0.0).amax(dim=1)
        scale = torch.maximum(torch.sqrt(var), _SCALE_FLOOR * size).clamp(min=_TINY)
        return Normal(mean, scale)

    def advance(self, state: State, value: torch.Tensor) -> State:
        win = state["window"]
        return {"window": torch.cat([win[:, 1:], value.to(win.dtype).reshape(-1, 1)], dim=1)}
