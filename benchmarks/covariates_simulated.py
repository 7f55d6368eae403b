"""ARX on a simulated panel where the truth is known: y_i = b_i x_i + AR(1) noise.

Each of ``--series`` hourly series has its own covariate effect ``b_i`` (drawn in [0.5, 3]), an
AR(1) noise with ``rho_i`` in [0.2, 0.8] and a future-known covariate ``x_i`` (itself an AR(1)).
The true model is ``y_t = rho y_{t-1} + b x_t - rho b x_{t-1} + e_t``, i.e. ARX(p=1) with
covariate lags 0 and 1. Printed:

* the share of series whose 95% interval ``b_hat +- 1.96 se`` holds the true ``b`` (about 0.95 if
  the estimates and standard errors are right) and the mean ``|b_hat - b| / se``;
* the h=24 forecast MAE of ARX, of AR without the covariate, and of the true model (the oracle),
  as ratios to the oracle measured in the same run.

    python benchmarks/covariates_simulated.py --series 200
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import arforecast as af

H = 24


def simulate(n_series: int, length: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    b = rng.uniform(0.5, 3.0, n_series)
    rho = rng.uniform(0.2, 0.8, n_series)
    x = np.zeros((n_series, length))
    u = np.zeros((n_series, length))
    for t in range(1, length):
        x[:, t] = 0.7 * x[:, t - 1] + rng.normal(size=n_series)
        u[:, t] = rho * u[:, t - 1] + rng.normal(size=n_series)
    y = 10.0 + b[:, None] * x + u
    ds = pd.date_range("2024-01-01", periods=length, freq="h")
    ids = np.repeat([f"s{i}" for i in range(n_series)], length)
    Y = pd.DataFrame({"unique_id": ids, "ds": np.tile(ds, n_series), "y": y.ravel()})
    X = pd.DataFrame({"unique_id": ids, "ds": np.tile(ds, n_series), "x": x.ravel()})
    return Y, X, b, rho


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--length", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    Y, X, b, rho = simulate(args.series, args.length, args.seed)
    train = Y.groupby("unique_id").head(args.length - H)
    train_x = X.groupby("unique_id").head(args.length - H)
    future = X.groupby("unique_id").tail(H)
    truth = Y.groupby("unique_id").tail(H)["y"].to_numpy().reshape(args.series, H)
    t0 = time.perf_counter()
    arx = af.ARX(p=1, x_lags=(0, 1)).fit(train, X=train_x)
    fc_arx = arx.predict(H, X_future=future).point
    seconds = time.perf_counter() - t0
    k = arx.exog_terms_.index(("x", 0))
    est, se = arx.exog_coef_[:, k], arx.bse_[:, 2 + k]
    covered = np.mean(np.abs(est - b) <= 1.96 * se)
    fc_ar = af.ARX(p=1).fit(train).predict(H).point
    # the oracle: the true coefficients, the same recursion
    y_hist = train["y"].to_numpy().reshape(args.series, -1)
    xs = X["x"].to_numpy().reshape(args.series, -1)
    n = y_hist.shape[1]
    c = 10.0 * (1 - rho)
    oracle = np.empty((args.series, H))
    last = y_hist[:, -1]
    for s in range(H):
        t = n + s
        last = c + rho * last + b * xs[:, t] - rho * b * xs[:, t - 1]
        oracle[:, s] = last
    mae = {name: float(np.mean(np.abs(f - truth))) for name, f in
           (("oracle", oracle), ("ARX", fc_arx), ("AR (no covariate)", fc_ar))}
    print(f"{args.series} series x {args.length} hours, ARX fit + forecast {seconds:.2f} s")
    print(f"95% intervals of b holding the truth: {covered:.3f}; mean |b_hat - b| / se: {np.mean(np.abs(est - b) / se):.3f}")
    for name, v in mae.items():
        print(f"h={H} MAE {name:18s} {v:.4f}  ratio to oracle {v / mae['oracle']:.3f}")


if __name__ == "__main__":
    main()
