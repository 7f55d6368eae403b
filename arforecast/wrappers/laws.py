"""Predictive laws the wrappers build from other laws (batch shape ``[n, h]``, float64 tensors).

* :class:`ScoreLaw`: ``loc + scale * S`` with ``S`` a set of calibration scores (conformal);
* :class:`RowStack`: rows of a panel taken from different laws (per-series fallback);
* :class:`Mixture` and :class:`QuantileAverage`: weighted combinations (ensembles).

Each offers ``mean``, ``mode``, ``icdf``, ``quantile`` and ``cdf`` like
:class:`arforecast.distributions.Distribution`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from arforecast.distributions import Distribution, Normal

_BISECTIONS = 60


def _t(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float64)) if not isinstance(x, torch.Tensor) else x.double()


def _np(x: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def score_quantiles(table: np.ndarray, counts: np.ndarray, index: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Type-6 quantile ``u`` of score set ``index`` (rows of the sorted, inf-padded ``table``).

    The ``k``-th smallest of ``n`` scores is the ``k / (n + 1)`` quantile, linear in between and
    flat beyond the smallest and largest score (as :func:`arforecast.forecasts.sample_quantiles`).
    ``index`` and ``u`` broadcast.
    """
    index, u = np.broadcast_arrays(np.asarray(index), np.asarray(u, dtype=np.float64))
    n = counts[index]
    pos = np.clip(u * (n + 1) - 1, 0, n - 1)                  # 0-based fractional order statistic
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    frac = pos - lo
    a, b = table[index, lo], table[index, hi]
    return a + frac * (b - a)


class ScoreLaw(Distribution):
    """``loc + scale * S`` where ``S`` follows the type-6 interpolated law of a set of scores.

    ``table [T, R]`` holds ``T`` sorted score sets (``+inf`` past ``counts[t]``); element ``b`` of
    the batch uses set ``index[b]``. The law puts ``1 / (n + 1)`` of mass at each end score
    and spreads the rest linearly between consecutive scores, so ``icdf(k / (n + 1))`` is the
    ``k``-th score and a new exchangeable score falls below ``icdf(q)`` with probability ``q``
    (between consecutive order statistics, up to interpolation).

    Example:
        >>> law = ScoreLaw(np.zeros((1, 1)), np.ones((1, 1)), np.array([[-2.0, 0.0, 1.0, 5.0]]),
        ...                np.array([4]), np.zeros((1, 1), dtype=np.int64))
        >>> float(law.quantile(0.2)), float(law.quantile(0.7)), float(law.cdf(torch.tensor([[0.5]])))
        (-2.0, 3.0, 0.5)
    """

    def __init__(self, loc: np.ndarray, scale: np.ndarray, table: np.ndarray, counts: np.ndarray,
                 index: np.ndarray) -> None:
        self.loc, self.scale = np.asarray(loc, dtype=np.float64), np.asarray(scale, dtype=np.float64)
        self.table, self.counts, self.index = table, np.asarray(counts, dtype=np.int64), np.asarray(index)

    def _set_means(self) -> np.ndarray:
        n = self.counts
        valid = np.arange(self.table.shape[1])[None, :] < n[:, None]
        total = np.where(valid, self.table, 0.0).sum(axis=1)
        first, last = self.table[:, 0], self.table[np.arange(len(n)), n - 1]
        return (total + (first + last) / 2) / (n + 1)          # the integral of the quantile function

    @property
    def mean(self) -> torch.Tensor:
        return torch.from_numpy(self.loc + self.scale * self._set_means()[self.index])

    @property
    def mode(self) -> torch.Tensor:
        return self.icdf(torch.full(self.loc.shape, 0.5, dtype=torch.float64))

    def values_at(self, u: np.ndarray) -> np.ndarray:
        """``icdf`` in numpy; ``u`` broadcasts against the batch (e.g. ``[n, S, h]`` with ``loc[:, None]``)."""
        u = np.asarray(u, dtype=np.float64)
        extra = u.ndim - self.loc.ndim
        loc, scale, index = self.loc, self.scale, self.index
        if extra > 0:   # sample axes sit between the series and the step axes
            shape = loc.shape[:1] + (1,) * extra + loc.shape[1:]
            loc, scale, index = loc.reshape(shape), scale.reshape(shape), index.reshape(shape)
        return loc + scale * score_quantiles(self.table, self.counts, index, u)

    def icdf(self, u: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.values_at(_np(u)))

    def quantile(self, q: float | torch.Tensor) -> torch.Tensor:
        return self.icdf(torch.as_tensor(q, dtype=torch.float64).expand(self.loc.shape))

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        z = ((_np(x) - self.loc) / self.scale).ravel()
        idx = np.broadcast_to(self.index, self.loc.shape).ravel()
        out = np.full(len(z), np.nan)
        for t in np.unique(idx):                       # one vectorized search per score set
            sel = np.flatnonzero((idx == t) & ~np.isnan(z))
            n = int(self.counts[t])
            row = self.table[t, :n]
            j = np.searchsorted(row, z[sel], side="right")         # scores <= z
            inner = (j > 0) & (j < n)
            lo, hi = row[np.clip(j - 1, 0, n - 1)], row[np.clip(j, 0, n - 1)]
            with np.errstate(divide="ignore", invalid="ignore"):
                frac = np.where(inner, (z[sel] - lo) / (hi - lo), 0.0)
            out[sel] = np.where(j == 0, 0.0, np.where(j == n, 1.0, (j + frac) / (n + 1)))
        return torch.from_numpy(out.reshape(self.loc.shape))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("a conformal law has no density")


