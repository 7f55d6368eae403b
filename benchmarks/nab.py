"""Anomaly detection on the NAB development subset (18 files, 25 windows): forecaster-based
detectors against a rolling z-score, with one setting for all files.

For every file, as NAB runs a detector: the first ``min(15%, 750)`` rows are probationary (the
model is fitted on them, nothing is scored there); every later row is scored online against the
forecast made before it (:class:`arforecast.AnomalyDetector`, no look-ahead). Files are put on a
regular grid first (sorted, the repeated hour averaged, gaps marked and not scored); scores are
then mapped back to the file's rows, which NAB's scorer walks in file order.

Every detector gets the same detector options: ``--level`` (default 0.999), robust feedback, and
``calibrate=True`` (points judged by the ranks of the model's past normal scores, with a fitted
Student-t beyond the 10th largest: :class:`arforecast.anomaly.scores.CalibrationLaw`;
``--no-calibrate`` turns it off). Reported per detector:

* window-level precision / recall / F1 (a window is detected when any flag falls inside it; each
  flag outside every window is a false positive), of every flag, and of alerts
  (:func:`~arforecast.anomaly.suppress_repeats` with a fifth of the probationary rows, NAB's
  CAD-OSE rest period: ``+ cooldown`` rows alert again after that many rows, ``+ incidents``
  rows alert once per incident, which ends after that many rows without a flag);
* the NAB standard-profile score of those flags / alerts (``threshold=0.5`` on 0/1);
* for comparison with published NAB results only, the NAB score with NAB's own protocol, where
  the threshold on the continuous anomaly score is optimised over the corpus (one threshold for
  all files, as NAB's optimizer does; the same number on both rows of a detector);
* calibration: the share of flagged points on the anomaly-free ``artificialNoAnomaly`` files
  (target ``1 - level``).

The default detector's incident alerts (``detect_anomalies(y)["alert"]``) are scored by
``benchmarks/nab_incidents.py``, beside NAB's published ARTime and numenta outputs.

    python benchmarks/nab.py               # AR, NeuralAR and z-score on the 18 files (~15 min)
    python benchmarks/nab.py --quick       # 4 files, AR and z-score only (< 1 minute)
"""
from __future__ import annotations

import argparse
import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from arforecast.anomaly import AnomalyDetector, RollingZScore, suppress_repeats
from arforecast.datasets_nab import (NAB_REGULARIZE, grid_positions, load_nab_file, load_nab_series,
                                     load_nab_windows, nab_files)
from arforecast.evaluation.nab import nab_score, probation_length, window_metrics

RESULTS = Path(__file__).resolve().parent / "results"
QUICK_FILES = ["artificialNoAnomaly/art_noisy.csv", "artificialWithAnomaly/art_daily_jumpsup.csv",
               "realKnownCause/ec2_request_latency_system_failure.csv", "realKnownCause/rogue_agent_key_hold.csv"]


def steps_per_day(index: pd.DatetimeIndex) -> int:
    """Observations per day on the file's grid (288 at 5 minutes, 48 at 30 minutes, 24 hourly)."""
    return int(round(pd.Timedelta("1D") / (index[1] - index[0])))


# --------------------------------------------------------------------------- detectors
@dataclass
class Detector:
    """A named way to build a forecaster for one file (from its grid), plus detector options."""

    name: str
    make: Callable[[pd.Series], Any]
    options: dict


def ar_detector() -> Detector:
    """AR with the order chosen by BIC (up to 12 lags) plus a one-day seasonal lag, refitted on
    all the data seen every day (the same rule for all files)."""
    from arforecast.models.linear import AR
    return Detector("AR", lambda s: AR(p="bic", max_p=12, seasonal_lags=(steps_per_day(s.index),)),
                    {"refit": "daily"})


def zscore_detector() -> Detector:
    """Rolling z-score over the last day of values."""
    return Detector("z-score", lambda s: RollingZScore(window=steps_per_day(s.index)), {})


def neural_detector(max_steps: int = 300) -> Detector:
    """A small NeuralAR (WaveNet, Student-t head, a local AR path on lags 1-3), context and
    seasonal lag of one day, trained briefly on the probationary rows with early stopping on
    their last day."""
    from arforecast.models.neural import Architecture, Inputs, NeuralAR, Output, Training

    def make(s: pd.Series):
        day = steps_per_day(s.index)
        return NeuralAR(backbone="conv", values="continuous", context_length=day, max_steps=max_steps, seed=0,
                        progress=False, device="cpu", architecture=Architecture(d_model=32, n_layers=6),
                        inputs=Inputs(lags=(day,), periods=(day,), ar_lags=(1, 2, 3)),
                        output=Output(likelihood="student_t"),
                        training=Training(validation_length=min(day, 48), patience=3, val_every=25))
    return Detector("NeuralAR", make, {})


