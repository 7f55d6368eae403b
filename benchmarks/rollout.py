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

Fast decoding (``--speculative``, ``--int8``): models of the same sizes *trained* for
``--train-seconds`` on M4 Hourly (a random network disagrees with its local AR path, so the
stand-ins would accept almost no proposal); the draft is each model's own local AR path.

* speculative vs plain sampling, (a) one series x one path (streaming: each of
  ``--stream-series`` series forecast alone), (b) all series x 10 paths; acceptance rate and
  speed ratio, both measured in this run;
* int8 (dynamic quantization of the linear layers) vs float32: speed of the (b) rollout and the
  change in M4 Hourly sMAPE / MSIS of the trained models' forecasts (100 paths).

The throughput goals of issue 23 are checked against the incremental figures of the first part.

    python benchmarks/rollout.py            # full run
    python benchmarks/rollout.py --quick    # 40 series x 10 paths, h = 12: a smoke run
    python benchmarks/rollout.py --speculative --int8 --paths 10   # everything
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


#: goals of issue 23 (sample-steps/s and the speed-up over naive recomputation)
GOALS = {"transformer:continuous": (5200, 81), "conv:continuous": (76000, 206),
         "transformer:quantized-4096": (3800, None)}


def stand_in(backbone: str, head: str, train: Any, device: str = "auto") -> af.NeuralAR:
    """A NeuralAR of the benchmark's size with random (untrained) weights, fitted for 1 step."""
    model = af.NeuralAR(**grouped(dict(context_length=512, max_steps=1, validation_length=0, progress=False, seed=0,
                                       batch_size=2, device=device, **SIZES[backbone], **HEADS[head]))).fit(train)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.network_.head.parameters():      # a zero head would make every path alike
            p.add_(0.05 * torch.randn(p.shape, generator=gen).to(p.device))
    return model


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def cpu_timed(fn) -> tuple[float, float]:
    """Wall seconds and CPU seconds of this process (all threads): on a shared machine the CPU
    seconds show what the work costs when the wall clock is stretched by other processes."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def measure(model: af.NeuralAR, n_series: int, paths: int, h: int, naive_series: int, naive_paths: int,
            chunk_size: int) -> dict[str, float]:
    ctx = model._context(model.panel_)
    sub = ctx.rows(torch.arange(min(naive_series, ctx.batch_size)))
    kw = dict(decoding="sample", seed=0)
    t_inc, c_inc = cpu_timed(lambda: rollout(model, ctx, h, num_samples=paths, chunk_size=chunk_size, **kw))
    t_inc_sub = timed(lambda: rollout(model, sub, h, num_samples=naive_paths, **kw))
    t_naive = timed(lambda: rollout(model, sub, h, num_samples=naive_paths, naive=True, **kw))
    steps_full = ctx.batch_size * paths * h
    steps_sub = sub.batch_size * naive_paths * h
    return {
        "incremental_s": t_inc, "sample_steps_per_s": steps_full / t_inc, "incremental_cpu_s": c_inc,
        "sample_steps_per_cpu_s": steps_full / c_inc,
        "naive_s_subset": t_naive, "incremental_s_subset": t_inc_sub,
        "ratio": (t_naive / steps_sub) / (t_inc / steps_full),
        "ratio_same_batch": t_naive / t_inc_sub,
    }


def profile_step(model: af.NeuralAR, rows: int, top: int = 12) -> str:
    """Profile one ``advance`` for ``rows`` paths; the table of the most expensive operators."""
    ctx = model._context(model.panel_)
    idx = torch.arange(rows) * ctx.batch_size // rows       # the paths of a series together, as the engine keeps them
    state = map_state(model.start(ctx), lambda x: x.index_select(0, idx.to(x.device)))   # start once per series
    value = model.distribution(state).mean
    model.advance(state, value)                          # warm-up
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        dist = model.distribution(state)
        u = torch.rand(rows, dtype=torch.float64).clamp_min(1e-12).to(dist.mean.device)
        model.advance(state, dist.icdf(u.to(dist.mean.dtype)))
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top)


def benchmark(quick: bool = False, threads: int = 2, paths: int = 100, naive_series: int = 4,
              naive_paths: int = 10, chunk_size: int = 8192, only: str | None = None,
              profile: bool = False, transformer_paths: int | None = None, device: str = "auto") -> dict[str, Any]:
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
            model = stand_in(backbone, head, train, device)
            r = measure(model, n, p, h, naive_series, naive_paths, chunk_size)
            r["paths"] = p
            print(f"{backbone:12s} {head:15s} {n}x{p} paths: incremental {r['incremental_s']:7.1f} s "
                  f"{r['sample_steps_per_s']:9.0f} sample-steps/s | naive {r['naive_s_subset']:6.1f} s on "
                  f"{naive_series}x{naive_paths} paths | incremental faster by {r['ratio']:6.1f}x per "
                  f"sample-step ({r['ratio_same_batch']:.1f}x at equal batch); "
                  f"{r['sample_steps_per_cpu_s']:.0f} sample-steps per CPU-second", flush=True)
            goal = GOALS.get(f"{backbone}:{head}")
            if goal is not None and not quick:
                met = r["sample_steps_per_s"] >= goal[0] and (goal[1] is None or r["ratio"] >= goal[1])
                r["goal"] = goal
                print(f"{'':12s} goal (issue 23): >= {goal[0]} sample-steps/s"
                      + (f" and >= {goal[1]}x" if goal[1] else "") + f": {'met' if met else 'MISSED'}", flush=True)
            if profile:
                table = profile_step(model, 256 if quick else 4096)
                print(table, flush=True)
                r["profile"] = table
            out["models"][f"{backbone}:{head}"] = r
    return out


# --------------------------------------------------------------------------- fast decoding
#: smaller networks for --spec-size small: a short CPU budget trains them for hundreds of steps
SMALL: dict[str, dict[str, Any]] = {
    "transformer": dict(backbone="transformer", d_model=32, n_layers=3, n_heads=4, attention_context=512),
    "conv": dict(backbone="conv", d_model=32, n_layers=8),
}


def trained(backbone: str, train: Any, seconds: float, device: str = "auto", values: str = "continuous",
            size: str = "full") -> af.NeuralAR:
    """A NeuralAR trained for ``seconds`` on the train part (no validation split, no weight
    averaging: a short budget is spent on steps, and the last weights are kept); ``size="full"``
    is the benchmark's size, ``"small"`` a 32-wide network (for a CPU budget)."""
    head = HEADS["continuous" if values == "continuous" else "quantized-4096"]
    arch = SIZES[backbone] if size == "full" else SMALL[backbone]
    return af.NeuralAR(**grouped(dict(context_length=512, max_steps=100_000, time_limit=seconds, progress=False,
                                      seed=0, device=device, validation_length=0, ema_decay=None,
                                      batch_size=32 if size == "full" else 16, **arch, **head))).fit(train)


