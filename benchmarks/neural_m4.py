"""NeuralAR on M4 Hourly: the four backbone x value combinations beside SeasonalNaive and AR.

Trains on the train part only (early stopping on the last 48 values of each training series);
the 48-step test part is used for scoring alone. Prints sMAPE, MASE, OWA (against Naive2),
MSIS, 95% coverage and weighted quantile loss, and writes the table to
``benchmarks/results/neural_m4_<config>.txt`` and ``.json``.

    python benchmarks/neural_m4.py --config conv-quantized            # one configuration
    python benchmarks/neural_m4.py --config all --time-limit 840      # the four, 14 min each
    python benchmarks/neural_m4.py --quick                            # smoke run, < 1 minute
    python benchmarks/neural_m4.py --config conv-continuous --set ema_decay=0.995 --tag ema

``--set key=value`` overrides any NeuralAR parameter (values parsed as Python literals).
"""
from __future__ import annotations

import argparse
import ast
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

import arforecast as af
from arforecast.datasets import load_m4_hourly
from arforecast.models.neural import grouped
from arforecast.models.neural.config import GROUPS, to_dict
from arforecast.evaluation.scoring import add_owa, score

RESULTS = Path(__file__).resolve().parent / "results"
M4_NAIVE2 = {"sMAPE": 18.383, "MASE": 2.395}      # published Naive2 figures on M4 Hourly

#: The four official configurations (shared settings below, per-configuration ones here).
CONFIGS: dict[str, dict[str, Any]] = {
    "conv-quantized": {"backbone": "conv", "values": "quantized"},
    "conv-continuous": {"backbone": "conv", "values": "continuous"},
    "transformer-quantized": {"backbone": "transformer", "values": "quantized"},
    "transformer-continuous": {"backbone": "transformer", "values": "continuous"},
}
SHARED: dict[str, Any] = {"max_steps": 100_000, "seed": 0, "learning_rate": 0.003, "ema_decay": 0.99,
                          "val_every": 25, "progress": False}


def model_for(config: str, time_limit: float, overrides: dict[str, Any]) -> af.NeuralAR:
    params = {**SHARED, **CONFIGS[config], "time_limit": time_limit, **overrides}
    return af.NeuralAR(**grouped(params))


def baselines(train: pd.DataFrame, test: pd.DataFrame, num_samples: int) -> dict[str, dict[str, float]]:
    """Scores of Naive2, SeasonalNaive(24) and (when the library has it) AR(48) on the same split."""
    insample = af.to_panel(train)
    rows = {}
    models: dict[str, Any] = {"Naive2": af.Naive2(24), "SeasonalNaive": af.SeasonalNaive(24)}
    if hasattr(af, "AR"):
        try:
            models["AR(48)"] = af.AR(48)
        except TypeError:
            pass
    for name, model in models.items():
        t0 = time.perf_counter()
        fc = model.fit(train).predict(48)
        rows[name] = {**score(fc, test, insample, season_length=24), "seconds": time.perf_counter() - t0}
    return rows


