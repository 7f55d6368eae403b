"""The local AR path: a ridge AR fitted to each row's own context, the classical model a
NeuralAR starts from and corrects.

Example:
    >>> import torch
    >>> z = torch.tensor([[1.0, 2.0] * 20])           # period-2 pattern
    >>> ar = LocalAR((2,), ridge=0.0)
    >>> coef = ar.fit(z, torch.ones_like(z))
    >>> [round(v, 3) for v in ar.predict(z, coef, first=39).tolist()[0]]   # next value
    [1.0]
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def lagged(z: torch.Tensor, k: int, first: int) -> torch.Tensor:
    """``z_{c+1-k}`` for columns ``c = first .. N-1`` of ``z [B, N]`` (0 before column 0)."""
    return F.pad(z, (k - 1, 0))[:, first:z.shape[1]]


class LocalAR:
    """A ridge AR on each row's own context: the classical path that the network corrects.

    ``fit`` solves, for every row of ``z [B, N]`` at once, the least-squares problem
    ``z_t ~ b + sum_k w_k z_{t-k}`` over the context's observed values (``k`` in ``lags``), with a
    ridge penalty ``ridge * n`` on the ``w`` (``n`` the row's number of equations).
    ``predict`` gives the one-step prediction of every target from the actual past values.
    Coefficients are per row, so every series (and every training window) gets its own AR,
    estimated from its context only -- a local model inside a global one.

    Example:
        >>> import torch
        >>> z = torch.tensor([[1.0, 2.0] * 20])           # period-2 pattern
        >>> ar = LocalAR((2,), ridge=0.0)
        >>> coef = ar.fit(z, torch.ones_like(z))
        >>> [round(v, 3) for v in ar.predict(z, coef, first=39).tolist()[0]]   # next value
        [1.0]
    """

    def __init__(self, lags: tuple[int, ...], ridge: float = 1e-3) -> None:
        self.lags = tuple(int(k) for k in lags)
        self.ridge = float(ridge)

    @property
    def order(self) -> int:
        return max(self.lags)

    def _design(self, z: torch.Tensor, first: int) -> torch.Tensor:
        """``[B, T, k + 1]``: lagged values ``z_{c+1-k}`` of columns ``first..N-1``, then 1."""
        cols = [lagged(z, k, first) for k in self.lags]
        return torch.stack(cols + [torch.ones_like(cols[0])], dim=-1)

    def fit(self, z: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        """Coefficients ``[B, k + 1]`` (last: intercept) from the observed values of ``z [B, N]``."""
        z64, obs = z.double(), observed.double()
        first = self.order - 1
        if z.shape[1] - 1 <= first:
            coef = torch.zeros(z.shape[0], len(self.lags) + 1, dtype=torch.float64, device=z.device)
            return coef.to(z.dtype)
        X = self._design(z64[:, :-1], first)                              # predicts z[:, first+1:]
        ok = torch.stack([lagged(obs[:, :-1], k, first) for k in self.lags], -1).prod(-1) * obs[:, first + 1:]
        X = X * ok.unsqueeze(-1)
        y = z64[:, first + 1:] * ok
        n = ok.sum(-1)
        k = len(self.lags)
        pen = torch.eye(k + 1, dtype=torch.float64, device=z.device)
        pen[-1, -1] = 1e-6
        gram = X.transpose(1, 2) @ X + (self.ridge * n.clamp_min(1) + 1e-6)[:, None, None] * pen
        coef = torch.linalg.solve(gram, (X.transpose(1, 2) @ y.unsqueeze(-1))).squeeze(-1)
        return coef.to(z.dtype)

    def residual_spread(self, z: torch.Tensor, observed: torch.Tensor, coef: torch.Tensor,
                        floor: float = 1e-3) -> torch.Tensor:
        """Root mean square ``[B]`` of the fitted AR's one-step residuals over the context ``z``.

        Degrees of freedom are those of the fit (``n - k - 1``); rows with too few equations, and
        spreads below ``floor`` (scaled units), get ``floor``.
        """
        first = self.order - 1
        if z.shape[1] - 1 <= first:
            return torch.full((z.shape[0],), floor, dtype=z.dtype, device=z.device)
        z64, obs = z.double(), observed.double()
        ok = torch.stack([lagged(obs[:, :-1], k, first) for k in self.lags], -1).prod(-1) * obs[:, first + 1:]
        resid = (z64[:, first + 1:] - self.predict(z64[:, :-1], coef.double(), first)) * ok
        dof = (ok.sum(-1) - len(self.lags) - 1).clamp_min(1)
        spread = torch.sqrt((resid * resid).sum(-1) / dof)
        return spread.clamp_min(floor).to(z.dtype)

    def predict(self, z: torch.Tensor, coef: torch.Tensor, first: int) -> torch.Tensor:
        """One-step predictions ``[B, T]`` for the targets of columns ``first..N-1``."""
        return (self._design(z, first) * coef.unsqueeze(1)).sum(-1)