# --------------------------------------------------------------------------- one file
def detect_file(name: str, detector: Detector, level: float, robust: bool | int = True,
                calibrate: bool = True) -> dict:
    """Scores and flags for every row of one NAB file, in file order."""
    raw = load_nab_file(name)
    grid = load_nab_series(name)
    rows_on_grid = grid_positions(raw["timestamp"], grid.index, NAB_REGULARIZE["off_grid"])
    probation = probation_length(len(raw))
    start = int(rows_on_grid[probation]) if probation < len(raw) else len(grid)
    head = grid.iloc[:start]
    options = dict(detector.options)
    if options.get("refit") == "daily":
        options["refit"] = steps_per_day(grid.index)
    det = AnomalyDetector(detector.make(grid), level=level, robust=robust, calibrate=calibrate, **options)
    t0 = time.perf_counter()
    det.fit(head)
    out = det.update(grid.iloc[start:])
    seconds = time.perf_counter() - t0
    score_grid = np.full(len(grid), np.nan)
    flag_grid = np.zeros(len(grid), dtype=bool)
    score_grid[start:] = out["score"].to_numpy()
    flag_grid[start:] = out["is_anomaly"].to_numpy()
    scores = np.nan_to_num(score_grid[rows_on_grid], nan=0.0)
    flags = flag_grid[rows_on_grid]
    flags[:probation] = False
    return {"name": name, "timestamps": raw["timestamp"], "scores": scores, "flags": flags,
            "scored": int(out["score"].notna().sum()), "flagged": int(out["is_anomaly"].sum()),
            "seconds": seconds}


# --------------------------------------------------------------------------- corpus
def cooldown_rows(n_rows: int) -> int:
    """NAB's CAD-OSE rest period: a fifth of the detector's probationary rows (15% of the file)."""
    return int(np.floor(0.15 * n_rows) / 5)


def evaluate(results: list[dict], windows: dict, rule: str | None = None) -> dict:
    """Window metrics and NAB scores of one detector's per-file results; with an alert ``rule``
    (``"cooldown"`` or ``"incident"``), of the alerts instead of the flags
    (:func:`~arforecast.anomaly.suppress_repeats`)."""
    def flags_of(r: dict) -> np.ndarray:
        if rule is None:
            return r["flags"]
        return suppress_repeats(r["flags"], cooldown_rows(len(r["flags"])), rule=rule)
    labelled = [(r["timestamps"], flags_of(r), windows[r["name"]]) for r in results]
    metrics = window_metrics(labelled)
    flags_nab = nab_score([(t, f.astype(float), w) for t, f, w in labelled], profile="standard", threshold=0.5)
    # NAB's protocol: one threshold on the anomaly score, optimised over the corpus. NAB's scores
    # lie in [0, 1]; -log10 p is a monotone transform of 1 - p that keeps the tiny p apart.
    optimised = nab_score([(r["timestamps"], r["scores"], windows[r["name"]]) for r in results],
                          profile="standard")
    clean = [r for r in results if r["name"].startswith("artificialNoAnomaly/")]
    calibration = {r["name"].split("/")[1]: r["flagged"] / max(r["scored"], 1) for r in clean}
    return {**{k: metrics[k] for k in ("precision", "recall", "f1", "detected", "windows", "false_positives")},
            "nab_flags": flags_nab.score, "nab_flags_raw": flags_nab.raw,
            "nab_optimised": optimised.score, "nab_optimised_threshold": float(optimised.threshold),
            "calibration": calibration, "seconds": sum(r["seconds"] for r in results)}


def run_detectors(detectors: list[Detector], files: list[str], level: float, robust: bool | int = True,
                  calibrate: bool = True, progress: bool = True) -> dict[str, list[dict]]:
    """Per-file results of every detector."""
    out = {}
    for det in detectors:
        results = []
        for name in files:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # AR on the flat file warns of collinearity
                results.append(detect_file(name, det, level, robust, calibrate))
            if progress:
                r = results[-1]
                print(f"  {det.name:9s} {name:58s} flagged {r['flagged']:5d}/{r['scored']:5d} "
                      f"({r['seconds']:.1f} s)", flush=True)
        out[det.name] = results
    return out


def score_table(per_file: dict[str, list[dict]]) -> dict[str, dict]:
    """Rows ``<detector>`` (every flag), ``<detector> + cooldown`` and ``<detector> + incidents``
    (alerts)."""
    windows = load_nab_windows()
    table = {}
    for name, results in per_file.items():
        table[name] = evaluate(results, windows)
        table[f"{name} + cooldown"] = evaluate(results, windows, rule="cooldown")
        table[f"{name} + incidents"] = evaluate(results, windows, rule="incident")
    return table


def markdown_table(frame: pd.DataFrame) -> str:
    """A DataFrame as a markdown table, floats with 4 decimals."""
    cells = [[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row] for row in frame.itertuples(index=False)]
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    return "\n".join([head, rule] + ["| " + " | ".join(r) + " |" for r in cells])


