"""Benchmark forecasters: Naive, SeasonalNaive, Naive2, Mean (historic average), Drift.

Point forecasts are the textbook ones (they equal statsforecast's). Prediction intervals are
residual-based with Normal errors, as in Hyndman & Athanasopoulos, *Forecasting: Principles and
Practice* (3rd ed.), section 5.5, where ``sigma`` is the residual standard deviation with the
model's ``K`` parameters removed from the degrees of freedom (``sqrt(sum(e**2) / (T_e - K))``):

============== ======================================== ==================================
model          point forecast                           standard deviation at step ``h``
============== ======================================== ==================================
Mean           ``mean(y)``                              ``sigma * sqrt(1 + 1/T)``
Naive          ``y_T``                                  ``sigma * sqrt(h)``
SeasonalNaive  ``y_{T+h-m(k+1)}``, ``k=floor((h-1)/m)`` ``sigma * sqrt(k + 1)``
Drift          ``y_T + h (y_T - y_1) / (T - 1)``        ``sigma * sqrt(h (1 + h / (T - 1)))``
============== ======================================== ==================================

Sample paths are drawn from the same models (a random walk for Naive, one per season position
for SeasonalNaive, ...) so that their marginals match the analytic ones.

**Missing values** (NaN inside a series; a series always ends on an observation): Naive carries
the last observed value; SeasonalNaive the last observed value *at each phase* (``k`` seasons
further back where the last season's value is missing, its variance growing by ``k`` seasons of
steps; a phase never observed takes the last value before it); Naive2 takes its seasonal indices from the series with its holes interpolated and carries
the last observed adjusted value; Mean averages the observed values (``T`` = their count); Drift's
line joins the first and last observations, ``T - 1`` steps apart as before. Residuals are those
of the observed pairs (a residual that needs a missing value is skipped), so ``sigma`` counts them only.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from arforecast.base import Forecaster
from arforecast.data.panel import Panel
from arforecast.distributions import Normal
from arforecast.forecasts import Forecast
from arforecast.models.ar_auto import interpolated
from arforecast.models.seasonality import deseasonalize


def _rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(seed)


def _residual_sigma(residuals: list[np.ndarray], n_params: int) -> np.ndarray:
    """``sqrt(sum(e**2) / (len(e) - K))`` per series; NaN where there are too few residuals."""
    out = np.full(len(residuals), np.nan)
    for i, e in enumerate(residuals):
        e = e[~np.isnan(e)]                       # residuals that need a missing value are skipped
        dof = len(e) - n_params
        if dof > 0:
            out[i] = np.sqrt(np.sum(e ** 2) / dof)
    return out


class _Baseline(Forecaster):
    """Shared predict: closed-form point and sigma per step, Normal marginals, model-based paths."""

    def _predict(self, panel: Panel, h: int, num_samples: int | None, seed: int | None,
                 **options: Any) -> Forecast:
        if options:
            raise TypeError(f"{type(self).__name__}.predict() got unexpected options {sorted(options)}")
        point, sd = self._point_and_sd(panel, h)
        samples = None
        if num_samples is not None:
            samples = self._sample(panel, h, num_samples, _rng(seed))
        marginals = Normal(torch.from_numpy(point), torch.from_numpy(sd))
        return Forecast(panel, h, point, samples=samples, marginals=marginals, model=type(self).__name__)

    def _point_and_sd(self, panel: Panel, h: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _sample(self, panel: Panel, h: int, num_samples: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _fit(self, panel: Panel) -> None:
        # Baselines are local and cheap: forecasts are computed from whichever history predict
        # gets, so fitting only validates and remembers the data.
        self.sigma_ = self._sigma(panel)

    def _sigma(self, panel: Panel) -> np.ndarray:
        raise NotImplementedError


def _season_arg(m: Any) -> int:
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise ValueError(f"season_length must be a positive integer or None, got {m!r}")
    return int(m)


def _last_values(panel: Panel) -> np.ndarray:
    """Each series' last observed value (a cut of a series, e.g. a backtest window, may end on a hole)."""
    return panel.values[panel.indptr[1:] - 1 - _trailing_gaps(panel)]


