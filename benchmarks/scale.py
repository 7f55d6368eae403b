"""Scale: the data layer, end-to-end fit and fitted-model size against references measured in the same run.

* (a) ``to_panel`` on long frames (50,000 x 100 and 10,000 x 200, hourly) against a plain vectorized
  conversion of the same frame: factorize the ids, a stable argsort, offsets by ``searchsorted``,
  one vectorized check that every step inside a series equals the frequency (goal: <= 1.5x);
* (b) ``AR(24).fit`` end to end from a wide 1,000 x 1,000 frame against a loop of statsmodels
  ``AutoReg(y, 24).fit()`` over its columns (goal: >= 50x faster);
* (c) a fitted ``AR(24)`` on 20,000 x 500: its pickle size (goal: < 5 MB) and the peak extra memory
  (resident set, measured in a fresh process) of ``predict(h=48, num_samples=100)`` against the size
  of the sample paths it returns (goal: < 2x).

Times are the best of a few repeats (statsmodels runs once); threads are limited to one.

    ARFORECAST_DATA=... python benchmarks/scale.py [--quick] [--record]
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import arforecast as af  # noqa: E402


def long_frame(n: int, length: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01")
    offsets = rng.integers(0, 24 * 30, size=n)                      # different start times
    ds = (start.value + (offsets[:, None] + np.arange(length)[None, :]) * 3_600_000_000_000).reshape(-1)
    return pd.DataFrame({"unique_id": np.repeat([f"s{i}" for i in range(n)], length),
                         "ds": pd.to_datetime(ds), "y": rng.standard_normal(n * length).cumsum()})


def plain_conversion(df: pd.DataFrame) -> tuple:
    """The reference: what any vectorized long -> offsets conversion must do, nothing more."""
    codes, uniques = pd.factorize(df["unique_id"], sort=False)
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    indptr = np.searchsorted(sorted_codes, np.arange(len(uniques) + 1))
    values = df["y"].to_numpy(dtype=np.float64)[order]
    t = df["ds"].to_numpy().view(np.int64)[order]
    steps = np.diff(t)
    inner = np.ones(len(steps), dtype=bool)
    inner[indptr[1:-1] - 1] = False
    step = steps[inner][0]
    if not (steps[inner] == step).all() or not np.isfinite(values).all():
        raise ValueError("irregular")
    return values, indptr, uniques, t[indptr[:-1]]


def best(fn, repeats: int) -> float:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def bench_long(sizes, repeats: int) -> list[dict]:
    rows = []
    for n, length in sizes:
        df = long_frame(n, length)
        ours = best(lambda: af.to_panel(df), repeats)
        ref = best(lambda: plain_conversion(df), repeats)
        rows.append({"case": f"to_panel long {n:,} x {length}", "ours_s": ours, "reference_s": ref,
                     "ratio": ours / ref, "goal": "<= 1.5x"})
    return rows


def bench_ar_fit(n: int, length: int, repeats: int) -> dict:
    from statsmodels.tsa.ar_model import AutoReg
    rng = np.random.default_rng(1)
    wide = pd.DataFrame(rng.standard_normal((length, n)).cumsum(axis=0),
                        index=pd.date_range("2020-01-01", periods=length, freq="h"),
                        columns=[f"s{i}" for i in range(n)])
    ours = best(lambda: af.AR(24).fit(wide), repeats)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for col in wide.columns:
            AutoReg(wide[col].to_numpy(), lags=24).fit()
    ref = time.perf_counter() - t0
    return {"case": f"AR(24).fit wide {n:,} x {length:,} vs statsmodels loop", "ours_s": ours, "reference_s": ref,
            "ratio": ref / ours, "goal": ">= 50x (speed-up)"}


_PREDICT_CHILD = """
import os, pickle, resource, sys, time
import numpy as np
sys.path.insert(0, {root!r})
import arforecast
model = pickle.load(open({path!r}, "rb"))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t0 = time.perf_counter()
fc = model.predict(48, num_samples=100, seed=0)
wall = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(repr((before, peak, fc.samples.nbytes, wall)))
"""


def bench_lean(n: int, length: int) -> list[dict]:
    rng = np.random.default_rng(2)
    values = rng.standard_normal((n, length)).cumsum(axis=1)
    df = pd.DataFrame({"unique_id": np.repeat(np.arange(n), length),
                       "ds": np.tile(np.arange(length), n), "y": values.reshape(-1)})
    model = af.AR(24).fit(df)
    blob = pickle.dumps(model)
    rows = [{"case": f"pickle of a fitted AR(24), {n:,} x {length}", "ours_s": None, "reference_s": None,
             "ratio": len(blob) / 5e6, "bytes": len(blob), "goal": "< 5 MB (ratio to 5 MB < 1)"}]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.pkl")
        with open(path, "wb") as fh:
            fh.write(blob)
        del model, blob, df, values
        proc = subprocess.run([sys.executable, "-c", _PREDICT_CHILD.format(root=str(ROOT), path=path)],
                              capture_output=True, text=True, check=True)
    before, peak, out_bytes, wall = eval(proc.stdout.strip().splitlines()[-1])
    rows.append({"case": f"predict(h=48, num_samples=100) peak extra memory, {n:,} series", "ours_s": wall,
                 "reference_s": None, "ratio": (peak - before) / out_bytes, "bytes": peak - before,
                 "output_bytes": out_bytes, "goal": "< 2x the output"})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    parser.add_argument("--record", action="store_true", help="write benchmarks/results/scale[_quick].{md,json}")
    args = parser.parse_args()
    if args.quick:
        rows = bench_long([(2_000, 50), (500, 100)], 1) + [bench_ar_fit(50, 200, 1)] + bench_lean(500, 100)
    else:
        rows = (bench_long([(50_000, 100), (10_000, 200)], 3) + [bench_ar_fit(1_000, 1_000, 3)]
                + bench_lean(20_000, 500))
    table = pd.DataFrame(rows).set_index("case")
    text = table.to_markdown(floatfmt=".3g") if _has_tabulate() else table.to_string()
    print(text)
    if args.record:
        out = Path(os.environ.get("ARFORECAST_BENCH_RESULTS", ROOT / "benchmarks" / "results"))
        out.mkdir(parents=True, exist_ok=True)
        stem = "scale_quick" if args.quick else "scale"
        (out / f"{stem}.md").write_text(f"# benchmarks/scale.py{' --quick' if args.quick else ''}\n\n{text}\n")
        (out / f"{stem}.json").write_text(json.dumps(rows, indent=1, default=float))


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
        return True
    except ImportError:
        return False


if __name__ == "__main__":
    main()
