"""AR on M4 Hourly (414 series, h=48, m=24): statsmodels parity, then the best AR found by validation.

1. ``AR(p=48, trend="c")`` beside a loop of statsmodels ``AutoReg(48)`` fits with
   ``get_prediction`` intervals: same scores (sMAPE, MASE, MSIS, coverage of the 95% interval),
   largest point-forecast difference, and fit+forecast time of each (statsmodels with one BLAS
   thread, its fastest setting for many small fits).
2. A search over AR configurations (orders, AIC/BIC, seasonal lags, trend, Gaussian vs bootstrap
   intervals) scored on a validation split carved from the *train* part: every series' last 48
   training values are held out, the models are fitted on the rest. The point model is chosen by
   validation OWA (against Naive2 on the same split), then its interval method by validation MSIS.
   Only the chosen configuration (and the two references AR(48), AR(168)) is refitted on the full
   train part and scored on the test part, which takes no part in any choice.

    python benchmarks/ar_m4.py            # all series, the whole grid (a few minutes)
    python benchmarks/ar_m4.py --quick    # 40 series, a small grid
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

import arforecast as af
from arforecast.datasets import M4_HOURLY_HORIZON as H, M4_HOURLY_SEASONALITY as M, load_m4_hourly
from arforecast.distributions import Normal
from arforecast.evaluation import metrics
from arforecast.evaluation.scoring import score
from arforecast.forecasts import Forecast

LEVEL = 0.95
#: sample paths for bootstrap intervals, stepped in chunks to bound memory
NUM_SAMPLES, CHUNK = 1000, 20_000
WEEKDAYS = (48, 72, 96, 120, 144, 168)


def statsmodels_autoreg(panel: af.Panel, p: int, h: int = H) -> Forecast:
    """A loop of statsmodels ``AutoReg(y, lags=p, trend="c")`` fits with ``get_prediction`` intervals."""
    from statsmodels.tsa.ar_model import AutoReg
    point, sd = np.empty((panel.n_series, h)), np.empty((panel.n_series, h))
    for i in range(panel.n_series):
        y = panel.series(i)
        pred = AutoReg(y, lags=p, trend="c").fit().get_prediction(start=len(y), end=len(y) + h - 1)
        point[i], sd[i] = pred.predicted_mean, np.sqrt(pred.var_pred_mean)
    return Forecast(panel, h, point, marginals=Normal(torch.from_numpy(point), torch.from_numpy(sd)),
                    model=f"AutoReg({p})")


def forecast(model: af.Forecaster, panel: af.Panel, h: int = H, seed: int = 0) -> Forecast:
    """Fit and forecast (bootstrap models draw ``NUM_SAMPLES`` paths for their intervals)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model.fit(panel)
    if getattr(model, "bootstrap", False):
        return model.predict(h, num_samples=NUM_SAMPLES, seed=seed, chunk_size=CHUNK)
    return model.predict(h)


def timed(fn, repeats: int = 1):
    best, out = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def scores(fc: Forecast, actual, insample: af.Panel, naive2: dict | None = None) -> dict:
    out = score(fc, actual, insample, M, level=LEVEL)
    out = {k: out[k] for k in ("sMAPE", "MASE", "MSIS", "coverage")}
    if naive2 is not None:
        out["OWA"] = metrics.owa(out["sMAPE"], out["MASE"], naive2["sMAPE"], naive2["MASE"])
    return out


def candidates(quick: bool = False) -> dict[str, af.AR]:
    """The configurations searched (all with Gaussian intervals; bootstrap is tried on the winner)."""
    if quick:
        return {"AR(48)": af.AR(48), "AR(aic<=48)": af.AR("aic", max_p=48),
                "AR(24)+{48,168}": af.AR(24, seasonal_lags=(48, 168))}
    grid: dict[str, af.AR] = {}
    for p in (24, 48, 72, 96, 120, 168, 192, 240):
        grid[f"AR({p})"] = af.AR(p)
    for crit in ("aic", "bic"):
        for max_p in (48, 168):
            grid[f"AR({crit}<={max_p})"] = af.AR(crit, max_p=max_p)
    for p in (24, 26, 48):
        for lags in ((48,), (168,), (48, 168), WEEKDAYS, (168, 336), (48, 168, 336)):
            grid[f"AR({p})+{{{','.join(map(str, lags))}}}"] = af.AR(p, seasonal_lags=lags)
    for crit in ("aic", "bic"):
        grid[f"AR({crit}<=48)+{{48,168}}"] = af.AR(crit, max_p=48, seasonal_lags=(48, 168))
        grid[f"AR({crit}<=48)+{{48..168}}"] = af.AR(crit, max_p=48, seasonal_lags=WEEKDAYS)
    for trend in ("n", "ct"):
        grid[f"AR(24)+{{48,168}} trend {trend}"] = af.AR(24, seasonal_lags=(48, 168), trend=trend)
        grid[f"AR(168) trend {trend}"] = af.AR(168, trend=trend)
    return grid


