"""Issue 24: is the quantized head's interval gap with ``ar_scale`` the bins' resolution? (M4 Hourly)

Untrained conv-quantized NeuralAR (``ar_scale=True``, ``ar_prior=0``, as in
``benchmarks/quantized_ar_scale.py``), 100 paths of the 48-step test part, with the categorical
head's base scale floored as ``sqrt(s**2 + (c w)**2)``, ``w`` the width of the bin at the
location: ``c = 1/sqrt(12)`` adds the variance of rounding to a bin. The head is patched in this
script only (the library's head is unchanged). Prints MSIS, coverage and MASE per ``c`` and MSIS
as a ratio to ``c = 0`` of the same run.

    python benchmarks/quantized_scale_floor.py 0 0.2887 1.0
"""
import math
import sys
import time
import warnings

import torch
import arforecast as af
from arforecast.datasets import load_m4_hourly
from arforecast.evaluation.scoring import score
from arforecast.models.neural import grouped
from arforecast.nn import heads
warnings.filterwarnings("ignore")
torch.set_num_threads(1)

FLOOR = {"c": 0.0}


def patched(self, raw, base_loc, base_scale=None):
    out = heads.Head.domain_map(self, raw, base_loc, base_scale)
    if FLOOR["c"] > 0:
        k = self.quantizer.bin_of(out["loc"].detach().double())
        w = self.log_widths.exp()[k.clamp(max=self.log_widths.numel() - 1)]
        out["scale"] = torch.sqrt(out["scale"] ** 2 + (FLOOR["c"] * w) ** 2)
    out["logits"] = self.base_logits(out["loc"], out["scale"]) + raw["logits"]
    return out


heads.CategoricalHead.domain_map = patched
train, test = load_m4_hourly(None)
insample = af.to_panel(train)
model = af.NeuralAR(**grouped(dict(backbone="conv", values="quantized", max_steps=1, learning_rate=1e-12,
        warmup_steps=1, seed=0, progress=False, ar_scale=True, ar_prior=0.0))).fit(train)
ref = None
for c in [float(x) for x in sys.argv[1:]] or [0.0, 1 / math.sqrt(12), 1.0]:
    FLOOR["c"] = c
    t = time.time()
    sc = score(model.predict(48, num_samples=100, seed=0), test, insample, season_length=24)
    ref = sc["MSIS"] if ref is None else ref
    print(f"floor {c:.3f} bin widths: MSIS {sc['MSIS']:.3f} ({sc['MSIS'] / ref:.3f} x the first) coverage "
          f"{sc['coverage']:.3f} MASE {sc['MASE']:.3f} ({time.time() - t:.0f} s)", flush=True)
