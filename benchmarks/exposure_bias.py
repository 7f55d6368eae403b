"""Exposure bias: NeuralAR trained by teacher forcing against scheduled sampling and a multi-step objective.

Each variant trains one NeuralAR with the same ``--time-limit`` (steps reported beside it) on the
training part of a data set *minus its last h values* (the validation window: the horizon cut from
the training part), then forecasts twice without refitting: the validation window (from the
shortened histories) and the test part (from the whole training part, ``predict(y=train)``).
The default is chosen on the validation figures only; the test figures are the outcome.

Per variant and part it prints the per-horizon error curve -- MASE at step k (mean over series of
``|y - yhat|`` at step k over the in-sample seasonal-naive scale) divided by MASE at step 1 -- for
the mean of the sample paths and for the mean path, the same curve as a ratio to the teacher-forced
run's, and the final scores (sMAPE, MASE, OWA against Naive2, MSIS, 95% coverage) with their ratios
to the teacher-forced run of the same invocation.

    python benchmarks/exposure_bias.py --dataset m4_hourly --time-limit 180
    python benchmarks/exposure_bias.py --dataset m3_monthly --time-limit 180
    python benchmarks/exposure_bias.py --quick            # 12 series, 5 s each (smoke test)
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import arforecast as af
from arforecast.datasets import M3_HORIZONS, M3_SEASONS, load_m3, load_m4_hourly
from arforecast.evaluation import metrics
from arforecast.evaluation.scoring import actuals_matrix, score
from arforecast.models.neural import grouped

RESULTS = Path(__file__).resolve().parent / "results"
DATASETS = {"m4_hourly": (lambda n: load_m4_hourly(n), 48, 24),
            "m3_monthly": (lambda n: load_m3("monthly", n), M3_HORIZONS["monthly"], M3_SEASONS["monthly"])}
REFERENCE = "teacher forcing"


def variants(h: int, share: float, steps: int | None, weight: float,
             schedule: str = "linear") -> dict[str, dict[str, Any]]:
    """The compared training objectives (``Training`` fields); the first is the reference."""
    k = max(2, h // 6) if steps is None else steps
    ss = {"scheduled_sampling": share, "sampling_schedule": schedule}
    return {REFERENCE: {},
            f"scheduled sampling {share:g} {schedule} (draws)": ss,
            f"scheduled sampling {share:g} {schedule} (mean)": {**ss, "sampling_feed": "mean"},
            f"multi-step k={k} w={weight:g}": {"rollout_steps": k, "rollout_weight": weight}}


def split_last(frame: pd.DataFrame, h: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(each series without its last h rows, those h rows)."""
    frame = frame.sort_values(["unique_id", "ds"])
    rank = frame.groupby("unique_id").cumcount(ascending=False)
    return frame[rank >= h], frame[rank < h]


def horizon_mase(fc: af.Forecast, actual: pd.DataFrame, insample: af.Panel, m: int) -> np.ndarray:
    """MASE at each step ``[h]``: mean over series of |y - yhat| / in-sample seasonal-naive MAE."""
    y = actuals_matrix(fc, actual)
    scale = metrics.seasonal_scale(insample, m)
    return np.nanmean(np.abs(y - fc.point) / scale[:, None], axis=0)


def evaluate(model: af.NeuralAR, history: pd.DataFrame, actual: pd.DataFrame, h: int, m: int,
             num_samples: int, naive2: dict[str, float]) -> dict[str, Any]:
    insample = af.to_panel(history)
    t0 = time.perf_counter()
    fc = model.predict(h, num_samples=num_samples, seed=0, y=history)
    mean_path = model.predict(h, y=history)
    scores = score(fc, actual, insample, season_length=m)
    scores["OWA"] = metrics.owa(scores["sMAPE"], scores["MASE"], naive2["sMAPE"], naive2["MASE"])
    return {"scores": scores, "curve": horizon_mase(fc, actual, insample, m),
            "mean_path_curve": horizon_mase(mean_path, actual, insample, m),
            "mean_path_MASE": float(np.mean(metrics.mase(actuals_matrix(mean_path, actual), mean_path.point,
                                                         insample, m))),
            "predict_seconds": time.perf_counter() - t0}


def naive2_scores(history: pd.DataFrame, actual: pd.DataFrame, h: int, m: int) -> dict[str, float]:
    fc = af.Naive2(m).fit(history).predict(h)
    return score(fc, actual, af.to_panel(history), season_length=m)


def show_steps(h: int) -> list[int]:
    return sorted({k for k in (1, 2, 3, 4, 6, 8, 12, 18, 24, 36, 48, h) if k <= h})