def speculative_vs_plain(model: af.NeuralAR, stream_series: int, paths: int, h: int, k: int,
                         chunk_size: int, cases: str = "ab") -> dict[str, float]:
    """(a) one series x one path, each of ``stream_series`` series alone; (b) all series x ``paths``."""
    from arforecast.models.neural.draft import LocalARDraft
    ctx = model._context(model.panel_)
    draft = LocalARDraft(model)
    out: dict[str, float] = {}
    spec_kw = dict(decoding="speculative", draft=draft, draft_steps=k)
    for case, rows, S in (("a", [torch.tensor([i]) for i in range(min(stream_series, ctx.batch_size))], 1),
                          ("b", [torch.arange(ctx.batch_size)], paths)):
        if case not in cases:
            continue
        times = {"plain": 0.0, "speculative": 0.0}
        accepted = proposed = 0
        for r in rows:
            sub = ctx.rows(r)
            rollout(model, sub, 2, decoding="sample", num_samples=S, seed=0)             # warm-up
            times["plain"] += timed(lambda: rollout(model, sub, h, decoding="sample", num_samples=S, seed=0,
                                                    chunk_size=chunk_size))
            res = None

            def spec() -> None:
                nonlocal res
                res = rollout(model, sub, h, num_samples=S, seed=0, chunk_size=chunk_size, **spec_kw)
            times["speculative"] += timed(spec)
            accepted += res.stats["accepted"]
            proposed += res.stats["proposed"]
        steps = sum(len(r) for r in rows) * S * h
        out[case] = {"plain_steps_per_s": steps / times["plain"], "spec_steps_per_s": steps / times["speculative"],
                     "speed_ratio": times["plain"] / times["speculative"], "acceptance": accepted / max(proposed, 1),
                     "series": sum(len(r) for r in rows), "paths": S}
    return out


