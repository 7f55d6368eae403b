"""The default detector's incident alerts on the NAB development subset (18 files, 25 windows),
beside NAB's published detectors scored by the same scorer in the same run.

For every file, as NAB runs a detector: the first ``min(15%, 750)`` rows are probationary (the
history; nothing is scored there); every later row gets its incident score
(:func:`arforecast.anomaly.incidents.incident_scores`, from values before it only), computed on
the file's regular grid (sorted, the repeated hour averaged, gaps left missing) and mapped back
to the file's rows. One setting for all files; nothing is chosen on the labels. Reported, for
the three NAB profiles:

* **swept**: NAB's own protocol, one threshold on the score optimised over the 18 files (what
  NAB does for every published detector, including the reference rows below);
* **fixed**: the method's own threshold, ``incident_score > INCIDENT_THRESHOLD`` (any new record), which
  is what ``detect_anomalies(y)["alert"]`` flags;
* the reference rows: NAB's published outputs of ARTime and numenta HTM (``results/``) scored
  here, and optionally (``--with-ar``) the point score of ``AR()`` through ``detect_anomalies``;
* alerts per file on the 5 anomaly-free files.

Variants (rows ``windows=...``, ``no season``) are the time scales and baselines tried.

    python benchmarks/nab_incidents.py              # ~1 minute
    python benchmarks/nab_incidents.py --with-ar    # plus AR() point scores (~3 minutes)
"""
from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from arforecast.anomaly.incidents import INCIDENT_THRESHOLD, INCIDENT_WINDOWS, incident_scores
from arforecast.data.frequency import season_lengths
from arforecast.datasets_nab import (NAB_REGULARIZE, grid_positions, load_nab_file, load_nab_series,
                                     load_nab_windows, nab_files, nab_root)
from arforecast.evaluation.nab import PROFILES, nab_score, probation_length

RESULTS = Path(__file__).resolve().parent / "results"


def files_on_grid() -> list[dict]:
    """Each file: its rows' timestamps, its grid, the row -> grid map and the scored start."""
    out = []
    for name in nab_files():
        raw = load_nab_file(name)
        grid = load_nab_series(name)
        pos = grid_positions(raw["timestamp"], grid.index, NAB_REGULARIZE["off_grid"])
        start = int(pos[probation_length(len(raw))])
        out.append({"name": name, "timestamps": raw["timestamp"], "grid": grid, "pos": pos, "start": start})
    return out


def incident_rows(f: dict, windows=INCIDENT_WINDOWS, seasonal: bool = True) -> np.ndarray:
    grid = f["grid"]
    periods = season_lengths(grid.index.freq)
    s = incident_scores(grid.to_numpy(), f["start"], periods if seasonal else (), windows=windows)
    return s[f["pos"]]


def ar_point_rows(f: dict) -> np.ndarray:
    """``score`` (-log10 p) of ``detect_anomalies(y)`` with its default AR(), trained on the
    probationary rows."""
    from arforecast.anomaly import detect_anomalies
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = detect_anomalies(f["grid"], start=f["start"], incidents=False)
    return np.nan_to_num(out["score"].to_numpy(), nan=0.0)[f["pos"]]


def published_rows(detector: str, f: dict) -> np.ndarray:
    folder, file = f["name"].split("/")
    return pd.read_csv(nab_root() / "results" / detector / folder / f"{detector}_{file}")["anomaly_score"].to_numpy()


def scores_of(files: list[dict], rows: list[np.ndarray], threshold: float | None) -> dict[str, float]:
    windows = load_nab_windows()
    corpus = [(f["timestamps"], r, windows[f["name"]]) for f, r in zip(files, rows)]
    return {p: nab_score(corpus, profile=p, threshold=threshold).score for p in PROFILES}


def run(with_ar: bool = False) -> str:
    files = files_on_grid()
    variants: dict[str, tuple[list[np.ndarray], float | None]] = {}
    t0 = time.perf_counter()
    default = [incident_rows(f) for f in files]
    seconds = time.perf_counter() - t0
    fixed = float(np.nextafter(INCIDENT_THRESHOLD, np.inf))   # nab_score flags score >= threshold
    variants[f"incidents (default: windows={INCIDENT_WINDOWS})"] = (default, fixed)
    for w in [(1,), (1, 3), (1, 3, 12), (1, 4, 16), (1, 8, 32), (1, 12, 48), (1, 6, 24, 96)]:
        variants[f"incidents, windows={w}"] = ([incident_rows(f, w) for f in files], fixed)
    variants["incidents, no season (previous value)"] = ([incident_rows(f, seasonal=False) for f in files],
                                                        fixed)
    if with_ar:
        variants["AR() point score (-log10 p), swept only"] = ([ar_point_rows(f) for f in files], None)
    for det in ("ARTime", "numenta"):
        variants[f"published {det} (NAB results/), swept only"] = ([published_rows(det, f) for f in files], None)
    lines = ["NAB development subset (18 files, 25 windows), one setting for all files; "
             "scores normalised as NAB does (0 = null detector, 100 = perfect)", "",
             "| detector | standard (swept) | low FP (swept) | low FN (swept) | standard (fixed) | low FP (fixed) | "
             "low FN (fixed) | alerts on 5 clean files |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    clean = [i for i, f in enumerate(files) if f["name"].startswith("artificialNoAnomaly/")]
    for name, (rows, fixed) in variants.items():
        sw = scores_of(files, rows, None)
        fx = scores_of(files, rows, fixed) if fixed is not None else None
        alerts = (sum(int((rows[i][probation_length(len(rows[i])):] >= fixed).sum()) for i in clean)
                  if fixed is not None else None)
        cells = [f"{sw[p]:.1f}" for p in PROFILES] + ([f"{fx[p]:.1f}" for p in PROFILES] if fx else ["-"] * 3)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {'-' if alerts is None else alerts} |")
    lines += ["", f"fixed threshold: score > {INCIDENT_THRESHOLD} (any new record); incident scores of all 18 files "
              f"in {seconds:.1f} s"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--with-ar", action="store_true", help="also score AR() point scores (slower)")
    args = parser.parse_args(argv)
    table = run(with_ar=args.with_ar)
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "nab_incidents.md").write_text(table + "\n")
    print("\nsaved benchmarks/results/nab_incidents.md")


if __name__ == "__main__":
    main()