def run(config: str, time_limit: float, num_samples: int = 100, n_series: int | None = None,
        overrides: dict[str, Any] | None = None, threads: int = 2, tag: str = "",
        save: bool = True, save_model: str | None = None) -> pd.DataFrame:
    """Train one configuration, score it beside the baselines, print and save the table."""
    torch.set_num_threads(threads)
    train, test = load_m4_hourly(n_series)
    insample = af.to_panel(train)
    table = baselines(train, test, num_samples)
    model = model_for(config, time_limit, overrides or {})
    t0 = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - t0
    if save_model:
        model.save(save_model)
    t1 = time.perf_counter()
    fc = model.predict(48, num_samples=num_samples, seed=0)
    pred_s = time.perf_counter() - t1
    mean_path = model.predict(48)
    name = f"NeuralAR[{config}{'-' + tag if tag else ''}]"
    table[name] = {**score(fc, test, insample, season_length=24), "seconds": fit_s + pred_s}
    table[name + " mean path"] = {**score(mean_path, test, insample, season_length=24), "seconds": 0.0}
    share = float(getattr(model, "anchor_share_", 1.0))
    if share < 1:                 # the same trained network without the AR() anchor (anchor.py)
        model.anchor_share_ = 1.0
        alone = model.predict(48, num_samples=num_samples, seed=0)
        table[name + " network alone"] = {**score(alone, test, insample, season_length=24), "seconds": 0.0}
        model.anchor_share_ = share
    frame = add_owa(pd.DataFrame(table).T)
    res = model.training_
    info = {
        "config": config, "tag": tag, "params": {k: (to_dict(v) if k in GROUPS else list(v) if isinstance(v, tuple) else v)
                                                  for k, v in model.get_params().items()},
        "chosen": {"context_length": model.context_length_, "lags": list(model.lags_),
                   "periods": list(model.periods_), "ar_lags": list(model.ar_lags_)},
        "fit_seconds": round(fit_s, 1), "predict_seconds": round(pred_s, 1), "steps": res.steps,
        "best_step": res.best_step, "best_val": res.best_val, "stopped": res.stopped,
        "val_history": [tuple(round(float(x), 4) for x in h) for h in res.history],
        "n_parameters": int(sum(p.numel() for p in model.network_.parameters())),
        "threads": threads, "num_samples": num_samples, "n_series": insample.n_series,
        "anchor_share": share, "anchor_scores": {str(k): v for k, v in getattr(model, "anchor_scores_", {}).items()},
    }
    cols = [c for c in ["sMAPE", "MASE", "OWA", "MSIS", "coverage", "WQL", "CRPS", "seconds"] if c in frame]
    text = (f"M4 Hourly, {insample.n_series} series, h=48; NeuralAR {config} {tag}\n"
            f"training: {res.steps} steps in {fit_s:.0f} s ({res.stopped}; best validation "
            f"{model.config_.training.val_metric} {res.best_val:.4f} at step {res.best_step}, step 0 (local AR alone) "
            f"{res.history[0][3]:.4f}); {info['n_parameters']} parameters; "
            f"{num_samples} sample paths in {pred_s:.0f} s; torch threads {threads}; network's share against "
            f"AR() {share:g}\n"
            + frame[cols].to_string(float_format=lambda v: f"{v:.4f}") + "\n")
    print(text, flush=True)
    if save:
        RESULTS.mkdir(exist_ok=True)
        stem = f"neural_m4_{config}{'_' + tag if tag else ''}"
        (RESULTS / f"{stem}.txt").write_text(text)
        info["table"] = {k: {c: float(v) for c, v in row.items()} for k, row in frame[cols].iterrows()}
        (RESULTS / f"{stem}.json").write_text(json.dumps(info, indent=1, default=float))
    return frame


def _overrides(items: list[str]) -> dict[str, Any]:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="conv-continuous", choices=[*CONFIGS, "all"])
    ap.add_argument("--time-limit", type=float, default=840.0, help="seconds of training per configuration")
    ap.add_argument("--num-samples", type=int, default=100)
    ap.add_argument("--n-series", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", nargs="*", default=[], help="NeuralAR overrides, key=value")
    ap.add_argument("--tag", default="")
    ap.add_argument("--save-model", default=None, help="write the trained model here (one configuration)")
    ap.add_argument("--quick", action="store_true", help="tiny smoke run (20 series, 20 s of training)")
    args = ap.parse_args(argv)
    overrides = _overrides(args.set)
    if args.quick:
        overrides = {"progress": False, "d_model": 16, "n_layers": 3, **overrides}
        run(args.config if args.config != "all" else "conv-continuous", 20.0, num_samples=20, n_series=20,
            overrides=overrides, threads=args.threads, tag="quick", save=False)
        return
    configs = list(CONFIGS) if args.config == "all" else [args.config]
    for config in configs:
        run(config, args.time_limit, args.num_samples, args.n_series, overrides, args.threads, args.tag,
            save_model=args.save_model if len(configs) == 1 else None)


if __name__ == "__main__":
    main()
