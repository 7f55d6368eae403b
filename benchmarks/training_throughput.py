"""Training throughput of the neural backbones (training windows per second) on M4 Hourly.

Each backbone's ``NeuralAR.fit`` (everything included: window sampling, features, the local AR
path, the head, AdamW and clipping) is timed for a fixed number of optimizer steps, and set against
a reference measured in the same run: the same number of steps of a stock PyTorch model of
similar size (``nn.TransformerEncoder`` with a causal mask, or a plain stack of dilated
``nn.Conv1d``) on windows of the same shape with a plain Normal likelihood.

    python benchmarks/training_throughput.py --quick
    python benchmarks/training_throughput.py --device cuda     # both on the GPU (timed after a warm-up)
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from sklearn.base import clone

import arforecast as af
from arforecast.datasets import load_m4_hourly


def _reference_model(backbone: str, width: int, layers: int) -> nn.Module:
    if backbone == "transformer":
        layer = nn.TransformerEncoderLayer(width, 4, 4 * width, dropout=0.0, batch_first=True, norm_first=True)
        body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
    else:
        convs = [nn.Conv1d(width, width, 2, dilation=2 ** (k % 8)) for k in range(layers)]
        body = nn.ModuleList(convs)

    class Ref(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp, self.body, self.out = nn.Linear(1, width), body, nn.Linear(width, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, T)
            h = self.inp(x.unsqueeze(-1))                     # (B, T, C)
            if backbone == "transformer":
                mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1], device=x.device)
                h = self.body(h, mask=mask, is_causal=True)
            else:
                h = h.transpose(1, 2)                         # (B, C, T)
                for conv in self.body:
                    pad = conv.dilation[0]
                    h = h + torch.tanh(conv(nn.functional.pad(h, (pad, 0))))
                h = h.transpose(1, 2)
            return self.out(h)

    return Ref()


def _reference_params(backbone: str, width: int, layers: int) -> int:
    return sum(p.numel() for p in _reference_model(backbone, width, layers).parameters())


def _reference_windows_per_second(backbone: str, series: list[np.ndarray], steps: int, batch: int,
                                  length: int, width: int, layers: int,
                                  device: str = "cpu") -> tuple[float, int]:
    torch.manual_seed(0)
    model = _reference_model(backbone, width, layers).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(steps):
        rows = rng.integers(0, len(series), batch)
        windows = []
        for r in rows:
            s = series[r]
            o = rng.integers(0, len(s) - length - 1)
            w = s[o:o + length + 1]
            windows.append(w / (np.abs(w[:length]).mean() + 1e-8))
        x = torch.tensor(np.stack(windows), dtype=torch.float32, device=device)
        out = model(x[:, :-1])
        loc, scale = out[..., 0], nn.functional.softplus(out[..., 1]) + 1e-3
        loss = -torch.distributions.Normal(loc, scale).log_prob(x[:, 1:]).mean()
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    _sync(device)
    return steps * batch / (time.perf_counter() - start), n_params


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def run(suite: str = "quick", device: str = "cpu") -> dict:
    """Windows per second for each backbone, ours and the stock reference, and their ratio, both
    on ``device`` (on a GPU, each is timed after an untimed warm-up run of the same length)."""
    torch.set_num_threads(1)
    steps = 20 if suite == "quick" else 60
    train, _ = load_m4_hourly(60 if suite == "quick" else None)
    panel = af.to_panel(train)
    series = [panel.series(i) for i in range(panel.n_series)]
    rows = []
    for backbone in ("conv", "transformer"):
        model = af.NeuralAR(backbone=backbone, values="continuous", max_steps=steps, seed=0, progress=False,
                            device=device)
        settings = model._settings()
        batch = settings.training.batch_size
        if device != "cpu":
            clone(model).fit(train)  # CUDA context, kernels and allocator warm up outside the timing
        start = time.perf_counter()
        model.fit(train)
        _sync(device)
        ours = steps * batch / (time.perf_counter() - start)
        # the network reads its receptive field / attention span plus the scored targets per window
        length = int(model.network_.span) + int(model.window_length_)
        ours_params = sum(p.numel() for p in model.network_.parameters())
        # the stock reference gets as many layers as it takes to reach a similar parameter count
        layers, width = 1, int(model.d_model_)
        while _reference_params(backbone, width, layers + 1) <= ours_params:
            layers += 1
        args = (backbone, series, steps, batch, length, width, layers, device)
        if device != "cpu":
            _reference_windows_per_second(*args)
        ref, ref_params = _reference_windows_per_second(*args)
        rows.append({"backbone": backbone, "steps": steps, "batch": batch, "window": length,
                     "params ours": ours_params, "params stock": ref_params, "NeuralAR windows/s": ours, "stock torch windows/s": ref, "ratio (ours / stock)": ours / ref})
        print(f"  {backbone:<12} ours {ours:8.1f} windows/s   stock {ref:8.1f} windows/s   ratio {ours / ref:.2f}", flush=True)
    return {"name": "training_throughput", "title": "Neural training throughput",
            "description": f"Training windows per second on {device}, torch on 1 thread; `fit` timed end to end (includes "
                           "validation and set-up) against a stock PyTorch model of similar width and depth trained "
                           "on windows of the same length in the same run.",
            "table": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu", help="'cpu' (default) or 'cuda': both models run there")
    args = parser.parse_args()
    run("quick" if args.quick else "full", device=args.device)


if __name__ == "__main__":
    main()
