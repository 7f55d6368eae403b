"""Issue 24: why the quantized head gains less from ``ar_scale`` than the continuous one (M4 Hourly).

Untrained NeuralAR (conv backbone, the local AR alone, ``ar_prior=0``: M4 Hourly's choice) fitted
on the training part, 100 sample paths of the 48-step test part: MSIS, 95% coverage and MASE for
quantized and continuous values, with and without ``ar_scale``, each also as a ratio to the
continuous head with ``ar_scale=True`` of the same run. For the quantized head: the share of
series whose one-step scale at the forecast origin is below one (three) bin widths at its
location, where the categorical law cannot show its width. About 10 minutes on one thread.

    python benchmarks/quantized_ar_scale.py
"""
from __future__ import annotations

import time
import warnings

import torch

import arforecast as af
from arforecast.datasets import load_m4_hourly
from arforecast.evaluation.scoring import score
from arforecast.models.neural import grouped


def main() -> None:
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    train, test = load_m4_hourly(None)
    insample = af.to_panel(train)
    rows = {}
    for values, ar_scale in [("continuous", True), ("continuous", False), ("quantized", True), ("quantized", False)]:
        start = time.perf_counter()
        model = af.NeuralAR(**grouped(dict(backbone="conv", values=values, max_steps=1, learning_rate=1e-12,
                                           warmup_steps=1, seed=0, progress=False, ar_scale=ar_scale,
                                           ar_prior=0.0, anchor_share=1.0))).fit(train)
        sc = score(model.predict(48, num_samples=100, seed=0), test, insample, season_length=24)
        row = {k: sc[k] for k in ("MSIS", "coverage", "MASE")}
        if values == "quantized":
            params = model.start(model._context(model.panel_))["params"]
            width = model.network_.head.log_widths.exp()[model.quantizer_.bin_of(params["loc"].double())]
            ratio = params["scale"] / width
            row.update({"scale < 1 bin": float((ratio < 1).float().mean()),
                        "scale < 3 bins": float((ratio < 3).float().mean()),
                        "median scale / bin": float(ratio.median())})
        row["seconds"] = time.perf_counter() - start
        rows[(values, ar_scale)] = row
    ref = rows[("continuous", True)]["MSIS"]
    for (values, ar_scale), row in rows.items():
        extra = "".join(f", {k} {v:.3f}" for k, v in row.items() if k not in ("MSIS", "coverage", "MASE", "seconds"))
        print(f"{values:10s} ar_scale={ar_scale!s:5s} MSIS {row['MSIS']:.3f} ({row['MSIS'] / ref:.2f} x continuous "
              f"ar_scale) coverage {row['coverage']:.3f} MASE {row['MASE']:.3f}{extra} ({row['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