def _trailing_gaps(panel: Panel) -> np.ndarray:
    """Missing values after each series' last observation (0 for a series as ``to_panel`` gives it)."""
    out = np.zeros(panel.n_series, dtype=np.int64)
    last = panel.values[panel.indptr[1:] - 1] if panel.n_series else np.zeros(0)
    for i in np.flatnonzero(np.isnan(last)):
        seen = np.flatnonzero(~np.isnan(panel.series(i)))
        out[i] = panel.lengths[i] - 1 - (seen[-1] if len(seen) else 0)
    return out


class Naive(_Baseline):
    """Last value carried forward (random walk).

    Example:
        >>> import pandas as pd
        >>> Naive().fit(pd.Series([1.0, 3.0, 2.0])).predict(2).mean["mean"].tolist()
        [2.0, 2.0]
    """

    @property
    def min_length(self) -> int:
        return 2

    def _sigma(self, panel: Panel) -> np.ndarray:
        return _residual_sigma([np.diff(panel.series(i)) for i in range(panel.n_series)], 0)

    def _point_and_sd(self, panel: Panel, h: int) -> tuple[np.ndarray, np.ndarray]:
        point = np.repeat(_last_values(panel)[:, None], h, axis=1)
        gap = _trailing_gaps(panel)[:, None]                     # steps since the last observation
        sd = self._sigma(panel)[:, None] * np.sqrt(np.arange(1, h + 1)[None, :] + gap)
        return point, sd

    def _sample(self, panel: Panel, h: int, num_samples: int, rng: np.random.Generator) -> np.ndarray:
        sigma = self._sigma(panel)
        steps = rng.standard_normal((panel.n_series, num_samples, h)) * sigma[:, None, None]
        steps[:, :, 0] *= np.sqrt(1 + _trailing_gaps(panel))[:, None]
        return _last_values(panel)[:, None, None] + np.cumsum(steps, axis=2)