def int8_vs_float32(model: af.NeuralAR, test: Any, paths: int, h: int, chunk_size: int,
                    eval_paths: int = 100) -> dict[str, float]:
    """Speed of the all-series rollout and the change in M4 Hourly sMAPE / MSIS (``eval_paths`` paths)."""
    from arforecast.evaluation.scoring import score
    out: dict[str, float] = {}
    for q in (None, "int8"):
        name = q or "float32"
        model.predict(2, num_samples=paths, seed=0, quantize=q)                          # warm-up (and quantize)
        t = timed(lambda: model.predict(h, num_samples=paths, seed=0, quantize=q, chunk_size=chunk_size))
        fc = model.predict(h, num_samples=eval_paths, seed=0, quantize=q, chunk_size=chunk_size)
        s = score(fc, test, model.panel_, 24, level=0.95)
        out[name] = {"seconds": t, "steps_per_s": model.n_series_ * paths * h / t, "sMAPE": s["sMAPE"],
                     "MSIS": s["MSIS"]}
    out["eval_paths"] = eval_paths
    return out


def int8_stand_in_speed(threads: int = 2, n_series: int = 100, paths: int = 10, h: int = 48,
                        heads: tuple[str, ...] = ("continuous", "quantized-4096")) -> dict[str, Any]:
    """Int8 vs float32 rollout speed of the full-size transformer stand-ins (``n_series`` x ``paths``)."""
    torch.set_num_threads(threads)
    train, _ = load_m4_hourly(n_series)
    out: dict[str, Any] = {}
    for head in heads:
        model = stand_in("transformer", head, train, "cpu")
        t = {}
        for q in (None, "int8"):
            model.predict(2, num_samples=paths, seed=0, quantize=q)                      # warm-up
            t[q or "float32"] = cpu_timed(lambda: model.predict(h, num_samples=paths, seed=0, quantize=q))
        steps = model.n_series_ * paths * h
        out[head] = t
        print(f"transformer {head:15s} int8 vs float32, {model.n_series_}x{paths} paths, h={h}: "
              f"{steps / t['float32'][0]:.0f} -> {steps / t['int8'][0]:.0f} sample-steps/s "
              f"({t['float32'][0] / t['int8'][0]:.2f}x wall, {t['float32'][1] / t['int8'][1]:.2f}x CPU seconds)",
              flush=True)
    return out