class RowStack(Distribution):
    """A ``[n, h]`` law whose rows ``rows[k]`` come from ``laws[k]`` (each ``[len(rows[k]), h]``)."""

    def __init__(self, laws: Sequence[Distribution], rows: Sequence[np.ndarray], n: int) -> None:
        self.laws, self.rows, self.n = list(laws), [np.asarray(r, dtype=np.int64) for r in rows], int(n)

    def _gather(self, parts: list[torch.Tensor]) -> torch.Tensor:
        out = None
        for part, rows in zip(parts, self.rows):
            part = _t(part)
            if out is None:
                out = torch.empty((self.n,) + tuple(part.shape[1:]), dtype=torch.float64)
            out[torch.from_numpy(rows)] = part
        return out

    def _split(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = _t(x)
        return [x.index_select(0, torch.from_numpy(rows)) for rows in self.rows]

    @property
    def mean(self) -> torch.Tensor:
        return self._gather([law.mean for law in self.laws])

    @property
    def mode(self) -> torch.Tensor:
        return self._gather([law.mode for law in self.laws])

    def icdf(self, u: torch.Tensor) -> torch.Tensor:
        return self._gather([law.icdf(part) for law, part in zip(self.laws, self._split(u))])

    def quantile(self, q: float | torch.Tensor) -> torch.Tensor:
        return self._gather([law.quantile(q) for law in self.laws])

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        return self._gather([law.cdf(part) for law, part in zip(self.laws, self._split(x))])


def stack_rows(laws: Sequence[Distribution | None], rows: Sequence[np.ndarray], n: int) -> Distribution | None:
    """One law for the whole panel: Normals merge into one Normal; ``None`` if a part has none."""
    if any(law is None for law in laws):
        return None
    if all(type(law) is Normal for law in laws):
        loc = torch.empty((n,) + tuple(laws[0].loc.shape[1:]), dtype=torch.float64)
        scale = torch.empty_like(loc)
        for law, r in zip(laws, rows):
            idx = torch.from_numpy(np.asarray(r, dtype=np.int64))
            loc[idx], scale[idx] = _t(law.loc), _t(law.scale)
        return Normal(loc, scale)
    return RowStack(laws, rows, n)


class RowSubset(Distribution):
    """Rows ``rows`` of a ``[n, h]`` law."""

    def __init__(self, law: Distribution, rows: np.ndarray) -> None:
        self.law, self.idx = law, torch.from_numpy(np.asarray(rows, dtype=np.int64))

    def _full(self, x: torch.Tensor, fill: float | None) -> torch.Tensor:
        ref = _t(self.law.mean)
        full = ref.clone() if fill is None else torch.full_like(ref, fill)
        full[self.idx] = _t(x)
        return full

    def _rows(self, x: torch.Tensor) -> torch.Tensor:
        return _t(x).index_select(0, self.idx)

    @property
    def mean(self) -> torch.Tensor:
        return self._rows(self.law.mean)

    @property
    def mode(self) -> torch.Tensor:
        return self._rows(self.law.mode)

    def icdf(self, u: torch.Tensor) -> torch.Tensor:
        return self._rows(self.law.icdf(self._full(u, 0.5)))

    def quantile(self, q: float | torch.Tensor) -> torch.Tensor:
        return self._rows(self.law.quantile(q))

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        return self._rows(self.law.cdf(self._full(x, None)))


def subset_rows(law: Distribution, rows: np.ndarray) -> Distribution:
    """Rows ``rows`` of ``law``: a Normal stays a Normal."""
    if type(law) is Normal:
        idx = torch.from_numpy(np.asarray(rows, dtype=np.int64))
        return Normal(_t(law.loc).index_select(0, idx), _t(law.scale).index_select(0, idx))
    return RowSubset(law, rows)


class _Combination(Distribution):
    """Shared by the ensemble laws: members' laws and their weights (summing to 1)."""

    def __init__(self, laws: Sequence[Distribution], weights: Sequence[float]) -> None:
        self.laws, self.weights = list(laws), [float(w) for w in weights]

    @property
    def mean(self) -> torch.Tensor:
        return sum(w * _t(law.mean) for w, law in zip(self.weights, self.laws))

    @property
    def mode(self) -> torch.Tensor:
        return self.icdf(torch.full_like(_t(self.laws[0].mean), 0.5))

    def quantile(self, q: float | torch.Tensor) -> torch.Tensor:
        ref = _t(self.laws[0].mean)
        return self.icdf(torch.as_tensor(q, dtype=torch.float64).expand_as(ref))

    def _bisect(self, f, target: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
        """Solve increasing ``f(x) = target`` elementwise in ``[lo, hi]``."""
        for _ in range(_BISECTIONS):
            mid = (lo + hi) / 2
            below = f(mid) < target
            lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
        return (lo + hi) / 2


class Mixture(_Combination):
    """The weighted mixture of members' laws: ``cdf = sum_m w_m cdf_m``; quantiles by bisection."""

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        return sum(w * _t(law.cdf(x)) for w, law in zip(self.weights, self.laws))

    def icdf(self, u: torch.Tensor) -> torch.Tensor:
        u = _t(u)
        each = torch.stack([_t(law.icdf(u)) for law in self.laws])
        return self._bisect(self.cdf, u, each.min(0).values, each.max(0).values)


class QuantileAverage(_Combination):
    """Quantile averaging (Vincentization): ``icdf(u) = sum_m w_m icdf_m(u)``."""

    def icdf(self, u: torch.Tensor) -> torch.Tensor:
        u = _t(u)
        return sum(w * _t(law.icdf(u)) for w, law in zip(self.weights, self.laws))

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        x = _t(x)
        lo, hi = torch.zeros_like(x), torch.ones_like(x)
        return self._bisect(lambda u: self.icdf(u.clamp(1e-12, 1 - 1e-12)), x, lo, hi)


def history_scale(panel_values: np.ndarray, indptr: np.ndarray, ends: np.ndarray | None = None) -> np.ndarray:
    """``mean |y_t - y_{t-1}|`` of each series' first ``ends[i]`` values (all of them by default);
    NaN for a series with fewer than two values."""
    n = len(indptr) - 1
    ends = np.diff(indptr) if ends is None else np.asarray(ends)
    out = np.full(n, np.nan)
    for i in range(n):
        a, e = indptr[i], int(ends[i])
        if e >= 2:
            out[i] = np.mean(np.abs(np.diff(panel_values[a:a + e])))
    return out
