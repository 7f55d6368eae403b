"""Is the quantized head limited by its bins? Untrained NeuralAR models on M4 Hourly's validation
window (the last 48 values of each training series; the test part is not read).

An untrained NeuralAR is its local AR with the head's starting spread, so the continuous head is
the reference: a quantized head that scores worse before any training is losing to its bins.

    python benchmarks/quantizer_resolution.py            # the four settings below (~6 minutes)
"""
from __future__ import annotations

import argparse
import time
from typing import Any

import torch

import arforecast as af
from arforecast.datasets import load_m4_hourly
from arforecast.models.neural import grouped
from arforecast.evaluation.scoring import score

SETTINGS: dict[str, dict[str, Any]] = {
    "continuous": {"values": "continuous"},
    "1024 uniform bins": {"values": "quantized", "mu_law": None},
    "1024 mu-law bins (default)": {"values": "quantized", "mu_law": 255.0},
    "4096 uniform bins": {"values": "quantized", "mu_law": None, "n_bins": 4096},
}


def run(threads: int = 2, num_samples: int = 100) -> dict[str, dict[str, float]]:
    torch.set_num_threads(threads)
    train, _ = load_m4_hourly()
    train = train.sort_values(["unique_id", "ds"])
    val = train.groupby("unique_id").tail(48)
    fit = train.drop(val.index)
    insample = af.to_panel(fit)
    rows = {}
    for name, params in SETTINGS.items():
        # one step at a negligible learning rate: the model as initialised (local AR + starting spread)
        model = af.NeuralAR(**grouped(dict(backbone="conv", max_steps=1, learning_rate=1e-12, val_every=1, seed=0,
                                           progress=False, anchor_share=1.0, **params)))
        t0 = time.perf_counter()
        fc = model.fit(fit).predict(48, num_samples=num_samples, seed=0)
        s = score(fc, val, insample, season_length=24)
        rows[name] = {"MASE": s["MASE"], "MSIS": s["MSIS"], "seconds": time.perf_counter() - t0}
        print(f"{name:28s} MASE {s['MASE']:.3f}  MSIS {s['MSIS']:.2f}  ({rows[name]['seconds']:.0f} s)", flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--num-samples", type=int, default=100)
    args = parser.parse_args(argv)
    run(args.threads, args.num_samples)


if __name__ == "__main__":
    main()
