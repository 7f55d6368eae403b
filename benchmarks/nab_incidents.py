"""The default detector's incident alerts on the NAB development subset (18 files, 25 windows),
each variant tried, and NAB's published detectors scored by the same scorer in the same run.

For every file, as NAB runs a detector: the first ``min(15%, 750)`` rows are probationary (the
history; nothing is scored there); every later row gets its incident score
(:func:`arforecast.anomaly.incidents.incident_scores`, from values before it only), computed on
the file's regular grid (sorted, the repeated hour averaged, gaps left missing) and mapped back
to the file's rows. One setting for all files; nothing is chosen on the labels. Reported, per
variant:

* **swept**: NAB's own protocol, one threshold on the score optimised over the 18 files (what
  NAB does for every published detector, including the reference rows), for the three profiles;
* **fixed**: the method's own alert, ``incident_score > INCIDENT_THRESHOLD`` (any new record),
  which is what ``detect_anomalies(y)["alert"]`` flags (standard profile);
* **A / B**: the standard swept score on each half of a fixed split of the files (alternate files
  of each folder in sorted order: the first to A), and the alerts on the 5 anomaly-free files.

Then the **split-half check** of the choice itself: over all variants (the published rows
excluded), the one that scores best on one half, scored on the other half, beside the best
variant on that other half (what choosing there would have given) and the default there; on the
fixed split both ways, and averaged over random splits (9 files each, stratified by folder).

    python benchmarks/nab_incidents.py              # ~3 minutes on 2 shared cores
    python benchmarks/nab_incidents.py --with-ar    # plus AR() forecast errors (~2 minutes more)
"""
from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from scipy.special import log_ndtr, ndtri

from arforecast.anomaly.incidents import (INCIDENT_THRESHOLD, LONG_WINDOW, SCALE_FLOOR, baseline_residuals,
                                          first_records, incident_scores, incident_windows, record_ratio,
                                          robust_standardize)
from arforecast.data.frequency import season_lengths
from arforecast.datasets_nab import (NAB_REGULARIZE, grid_positions, load_nab_file, load_nab_series,
                                     load_nab_windows, nab_files, nab_root)
from arforecast.evaluation.nab import PROFILES, NABRows, nab_raw_score, nab_rows, nab_sweep, \
    probation_length

RESULTS = Path(__file__).resolve().parent / "results"
#: the fixed alert as a NAB threshold (nab flags ``score >= threshold``; the alert is ``> 1``)
FIXED = float(np.nextafter(INCIDENT_THRESHOLD, np.inf))
RANDOM_SPLITS = 50


def files_on_grid() -> list[dict]:
    """Each file: its rows' timestamps, its grid, the row -> grid map and the scored start."""
    out = []
    for name in nab_files():
        raw = load_nab_file(name)
        grid = load_nab_series(name)
        pos = grid_positions(raw["timestamp"], grid.index, NAB_REGULARIZE["off_grid"])
        start = int(pos[probation_length(len(raw))])
        out.append({"name": name, "timestamps": raw["timestamp"], "grid": grid, "pos": pos, "start": start,
                    "periods": season_lengths(grid.index.freq)})
    return out


# --------------------------------------------------------------------------- variants
def _usable(f: dict) -> list[int]:
    return [int(p) for p in f["periods"] if 1 < int(p) and 2 * int(p) <= f["start"]]


def _season(f: dict) -> int:
    return min(_usable(f), default=1)


def package(**options) -> Callable[[dict], np.ndarray]:
    """:func:`incident_scores` with ``options`` (``settle`` as a share of the training part)."""
    def rows(f: dict) -> np.ndarray:
        opts = dict(options)
        if "settle" in opts:
            opts["settle"] = max(1, int(opts["settle"] * f["start"]))
        if callable(opts.get("windows")):
            opts["windows"] = opts["windows"](f)
        return incident_scores(f["grid"].to_numpy(), f["start"], f["periods"], **opts)[f["pos"]]
    return rows


def _z(f: dict, seasonal: bool = True) -> np.ndarray:
    y = f["grid"].to_numpy()
    floor = SCALE_FLOOR * float(np.nanstd(y[:f["start"]]))
    return robust_standardize(baseline_residuals(y, _usable(f) if seasonal else []), LONG_WINDOW, floor + 1e-12)