def format_table(table: dict[str, dict], level: float, calibrate: bool = True) -> str:
    lines = [f"NAB development subset, level={level}, calibrate={calibrate} (one setting for all files)", "",
             "| detector | precision | recall | F1 | windows found | false positives | NAB (flags) | "
             "NAB (optimised threshold) | seconds |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in table.items():
        lines.append(f"| {name} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | "
                     f"{r['detected']}/{r['windows']} | {r['false_positives']} | {r['nab_flags']:.1f} | "
                     f"{r['nab_optimised']:.1f} | {r['seconds']:.0f} |")
    files = sorted({f for r in table.values() for f in r["calibration"]})
    if files:
        lines += ["", f"Calibration: share of flagged points on anomaly-free files (target {1 - level:.4g})", "",
                  "| detector | " + " | ".join(files) + " |", "| --- |" + " ---: |" * len(files)]
        for name, r in table.items():
            if " + " not in name:
                lines.append(f"| {name} | " + " | ".join(f"{r['calibration'].get(f, float('nan')):.4f}"
                                                        for f in files) + " |")
    return "\n".join(lines)


def calibration_table(detectors: list[Detector], level: float = 0.99, quick: bool = False) -> pd.DataFrame:
    """Share of flagged points (target ``1 - level``) on anomaly-free series: the
    ``artificialNoAnomaly`` files and a simulated AR(2) process (3 series of 3000 hourly points),
    each detector with and without ``calibrate`` and without robust feedback."""
    from arforecast.datasets import simulate_ar
    series = {name.split("/")[1]: load_nab_series(name)
              for name in (QUICK_FILES[:1] if quick else nab_files("artificialNoAnomaly"))}
    sim = simulate_ar([0.6, -0.2], n_series=1 if quick else 3, length=3000, seed=0)
    for uid, g in sim.groupby("unique_id"):
        series[f"simulated AR(2) {uid}"] = pd.Series(g["y"].to_numpy(), index=pd.DatetimeIndex(g["ds"]))
    rows = []
    for det in detectors:
        for calibrate in (False, True):
            row = {"detector": det.name, "calibrate": calibrate}
            for name, s in series.items():
                probation = probation_length(len(s))
                options = dict(det.options)
                if options.get("refit") == "daily":
                    options["refit"] = steps_per_day(s.index)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    d = AnomalyDetector(det.make(s), level=level, robust=False, calibrate=calibrate,
                                        **options).fit(s.iloc[:probation])
                    out = d.update(s.iloc[probation:])
                row[name] = float(out["is_anomaly"].mean())
            rows.append(row)
    return pd.DataFrame(rows)


def run(suite: str = "full", level: float = 0.999, neural: bool = True, calibrate: bool = True) -> dict:
    """Entry point of ``python -m benchmarks run``: the table as a dict."""
    torch.set_num_threads(1)  # one tiny step per point: intra-op threads only add overhead
    quick = suite == "quick"
    files = QUICK_FILES if quick else nab_files()
    detectors = [ar_detector(), zscore_detector()]
    if neural and not quick:
        try:
            detectors.insert(1, neural_detector())
        except ImportError as err:  # the neural model is optional for this benchmark
            print(f"NeuralAR unavailable: {err}")
    table = score_table(run_detectors(detectors, files, level, calibrate=calibrate))
    markdown = format_table(table, level, calibrate)
    calib = calibration_table(detectors, 0.99, quick)
    markdown += ("\n\nCalibration at level=0.99 (share of points flagged, target 0.01; no robust feedback)\n\n"
                 + markdown_table(calib))
    return {"level": level, "calibrate": calibrate, "files": files, "table": table,
            "calibration_099": calib.to_dict(orient="records"), "markdown": markdown}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4 files, AR and z-score only")
    parser.add_argument("--level", type=float, default=0.999, help="interval level of every detector")
    parser.add_argument("--no-neural", action="store_true", help="skip NeuralAR")
    parser.add_argument("--no-calibrate", action="store_true", help="judge points by the models' own tails")
    args = parser.parse_args(argv)
    suite = "quick" if args.quick else "full"
    result = run(suite, level=args.level, neural=not args.no_neural, calibrate=not args.no_calibrate)
    print()
    print(result["markdown"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = f"nab_{suite}_level{args.level:g}" + ("" if result["calibrate"] else "_uncalibrated")
    (RESULTS / f"{stem}.md").write_text(result["markdown"] + "\n")
    (RESULTS / f"{stem}.json").write_text(json.dumps({k: v for k, v in result.items() if k != "markdown"},
                                                     indent=2, default=float))
    print(f"\nsaved benchmarks/results/{stem}.md and .json")


if __name__ == "__main__":
    main()
