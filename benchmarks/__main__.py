"""One entry point for the benchmark suite.

    python -m benchmarks run --suite quick     # < 5 minutes on 2 cores: subsets, small models
    python -m benchmarks run --suite full      # the published tables (docs/benchmarks.md)
    python -m benchmarks report                # regenerate docs/benchmarks.md from benchmarks/results/

Each benchmark module exposes ``run(suite) -> dict``; results are written as JSON under
``benchmarks/results/<suite>/`` and the report is regenerated from them.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent
#: where results go; the test suite points this elsewhere to leave the recorded results alone
RESULTS = Path(os.environ.get("ARFORECAST_BENCH_RESULTS", ROOT / "results"))
#: benchmark modules, in the order they run
BENCHMARKS = ["accuracy", "ar_fit", "rollout", "backtest", "training_throughput", "conformal"]


def environment() -> dict:
    """Machine and library versions, recorded beside every result."""
    import numpy, pandas, scipy, sklearn, statsmodels, torch
    versions = {m.__name__: m.__version__ for m in (numpy, pandas, scipy, sklearn, statsmodels, torch)}
    try:
        import statsforecast
        versions["statsforecast"] = statsforecast.__version__
    except ImportError:
        pass
    import arforecast
    versions["arforecast"] = arforecast.__version__
    import os
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
            "torch_threads": torch.get_num_threads(), "versions": versions}


def run_suite(suite: str, only: list[str] | None = None) -> list[Path]:
    out_dir = RESULTS / suite
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    env = environment()
    command = f"python -m benchmarks run --suite {suite}" + (f" --only {' '.join(only)}" if only else "")
    for name in only or BENCHMARKS:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"== {name} ({suite})", flush=True)
        start = time.perf_counter()
        result = module.run(suite)
        result.update({"benchmark": name, "suite": suite, "seconds_total": time.perf_counter() - start,
                       "environment": env, "command": command})
        path = out_dir / f"{name}.json"
        path.write_text(json.dumps(result, indent=2, default=float))
        written.append(path)
        print(f"   wrote {path} ({result['seconds_total']:.1f} s)", flush=True)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description="arforecast benchmark suite")
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run a suite and regenerate the report")
    r.add_argument("--suite", choices=("quick", "full"), default="quick")
    r.add_argument("--only", nargs="*", choices=BENCHMARKS, help="run only these benchmarks")
    r.add_argument("--no-report", action="store_true", help="do not regenerate docs/benchmarks.md")
    rep = sub.add_parser("report", help="regenerate docs/benchmarks.md from saved results")
    rep.add_argument("--suite", choices=("quick", "full"), default="full")
    args = parser.parse_args(argv)
    from benchmarks.report import write_report
    if args.cmd == "run":
        run_suite(args.suite, args.only)
        if not args.no_report and args.suite == "full":
            print(f"report: {write_report('full')}")
        return 0
    print(f"report: {write_report(args.suite)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