def search(panel: af.Panel, grid: dict[str, af.AR], verbose: bool = True) -> pd.DataFrame:
    """Validation scores of every configuration: fit on all but the last ``H`` values of each series."""
    fit_part, held_out = panel.head(panel.lengths - H), panel.tail(H)
    naive2 = scores(forecast(af.Naive2(M), fit_part), held_out, fit_part)
    rows = {}
    for name, model in grid.items():
        seconds, fc = timed(lambda: forecast(model, fit_part))
        rows[name] = {**scores(fc, held_out, fit_part, naive2), "seconds": seconds}
        if verbose:
            r = rows[name]
            print(f"  validation {name:<26} OWA {r['OWA']:.3f}  sMAPE {r['sMAPE']:6.3f}  MASE {r['MASE']:.3f}  "
                  f"MSIS {r['MSIS']:6.2f}  coverage {r['coverage']:.3f}  ({seconds:.2f} s)", flush=True)
    best = min(rows, key=lambda k: rows[k]["OWA"])
    # interval method for the chosen point model: Gaussian vs residual bootstrap, by validation MSIS
    boot = af.AR(**{**grid[best].get_params(), "bootstrap": True})
    seconds, fc = timed(lambda: forecast(boot, fit_part))
    rows[best + " bootstrap"] = {**scores(fc, held_out, fit_part, naive2), "seconds": seconds}
    if verbose:
        r = rows[best + " bootstrap"]
        print(f"  validation {best + ' bootstrap':<26} OWA {r['OWA']:.3f}  MSIS {r['MSIS']:6.2f}  "
              f"coverage {r['coverage']:.3f}  ({seconds:.2f} s)", flush=True)
    return pd.DataFrame(rows).T


def run(suite: str = "full", verbose: bool = True) -> dict:
    quick = suite == "quick"
    train, test = load_m4_hourly(40 if quick else None)
    panel = af.to_panel(train)
    naive2 = scores(forecast(af.Naive2(M), panel), test, panel)

    # 1. parity with statsmodels
    ours_s, ours = timed(lambda: forecast(af.AR(48), panel), 3)
    with threadpool_limits(limits=1, user_api="blas"):          # statsmodels' fastest setting here
        sm_s, sm = timed(lambda: statsmodels_autoreg(panel, 48))
    parity = {
        "AR(48) arforecast": {**scores(ours, test, panel, naive2), "seconds": ours_s},
        "AR(48) statsmodels loop": {**scores(sm, test, panel, naive2), "seconds": sm_s},
    }
    gap = float(np.max(np.abs(ours.point - sm.point) / np.abs(sm.point)))
    if verbose:
        print(pd.DataFrame(parity).T.round(4).to_string())
        print(f"  largest relative point difference {gap:.2e}; speed-up {sm_s / ours_s:.1f}x", flush=True)

    # 2. the search, on validation only
    table = search(panel, candidates(quick), verbose)
    point_choice = min((k for k in table.index if not k.endswith("bootstrap")), key=lambda k: table.loc[k, "OWA"])
    boot_name = point_choice + " bootstrap"
    chosen = boot_name if table.loc[boot_name, "MSIS"] < table.loc[point_choice, "MSIS"] else point_choice
    params = candidates(quick)[point_choice].get_params()
    final = af.AR(**{**params, "bootstrap": chosen.endswith("bootstrap")})

    # 3. test scores of the chosen configuration and the references
    tested = {"Naive2": {**naive2, "OWA": 1.0}, "AR(48)": parity["AR(48) arforecast"]}
    for name, model in [("AR(168)", af.AR(168)), (f"chosen: {chosen}", final)]:
        seconds, fc = timed(lambda: forecast(model, panel))
        tested[name] = {**scores(fc, test, panel, naive2), "seconds": seconds}
    test_table = pd.DataFrame(tested).T
    if verbose:
        print(f"\nchosen by validation: {chosen}\n" + test_table.round(4).to_string())
    records = lambda df: df.round(6).reset_index(names="model").to_dict(orient="records")  # noqa: E731
    return {"title": "AR on M4 Hourly: statsmodels parity and the best AR by validation",
            "description": __doc__.split("    python")[0].split("\n", 2)[2].strip(),
            "tables": {"parity (test part)": records(pd.DataFrame(parity).T),
                       "search (validation: last 48 train values)": records(table),
                       "test part": records(test_table)},
            "figures": {"AR(48) largest relative point difference vs statsmodels": f"{gap:.3g}",
                        "AR(48) fit+forecast speed-up vs statsmodels loop": f"{sm_s / ours_s:.3g}"},
            "notes": f"Chosen by validation: {chosen}."}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 series and a small grid")
    args = parser.parse_args()
    run("quick" if args.quick else "full")


if __name__ == "__main__":
    main()
