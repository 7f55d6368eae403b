"""The local AR path: a ridge AR fitted to each row's own context, the classical model a
NeuralAR starts from and corrects (see :class:`LocalAR` for an example)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def lagged(z: torch.Tensor, k: int, first: int) -> torch.Tensor:
    """``z_{c+1-k}`` for columns ``c = first .. N-1`` of ``z [B, N]`` (0 before column 0)."""
    return F.pad(z, (k - 1, 0))[:, first:z.shape[1]]


def _previous(x: torch.Tensor) -> torch.Tensor:
    """``x`` shifted one column right (0 first): column ``c`` holds ``x[:, c - 1]``."""
    return F.pad(x, (1, 0))[:, :-1]


class LocalAR:
    """A ridge AR on each row's own context: the classical path that the network corrects.

    ``fit`` solves, for every row of ``z [B, N]`` at once, the least-squares problem
    ``z_t ~ b + sum_k w_k z_{t-k}`` over the context's observed values (``k`` in ``lags``), with a
    ridge penalty ``ridge * n`` on the ``w`` (``n`` the row's number of equations).
    ``predict`` gives the one-step prediction of every target from the actual past values.
    Coefficients are per row, so every series (and every training window) gets its own AR,
    estimated from its context only -- a local model inside a global one.

    A row too short for some lags drops them (their coefficients are 0): going through the lags
    from the shortest, lag number ``j`` is kept while the context has at least
    ``min_equations * (j + 1)`` equations in which its value is observed. A row with no equation
    without lags is the mean of its observed values (the value itself, for a single one).

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
    """

    def __init__(self, lags: tuple[int, ...], ridge: float = 1e-3, min_equations: int = 3) -> None:
        self.lags = tuple(int(k) for k in lags)
        self.ridge = float(ridge)
        self.min_equations = int(min_equations)

    @property
    def order(self) -> int:
        return max(self.lags)

    def _design(self, z: torch.Tensor, first: int) -> torch.Tensor:
        """``[B, T, k + 1]``: lagged values ``z_{c+1-k}`` of columns ``first..N-1``, then 1."""
        cols = [lagged(z, k, first) for k in self.lags]
        return torch.stack(cols + [torch.ones_like(cols[0])], dim=-1)

    def usable(self, observed: torch.Tensor) -> torch.Tensor:
        """``[B, k]`` 1.0 for the lags each row of the context ``observed [B, N]`` can estimate."""
        obs = observed.double()
        avail = torch.stack([lagged(_previous(obs), k, 0) for k in self.lags], -1) * obs[:, :, None]
        count = avail.sum(1)                                               # equations per lag
        order = sorted(range(len(self.lags)), key=lambda j: self.lags[j])
        need = torch.tensor([self.min_equations * (rank + 2) for rank in range(len(order))],
                            dtype=torch.float64, device=obs.device)
        keep_sorted = (count[:, order] >= need).double().cumprod(-1)       # a prefix of the sorted lags
        keep = torch.empty_like(keep_sorted)
        keep[:, order] = keep_sorted
        return keep

    def _equations(self, observed: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """``[B, N]``: 1 where the value of a column and the values at all its kept lags are observed
        (every observed value is an equation of the intercept, the first one included)."""
        obs = observed.double()
        lag_obs = torch.stack([lagged(_previous(obs), k, 0) for k in self.lags], -1)
        return torch.where(keep[:, None, :] > 0, lag_obs, torch.ones_like(lag_obs)).prod(-1) * obs

    def fit(self, z: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        """Coefficients ``[B, k + 1]`` (last: intercept) from the observed values of ``z [B, N]``."""
        z64, obs = z.double(), observed.double()
        B, k = z.shape[0], len(self.lags)
        keep = self.usable(obs)
        ok = self._equations(obs, keep)
        X = self._design(_previous(z64), 0)                              # predicts z
        X = X * ok.unsqueeze(-1) * torch.cat([keep, torch.ones_like(keep[:, :1])], -1).unsqueeze(1)
        y = z64 * ok
        n = ok.sum(-1)
        pen = torch.eye(k + 1, dtype=torch.float64, device=z.device).expand(B, k + 1, k + 1).clone()
        pen[:, -1, -1] = 1e-6
        gram = X.transpose(1, 2) @ X + (self.ridge * n.clamp_min(1) + 1e-6)[:, None, None] * pen
        coef = torch.linalg.solve(gram, (X.transpose(1, 2) @ y.unsqueeze(-1))).squeeze(-1)
        return coef.to(z.dtype)

    def residual_spread(self, z: torch.Tensor, observed: torch.Tensor, coef: torch.Tensor,
                        floor: float = 1e-3) -> torch.Tensor:
        """Root mean square ``[B]`` of the fitted AR's one-step residuals over the context ``z``.

        Degrees of freedom are those of the fit (``n`` equations less the kept lags and the
        intercept); rows with too few equations, and spreads below ``floor`` (scaled units), get
        ``floor``.
        """
        z64, obs = z.double(), observed.double()
        keep = self.usable(obs)
        ok = self._equations(obs, keep)
        resid = (z64 - self.predict(_previous(z64), coef.double(), 0)) * ok
        dof = ok.sum(-1) - keep.sum(-1) - 1
        spread = torch.sqrt((resid * resid).sum(-1) / dof.clamp_min(1))
        spread = torch.where(dof >= 1, spread, torch.full_like(spread, floor))
        return spread.clamp_min(floor).to(z.dtype)

    def predict(self, z: torch.Tensor, coef: torch.Tensor, first: int) -> torch.Tensor:
        """One-step predictions ``[B, T]`` for the targets of columns ``first..N-1``."""
        return (self._design(z, first) * coef.unsqueeze(1)).sum(-1)

    def forecast(self, z: torch.Tensor, coef: torch.Tensor, h: int) -> torch.Tensor:
        """The AR's own recursive ``h``-step forecast ``[B, h]`` after the last column of ``z [B, N]``
        (each prediction fed back as the next value)."""
        out = []
        for _ in range(int(h)):
            nxt = self.predict(z, coef, z.shape[1] - 1)
            z = torch.cat([z, nxt], 1)
            out.append(nxt)
        return torch.cat(out, 1)