def _peaks(scores: np.ndarray, span: int) -> np.ndarray:
    """The previous one-alert-per-incident rule: a score where it tops the last ``span`` scores."""
    prev = pd.Series(scores).shift(1).rolling(int(span), min_periods=1).max().fillna(0.0).to_numpy()
    return np.where(scores > prev, scores, 0.0)


def _finish(f: dict, scores: np.ndarray, span: int, rule: str = "first") -> np.ndarray:
    scores[np.isnan(f["grid"].to_numpy())] = 0.0
    return (first_records(scores, span) if rule == "first" else _peaks(scores, span))[f["pos"]]


def multiscale(statistic: Callable[[pd.Series, int, int, dict], np.ndarray], zs: Callable[[dict], list[np.ndarray]],
               windows: Callable[[dict], tuple] = lambda f: incident_windows(_season(f), f["start"]),
               settle: float = 1.0, rule: str = "first") -> Callable[[dict], np.ndarray]:
    """The default's steps with some replaced: ``zs`` the standardised residual series,
    ``statistic(mean |z| over k, k, warm, file)`` judges each time scale's running mean (the
    default: the record ratio), ``rule`` the one-alert-per-incident rule (``"first"`` record, the
    default, or ``"tops"`` the last season's scores)."""
    def rows(f: dict) -> np.ndarray:
        w = windows(f)
        warm = f["start"] + max(1, int(settle * f["start"]))
        out = np.zeros(len(f["grid"]))
        for z in zs(f):
            absz = pd.Series(np.abs(z))
            for k in w:
                out = np.maximum(out, statistic(absz.rolling(int(k), min_periods=1).mean(), int(k), warm, f))
        return _finish(f, out, max(w), rule)
    return rows


def record(m: pd.Series, k: int, warm: int, f: dict) -> np.ndarray:
    return record_ratio(m.to_numpy(), warm)


def record_with_memory(weeks: float) -> Callable:
    """A record over the last ``weeks`` longest seasons only (a past incident stops masking later ones)."""
    def stat(m: pd.Series, k: int, warm: int, f: dict) -> np.ndarray:
        memory = int(weeks * max(_usable(f), default=f["start"]))
        past = m.abs().shift(1).rolling(memory, min_periods=1).max().to_numpy()
        with np.errstate(all="ignore"):
            out = np.nan_to_num(np.where(past > 0, m.abs().to_numpy() / past, 0.0), nan=0.0, posinf=0.0)
        out[:warm] = 0.0
        return out
    return stat


def likelihood(m: pd.Series, k: int, warm: int, f: dict) -> np.ndarray:
    """HTM's anomaly likelihood: ``-log10`` of the Gaussian upper tail of the running mean against
    the mean and standard deviation of its past values (the last ``LONG_WINDOW``)."""
    mu = m.shift(1).rolling(LONG_WINDOW, min_periods=20).mean()
    sd = m.shift(1).rolling(LONG_WINDOW, min_periods=20).std()
    out = np.nan_to_num(-log_ndtr(-((m - mu) / sd).to_numpy()) / np.log(10), nan=0.0, posinf=0.0)
    out[:warm] = 0.0
    return out


def exponential_tail(m: pd.Series, k: int, warm: int, f: dict, q: float = 0.05, every: int = 100) -> np.ndarray:
    """``-log10`` of the exceedance probability of the running mean under an exponential tail fitted
    to the top ``q`` of its past values (peaks over a threshold; refitted every ``every`` steps),
    the empirical rank below that threshold."""
    x = m.to_numpy()
    out = np.zeros(len(x))
    for t0 in range(warm, len(x), every):
        past = np.sort(x[:t0][np.isfinite(x[:t0])])
        if len(past) < 100:
            continue
        u = np.quantile(past, 1 - q)
        beta = max(float((past[past > u] - u).mean()) if (past > u).any() else 1.0, 1e-12)
        cur = x[t0:t0 + every]
        rank = len(past) - np.searchsorted(past, cur, side="left")
        lp = np.where(cur > u, -np.log10(q) + (cur - u) / beta / np.log(10),
                      -np.log10(np.maximum(rank, 1) / len(past)))
        out[t0:t0 + every] = np.nan_to_num(lp, nan=0.0)
    out[:warm] = 0.0
    return out


