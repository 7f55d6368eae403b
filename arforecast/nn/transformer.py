"""A decoder-only transformer (nanoGPT's layout) with a key/value cache for stepping.

Pre-norm blocks ``x + attn(ln(x))``, ``x + mlp(ln(x))``; causal self-attention; rotary position
embeddings (RoPE, Su et al. 2021) on queries and keys, which encode *relative* positions, so
the model runs on contexts of any length and a cached key never needs recomputing.

Stepping one position appends its key and value to a per-layer cache ``[B, H, capacity, D]``
(grown by doubling) and attends over the filled part: O(context) work per step instead of
recomputing the whole prefix.

Example:
    >>> import torch
    >>> net = Transformer(d_model=16, n_layers=2, n_heads=2).eval()
    >>> x = torch.randn(2, 9, 16)
    >>> full = net(x)                                 # (B, T, C)
    >>> _, state = net.start(x[:, :6])
    >>> steps = []
    >>> for t in range(6, 9):
    ...     h, state = net.step(x[:, t], state)
    ...     steps.append(h)
    >>> torch.allclose(torch.stack(steps, 1), full[:, 6:], atol=1e-5)
    True
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Rotary(nn.Module):
    """Rotary embedding: rotate pairs of query/key channels by position-dependent angles."""

    def __init__(self, head_dim: int, base: float = 10000.0) -> None:
        super().__init__()
        self.register_buffer("inv_freq", base ** (-torch.arange(0, head_dim, 2).float() / head_dim),
                             persistent=False)

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """``x (B, H, T, D)`` rotated for integer ``positions (T,)``."""
        angles = positions.float()[:, None] * self.inv_freq[None, :]     # (T, D/2)
        cos, sin = angles.cos(), angles.sin()
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        if d_model % n_heads or (d_model // n_heads) % 2:
            raise ValueError(f"d_model={d_model} must split into {n_heads} heads of even size")
        self.n_heads, self.head_dim = n_heads, d_model // n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.rotary = Rotary(self.head_dim)

    def _heads(self, x: torch.Tensor, positions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)  # (B, H, T, D)
        return self.rotary(q, positions), self.rotary(k, positions), v

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x (B, T, C)`` -> output ``(B, T, C)`` and the keys/values ``(B, H, T, D)`` for a cache."""
        B, T, C = x.shape
        q, k, v = self._heads(x, torch.arange(T, device=x.device))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)     # (B, H, T, D)
        return self.proj(y.transpose(1, 2).reshape(B, T, C)), k, v

    def step(self, x: torch.Tensor, cache: dict, n: int) -> torch.Tensor:
        """One position ``x (B, 1, C)`` at index ``n``; writes its key/value into ``cache``."""
        B, _, C = x.shape
        q, k, v = self._heads(x, torch.tensor([n], device=x.device))
        cache["k"][:, :, n] = k[:, :, 0]
        cache["v"][:, :, n] = v[:, :, 0]
        keys, values = cache["k"][:, :, :n + 1], cache["v"][:, :, :n + 1]
        att = torch.softmax((q @ keys.transpose(-1, -2)) / math.sqrt(self.head_dim), dim=-1)  # (B, H, 1, n+1)
        return self.proj((att @ values).transpose(1, 2).reshape(B, 1, C))

    def score_steps(self, x: torch.Tensor, cache: dict, pos: torch.Tensor) -> torch.Tensor:
        """``m`` positions ``x (B, m, C)`` at cache indices ``pos (B, m)`` (one start per row);
        writes their keys/values into ``cache`` and attends causally, slots past a row's own
        positions (stale entries of rolled-back steps) masked out."""
        B, m, C = x.shape
        q, k, v = self.qkv(x).view(B, m, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        angles = (pos.float()[..., None] * self.rotary.inv_freq).unsqueeze(1)    # (B, 1, m, D/2)
        cos, sin = angles.cos(), angles.sin()

        def rotate(t: torch.Tensor) -> torch.Tensor:
            t1, t2 = t.chunk(2, dim=-1)
            return torch.cat([t1 * cos - t2 * sin, t1 * sin + t2 * cos], dim=-1)

        q, k = rotate(q), rotate(k)
        index = pos[:, None, :, None].expand(B, self.n_heads, m, self.head_dim)
        cache["k"].scatter_(2, index, k)
        cache["v"].scatter_(2, index, v)
        L = int(pos.max()) + 1
        keys, values = cache["k"][:, :, :L], cache["v"][:, :, :L]
        scores = (q @ keys.transpose(-1, -2)) / math.sqrt(self.head_dim)             # (B, H, m, L)
        allowed = torch.arange(L, device=x.device)[None, None, :] <= pos[:, :, None]  # (B, m, L)
        att = torch.softmax(scores.masked_fill(~allowed.unsqueeze(1), float("-inf")), dim=-1)
        return self.proj((att @ values).transpose(1, 2).reshape(B, m, C))


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        a, k, v = self.attn(self.ln1(x))
        x = x + a
        return x + self.mlp(self.ln2(x)), k, v

    def step(self, x: torch.Tensor, cache: dict, n: int) -> torch.Tensor:
        x = x + self.attn.step(self.ln1(x), cache, n)
        return x + self.mlp(self.ln2(x))

    def score_steps(self, x: torch.Tensor, cache: dict, pos: torch.Tensor) -> torch.Tensor:
        x = x + self.attn.score_steps(self.ln1(x), cache, pos)
        return x + self.mlp(self.ln2(x))


class Transformer(nn.Module):
    """Causal decoder: ``(B, T, C) -> (B, T, C)``; output at ``t`` attends to inputs ``<= t``."""

    def __init__(self, d_model: int = 64, n_layers: int = 4, n_heads: int = 4) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(d_model, n_heads) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)[0]
        return self.ln_f(x)

    # ------------------------------------------------------------------ incremental
    def start(self, x: torch.Tensor, extra: int = 64) -> tuple[torch.Tensor, dict]:
        """Run over ``x (B, T, C)``; return the last output ``(B, C)`` and the key/value cache."""
        B, T, _ = x.shape
        caches = []
        for block in self.blocks:
            x, k, v = block(x)
            pad = (0, 0, 0, extra)                                      # room for ``extra`` steps
            caches.append({"k": F.pad(k, pad).contiguous(), "v": F.pad(v, pad).contiguous()})
        n = torch.full((B,), T, dtype=torch.long, device=x.device)
        return self.ln_f(x[:, -1]), {"caches": caches, "n": n}

    def step(self, x: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
        """One new position ``x (B, C)``; writes into the cache (grown by doubling when full)."""
        n = int(state["n"][0]) if state["n"].numel() else 0
        h = x.unsqueeze(1)
        caches = state["caches"]
        if caches and n >= caches[0]["k"].shape[2]:
            grow = (0, 0, 0, caches[0]["k"].shape[2])
            caches = [{"k": F.pad(c["k"], grow), "v": F.pad(c["v"], grow)} for c in caches]
        for block, cache in zip(self.blocks, caches):
            h = block.step(h, cache, n)
        return self.ln_f(h[:, 0]), {"caches": caches, "n": state["n"] + 1}

    def score_steps(self, x: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
        """``m`` new positions ``x (B, m, C)`` per row, each row from its own cache length.

        Returns ``(B, m, C)`` outputs and the state with all ``m`` keys/values written;
        :meth:`truncate` then keeps the first ``keep`` of them per row (speculative decoding).
        """
        B, m, _ = x.shape
        n = state["n"]
        caches = state["caches"]
        need = (int(n.max()) if n.numel() else 0) + m
        if caches and need > caches[0]["k"].shape[2]:
            cap = caches[0]["k"].shape[2]
            grow = (0, 0, 0, max(cap, need - cap))
            caches = [{"k": F.pad(c["k"], grow), "v": F.pad(c["v"], grow)} for c in caches]
        pos = n[:, None] + torch.arange(m, device=x.device)[None, :]
        h = x
        for block, cache in zip(self.blocks, caches):
            h = block.score_steps(h, cache, pos)
        return self.ln_f(h), {"caches": caches, "n": n}

    @staticmethod
    def truncate(state: dict, keep: torch.Tensor) -> dict:
        """Keep the first ``keep (B,)`` positions of the last :meth:`score_steps` per row: the cache
        length moves; entries past it are masked out and overwritten later (an O(1) rollback)."""
        return {"caches": state["caches"], "n": state["n"] + keep.to(state["n"].device)}
