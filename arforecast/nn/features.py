"""What the network is handed at each position: what classical models already know.

For the position ``t`` that predicts the value at ``t + 1`` (the *target*):

* the current scaled value ``z_t`` and whether it was observed;
* the values at the target's seasonal lags, ``z_{t+1-k}`` for ``k`` in ``lags`` (24 and 168 for
  hourly data: yesterday and last week at the same hour), each with its observed flag;
* the local AR path's prediction of the target (:class:`~arforecast.nn.local_ar.LocalAR`), which the head also uses as
  its base location;
* learned embeddings of the target's phase ``position % period`` for each period (hour of the
  day, hour of the week);
* optionally an embedding of the current value's token (quantized values; ``PAD``/``MISSING``).

Both the full pass (training, start of a rollout) and the one-step pass read a matrix
``z [B, N]`` of scaled values and compute columns ``first .. N-1``, so the two share one code
path; a step passes the last ``history`` values and ``first = N - 1``.

Example:
    >>> import torch
    >>> z = torch.arange(1.0, 6.0).reshape(1, 5)
    >>> lagged(z, 2, first=0).tolist()               # z_{t-1}: the target's lag 2
    [[0.0, 1.0, 2.0, 3.0, 4.0]]
"""
from __future__ import annotations

import torch
from torch import nn

from arforecast.nn.local_ar import LocalAR, lagged  # noqa: F401  (LocalAR re-exported: its old home)


class InputFeatures(nn.Module):
    """Per-position input vector ``(B, T, d_model)`` from values, lags, AR prediction and phase."""

    def __init__(self, d_model: int, lags: tuple[int, ...] = (), periods: tuple[int, ...] = (),
                 vocab_size: int | None = None) -> None:
        super().__init__()
        self.lags = tuple(int(k) for k in lags)
        self.periods = tuple(int(p) for p in periods)
        self.proj = nn.Linear(2 * (1 + len(self.lags)) + 1, d_model)
        self.phase = nn.ModuleList(nn.Embedding(p, d_model) for p in self.periods)
        for emb in self.phase:
            nn.init.normal_(emb.weight, std=0.02)
        self.tokens = None if vocab_size is None else nn.Embedding(vocab_size, d_model)

    @property
    def history(self) -> int:
        """Past values a single step needs (the current one included)."""
        return max((1,) + self.lags)

    def forward(self, z: torch.Tensor, observed: torch.Tensor, base: torch.Tensor, positions: torch.Tensor,
                first: int, tokens: torch.Tensor | None = None) -> torch.Tensor:
        """``z, observed [B, N]``; ``base, positions [B, T]`` for columns ``first..N-1``."""
        cols = [lagged(z, 1, first), lagged(observed, 1, first)]
        for k in self.lags:
            cols += [lagged(z, k, first), lagged(observed, k, first)]
        cols.append(base)
        x = self.proj(torch.stack(cols, dim=-1))                         # (B, T, C)
        for period, emb in zip(self.periods, self.phase):
            x = x + emb(torch.remainder(positions, period))
        if self.tokens is not None and tokens is not None:
            x = x + self.tokens(tokens[:, first:])
        return x
