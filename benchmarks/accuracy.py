"""Accuracy on M4 Hourly (414 series, h=48, m=24): arforecast's models beside its peers, one run.

Ours: Naive2, SeasonalNaive, Naive, AR (fixed, AIC, validation-chosen seasonal lags) and
NeuralAR in its best configuration (benchmarks/neural_m4.py) trained for a fixed time (20 s on
the quick suite's 40 series, 12 minutes on the full suite). Columns: sMAPE, MASE, OWA (vs
Naive2), MSIS and coverage of the 95% interval, weighted quantile loss, fit+predict wall time.
Peers run when installed (``pip install arforecast[bench]``):
statsforecast AutoARIMA, AutoETS, AutoTheta, and a loop of statsmodels AutoReg fits.

    python benchmarks/accuracy.py --quick        # 40 series, fast models and a 20-s NeuralAR
"""
from __future__ import annotations

import argparse
import importlib.util
import time
from typing import Callable

import numpy as np
import pandas as pd

import arforecast as af
from arforecast.datasets import M4_HOURLY_HORIZON as H, M4_HOURLY_SEASONALITY as M, load_m4_hourly
from arforecast.evaluation.scoring import DEFAULT_QUANTILES, add_owa, score
from arforecast.forecasts import Forecast
from arforecast.distributions import Normal

try:
    from benchmarks.neural_m4 import model_for
except ImportError:  # run as a script: benchmarks/ itself is on the path
    from neural_m4 import model_for  # type: ignore[no-redef]

LEVEL = 0.95
#: the NeuralAR row: the best configuration of benchmarks/neural_m4.py, trained for a fixed time
#: (the full suite's budget keeps training + 200 sample paths under 15 minutes)
NEURAL = {"quick": {"time_limit": 20.0, "num_samples": 20, "overrides": {"d_model": 16, "n_layers": 3}},
          "full": {"time_limit": 720.0, "num_samples": 200, "overrides": {}}}
NEURAL_CONFIG = "conv-continuous"


def _ours(model: af.Forecaster, num_samples: int | None = None) -> Callable:
    def run(train: pd.DataFrame) -> Forecast:
        return model.fit(train).predict(H, num_samples=num_samples, seed=0)
    return run


def _statsforecast(model_factory: Callable) -> Callable:
    """A statsforecast model wrapped into a Forecast with Normal marginals read off its intervals."""
    def run(train: pd.DataFrame) -> Forecast:
        from statsforecast import StatsForecast
        from scipy.stats import norm
        import torch
        sf = StatsForecast(models=[model_factory()], freq="h", n_jobs=1)
        out = sf.forecast(df=train, h=H, level=[int(LEVEL * 100)])
        name = [c for c in out.columns if c not in ("unique_id", "ds") and "-lo-" not in c and "-hi-" not in c][0]
        panel = af.to_panel(train)
        out = out.set_index("unique_id").loc[list(panel.ids)]
        point = out[name].to_numpy().reshape(panel.n_series, H)
        hi = out[f"{name}-hi-{int(LEVEL * 100)}"].to_numpy().reshape(panel.n_series, H)
        sd = np.maximum((hi - point) / norm.ppf(0.5 + LEVEL / 2), 1e-12)
        return Forecast(panel, H, point, marginals=Normal(torch.from_numpy(point), torch.from_numpy(sd)), model=name)
    return run


def _statsmodels_autoreg(p: int) -> Callable:
    """A plain loop of statsmodels AutoReg(p) fits with get_prediction intervals."""
    def run(train: pd.DataFrame) -> Forecast:
        import torch
        from statsmodels.tsa.ar_model import AutoReg
        from threadpoolctl import threadpool_limits
        panel = af.to_panel(train)
        point = np.empty((panel.n_series, H))
        sd = np.empty((panel.n_series, H))
        with threadpool_limits(1):  # statsmodels' fastest setting for many small fits
            for i in range(panel.n_series):
                y = panel.series(i)
                res = AutoReg(y, lags=p, trend="c").fit()
                pred = res.get_prediction(start=len(y), end=len(y) + H - 1)
                point[i] = pred.predicted_mean
                sd[i] = np.sqrt(pred.var_pred_mean)
        return Forecast(panel, H, point, marginals=Normal(torch.from_numpy(point), torch.from_numpy(sd)),
                        model=f"AutoReg({p})")
    return run


