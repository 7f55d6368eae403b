"""Incremental vs naive rollout of the neural backbones, and where one step's time goes.

Stand-in networks of the sizes in the rollout issue (untrained weights; speed does not depend
on them): a 4-layer, 128-wide transformer attending to a 512-value context, and an 8-layer,
64-channel WaveNet (receptive field 256), each with a continuous (Student-t) and a quantized
(4096-bin categorical) head, on the 414 M4 Hourly series, h = 48, 100 sample paths each.

* incremental: the real engine, all 41,400 paths (``chunk_size`` paths at a time);
* naive: recomputes the network over the whole growing context at every step. It is far too
  slow for 41,400 paths, so it runs on a subset (``--naive-paths``) and the ratio is
  naive seconds per sample-step over incremental seconds per sample-step, both measured in
  this run; the ratio at equal batch (the same subset stepped incrementally) is printed too.

    python benchmarks/rollout.py            # full run
    python benchmarks/rollout.py --quick    # 40 series x 10 paths, h = 12: a smoke run
"""
from __future__ import annotations

import argparse
import time
from typing import Any

import torch

import arforecast as af
from arforecast.datasets import load_m4_hourly
from arforecast.models.neural import grouped
from arforecast.rollout.engine import rollout
from arforecast.rollout.protocol import map_state

SIZES: dict[str, dict[str, Any]] = {
    "transformer": dict(backbone="transformer", d_model=128, n_layers=4, n_heads=4, attention_context=512),
    "conv": dict(backbone="conv", d_model=64, n_layers=8),
}
HEADS: dict[str, dict[str, Any]] = {
    "continuous": dict(values="continuous", likelihood="student_t"),
    "quantized-4096": dict(values="quantized", n_bins=4096),
}


def stand_in(backbone: str, head: str, train: Any) -> af.NeuralAR:
    """A NeuralAR of the benchmark's size with random (untrained) weights, fitted for 1 step."""
    model = af.NeuralAR(**grouped(dict(context_length=512, max_steps=1, validation_length=0, progress=False, seed=0,
                                       batch_size=2, **SIZES[backbone], **HEADS[head]))).fit(train)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.network_.head.parameters():      # a zero head would make every path alike
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    return model


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(model: af.NeuralAR, n_series: int, paths: int, h: int, naive_series: int, naive_paths: int,
            chunk_size: int) -> dict[str, float]:
    ctx = model._context(model.panel_)
    sub = ctx.rows(torch.arange(min(naive_series, ctx.batch_size)))
    kw = dict(decoding="sample", seed=0)
    t_inc = timed(lambda: rollout(model, ctx, h, num_samples=paths, chunk_size=chunk_size, **kw))
    t_inc_sub = timed(lambda: rollout(model, sub, h, num_samples=naive_paths, **kw))
    t_naive = timed(lambda: rollout(model, sub, h, num_samples=naive_paths, naive=True, **kw))
    steps_full = ctx.batch_size * paths * h
    steps_sub = sub.batch_size * naive_paths * h
    return {
        "incremental_s": t_inc, "sample_steps_per_s": steps_full / t_inc,
        "naive_s_subset": t_naive, "incremental_s_subset": t_inc_sub,
        "ratio": (t_naive / steps_sub) / (t_inc / steps_full),
        "ratio_same_batch": t_naive / t_inc_sub,
    }


def profile_step(model: af.NeuralAR, rows: int, top: int = 12) -> str:
    """Profile one ``advance`` for ``rows`` paths; the table of the most expensive operators."""
    ctx = model._context(model.panel_)
    idx = torch.arange(rows) % ctx.batch_size
    state = map_state(model.start(ctx), lambda x: x.index_select(0, idx))   # start once per series
    value = model.distribution(state).mean
    model.advance(state, value)                          # warm-up
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        dist = model.distribution(state)
        u = torch.rand(rows, dtype=torch.float64).clamp_min(1e-12)
        model.advance(state, dist.icdf(u.to(dist.mean.dtype)))
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top)


