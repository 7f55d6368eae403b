"""How far one window's conformal coverage can stray from the level: calibrate window ``w`` on the
newest window before it (``Conformal``'s ``local_by="recency"``), on the 4 before it (every
calibration window pooled) and on all earlier windows weighted by recency (the ``j``-th newest with
weight ``rho ** j``), ``w`` running back through the data's own history.

AR (the benchmarks/conformal.py configuration) is backtested on train + test at 14 origins
``step`` apart (window 1 = the test part, refitted at every origin; only series long enough for
every window). Window ``w`` is calibrated as ``Conformal`` does (scores ``|y - yhat| / IQR``
pooled over series, the 95% quantile by the ``k / (n + 1)`` rule) on the 4 windows whose targets
all precede its origin (or on the newest of them), and its coverage is printed beside its own q95
score. The spread over ``w`` is what a single test window's coverage can do by chance when the
periods differ; its root mean square distance from 0.95 over the history windows (2, 3, ...)
compares the two rules without the test part.

    python benchmarks/conformal_ahead.py
    python benchmarks/conformal_ahead.py --volatility 1   # scores over IQR x (recent / whole volatility)

``--volatility a`` divides each score by ``r ** a``, ``r`` the ratio of the series' mean absolute
difference over its last ``max(h, m)`` values to that over its whole history before the cut-off: a
check whether a recently more volatile series explains a harder window.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import arforecast as af  # noqa: E402
from conformal import SPECS, ar, load  # noqa: E402

N_WINDOWS, N_CALS = 14, (1, 4)
#: recency-weighted calibration: every earlier window, the ``j``-th newest with weight ``rho ** j``
#: (a weighted conformal quantile in the manner of non-exchangeable conformal prediction)
DECAYS = (0.5, 0.8)


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """The smallest ``x`` whose weight share at or below it reaches ``q``."""
    order = np.argsort(x)
    share = np.cumsum(w[order]) / w.sum()
    return float(x[order][min(np.searchsorted(share, q), len(x) - 1)])


def volatility_ratio(full: pd.DataFrame, f: pd.DataFrame, w: np.ndarray, h: int, step: int, m: int) -> np.ndarray:
    """For every forecast row: ``mean |diff|`` of the last ``m`` values before its cut-off over that
    of its whole history before the cut-off (above 1: a recently more volatile series)."""
    values = {k: g["y"].to_numpy() for k, g in full.groupby("unique_id", sort=False)}
    out = np.empty(len(f))
    for r in range(0, len(f), h):                       # one forecast is h consecutive rows
        y = values[f["unique_id"].iat[r]]
        d = np.abs(np.diff(y[:len(y) - h - (w[r] - 1) * step]))
        out[r:r + h] = d[-m:].mean() / max(d.mean(), 1e-12)
    return out


def ahead(name: str, volatility: float = 0.0) -> str:
    spec = SPECS[name]
    h = spec.h
    train, test = load(name, None)
    full = pd.concat([train, test]).sort_values(["unique_id", "ds"], kind="stable")
    lengths = full.groupby("unique_id").size()
    need = h + (N_WINDOWS - 1) * spec.step + af.AR(**spec.ar).min_length   # AR itself fits every window
    keep = lengths.index[lengths >= need]
    res = af.backtest(ar(spec), full[full["unique_id"].isin(keep)], h, n_windows=N_WINDOWS, step=spec.step,
                      refit=True, quantiles=[0.25, 0.75], progress=False, n_jobs=1)
    f = res.forecasts
    w = f.groupby("unique_id")["cutoff"].rank(method="dense", ascending=False).astype(int).to_numpy()
    s = ((f["y"] - f["mean"]).abs() / (f["q0.75"] - f["q0.25"])).to_numpy()
    if volatility:
        s = s / volatility_ratio(full, f, w, h, spec.step, max(h, spec.season_length)) ** volatility
    gap = -(-h // spec.step)                # windows before w whose targets overlap w's origin are skipped
    lines = [f"## {name}: {len(keep)} of {len(lengths)} series (those with {need}+ values), h={h}, "
             f"windows every {spec.step} steps; window 1 = the test part"
             + (f"; scores over IQR x (recent / whole mean |diff|)^{volatility:g}" if volatility else ""),
             f"{'window':>6s} {'q95 of its scores':>18s} " + " ".join(f"{f'coverage, the {k} before':>22s}"
                                                                   for k in N_CALS)
             + " ".join(f"{f'weights {rho:g}^j':>16s}" for rho in DECAYS)]
    last = N_WINDOWS - gap - max(N_CALS) + 1
    rules = [f"the {n_cal} before" for n_cal in N_CALS] + [f"weights {rho:g}^j" for rho in DECAYS]
    covs = np.zeros((last, len(rules)))
    for k in range(1, last + 1):
        for j, n_cal in enumerate(N_CALS):
            cal = s[(w >= k + gap) & (w < k + gap + n_cal)]
            q = np.quantile(cal, 0.95, method="weibull")
            covs[k - 1, j] = np.mean(s[w == k] <= q)
        for j, rho in enumerate(DECAYS):
            earlier = w >= k + gap
            q = weighted_quantile(s[earlier], rho ** (w[earlier] - k - gap).astype(float), 0.95)
            covs[k - 1, len(N_CALS) + j] = np.mean(s[w == k] <= q)
        lines.append(f"{k:6d} {np.quantile(s[w == k], 0.95):18.3f} "
                     + " ".join(f"{c:22.3f}" for c in covs[k - 1, :len(N_CALS)])
                     + " ".join(f"{c:16.3f}" for c in covs[k - 1, len(N_CALS):]))
    for j, rule in enumerate(rules):
        past = covs[1:, j]
        lines.append(f"{rule}, windows 2..{last} (history only): "
                     f"coverage {past.min():.3f}..{past.max():.3f}, "
                     f"rms distance from 0.95 {np.sqrt(np.mean((past - 0.95) ** 2)):.3f}, "
                     f"{np.mean((past >= 0.94) & (past <= 0.96)):.0%} in [0.94, 0.96]")
    return "\n".join(lines)


def main() -> None:
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    volatility = float(sys.argv[sys.argv.index("--volatility") + 1]) if "--volatility" in sys.argv else 0.0
    print("$ python benchmarks/conformal_ahead.py" + (f" --volatility {volatility:g}" if volatility else ""))
    for name in SPECS:
        print("\n" + ahead(name, volatility), flush=True)


if __name__ == "__main__":
    main()
