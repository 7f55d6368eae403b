"""AR fit + predict on a very large panel: one process against a Dask ``LocalCluster`` of 2 workers.

``n`` series x 100 points (integer time), ``arforecast.forecast(AR(p=7), df, h=14)`` (fit and point
forecasts with their closed-form 95% intervals). Each mode runs in a fresh process; peak memory is
the resident-set peak (``ru_maxrss``) of that process and, on Dask, of each worker process too.

    python benchmarks/scale_million.py --n 1000000      # the issue's size (needs ~10+ GB free)
    python benchmarks/scale_million.py --n 100000       # a tenth, for the extrapolation
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LENGTH, H = 100, 14


def make_frame(n: int):
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(0)
    return pd.DataFrame({"unique_id": np.repeat(np.arange(n, dtype=np.int64), LENGTH),
                         "ds": np.tile(np.arange(LENGTH, dtype=np.int64), n),
                         "y": rng.standard_normal(n * LENGTH).cumsum()})


def peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_single(n: int) -> dict:
    import arforecast as af
    df = make_frame(n)
    before = peak()
    t0 = time.perf_counter()
    out = af.forecast(af.AR(p=7), df, h=H, levels=[95])
    wall = time.perf_counter() - t0
    return {"mode": "single process", "n": n, "seconds": wall, "rows_out": len(out), "peak_rss": peak(),
            "peak_rss_before_call": before}


def run_dask(n: int, partitions: int) -> dict:
    import dask.dataframe as dd
    import distributed

    import arforecast as af
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  memory_limit=0) as cluster, distributed.Client(cluster) as client:
        df = make_frame(n)
        ddf = dd.from_pandas(df, npartitions=partitions)
        del df
        before = peak()
        t0 = time.perf_counter()
        out = af.forecast(af.AR(p=7), ddf, h=H, levels=[95]).compute()
        wall = time.perf_counter() - t0
        workers = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"mode": "LocalCluster(2 workers)", "n": n, "partitions": partitions, "seconds": wall,
            "rows_out": len(out), "peak_rss": peak(), "peak_rss_before_call": before,
            "worker_peak_rss": sorted(workers.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--mode", choices=["both", "single", "dask"], default="both")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    if args.mode != "both":
        result = run_single(args.n) if args.mode == "single" else run_dask(args.n, args.partitions)
        print(json.dumps(result))
        return
    rows = []
    for mode in ("single", "dask"):
        proc = subprocess.run([sys.executable, __file__, "--n", str(args.n), "--partitions", str(args.partitions),
                               "--mode", mode], capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr[-2000:])
            raise SystemExit(proc.returncode)
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    for r in rows:
        extra = f", workers' peak {[round(w / 1e9, 2) for w in r['worker_peak_rss']]} GB" if "worker_peak_rss" in r else ""
        print(f"{r['mode']}: n={r['n']:,} x {LENGTH}, h={H}: {r['seconds']:.1f} s, peak RSS "
              f"{r['peak_rss'] / 1e9:.2f} GB (frame built: {r['peak_rss_before_call'] / 1e9:.2f} GB){extra}")
    if args.record:
        out = Path(os.environ.get("ARFORECAST_BENCH_RESULTS", ROOT / "benchmarks" / "results"))
        out.mkdir(parents=True, exist_ok=True)
        (out / f"scale_million_n{args.n}.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