def benchmark(quick: bool = False, threads: int = 2, paths: int = 100, naive_series: int = 4,
              naive_paths: int = 10, chunk_size: int = 8192, only: str | None = None,
              profile: bool = False, transformer_paths: int | None = None) -> dict[str, Any]:
    """Run the measurements, print one line per model, return them as a dict."""
    torch.set_num_threads(threads)
    n_series, h = (40, 12) if quick else (None, 48)
    paths = 10 if quick else paths
    naive_paths = 2 if quick else naive_paths
    train, _ = load_m4_hourly(n_series)
    n = train["unique_id"].nunique()
    print(f"rollout benchmark: {n} series, h={h}, context 512, torch threads {threads}", flush=True)
    out: dict[str, Any] = {"n_series": n, "h": h, "threads": threads, "models": {}}
    for backbone in SIZES:
        for head in HEADS:
            if only and only not in (backbone, f"{backbone}:{head}"):
                continue
            p = transformer_paths if (backbone == "transformer" and transformer_paths and not quick) else paths
            model = stand_in(backbone, head, train)
            r = measure(model, n, p, h, naive_series, naive_paths, chunk_size)
            r["paths"] = p
            print(f"{backbone:12s} {head:15s} {n}x{p} paths: incremental {r['incremental_s']:7.1f} s "
                  f"{r['sample_steps_per_s']:9.0f} sample-steps/s | naive {r['naive_s_subset']:6.1f} s on "
                  f"{naive_series}x{naive_paths} paths | incremental faster by {r['ratio']:6.1f}x per "
                  f"sample-step ({r['ratio_same_batch']:.1f}x at equal batch)", flush=True)
            if profile:
                table = profile_step(model, 256 if quick else 4096)
                print(table, flush=True)
                r["profile"] = table
            out["models"][f"{backbone}:{head}"] = r
    return out


def summarize(out: dict[str, Any]) -> dict[str, Any]:
    """Title, description and a table of the measurements (for the suite's report)."""
    rows = [{"model": name, "paths per series": r["paths"], "incremental s": round(r["incremental_s"], 2),
             "sample-steps/s": round(r["sample_steps_per_s"]), "naive s (subset)": round(r["naive_s_subset"], 2),
             "incremental faster, per sample-step": round(r["ratio"], 1),
             "incremental faster, equal batch": round(r["ratio_same_batch"], 1)}
            for name, r in out["models"].items()]
    return {**out, "title": "Rollout: incremental state vs naive recomputation",
            "description": f"Stand-in networks (untrained weights) on {out['n_series']} M4 Hourly series, h={out['h']}, "
                           f"context 512, torch threads {out['threads']}: the engine's incremental rollout of every "
                           "path against recomputing the network over the whole growing context at each step (on a "
                           "subset of paths, compared per sample-step). Per-step profiles are in the JSON.",
            "table": rows}


def run(suite: str = "quick") -> dict[str, Any]:
    """Entry point for ``python -m benchmarks run``.

    The full suite steps 10 paths per series (4,140 paths, about 8 minutes for the four models on
    2 cores); ``python benchmarks/rollout.py`` runs the 100-path version.
    """
    if suite == "quick":
        return summarize(benchmark(quick=True))
    return summarize(benchmark(paths=10, naive_series=2, naive_paths=4, profile=True))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--paths", type=int, default=100)
    ap.add_argument("--transformer-paths", type=int, default=None,
                    help="paths per series for the transformer (default: --paths)")
    ap.add_argument("--naive-series", type=int, default=4)
    ap.add_argument("--naive-paths", type=int, default=10)
    ap.add_argument("--chunk-size", type=int, default=8192)
    ap.add_argument("--only", default=None, help="backbone[:head] to run, e.g. conv:continuous")
    ap.add_argument("--profile", action="store_true", help="profile one step of each model")
    args = ap.parse_args(argv)
    benchmark(args.quick, args.threads, args.paths, args.naive_series, args.naive_paths, args.chunk_size,
              args.only, args.profile, args.transformer_paths)


if __name__ == "__main__":
    main()