def candidates(suite: str) -> dict[str, Callable]:
    """The models of a suite: ``quick`` (fast ones) or ``full`` (everything installed)."""
    runs: dict[str, Callable] = {
        "SeasonalNaive": _ours(af.SeasonalNaive(M)),
        "Naive": _ours(af.Naive()),
    }
    runs["AR(48)"] = _ours(af.AR(p=48, trend="c"))
    runs["AR(aic, max 48)"] = _ours(af.AR(p="aic", max_p=48, trend="c"))
    # the configuration chosen on a validation split of the train part (benchmarks/ar_m4.py)
    runs["AR(24)+lags 48,168"] = _ours(af.AR(p=24, seasonal_lags=(48, 168), trend="n"))
    runs["statsmodels AutoReg(48)"] = _statsmodels_autoreg(48)
    neural = NEURAL[suite]
    runs[f"NeuralAR {NEURAL_CONFIG} ({neural['time_limit']:.0f} s)"] = _ours(
        model_for(NEURAL_CONFIG, neural["time_limit"], neural["overrides"]), num_samples=neural["num_samples"])
    if suite == "full":
        runs["AR(168)"] = _ours(af.AR(p=168, trend="c"))
        runs["statsmodels AutoReg(168)"] = _statsmodels_autoreg(168)
        if importlib.util.find_spec("statsforecast") is not None:
            from statsforecast.models import AutoETS, AutoTheta
            runs["statsforecast AutoETS"] = _statsforecast(lambda: AutoETS(season_length=M))
            runs["statsforecast AutoTheta"] = _statsforecast(lambda: AutoTheta(season_length=M))
    return runs


#: AutoARIMA with a 24-hour season takes minutes per series here (12 series: 729 s on a loaded
#: machine), so the full suite scores it on the first ARIMA_SERIES series beside the others.
ARIMA_SERIES = 24


def _arima_subset(verbose: bool) -> list[dict]:
    from statsforecast.models import AutoARIMA
    train, test = load_m4_hourly(ARIMA_SERIES)
    insample = af.to_panel(train)
    todo = {"Naive2": _ours(af.Naive2(M)), "SeasonalNaive": _ours(af.SeasonalNaive(M)),
            "AR(48)": _ours(af.AR(p=48, trend="c")),
            "AR(24)+lags 48,168": _ours(af.AR(p=24, seasonal_lags=(48, 168), trend="n")),
            "statsforecast AutoARIMA": _statsforecast(lambda: AutoARIMA(season_length=M))}
    return _score_all(todo, train, test, insample, verbose)


def _score_all(todo: dict[str, Callable], train: pd.DataFrame, test: pd.DataFrame, insample: af.Panel,
               verbose: bool) -> list[dict]:
    rows = {}
    for name, fn in todo.items():
        start = time.perf_counter()
        fc = fn(train)
        seconds = time.perf_counter() - start
        rows[name] = {**score(fc, test, insample, M, level=LEVEL, quantiles=DEFAULT_QUANTILES), "seconds": seconds}
        if verbose:
            print(f"  {name:<28} sMAPE {rows[name]['sMAPE']:7.3f}  MASE {rows[name]['MASE']:6.3f}  {seconds:8.2f} s", flush=True)
    table = add_owa(pd.DataFrame(rows).T)
    cols = ["sMAPE", "MASE", "OWA", "MSIS", "coverage", "WQL", "seconds"]
    table = table[[c for c in cols if c in table.columns]]
    return table.round(6).reset_index(names="model").to_dict(orient="records")


def run(suite: str = "quick", extra: dict[str, Callable] | None = None, verbose: bool = True) -> dict:
    """Score every candidate on M4 Hourly; returns a JSON-ready dict with the tables."""
    n_series = 40 if suite == "quick" else None
    train, test = load_m4_hourly(n_series)
    insample = af.to_panel(train)
    todo = {"Naive2": _ours(af.Naive2(M)), **candidates(suite), **(extra or {})}
    tables = {f"M4 Hourly, {insample.n_series} series, h={H}": _score_all(todo, train, test, insample, verbose)}
    if suite == "full" and importlib.util.find_spec("statsforecast") is not None:
        tables[f"First {ARIMA_SERIES} series, with statsforecast AutoARIMA"] = _arima_subset(verbose)
    return {"name": "accuracy_m4_hourly", "title": "Accuracy on M4 Hourly", "suite": suite,
            "description": f"Fit on the train part only, {H}-step forecasts scored on the test part; "
                           f"OWA against Naive2; MSIS and coverage of the {LEVEL:.0%} interval; WQL over "
                           "quantiles 0.1..0.9; seconds = fit + predict wall time.",
            "n_series": int(insample.n_series), "horizon": H, "level": LEVEL, "tables": tables}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 series, the fast models and a small NeuralAR")
    args = parser.parse_args()
    result = run("quick" if args.quick else "full")
    for name, records in result["tables"].items():
        print(name)
        print(pd.DataFrame(records).set_index("model").round(3).to_string())


if __name__ == "__main__":
    main()
