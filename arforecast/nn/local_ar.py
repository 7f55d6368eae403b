"""The local AR path: a ridge AR fitted to each row's own context, the classical model a
NeuralAR starts from and corrects (see :class:`LocalAR` for an example), optionally pulled
towards one AR pooled over the whole training panel (:func:`pooled_prior`)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F


def lagged(z: torch.Tensor, k: int, first: int) -> torch.Tensor:
    """``z_{c+1-k}`` for columns ``c = first .. N-1`` of ``z [B, N]`` (0 before column 0)."""
    return F.pad(z, (k - 1, 0))[:, first:z.shape[1]]


def _previous(x: torch.Tensor) -> torch.Tensor:
    """``x`` shifted one column right (0 first): column ``c`` holds ``x[:, c - 1]``."""
    return F.pad(x, (1, 0))[:, :-1]


def _by_length(lags: Sequence[int]) -> list[int]:
    """Indices of ``lags`` from the shortest lag to the longest."""
    return sorted(range(len(lags)), key=lambda j: lags[j])


class LocalAR:
    """A ridge AR on each row's own context: the classical path that the network corrects.

    ``fit`` solves, for every row of ``z [B, N]`` at once, the least-squares problem
    ``z_t ~ b + sum_k w_k z_{t-k}`` over the context's observed values (``k`` in ``lags``), with a
    ridge penalty ``ridge * n`` on the ``w`` (``n`` the row's number of equations).
    ``predict`` gives the one-step prediction of every target from the actual past values.
    Coefficients are per row, so every series (and every training window) gets its own AR,
    estimated from its context only -- a local model inside a global one.

    A row too short for some lags drops them (their coefficients are 0): going through the lags
    from the shortest, lag number ``j`` (from 0) is kept while the context has at least
    ``min_equations * (j + 2)`` equations in which its value is observed (with a prior, the
    prior's ``n0`` pseudo-equations count too, but at least ``min_equations`` must be real). A
    row with no equation without lags is the mean of its observed values (the value itself, for
    a single one).

    **Prior.** With ``prior`` (``[k, k]``: row ``r`` holds the coefficients of the AR on the
    ``r + 1`` shortest lags, as :func:`pooled_prior` gives them) and ``prior_weight`` ``n0 > 0``,
    a row that keeps ``r + 1`` lags pulls their coefficients towards prior row ``r`` by the
    penalty ``n0 * v * |w - prior|^2``, ``v`` the variance of the row's observed values: the
    prior counts as about ``n0`` equations, so a short context stays near it and a long one
    follows its own data (``n0 = 1e6``: the prior alone). The intercept is not pulled: each row
    keeps its own level.

    Example:
        >>> import torch
        >>> z = torch.tensor([[1.0, 2.0] * 20])           # period-2 pattern
        >>> ar = LocalAR((2,), ridge=0.0)
        >>> coef = ar.fit(z, torch.ones_like(z))
        >>> [round(v, 3) for v in ar.predict(z, coef, first=39).tolist()[0]]   # next value
        [1.0]
        >>> short = LocalAR((1, 24)).fit(z[:, :10], torch.ones(1, 10))   # too short for lag 24
        >>> float(short[0, 1])
        0.0
        >>> pulled = LocalAR((2,), ridge=0.0, prior=torch.tensor([[0.5]]), prior_weight=1e6)
        >>> round(float(pulled.fit(z, torch.ones_like(z))[0, 0]), 3)     # the prior's coefficient
        0.5
    """

    def __init__(self, lags: tuple[int, ...], ridge: float = 1e-3, min_equations: int = 3,
                 prior: torch.Tensor | None = None, prior_weight: float = 0.0) -> None:
        self.lags = tuple(int(k) for k in lags)
        self.ridge = float(ridge)
        self.min_equations = int(min_equations)
        self.prior = None if prior is None else self._check_prior(prior)
        self.prior_weight = float(prior_weight)

    def _check_prior(self, prior: torch.Tensor) -> torch.Tensor:
        prior = torch.as_tensor(prior, dtype=torch.float64)
        k = len(self.lags)
        if prior.shape != (k, k):
            raise ValueError(f"prior must be [{k}, {k}] (one row per number of kept lags), got {tuple(prior.shape)}")
        return prior

    @property
    def order(self) -> int:
        return max(self.lags)

    def _design(self, z: torch.Tensor, first: int) -> torch.Tensor:
        """``[B, T, k + 1]``: lagged values ``z_{c+1-k}`` of columns ``first..N-1``, then 1."""
        cols = [lagged(z, k, first) for k in self.lags]
        return torch.stack(cols + [torch.ones_like(cols[0])], dim=-1)

    def usable(self, observed: torch.Tensor, prior_weight: float = 0.0) -> torch.Tensor:
        """``[B, k]`` 1.0 for the lags each row of the context ``observed [B, N]`` can estimate
        (``prior_weight``: pseudo-equations of a prior, counted with the real ones)."""
        obs = observed.double()
        avail = torch.stack([lagged(_previous(obs), k, 0) for k in self.lags], -1) * obs[:, :, None]
        count = avail.sum(1)                                               # equations per lag
        order = _by_length(self.lags)
        need = torch.tensor([self.min_equations * (rank + 2) for rank in range(len(order))],
                            dtype=torch.float64, device=obs.device)
        sorted_count = count[:, order]
        enough = (sorted_count + float(prior_weight) >= need) & (sorted_count >= self.min_equations)
        keep_sorted = enough.double().cumprod(-1)                          # a prefix of the sorted lags
        keep = torch.empty_like(keep_sorted)
        keep[:, order] = keep_sorted
        return keep

    def _equations(self, observed: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """``[B, N]``: 1 where the value of a column and the values at all its kept lags are observed
        (every observed value is an equation of the intercept, the first one included)."""
        obs = observed.double()
        lag_obs = torch.stack([lagged(_previous(obs), k, 0) for k in self.lags], -1)
        return torch.where(keep[:, None, :] > 0, lag_obs, torch.ones_like(lag_obs)).prod(-1) * obs

    def _prior_args(self, prior: torch.Tensor | None, prior_weight: float | None
                    ) -> tuple[torch.Tensor | None, float]:
        prior = self.prior if prior is None else self._check_prior(prior)
        weight = self.prior_weight if prior_weight is None else float(prior_weight)
        return (prior, weight) if prior is not None and weight > 0 else (None, 0.0)

    def fit(self, z: torch.Tensor, observed: torch.Tensor, prior: torch.Tensor | None = None,
            prior_weight: float | None = None) -> torch.Tensor:
        """Coefficients ``[B, k + 1]`` (last: intercept) from the observed values of ``z [B, N]``
        (``prior``, ``prior_weight``: instead of the instance's)."""
        prior, weight = self._prior_args(prior, prior_weight)
        return self.fit_many(z, observed, prior, [weight])[0]

    def fit_many(self, z: torch.Tensor, observed: torch.Tensor, prior: torch.Tensor | None,
                 weights: list[float]) -> list[torch.Tensor]:
        """:meth:`fit` for several prior weights at once (the least-squares sums computed once for
        the weights that keep the same lags)."""
        z64, obs = z.double(), observed.double()
        B, k = z.shape[0], len(self.lags)
        cnt = obs.sum(-1).clamp_min(1)
        mean = (z64 * obs).sum(-1) / cnt
        var = (((z64 - mean[:, None]) * obs) ** 2).sum(-1) / cnt
        systems: list[tuple[torch.Tensor, tuple]] = []
        out = []
        for weight in weights:
            weight = float(weight) if prior is not None else 0.0
            keep = self.usable(obs, weight)
            found = [sys for kept, sys in systems if torch.equal(kept, keep)]
            if found:
                gram, rhs, with_intercept = found[0]
            else:
                ok = self._equations(obs, keep)
                with_intercept = torch.cat([keep, torch.ones_like(keep[:, :1])], -1)
                X = self._design(_previous(z64), 0)                      # predicts z
                X = X * ok.unsqueeze(-1) * with_intercept.unsqueeze(1)
                n = ok.sum(-1)
                pen = torch.eye(k + 1, dtype=torch.float64, device=z.device).expand(B, k + 1, k + 1).clone()
                pen[:, -1, -1] = 1e-6
                gram = X.transpose(1, 2) @ X + (self.ridge * n.clamp_min(1) + 1e-6)[:, None, None] * pen
                rhs = X.transpose(1, 2) @ (z64 * ok).unsqueeze(-1)
                systems.append((keep, (gram, rhs, with_intercept)))
            if weight > 0:
                lam = (weight * var.clamp_min(1e-8))[:, None] * torch.cat([keep, torch.zeros_like(keep[:, :1])], -1)
                rows = (keep.sum(-1).long() - 1).clamp_min(0)             # prior of the kept prefix
                w0 = F.pad(prior.to(z.device)[rows], (0, 1)) * with_intercept
                gram, rhs = gram + torch.diag_embed(lam), rhs + (lam * w0).unsqueeze(-1)
            out.append(torch.linalg.solve(gram, rhs).squeeze(-1).to(z.dtype))
        return out

    def residual_spread(self, z: torch.Tensor, observed: torch.Tensor, coef: torch.Tensor,
                        floor: float = 1e-3, prior_weight: float | None = None) -> torch.Tensor:
        """Root mean square ``[B]`` of the fitted AR's one-step residuals over the context ``z``.

        Degrees of freedom are those of the fit (``n`` equations less the kept lags and the
        intercept; with a prior of weight ``n0``, the lags cost none as ``n0`` grows); rows with
        too few equations, and spreads below ``floor`` (scaled units), get ``floor``.
        """
        weight = float(self.prior_weight if prior_weight is None else prior_weight)
        z64, obs = z.double(), observed.double()
        keep = self.usable(obs, weight)
        ok = self._equations(obs, keep)
        resid = (z64 - self.predict(_previous(z64), coef.double(), 0)) * ok
        n = ok.sum(-1)
        free = keep.sum(-1) * (n / (n + weight)) if weight > 0 else keep.sum(-1)
        dof = n - free - 1
        spread = torch.sqrt((resid * resid).sum(-1) / dof.clamp_min(1))
        spread = torch.where(dof >= 1, spread, torch.full_like(spread, floor))
        return spread.clamp_min(floor).to(z.dtype)

    def predict(self, z: torch.Tensor, coef: torch.Tensor, first: int) -> torch.Tensor:
        """One-step predictions ``[B, T]`` for the targets of columns ``first..N-1``."""
        return (self._design(z, first) * coef.unsqueeze(1)).sum(-1)

    def forecast(self, z: torch.Tensor, coef: torch.Tensor, h: int) -> torch.Tensor:
        """The AR's own recursive ``h``-step forecast ``[B, h]`` after the last column of ``z [B, N]``
        (each prediction fed back as the next value; values before column 0 count as 0, as in
        :meth:`predict`)."""
        B, N = z.shape
        buf = torch.cat([z.to(coef.dtype), coef.new_zeros(B, int(h))], 1)
        lags = torch.tensor(self.lags, device=z.device)
        for t in range(int(h)):
            at = N + t - lags                                              # the lagged columns
            past = torch.where(at >= 0, buf[:, at.clamp_min(0)], torch.zeros_like(buf[:, :1]))
            buf[:, N + t] = (past * coef[:, :-1]).sum(-1) + coef[:, -1]
        return buf[:, N:]


def pooled_prior(series: Sequence[np.ndarray], lags: tuple[int, ...], ridge: float = 1e-6) -> torch.Tensor:
    """One AR fitted by least squares to every series at once, for each prefix of the lags: ``[k, k]``.

    Row ``r`` holds the coefficients (in the order of ``lags``) of the AR on the ``r + 1``
    shortest lags, 0 at the others: the prior of a context that keeps those lags
    (:class:`LocalAR`). Each series (a 1-D array, NaN = missing) is divided by its mean absolute
    value, as a NeuralAR context is, and keeps its own intercept (equations are centred per
    series), so the coefficients describe the dynamics the series share, not their levels. The
    equations of row ``r`` are the values whose ``r + 1`` lags are all observed (a value with a
    missing value at a longer lag is left out of every row); ``ridge`` (per equation) keeps lags
    no series can estimate at 0. One pass over each series' values for all rows.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> y = np.zeros((5, 400))
        >>> for t in range(1, 400):
        ...     y[:, t] = 0.7 * y[:, t - 1] + rng.standard_normal(5)
        >>> prior = pooled_prior([10 + row for row in y], (2, 1))
        >>> [round(float(c), 1) for c in prior[0]], [round(float(c), 1) for c in prior[1]]
        ([0.0, 0.7], [0.0, 0.7])
    """
    k = len(lags)
    order = _by_length(lags)
    tops = [lags[j] for j in order]                       # the lags from the shortest
    moments = np.zeros((k, k + 1, k + 1))                  # per prefix: centred moments of [lags..., value]
    n_eq = np.zeros(k)
    for s in series:
        v = np.asarray(s, dtype=np.float64)
        finite = np.isfinite(v)
        level = np.mean(np.abs(v[finite])) if finite.any() else 0.0
        n = len(v)
        if level <= 0 or n <= tops[0]:
            continue
        v = v / level
        D = np.full((n, k + 1), np.nan)                    # row t: z_{t-lag} for the sorted lags, then z_t
        for i, lag in enumerate(tops):
            if lag < n:
                D[lag:, i] = v[:n - lag]
        D[:, k] = v
        # rows from tops[b] to tops[b + 1] serve the prefixes 0..b: moments per block, summed from the end
        S = np.zeros((k, k + 1, k + 1))
        m = np.zeros((k, k + 1))
        c = np.zeros(k)
        for b in range(k):
            block = D[tops[b]:(tops[b + 1] if b + 1 < k else n)]
            ok = np.isfinite(block[:, k]) & np.isfinite(block[:, :b + 1]).all(1)
            block = np.where(np.isfinite(block), block, 0.0) * ok[:, None]
            S[b], m[b], c[b] = block.T @ block, block.sum(0), ok.sum()
        S, m, c = (np.cumsum(x[::-1], 0)[::-1] for x in (S, m, c))
        use = c >= 2
        centred = S - m[:, :, None] * m[:, None, :] / np.maximum(c, 1)[:, None, None]
        moments[use] += centred[use]
        n_eq[use] += c[use]
    out = np.zeros((k, k))
    for r in range(k):
        if n_eq[r]:
            gram, rhs = moments[r, :r + 1, :r + 1], moments[r, :r + 1, k]
            out[r, order[:r + 1]] = np.linalg.solve(gram + (ridge * n_eq[r] + 1e-9) * np.eye(r + 1), rhs)
    return torch.from_numpy(out)