def report(results: dict[str, dict[str, Any]], part: str, h: int) -> str:
    ks = show_steps(h)
    ref = results[REFERENCE][part]
    lines = [f"-- {part}: MASE at step k / MASE at step 1 (mean of sample paths; mean path in brackets)"]
    head = f"{'variant':<34}" + "".join(f"{k:>14}" for k in ks)
    lines.append(head)
    for name, r in results.items():
        c, mp = r[part]["curve"], r[part]["mean_path_curve"]
        lines.append(f"{name:<34}" + "".join(f"{c[k - 1] / c[0]:>7.2f} ({mp[k - 1] / mp[0]:4.2f})" for k in ks))
    lines.append(f"-- {part}: MASE at step k as a ratio to teacher forcing's (mean of paths; mean path)")
    lines.append(head)
    for name, r in results.items():
        c, mp = r[part]["curve"], r[part]["mean_path_curve"]
        lines.append(f"{name:<34}" + "".join(f"{c[k - 1] / ref['curve'][k - 1]:>7.3f} "
                                              f"({mp[k - 1] / ref['mean_path_curve'][k - 1]:4.2f})" for k in ks))
    lines.append(f"-- {part}: scores (teacher forcing absolute, the others as ratios to it)")
    cols = ["sMAPE", "MASE", "OWA", "MSIS", "coverage"]
    lines.append(f"{'variant':<34}{'steps':>7}{'seconds':>9}" + "".join(f"{c:>10}" for c in cols)
                 + f"{'MASE mean path':>16}")
    for name, r in results.items():
        s, sr = r[part]["scores"], ref["scores"]
        if name == REFERENCE:
            vals = "".join(f"{s[c]:>10.4f}" for c in cols) + f"{r[part]['mean_path_MASE']:>16.4f}"
        else:
            vals = "".join(f"{s[c] / sr[c]:>10.4f}" for c in cols) \
                + f"{r[part]['mean_path_MASE'] / ref['mean_path_MASE']:>16.4f}"
        lines.append(f"{name:<34}{r['steps']:>7}{r['fit_seconds']:>9.0f}" + vals)
    return "\n".join(lines)


def run(dataset: str, time_limit: float, backbone: str, values: str, num_samples: int, n_series: int | None,
        share: float, steps: int | None, weight: float, only: list[str] | None,
        seed: int, overrides: dict[str, Any] | None = None, schedule: str = "linear") -> tuple[str, dict[str, Any]]:
    load, h, m = DATASETS[dataset]
    train, test = load(n_series)
    fit_part, val_part = split_last(train, h)
    naive = {"validation": naive2_scores(fit_part, val_part, h, m), "test": naive2_scores(train, test, h, m)}
    results: dict[str, dict[str, Any]] = {}
    for name, options in variants(h, share, steps, weight, schedule).items():
        if only and name != REFERENCE and not any(name.startswith(o) for o in only):
            continue
        model = af.NeuralAR(**grouped({"backbone": backbone, "values": values, "time_limit": time_limit,
                                       "max_steps": 1_000_000, "seed": seed, "progress": False,
                                       **(overrides or {}), **options}))
        t0 = time.perf_counter()
        model.fit(fit_part)
        fit_s = time.perf_counter() - t0
        r = {"steps": model.training_.steps, "fit_seconds": fit_s, "best_step": model.training_.best_step,
             "options": options}
        r["validation"] = evaluate(model, fit_part, val_part, h, m, num_samples, naive["validation"])
        r["test"] = evaluate(model, train, test, h, m, num_samples, naive["test"])
        results[name] = r
        print(f"{name}: {r['steps']} steps in {fit_s:.0f} s (best step {r['best_step']}); validation MASE "
              f"{r['validation']['scores']['MASE']:.4f}, test MASE {r['test']['scores']['MASE']:.4f}", flush=True)
    text = (f"Exposure bias on {dataset} ({af.to_panel(train).n_series} series, h={h}, m={m}); NeuralAR "
            f"{backbone}-{values}, time_limit {time_limit:g} s per variant, {num_samples} paths, seed {seed}, "
            f"torch threads {torch.get_num_threads()}{', overrides ' + str(overrides) if overrides else ''}\n"
            f"Naive2: validation sMAPE {naive['validation']['sMAPE']:.3f} MASE {naive['validation']['MASE']:.3f}; "
            f"test sMAPE {naive['test']['sMAPE']:.3f} MASE {naive['test']['MASE']:.3f}\n"
            + report(results, "validation", h) + "\n" + report(results, "test", h) + "\n")
    return text, results


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=list(DATASETS), default="m4_hourly")
    ap.add_argument("--time-limit", type=float, default=180.0, help="training seconds per variant")
    ap.add_argument("--backbone", default="conv", choices=["conv", "transformer"])
    ap.add_argument("--values", default="continuous", choices=["continuous", "quantized"])
    ap.add_argument("--num-samples", type=int, default=100)
    ap.add_argument("--n-series", type=int, default=None)
    ap.add_argument("--share", type=float, default=0.5, help="final scheduled-sampling share")
    ap.add_argument("--schedule", default="linear", choices=["linear", "sigmoid"], help="scheduled-sampling schedule")
    ap.add_argument("--rollout-steps", type=int, default=None, help="multi-step k (default max(2, h // 6))")
    ap.add_argument("--rollout-weight", type=float, default=1.0)
    ap.add_argument("--only", nargs="*", default=None, help="variants (name prefixes) besides teacher forcing")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", nargs="*", default=[], help="NeuralAR overrides for every variant, key=value")
    ap.add_argument("--tag", default="")
    ap.add_argument("--quick", action="store_true", help="12 series, 5 s per variant, 20 paths (smoke test)")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    torch.set_num_threads(args.threads)
    if args.quick:
        args.n_series, args.time_limit, args.num_samples = 12, 5.0, 20
    text, results = run(args.dataset, args.time_limit, args.backbone, args.values, args.num_samples, args.n_series,
                        args.share, args.rollout_steps, args.rollout_weight, args.only, args.seed,
                        {k: ast.literal_eval(v) for k, v in (item.split("=", 1) for item in args.set)}, args.schedule)
    print(text, flush=True)
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        stem = f"exposure_bias_{args.dataset}_{args.backbone}-{args.values}{'_' + args.tag if args.tag else ''}"
        (RESULTS / f"{stem}.txt").write_text(text)
        (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=1, default=lambda v: np.asarray(v).tolist()))


if __name__ == "__main__":
    main()