def fast_decoding(threads: int = 2, paths: int = 10, stream_series: int = 20, k: int = 4, train_seconds: float = 120,
                  chunk_size: int = 8192, device: str = "auto", speculative: bool = True, int8: bool = True,
                  backbones: tuple[str, ...] = ("transformer", "conv"), quick: bool = False,
                  size: str = "full", cases: str = "ab", eval_paths: int = 100) -> dict[str, Any]:
    """Speculative vs plain sampling and int8 vs float32 on trained models; prints one block per backbone."""
    torch.set_num_threads(threads)
    n_series, h = (40, 12) if quick else (None, 48)
    train, test = load_m4_hourly(n_series)
    out: dict[str, Any] = {}
    for backbone in backbones:
        t0 = time.perf_counter()
        model = trained(backbone, train, train_seconds, device, size=size)
        fit_s = time.perf_counter() - t0
        print(f"{backbone} ({size} size, d_model {model.d_model_}): trained {model.training_.steps} steps in "
              f"{fit_s:.0f} s on {model.device_}", flush=True)
        r: dict[str, Any] = {"train_steps": model.training_.steps}
        if speculative:
            r["speculative"] = sp = speculative_vs_plain(model, stream_series, paths, h, k, chunk_size, cases)
            for case, label in (("a", "one series x one path"), ("b", f"{model.n_series_} series x {paths} paths")):
                if case not in sp:
                    continue
                c = sp[case]
                print(f"  speculative (k={k}, local AR draft) vs plain, {label}: acceptance {c['acceptance']:.2f}, "
                      f"plain {c['plain_steps_per_s']:8.0f} / speculative {c['spec_steps_per_s']:8.0f} "
                      f"sample-steps/s: {c['speed_ratio']:.2f}x"
                      + (f" (goal >= 2x: {'met' if c['speed_ratio'] >= 2 else 'MISSED'})" if case == "a" else ""),
                      flush=True)
        if int8 and model.device_.type == "cpu":
            r["int8"] = q = int8_vs_float32(model, test, paths, h, chunk_size, eval_paths)
            f, i = q["float32"], q["int8"]
            print(f"  int8 vs float32, all series x {paths} paths (accuracy from {q['eval_paths']} paths): "
              f"{f['seconds']:.1f} s -> {i['seconds']:.1f} s "
                  f"({f['seconds'] / i['seconds']:.2f}x); sMAPE {f['sMAPE']:.3f} -> {i['sMAPE']:.3f} "
                  f"({i['sMAPE'] - f['sMAPE']:+.3f}), MSIS {f['MSIS']:.3f} -> {i['MSIS']:.3f} "
                  f"({i['MSIS'] - f['MSIS']:+.3f})", flush=True)
        out[backbone] = r
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
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--speculative", action="store_true", help="speculative vs plain sampling on trained models")
    ap.add_argument("--int8", action="store_true", help="int8 vs float32 on trained models (CPU)")
    ap.add_argument("--no-throughput", action="store_true", help="skip the incremental vs naive part")
    ap.add_argument("--train-seconds", type=float, default=120)
    ap.add_argument("--stream-series", type=int, default=20)
    ap.add_argument("--draft-steps", type=int, default=4)
    ap.add_argument("--backbones", default="transformer,conv")
    ap.add_argument("--int8-stand-ins", type=int, default=0, metavar="N",
                    help="int8 vs float32 speed of the full-size transformer stand-ins on N series")
    ap.add_argument("--eval-paths", type=int, default=100, help="sample paths of the int8 accuracy check")
    ap.add_argument("--spec-cases", default="ab", help="a: one series x one path, b: all series x --paths")
    ap.add_argument("--spec-size", default="full", choices=("full", "small"),
                    help="network size of the trained models (small: 32 wide, for a CPU budget)")
    args = ap.parse_args(argv)
    if not args.no_throughput:
        benchmark(args.quick, args.threads, args.paths, args.naive_series, args.naive_paths, args.chunk_size,
                  args.only, args.profile, args.transformer_paths, args.device)
    if args.int8_stand_ins:
        int8_stand_in_speed(args.threads, args.int8_stand_ins, 10 if args.quick else args.paths, 12 if args.quick else 48)
    if args.speculative or args.int8:
        fast_decoding(args.threads, 10 if args.quick else args.paths, args.stream_series, args.draft_steps,
                      args.train_seconds, args.chunk_size, args.device, args.speculative, args.int8,
                      tuple(args.backbones.split(",")), args.quick, args.spec_size, args.spec_cases,
                      args.eval_paths)


if __name__ == "__main__":
    main()