class SeasonalNaive(_Baseline):
    """The value one season ago carried forward.

    Args:
        season_length: observations per season; ``None`` (default) takes the main season of the
            data's frequency (24 for hourly, 7 daily, 12 monthly, 4 quarterly, 1 yearly or
            integer time: :func:`arforecast.data.frequency.season_length`), and a series with no
            full season plus one value is forecast by its last value (season 1). The season
            used is ``season_length_`` after ``fit``.

    Example:
        >>> import pandas as pd
        >>> SeasonalNaive(2).fit(pd.Series([1.0, 2.0, 3.0, 4.0])).predict(3).mean["mean"].tolist()
        [3.0, 4.0, 3.0]
        >>> y = pd.Series(range(1, 9), index=pd.date_range("2024-01", periods=8, freq="QS"), dtype=float)
        >>> model = SeasonalNaive().fit(y)
        >>> model.season_length_, model.predict(2).mean["mean"].tolist()
        (4, [5.0, 6.0])
    """

    def __init__(self, season_length: int | None = None) -> None:
        self.season_length = season_length

    @property
    def min_length(self) -> int:
        return 2 if self.season_length is None else _season_arg(self.season_length) + 1

    def _describe_need(self) -> str:
        return f"(season_length={self.season_length})"

    def _fit(self, panel: Panel) -> None:
        self.season_length_ = panel.season_length if self.season_length is None else _season_arg(self.season_length)
        super()._fit(panel)

    def _seasons(self, panel: Panel) -> np.ndarray:
        """Season of each series: the fitted one, or 1 (naive) for a default season the series
        is too short for."""
        m = int(getattr(self, "season_length_", None) or _season_arg(self.season_length or 1))
        if self.season_length is None:
            return np.where(panel.lengths > m, m, 1)
        return np.full(panel.n_series, m)

    def _sigma(self, panel: Panel) -> np.ndarray:
        ms = self._seasons(panel)
        return _residual_sigma([panel.series(i)[m:] - panel.series(i)[:-m] for i, m in enumerate(ms)], 0)

    def _point_and_sd(self, panel: Panel, h: int) -> tuple[np.ndarray, np.ndarray]:
        ms = self._seasons(panel)
        width = int(ms.max()) if len(ms) else 1
        last = panel.padded(width)
        steps = np.arange(h)[None, :]
        m = ms[:, None]
        extra = np.zeros_like(last)                # seasons further back where a value is missing
        gaps = [i for i in range(panel.n_series) if np.isnan(last[i, width - int(ms[i]):]).any()]
        for i in gaps:
            y, mi = panel.series(i), int(ms[i])
            for j in range(width - mi, width):
                start = pos = len(y) - (width - j)
                k = 0
                while pos >= 0 and np.isnan(y[pos]):
                    pos, k = pos - mi, k + 1
                if pos < 0:                       # never observed at this phase: the last value before
                    seen = np.flatnonzero(~np.isnan(y[:start]))
                    pos = int(seen[-1]) if len(seen) else len(y) - 1
                    k = -(-(start - pos) // mi)
                last[i, j], extra[i, j] = y[pos], k
        cols = width - m + steps % m
        point = np.take_along_axis(last, cols, axis=1)
        sd = self._sigma(panel)[:, None] * np.sqrt(steps // m + 1 + np.take_along_axis(extra, cols, axis=1))
        return point, sd

    def _sample(self, panel: Panel, h: int, num_samples: int, rng: np.random.Generator) -> np.ndarray:
        point, sd = self._point_and_sd(panel, h)
        sigma = self._sigma(panel)
        noise = rng.standard_normal((panel.n_series, num_samples, h)) * sigma[:, None, None]
        ms = self._seasons(panel)
        first = np.arange(h)[None, :] < ms[:, None]                 # each phase's first step carries
        with np.errstate(invalid="ignore", divide="ignore"):        # the extra seasons of a missing value
            lead = np.where(first & (sigma[:, None] > 0), sd / sigma[:, None], 1.0)
        noise = noise * np.nan_to_num(lead, nan=1.0)[:, None, :]
        # each season position is its own random walk: cumulate every m-th step
        for m in np.unique(self._seasons(panel)):
            rows = np.flatnonzero(self._seasons(panel) == m)
            block = noise[rows]
            for start in range(min(int(m), h)):
                block[:, :, start::m] = np.cumsum(block[:, :, start::m], axis=2)
            noise[rows] = block
        return point[:, None, :] + noise


class Naive2(_Baseline):
    """The M4 benchmark: Naive on seasonally adjusted data, re-seasonalized.

    ``season_length=None`` (default) takes the main season of the data's frequency, as
    :class:`SeasonalNaive` does (``season_length_`` after ``fit``); a series shorter than three
    seasons is then not adjusted.

    A series is treated as seasonal when its autocorrelation at lag ``season_length`` exceeds
    the 90% limit ``1.645 * sqrt((1 + 2 * sum_{k<m} acf_k**2) / T)``; it is then adjusted by the
    indices of a classical multiplicative decomposition (statsmodels ``seasonal_decompose``).
    Intervals are Naive's on the adjusted scale, multiplied by the seasonal indices.

    Example:
        >>> import numpy as np, pandas as pd
        >>> y = pd.Series(10 + np.tile([1.0, 2.0, 3.0, 2.0], 10))
        >>> Naive2(4).fit(y).predict(4).mean["mean"].round(6).tolist()
        [11.0, 12.0, 13.0, 12.0]
    """

    def __init__(self, season_length: int | None = None) -> None:
        self.season_length = season_length

    @property
    def min_length(self) -> int:
        if self.season_length is None:
            return 2
        m = _season_arg(self.season_length)
        return 2 if m == 1 else 2 * m + 1

    def _describe_need(self) -> str:
        return f"(season_length={self.season_length})"

    def _fit(self, panel: Panel) -> None:
        self.season_length_ = panel.season_length if self.season_length is None else _season_arg(self.season_length)
        super()._fit(panel)

    def _adjusted(self, panel: Panel, h: int) -> tuple[list[np.ndarray], np.ndarray]:
        adjusted, future_index = [], np.ones((panel.n_series, h))
        m = int(getattr(self, "season_length_", None) or _season_arg(self.season_length or 1))
        for i in range(panel.n_series):
            y = panel.series(i)
            si_in, si_out = deseasonalize(interpolated(y), m, h)
            adjusted.append(y / si_in)
            future_index[i] = si_out
        return adjusted, future_index

    def _sigma(self, panel: Panel) -> np.ndarray:
        adjusted, _ = self._adjusted(panel, 1)
        return _residual_sigma([np.diff(a) for a in adjusted], 0)

    def _point_and_sd(self, panel: Panel, h: int) -> tuple[np.ndarray, np.ndarray]:
        adjusted, si_out = self._adjusted(panel, h)
        last = np.array([a[~np.isnan(a)][-1] for a in adjusted])          # the last observed
        sigma = _residual_sigma([np.diff(a) for a in adjusted], 0)
        point = last[:, None] * si_out
        sd = sigma[:, None] * np.sqrt(np.arange(1, h + 1))[None, :] * si_out
        return point, sd

    def _sample(self, panel: Panel, h: int, num_samples: int, rng: np.random.Generator) -> np.ndarray:
        adjusted, si_out = self._adjusted(panel, h)
        last = np.array([a[~np.isnan(a)][-1] for a in adjusted])
        sigma = _residual_sigma([np.diff(a) for a in adjusted], 0)
        steps = rng.standard_normal((panel.n_series, num_samples, h)) * sigma[:, None, None]
        return (last[:, None, None] + np.cumsum(steps, axis=2)) * si_out[:, None, :]


class Mean(_Baseline):
    """The historic average of each series.

    Example:
        >>> import pandas as pd
        >>> Mean().fit(pd.Series([1.0, 2.0, 6.0])).predict(2).mean["mean"].tolist()
        [3.0, 3.0]
    """

    @property
    def min_length(self) -> int:
        return 2

    def _sigma(self, panel: Panel) -> np.ndarray:
        means = self._means(panel)
        return _residual_sigma([panel.series(i) - means[i] for i in range(panel.n_series)], 1)

    @staticmethod
    def _counts(panel: Panel) -> np.ndarray:
        """Observed values of each series (missing ones are ignored)."""
        return np.add.reduceat((~np.isnan(panel.values)).astype(np.int64), panel.indptr[:-1])

    def _means(self, panel: Panel) -> np.ndarray:
        return np.add.reduceat(np.nan_to_num(panel.values), panel.indptr[:-1]) / self._counts(panel)

    def _point_and_sd(self, panel: Panel, h: int) -> tuple[np.ndarray, np.ndarray]:
        point = np.repeat(self._means(panel)[:, None], h, axis=1)
        sd = (self._sigma(panel) * np.sqrt(1 + 1 / self._counts(panel)))[:, None] * np.ones(h)
        return point, sd

    def _sample(self, panel: Panel, h: int, num_samples: int, rng: np.random.Generator) -> np.ndarray:
        sigma, n = self._sigma(panel), self._counts(panel)
        level = self._means(panel)[:, None] + (sigma / np.sqrt(n))[:, None] * rng.standard_normal((panel.n_series, num_samples))
        return level[:, :, None] + sigma[:, None, None] * rng.standard_normal((panel.n_series, num_samples, h))


class Drift(_Baseline):
    """Naive plus the average historical change (a line through the first and last values).

    Example:
        >>> import pandas as pd
        >>> Drift().fit(pd.Series([1.0, 2.0, 4.0])).predict(2).mean["mean"].tolist()
        [5.5, 7.0]
    """

    @property
    def min_length(self) -> int:
        return 3

    def _slopes(self, panel: Panel) -> np.ndarray:
        first = panel.values[panel.indptr[:-1]]
        return (_last_values(panel) - first) / (panel.lengths - 1 - _trailing_gaps(panel))

    def _sigma(self, panel: Panel) -> np.ndarray:
        slopes = self._slopes(panel)
        return _residual_sigma([np.diff(panel.series(i)) - slopes[i] for i in range(panel.n_series)], 1)

    def _point_and_sd(self, panel: Panel, h: int) -> tuple[np.ndarray, np.ndarray]:
        steps = np.arange(1, h + 1)[None, :] + _trailing_gaps(panel)[:, None]
        point = _last_values(panel)[:, None] + steps * self._slopes(panel)[:, None]
        T = (panel.lengths - _trailing_gaps(panel))[:, None]
        sd = self._sigma(panel)[:, None] * np.sqrt(steps * (1 + steps / (T - 1)))
        return point, sd

    def _sample(self, panel: Panel, h: int, num_samples: int, rng: np.random.Generator) -> np.ndarray:
        point, _ = self._point_and_sd(panel, h)
        gap = _trailing_gaps(panel)
        sigma, T = self._sigma(panel), panel.lengths - gap
        steps = np.arange(1, h + 1)[None, None, :] + gap[:, None, None]
        slope_err = (sigma / np.sqrt(T - 1))[:, None, None] * rng.standard_normal((panel.n_series, num_samples, 1))
        noise = rng.standard_normal((panel.n_series, num_samples, h))
        noise[:, :, 0] *= np.sqrt(1 + gap)[:, None]
        walk = np.cumsum(noise, axis=2) * sigma[:, None, None]
        return point[:, None, :] + steps * slope_err + walk