def level_z(f: dict) -> np.ndarray:
    """The value against the rolling median of the last ``LONG_WINDOW`` values, robustly standardised."""
    y = pd.Series(f["grid"].to_numpy())
    med = y.rolling(LONG_WINDOW, min_periods=20).median().shift(1)
    floor = SCALE_FLOOR * float(np.nanstd(y.to_numpy()[:f["start"]]))
    return robust_standardize((y - med).to_numpy(), LONG_WINDOW, floor + 1e-12)


_AR_Z: dict[str, np.ndarray] = {}


def ar_z(f: dict) -> np.ndarray:
    """The signed normal score of each point under ``detect_anomalies(y)``'s calibrated ``AR()``
    one-step forecast (``score = -log10 p``, two-sided), trained on the probationary rows."""
    if f["name"] not in _AR_Z:
        _AR_Z[f["name"]] = _ar_z(f)
    return _AR_Z[f["name"]]


def _ar_z(f: dict) -> np.ndarray:
    from arforecast.anomaly import detect_anomalies
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = detect_anomalies(f["grid"], start=f["start"], incidents=False)
    p = np.clip(10.0 ** -out["score"].to_numpy(dtype=float), 1e-300, 1.0)
    return np.sign(out["y"].to_numpy(dtype=float) - out["mean"].to_numpy(dtype=float)) * ndtri(1 - p / 2)


def published(detector: str) -> Callable[[dict], np.ndarray]:
    def rows(f: dict) -> np.ndarray:
        folder, file = f["name"].split("/")
        return pd.read_csv(nab_root() / "results" / detector / folder / f"{detector}_{file}")["anomaly_score"] \
            .to_numpy()
    return rows


def _fractions(*shares: float) -> Callable[[dict], tuple]:
    return lambda f: tuple(sorted({max(1, int(round(q * _season(f)))) for q in shares}))


def per_season_z(f: dict) -> list[np.ndarray]:
    """The default's residuals plus one per usable season alone (its own same-phase median)."""
    y = f["grid"].to_numpy()
    floor = SCALE_FLOOR * float(np.nanstd(y[:f["start"]]))
    alone = [robust_standardize(baseline_residuals(y, [p]), LONG_WINDOW, floor + 1e-12) for p in _usable(f)]
    return [_z(f)] + (alone if len(alone) > 1 else [])


