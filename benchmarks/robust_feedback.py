"""What robust mode should feed back in place of a flagged point: the interval's bound or the
forecast mean. Label-free checks only (no NAB window is read), at the NAB benchmark's setting:
AR with a BIC order up to 12 plus a one-season lag, refitted every season, ``calibrate=True``,
level 0.999.

* false flags on anomaly-free series: NAB's ``artificialNoAnomaly`` files with a daily pattern
  (when ``../shared/datasets/nab`` is there) and simulated seasonal series (a seasonal AR, and a
  square wave whose noise is larger in its high phase), target ``1 - level``;
* the same simulated series with spikes of 8 one-step standard deviations injected, sparse (every
  197 points, 0.5%) and dense (every 97 points, 1%): spikes found, and false flags.

    python benchmarks/robust_feedback.py          # ~6 minutes on one core
"""
from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

from arforecast.anomaly import AnomalyDetector
from arforecast.anomaly.streaming import REPLACEMENTS
from arforecast.models.linear import AR

LEVEL = 0.999
SEASON = 24
LENGTH, HEAD = 3000, 600


def seasonal_ar(rng: np.random.Generator) -> np.ndarray:
    """``y_t = 0.5 y_{t-1} + 0.4 y_{t-24} + e_t`` (burn-in dropped)."""
    n = LENGTH + 200
    y, e = np.zeros(n), rng.normal(size=n)
    for t in range(SEASON + 1, n):
        y[t] = 0.5 * y[t - 1] + 0.4 * y[t - SEASON] + e[t]
    return y[200:]


def square_wave(rng: np.random.Generator) -> np.ndarray:
    """Half a season at 0 (noise 0.3), half at 10 (noise 2)."""
    high = (np.arange(LENGTH) % SEASON) >= SEASON // 2
    return np.where(high, 10 + 2 * rng.normal(size=LENGTH), 0.3 * rng.normal(size=LENGTH))


def flags(y: pd.Series, head: int, season: int, replace_with: str) -> np.ndarray:
    det = AnomalyDetector(AR(p="bic", max_p=12, seasonal_lags=(season,)), level=LEVEL, calibrate=True,
                          refit=season, robust=True, replace_with=replace_with)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # collinear lags on noiseless files
        return det.fit(y.iloc[:head]).update(y.iloc[head:])["is_anomaly"].to_numpy()


def simulated(seeds: int = 4) -> pd.DataFrame:
    rows = []
    for name, make in (("seasonal AR", seasonal_ar), ("square wave", square_wave)):
        for every in (None, 197, 97):
            for replace_with in REPLACEMENTS:
                false = found = spikes = scored = 0
                for seed in range(seeds):
                    y = make(np.random.default_rng(seed))
                    truth = np.zeros(LENGTH, dtype=bool)
                    if every:
                        at = np.arange(HEAD + 100, LENGTH, every)
                        y[at] += 8 * np.std(np.diff(y))
                        truth[at] = True
                    f = flags(pd.Series(y, index=pd.date_range("2024", periods=LENGTH, freq="h")), HEAD, SEASON,
                              replace_with)
                    t = truth[HEAD:]
                    false += int((f & ~t).sum())
                    found += int((f & t).sum())
                    spikes += int(t.sum())
                    scored += len(f)
                rows.append({"series": name, "spikes": f"every {every}" if every else "none",
                             "replace_with": replace_with, "false flags": false,
                             "expected": round(scored * (1 - LEVEL), 1),
                             "spikes found": f"{found}/{spikes}" if spikes else ""})
    return pd.DataFrame(rows)


def nab_anomaly_free() -> pd.DataFrame:
    from arforecast.datasets_nab import load_nab_series, nab_files
    from arforecast.evaluation.nab import probation_length
    rows = []
    for name in nab_files("artificialNoAnomaly"):
        y = load_nab_series(name)
        day = int(round(pd.Timedelta("1D") / (y.index[1] - y.index[0])))
        head = probation_length(len(y))
        for replace_with in REPLACEMENTS:
            f = flags(y, head, day, replace_with)
            rows.append({"file": name.split("/")[1], "replace_with": replace_with, "false flags": int(f.sum()),
                         "expected": round(len(f) * (1 - LEVEL), 1)})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=4, help="simulated series per case")
    args = parser.parse_args(argv)
    print(simulated(args.seeds).to_string(index=False))
    try:
        table = nab_anomaly_free()
    except FileNotFoundError as err:
        print(f"\nNAB files not found, skipped: {err}")
        return
    print()
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
