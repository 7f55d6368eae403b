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

    def attend(self, x: torch.Tensor, prefix: tuple[torch.Tensor, torch.Tensor], layout: tuple[int, int, int],
               cache: dict, pos: torch.Tensor, synced: int | None, L: int) -> torch.Tensor:
        """New positions ``x (B, m, C)`` attending to a shared prefix and to each row's own suffix.

        ``prefix``: keys ``(G, H, D, T)`` (stored transposed: a contiguous right operand is
        about twice as fast on the CPU) and values ``(G, H, T, D)`` of the context; row ``b`` of the
        batch reads prefix ``g0 + b // per`` (``layout = (g0, ng, per)``), so the ``per`` paths of
        a series read its context's keys once, in one matrix product. ``cache``: the suffix
        keys/values ``(B, H, capacity, D)``; ``pos (B, m)``: suffix slots of the new positions
        (their rotary position is ``T + pos``); ``L``: suffix slots to attend to (``pos.max() + 1``).
        ``synced`` (an int) says that every row's slots start there and are written as a block
        (stepping); otherwise slots past a row's own positions (stale entries of rolled-back
        steps) are masked out.
        """
        B, m, C = x.shape
        H, D = self.n_heads, self.head_dim
        pk, pv = prefix
        T = pk.shape[3]
        g0, ng, per = layout
        q, k, v = self.qkv(x).view(B, m, 3, H, D).permute(2, 0, 3, 1, 4)       # (B, H, m, D)
        angles = ((T + pos).float()[..., None] * self.rotary.inv_freq).unsqueeze(1)   # (B, 1, m, D/2)
        cos, sin = angles.cos(), angles.sin()

        def rotate(t: torch.Tensor) -> torch.Tensor:
            t1, t2 = t.chunk(2, dim=-1)
            return torch.cat([t1 * cos - t2 * sin, t1 * sin + t2 * cos], dim=-1)

        q, k = rotate(q), rotate(k)
        if synced is not None:
            n = synced
            cache["k"][:, :, n:n + m] = k
            cache["v"][:, :, n:n + m] = v
        else:
            index = pos[:, None, :, None].expand(B, H, m, D)
            cache["k"].scatter_(2, index, k)
            cache["v"].scatter_(2, index, v)
        keys, values = cache["k"][:, :, :L], cache["v"][:, :, :L]
        scale = 1.0 / math.sqrt(D)
        # the context: queries of the `per` paths of a series against its keys, one product per series
        qg = q.permute(0, 2, 1, 3).reshape(ng, per * m, H, D).transpose(1, 2)      # (ng, H, per*m, D)
        sp = (qg @ pk[g0:g0 + ng]) * scale                                           # (ng, H, per*m, T)
        sp = sp.transpose(1, 2).reshape(B, m, H, T).transpose(1, 2)                  # (B, H, m, T)
        ss = (q @ keys.transpose(-1, -2)) * scale                                    # (B, H, m, L)
        if synced is None or m > 1:
            allowed = torch.arange(L, device=x.device)[None, None, :] <= pos[:, :, None]
            ss = ss.masked_fill(~allowed.unsqueeze(1), float("-inf"))
        att = torch.softmax(torch.cat([sp, ss], -1), dim=-1)
        ap, asuf = att.split([T, L], dim=-1)
        apg = ap.transpose(1, 2).reshape(ng, per * m, H, T).transpose(1, 2)         # (ng, H, per*m, T)
        yp = (apg @ pv[g0:g0 + ng]).transpose(1, 2).reshape(B, m, H, D)
        y = yp + (asuf @ values).transpose(1, 2)                                     # (B, m, H, D)
        return self.proj(y.reshape(B, m, C))


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

    def attend(self, x: torch.Tensor, prefix: tuple, layout: tuple[int, int, int], cache: dict, pos: torch.Tensor,
               synced: int | None, L: int) -> torch.Tensor:
        x = x + self.attn.attend(self.ln1(x), prefix, layout, cache, pos, synced, L)
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
        """Run over ``x (B, T, C)``; return the last output ``(B, C)`` and the state to step from.

        The context's keys/values are held once per row in a :class:`SharedPrefix` (not a tensor,
        so the rollout engine does not copy it for every sample path); each path gets its own
        suffix cache with room for ``extra`` steps, grown by doubling.
        """
        B, T, _ = x.shape
        prefix, suffix = [], []
        for block in self.blocks:
            x, k, v = block(x)
            prefix.append((k.transpose(-1, -2).contiguous(), v.contiguous()))
            empty = k.new_zeros(B, k.shape[1], extra, k.shape[3])
            suffix.append({"k": empty, "v": empty.clone()})
        state = {"prefix": SharedPrefix(prefix), "row": torch.arange(B, device=x.device), "caches": suffix,
                 "n": torch.zeros(B, dtype=torch.long, device=x.device)}
        return self.ln_f(x[:, -1]), state

    def step(self, x: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
        """One new position ``x (B, C)``; writes into the suffix cache (grown by doubling when full)."""
        n = int(state["n"][0]) if state["n"].numel() else 0
        state, layout = _grouped(state)
        caches = _grown(state["caches"], n + 1)
        pos = torch.full((x.shape[0], 1), n, dtype=torch.long, device=x.device)
        h = x.unsqueeze(1)
        for block, cache, prefix in zip(self.blocks, caches, state["prefix"].layers):
            h = block.attend(h, prefix, layout, cache, pos, n, n + 1)
        return self.ln_f(h[:, 0]), {**state, "caches": caches, "n": state["n"] + 1}

    def score_steps(self, x: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
        """``m`` new positions ``x (B, m, C)`` per row, each row from its own suffix length.

        Returns ``(B, m, C)`` outputs and the state with all ``m`` keys/values written;
        :meth:`truncate` then keeps the first ``keep`` of them per row (speculative decoding).
        """
        B, m, _ = x.shape
        n = state["n"]
        state, layout = _grouped(state)
        L = (int(n.max()) if n.numel() else 0) + m
        caches = _grown(state["caches"], L)
        pos = n[:, None] + torch.arange(m, device=x.device)[None, :]
        h = x
        for block, cache, prefix in zip(self.blocks, caches, state["prefix"].layers):
            h = block.attend(h, prefix, layout, cache, pos, None, L)
        return self.ln_f(h), {**state, "caches": caches}

    @staticmethod
    def truncate(state: dict, keep: torch.Tensor) -> dict:
        """Keep the first ``keep (B,)`` positions of the last :meth:`score_steps` per row: the suffix
        length moves; entries past it are masked out and overwritten later (an O(1) rollback)."""
        return {**state, "n": state["n"] + keep.to(state["n"].device)}


class SharedPrefix:
    """The context's keys/values ``[(k, v)] * layers``, one row per series: keys ``(G, H, D, T)``
    (transposed), values ``(G, H, T, D)``.

    Deliberately not a tensor: the rollout engine repeats and reorders the *tensors* of a state
    for every sample path, while all paths of a series share these; the state's ``row`` tensor
    says which prefix row each path reads.
    """

    def __init__(self, layers: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.layers = layers


def _grown(caches: list[dict], need: int) -> list[dict]:
    """The suffix caches with room for ``need`` positions (capacity doubled as often as needed)."""
    if not caches or need <= caches[0]["k"].shape[2]:
        return caches
    cap = caches[0]["k"].shape[2]
    while cap < need:
        cap *= 2
    grow = (0, 0, 0, cap - caches[0]["k"].shape[2])
    return [{"k": F.pad(c["k"], grow), "v": F.pad(c["v"], grow)} for c in caches]


def _grouped(state: dict) -> tuple[dict, tuple[int, int, int]]:
    """``(state, (g0, ng, per))``: rows ``b`` read prefix row ``g0 + b // per``.

    The engine keeps the paths of a series together and equally many per series, so this holds
    for the rows it passes. Rows whose series are not consecutive prefix rows (some series
    dropped) get a compacted copy of their series' prefixes; any other selection of rows gets
    one copy of its prefix per row.
    """
    row = state["row"]
    B = row.numel()
    if B:
        first = int(row[0])
        per = int((row == first).sum())
        if B % per == 0:
            groups = row[::per]
            if torch.equal(row, groups.repeat_interleave(per)):
                ng = groups.numel()
                if int(groups[-1]) - first + 1 == ng and bool((groups[1:] > groups[:-1]).all()):
                    return state, (first, ng, per)
                layers = [(k.index_select(0, groups), v.index_select(0, groups)) for k, v in state["prefix"].layers]
                new_row = torch.arange(ng, device=row.device).repeat_interleave(per)
                return {**state, "prefix": SharedPrefix(layers), "row": new_row}, (0, ng, per)
    layers = [(k.index_select(0, row), v.index_select(0, row)) for k, v in state["prefix"].layers]
    state = {**state, "prefix": SharedPrefix(layers), "row": torch.arange(B, device=row.device)}
    return state, (0, B, 1)