def variants(with_ar: bool = False) -> dict[str, tuple[Callable[[dict], np.ndarray], bool]]:
    """name -> (rows of a file, whether the fixed alert ``> 1`` applies to its score)."""
    seasonal = lambda f: [_z(f)]          # noqa: E731
    old_scales = lambda f: (1, 6, 24)     # noqa: E731
    out = {
        "default: 4 scales 1..season, settle = training part, first record per incident": (package(), True),
        "previous default: scales (1, 6, 24) steps, settle = 1/5 training, tops the last 24 steps":
            (multiscale(record, seasonal, old_scales, settle=0.2, rule="tops"), True),
        "scales (1, 6, 24) steps, settle = 1/5 training": (package(windows=(1, 6, 24), settle=0.2), True),
        "scales (1, 6, 24) steps": (package(windows=(1, 6, 24)), True),
        "scales 1, season/48, season/12 (the old ones at 5 min)": (package(windows=_fractions(0, 1 / 48, 1 / 12)),
                                                                   True),
        "3 scales 1..season": (package(windows=lambda f: incident_windows(_season(f), f["start"], 3)), True),
        "5 scales 1..season": (package(windows=lambda f: incident_windows(_season(f), f["start"], 5)), True),
        "4 scales 1..season/2": (package(windows=lambda f: incident_windows(max(1, _season(f) // 2), f["start"])),
                                 True),
        "4 scales 1..longest season": (package(windows=lambda f: incident_windows(max(_usable(f), default=1),
                                                                                  f["start"])), True),
        "settle = 1/5 training part": (package(settle=0.2), True),
        "settle = 1/2 training part": (package(settle=0.5), True),
        "settle = 1.5 training parts": (package(settle=1.5), True),
        "settle = 2 training parts": (package(settle=2.0), True),
        "one alert per incident: tops the last season (previous rule)": (multiscale(record, seasonal, rule="tops"),
                                                                          True),
        "record over the last 2 longest seasons only": (multiscale(record_with_memory(2), seasonal), True),
        "HTM likelihood instead of record": (multiscale(likelihood, seasonal), False),
        "exponential-tail p-value instead of record": (multiscale(exponential_tail, seasonal), False),
        "+ level vs long-run median": (multiscale(record, lambda f: [_z(f), level_z(f)]), True),
        "+ each season's baseline alone": (multiscale(record, per_season_z), True),
        "without season (previous value)": (multiscale(record, lambda f: [_z(f, seasonal=False)]), True),
    }
    if with_ar:
        out["AR() errors only (incident steps on its normal scores)"] = (multiscale(record, lambda f: [ar_z(f)]), True)
        out["+ AR() errors (max of both records)"] = (multiscale(record, lambda f: [_z(f), ar_z(f)]), True)
    return out


# --------------------------------------------------------------------------- scoring
class Scorer:
    """NAB scores of any subset of the 18 files, with each file's row weights computed once."""

    def __init__(self, files: list[dict]):
        windows = load_nab_windows()
        self.files = files
        self.rows = {p: [nab_rows(f["timestamps"], np.zeros(len(f["timestamps"])), windows[f["name"]], name=f["name"],
                                  profile=p) for f in files] for p in PROFILES}

    def score(self, scores: list[np.ndarray], subset=None, profile: str = "standard",
              threshold: float | None = None) -> float:
        idx = range(len(self.files)) if subset is None else subset
        rows = [NABRows(r.name, np.asarray(scores[i], float), r.weights, r.window, r.n_windows)
                for i, r in ((i, self.rows[profile][i]) for i in idx)]
        fn = PROFILES[profile]["fnWeight"]
        raw = float(nab_sweep(rows, fn)["score"].max()) if threshold is None else nab_raw_score(rows, threshold, fn)[0]
        null_rows = [NABRows(r.name, np.full(len(r.scores), 0.5), r.weights, r.window, r.n_windows) for r in rows]
        null = float(nab_sweep(null_rows, fn)["score"].max())
        perfect = sum(r.n_windows for r in rows) * PROFILES[profile]["tpWeight"]
        return 100.0 * (raw - null) / (perfect - null)


def halves(files: list[dict], rng: np.random.Generator | None = None) -> tuple[list[int], list[int]]:
    """Two halves of 9 files, stratified by folder: alternate files of each folder in sorted order
    (shuffled with ``rng``), the odd file of a folder to the half that is smaller so far (to A
    when they are equal, or at random with ``rng``)."""
    a, b = [], []
    for folder in sorted({f["name"].split("/")[0] for f in files}):
        idx = [i for i, f in enumerate(files) if f["name"].startswith(folder + "/")]
        if rng is not None:
            idx = list(rng.permutation(idx))
        first, second = (a, b) if len(a) < len(b) or (len(a) == len(b) and (rng is None or rng.random() < 0.5)) \
            else (b, a)
        first += idx[0::2]
        second += idx[1::2]
    return sorted(a), sorted(b)


def split_check(scorer: Scorer, table: dict[str, list[np.ndarray]], default: str, splits) -> dict[str, float]:
    """Mean over ``splits`` and both directions of: the variant chosen on one half (best standard
    swept score), scored on the other half; the best variant there; the default there."""
    chosen, best, dflt, picks = [], [], [], []
    for a, b in splits:
        sa = {n: scorer.score(r, a) for n, r in table.items()}
        sb = {n: scorer.score(r, b) for n, r in table.items()}
        for s_sel, s_eval in ((sa, sb), (sb, sa)):
            pick = max(s_sel, key=s_sel.get)
            picks.append(pick)
            chosen.append(s_eval[pick])
            best.append(max(s_eval.values()))
            dflt.append(s_eval[default])
    return {"chosen": float(np.mean(chosen)), "best": float(np.mean(best)), "default": float(np.mean(dflt)),
            "default_picked": float(np.mean([p == default for p in picks])), "n": len(chosen)}


def families(names: list[str], default: str) -> dict[str, list[str]]:
    """The variants grouped by the choice they vary (each with the default), and all of them."""
    groups = {"time scales": lambda n: (n.startswith("scale") or "scales 1.." in n) and "settle" not in n,
              "settle-in": lambda n: n.startswith("settle ="),
              "incident rule": lambda n: n.startswith("one alert"),
              "record statistic": lambda n: n.startswith("record over") or "instead of record" in n,
              "residuals": lambda n: n.startswith(("+ ", "without season", "AR() errors"))}
    out = {g: [default] + [n for n in names[1:] if keep(n)] for g, keep in groups.items()}
    out["all variants"] = names
    return out


def run(with_ar: bool = False, random_splits: int = RANDOM_SPLITS) -> str:
    files = files_on_grid()
    scorer = Scorer(files)
    a, b = halves(files)
    clean = [i for i, f in enumerate(files) if f["name"].startswith("artificialNoAnomaly/")]
    lines = ["NAB development subset (18 files, 25 windows), one setting for all files; scores normalised as NAB "
             "does (0 = null detector, 100 = perfect)", "",
             "| detector | standard (swept) | low FP (swept) | low FN (swept) | standard (fixed) | A (swept) | "
             "B (swept) | alerts on 5 clean files | seconds |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    table: dict[str, list[np.ndarray]] = {}
    entries = dict(variants(with_ar))
    entries.update({f"published {d} (NAB results/), swept only": (published(d), False) for d in ("ARTime", "numenta")})
    for name, (make, fixed) in entries.items():
        t0 = time.perf_counter()
        rows = [make(f) for f in files]
        seconds = time.perf_counter() - t0
        if not name.startswith("published"):
            table[name] = rows
        sw = [scorer.score(rows, profile=p) for p in PROFILES]
        fx = f"{scorer.score(rows, threshold=FIXED):.1f}" if fixed else "-"
        alerts = sum(int((rows[i][probation_length(len(rows[i])):] >= FIXED).sum()) for i in clean) if fixed else "-"
        lines.append(f"| {name} | " + " | ".join(f"{s:.1f}" for s in sw) +
                     f" | {fx} | {scorer.score(rows, a):.1f} | {scorer.score(rows, b):.1f} | {alerts} | {seconds:.1f} |")
    default = next(iter(table))
    rng = np.random.default_rng(0)
    random_halves = [halves(files, rng) for _ in range(random_splits)]
    lines += ["", f"A = {', '.join(files[i]['name'].split('/')[1] for i in a)}",
              f"B = {', '.join(files[i]['name'].split('/')[1] for i in b)}", "",
              "Split-half check of each choice (standard profile, threshold swept on the scored half): within a "
              "family of variants (the default included), the one that scores best on one half, scored on the other "
              "half, beside the best of the family there and the default there; on the fixed split (A -> B and "
              f"B -> A) and on {random_splits} random stratified splits (both ways).", "",
              "| family (variants) | fixed: chosen | fixed: best | fixed: default | random: chosen | random: best | "
              "random: default | default chosen (random) |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for family, members in families(list(table), default).items():
        sub = {n: table[n] for n in members}
        fx = split_check(scorer, sub, default, [(a, b)])
        rd = split_check(scorer, sub, default, random_halves)
        lines.append(f"| {family} ({len(sub)}) | {fx['chosen']:.1f} | {fx['best']:.1f} | {fx['default']:.1f} | "
                     f"{rd['chosen']:.1f} | {rd['best']:.1f} | {rd['default']:.1f} | {100 * rd['default_picked']:.0f}% |")
    lines += ["", f"fixed alert: incident_score > {INCIDENT_THRESHOLD} (any new record)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--with-ar", action="store_true", help="also the AR() forecast errors (slower)")
    parser.add_argument("--splits", type=int, default=RANDOM_SPLITS, help="random splits of the split-half check")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    t0 = time.perf_counter()
    table = run(with_ar=args.with_ar, random_splits=args.splits)
    table += f"\nwall time {time.perf_counter() - t0:.0f} s"
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "nab_incidents.md").write_text(table + "\n")
    print("\nsaved benchmarks/results/nab_incidents.md")


if __name__ == "__main__":
    main()
