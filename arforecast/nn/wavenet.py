"""WaveNet: a stack of dilated causal convolutions with gated activations (van den Oord et al., 2016).

Each layer sees its input at ``t`` and ``t - d`` (kernel size 2, dilation ``d``), applies the
gate ``tanh(a) * sigmoid(b)``, and adds the result back to its input (residual) and to a
running sum (skip connection); the output is ``relu`` of the skip sum. Dilations double from 1
and restart every ``cycle`` layers, so ``L`` layers with cycle ``c`` reach
``1 + (L // c) * (2**c - 1) + (2**(L % c) - 1)`` steps into the past (the receptive field).

Stepping one position costs O(layers): each layer keeps a queue of its last ``d`` inputs (a
circular buffer, ``[B, d, C]``), reads the input of ``t - d`` from it and writes ``t`` in its
place. :meth:`WaveNet.start` fills the queues from a full causal pass over the context.

Example:
    >>> import torch
    >>> net = WaveNet(channels=8, n_layers=4).eval()
    >>> x = torch.randn(2, 10, 8)
    >>> full = net(x)                                 # (B, T, C)
    >>> _, state = net.start(x[:, :7])
    >>> steps = []
    >>> for t in range(7, 10):
    ...     h, state = net.step(x[:, t], state)
    ...     steps.append(h)
    >>> torch.allclose(torch.stack(steps, 1), full[:, 7:], atol=1e-5)
    True
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def dilations(n_layers: int, cycle: int) -> list[int]:
    """``1, 2, 4, ... 2**(cycle-1)`` repeated to ``n_layers`` layers."""
    return [2 ** (i % cycle) for i in range(n_layers)]


def receptive_field(n_layers: int, cycle: int) -> int:
    """Number of past positions (the current one included) that one output depends on."""
    return 1 + sum(dilations(n_layers, cycle))


class GatedLayer(nn.Module):
    """One dilated causal conv layer: gate, residual and skip outputs."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.dilation = dilation
        self.conv = nn.Conv1d(channels, 2 * channels, kernel_size=2, dilation=dilation)
        self.out = nn.Conv1d(channels, 2 * channels, kernel_size=1)   # residual and skip at once

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (B, C, T)`` -> (residual output, skip) each ``(B, C, T)``."""
        a, b = self.conv(F.pad(x, (self.dilation, 0))).chunk(2, dim=1)
        res, skip = self.out(torch.tanh(a) * torch.sigmoid(b)).chunk(2, dim=1)
        return x + res, skip

    def step(self, x: torch.Tensor, past: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One position: ``x (B, C)`` and this layer's input ``d`` steps ago ``past (B, C)``."""
        w = self.conv.weight                                           # (2C, C, 2): taps t-d, t
        a, b = torch.addmm(self.conv.bias, torch.cat([past, x], 1),
                           torch.cat([w[:, :, 0], w[:, :, 1]], 1).t()).chunk(2, dim=1)
        res, skip = torch.addmm(self.out.bias, torch.tanh(a) * torch.sigmoid(b),
                                self.out.weight[:, :, 0].t()).chunk(2, dim=1)
        return x + res, skip


class WaveNet(nn.Module):
    """Dilated causal conv stack: ``(B, T, C) -> (B, T, C)``; output at ``t`` sees inputs ``<= t``."""

    def __init__(self, channels: int = 64, n_layers: int = 8, cycle: int | None = None) -> None:
        super().__init__()
        cycle = n_layers if cycle is None else cycle
        self.layers = nn.ModuleList(GatedLayer(channels, d) for d in dilations(n_layers, cycle))
        self.receptive_field = receptive_field(n_layers, cycle)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x)[0]

    def _run(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h = x.transpose(1, 2)                                          # (B, C, T)
        skips, inputs = 0, []
        for layer in self.layers:
            inputs.append(h)
            h, skip = layer(h)
            skips = skips + skip
        return F.relu(skips).transpose(1, 2), inputs                   # (B, T, C)

    # ------------------------------------------------------------------ incremental
    def start(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Run over ``x (B, T, C)``; return the last output ``(B, C)`` and the queues to step from."""
        out, inputs = self._run(x)
        T = x.shape[1]
        queues = []
        for layer, h in zip(self.layers, inputs):
            d = layer.dilation
            last = F.pad(h, (max(d - T, 0), 0))[:, :, -d:]            # inputs at T-d .. T-1 (0 before start)
            # position tau lives in slot tau % d, so the next position T finds T-d in slot T % d
            queues.append(torch.roll(last, shifts=T % d, dims=2).transpose(1, 2).contiguous())  # (B, d, C)
        step = torch.full((x.shape[0],), T, dtype=torch.long, device=x.device)
        return out[:, -1], {"queues": queues, "t": step}

    def step(self, x: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
        """One new position ``x (B, C)``; updates the queues in place and returns ``(B, C)``."""
        t = int(state["t"][0]) if state["t"].numel() else 0
        h, skips = x, 0
        for layer, q in zip(self.layers, state["queues"]):
            slot = t % layer.dilation
            past = q[:, slot].clone()
            q[:, slot] = h
            h, skip = layer.step(h, past)
            skips = skips + skip
        return F.relu(skips), {"queues": state["queues"], "t": state["t"] + 1}

    def score_steps(self, x: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
        """``m`` new positions ``x (B, m, C)`` per row, each row from its own step count.

        The queues are read, not written: each layer's inputs are kept in the state so that
        :meth:`truncate` writes only the positions a row keeps (speculative decoding).
        """
        B, m, C = x.shape
        t = state["t"]
        offsets = torch.arange(m, device=x.device)[None, :]
        h, skips, inputs = x, 0, []
        for layer, q in zip(self.layers, state["queues"]):
            d = layer.dilation
            inputs.append(h)
            slots = (t[:, None] + offsets) % d                            # input t+j-d lives in slot (t+j) % d
            past = q.gather(1, slots.unsqueeze(-1).expand(B, m, C))
            if m > d:                                                      # ... or was fed in this pass
                past = torch.cat([past[:, :d], h[:, :m - d]], 1)
            out, skip = layer.step(h.reshape(B * m, C), past.reshape(B * m, C))
            h = out.view(B, m, C)
            skips = skips + skip.view(B, m, C)
        return F.relu(skips), {"queues": state["queues"], "t": t, "inputs": inputs}

    def truncate(self, state: dict, keep: torch.Tensor) -> dict:
        """Write the first ``keep (B,)`` positions of the last :meth:`score_steps` into the queues."""
        t, queues = state["t"], state["queues"]
        keep = keep.to(t.device)
        rows = torch.arange(t.numel(), device=t.device)
        most = int(keep.max()) if keep.numel() else 0
        least = int(keep.min()) if keep.numel() else 0
        for layer, q, inp in zip(self.layers, queues, state["inputs"]):
            d = layer.dilation
            for j in range(max(least - d, 0), most):      # before that, every row overwrites j with j + d
                slot = (t + j) % d
                write = (j < keep).unsqueeze(-1)
                q[rows, slot] = torch.where(write, inp[:, j], q[rows, slot])
        return {"queues": queues, "t": t + keep}
