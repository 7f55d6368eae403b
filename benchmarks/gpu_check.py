"""One short check of the fast decoding work on a GPU machine (run once, under 6 minutes on an H200).

1. ``tests/test_cuda.py`` (CUDA forecasts equal CPU forecasts, incremental == naive on CUDA);
2. speculative vs plain sampling on ``--device`` for trained models of the benchmark's sizes
   (transformer and WaveNet, local AR draft, k = 4): one series x one path and all series x 10
   paths, acceptance rate and speed ratio (``benchmarks/rollout.py --speculative``);
3. incremental vs naive throughput of the continuous stand-ins on ``--device``.

Uses M4 Hourly when ``ARFORECAST_DATA`` (or ``../shared/datasets``) has it, otherwise a simulated
panel of the same shape (414 series of 700 hourly values), and says which.

    bash benchmarks/gpu_check.sh                 # on the GPU machine
    python benchmarks/gpu_check.py --device cpu  # the same, on the CPU (a dry run)
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import rollout as bench  # noqa: E402  (benchmarks/rollout.py)


def simulated_m4_like(n_series: int | None = None, length: int = 700, h: int = 48) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seasonal AR series on an hourly grid, split like M4 Hourly (train, last ``h`` values as test)."""
    from arforecast.datasets import simulate_ar
    n = 414 if n_series is None else n_series
    df = simulate_ar([0.6, -0.2], n_series=n, length=length + h, intercept=50.0,
                     seasonal=list(10 * np.sin(np.arange(24) * 2 * np.pi / 24)), seed=0)
    df["ds"] = pd.Timestamp("2000-01-01") + pd.to_timedelta(df.groupby("unique_id").cumcount(), unit="h")
    last = df.groupby("unique_id").cumcount(ascending=False) < h
    return df[~last].reset_index(drop=True), df[last].reset_index(drop=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--train-seconds", type=float, default=30)
    ap.add_argument("--stream-series", type=int, default=10)
    ap.add_argument("--skip-tests", action="store_true")
    ap.add_argument("--quick", action="store_true", help="40 series, h = 12 (a smoke run)")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    cuda = torch.cuda.is_available()
    print(f"torch {torch.__version__}, CUDA available: {cuda}"
          + (f" ({torch.cuda.get_device_name(0)})" if cuda else ""), flush=True)
    if args.device.startswith("cuda") and not cuda:
        sys.exit("--device cuda asked for but CUDA is not available")
    try:
        from arforecast.datasets import find_data
        find_data("m4_hourly")
        print("data: M4 Hourly", flush=True)
    except FileNotFoundError:
        bench.load_m4_hourly = simulated_m4_like
        print("data: M4 Hourly not found; a simulated panel of the same shape (414 x 700 hourly values)", flush=True)

    if not args.skip_tests:
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "tests" / "test_cuda.py")]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180)
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        print(f"tests/test_cuda.py: exit {proc.returncode} in {time.perf_counter() - t0:.0f} s: " + " | ".join(tail),
              flush=True)

    t0 = time.perf_counter()
    threads = torch.get_num_threads() if args.device != "cpu" else 2
    bench.fast_decoding(threads=threads, paths=10, stream_series=args.stream_series, k=4,
                        train_seconds=args.train_seconds, device=args.device, speculative=True,
                        int8=False, quick=args.quick)
    print(f"speculative vs plain: {time.perf_counter() - t0:.0f} s", flush=True)

    t0 = time.perf_counter()
    for only in ("transformer:continuous", "conv:continuous"):
        bench.benchmark(quick=args.quick, threads=threads, paths=10, naive_series=2, naive_paths=4, only=only,
                        device=args.device)
    print(f"throughput: {time.perf_counter() - t0:.0f} s; total {time.perf_counter() - t_start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
