"""AR fit speed: arforecast's batched AR(p) against statsmodels and against a plain numpy solve.

All in one process, on the same data:

* (a) 1,000 series x 1,000 points, p=24, trend "c": ``AR(24).fit`` vs a loop of statsmodels
  ``AutoReg(y, lags=24).fit()`` (goal: >= 50x faster);
* (b) one series of 1,000,000 points, p=24: ``AR(24).fit`` vs one ``AutoReg`` fit (goal: >= 40x);
* (c) ``AR(24).fit`` vs a plain batched numpy normal-equations solve of problem (a): the lag
  matrix built contiguous, ``X'X`` and ``X'y`` by batched matmul, ``np.linalg.solve`` (goal: faster).

Our times and the numpy times are the best of several repeats; statsmodels runs once (it takes
seconds). Both wall-clock and CPU (process) times are reported, since the machine may be shared.
The references get their best BLAS setting: statsmodels runs with one BLAS thread (its many
small SVDs only lose to threading, badly so on a busy machine; arforecast also uses one), the
numpy solve is timed with the default threads and with one, and the faster is kept.
Half the series are stationary AR(2) processes, half random walks; the largest deviation of
our coefficients and ``sigma2`` from statsmodels' is printed (relative, per coefficient and
per series vector). On random walks the lag columns are nearly collinear and coefficients near
zero carry relative rounding errors of both methods (ours: normal equations of the centred
design; statsmodels: SVD of the raw one), hence the separate per-coefficient figures.

    python benchmarks/ar_fit.py            # the sizes above (statsmodels loop: ~20 s)
    python benchmarks/ar_fit.py --quick    # 100 series, one series of 100,000 points
"""
from __future__ import annotations

import argparse
import time
import warnings
from typing import Callable

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from threadpoolctl import threadpool_limits

import arforecast as af

P = 24


def simulate(n: int, length: int, seed: int = 0) -> np.ndarray:
    """``[n, length]``: even rows stationary AR(2) with random coefficients, odd rows random walks."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, length))
    for i in range(n):
        e = rng.standard_normal(length + 100)
        if i % 2 == 0:
            r1, r2 = rng.uniform(-0.9, 0.9, size=2)             # roots inside the unit circle
            y = lfilter([1.0], [1.0, -(r1 + r2), r1 * r2], e)[100:]
        else:
            y = np.cumsum(e)[100:]
        out[i] = 10.0 * rng.uniform(0.5, 2.0) * y + rng.uniform(-100, 100)
    return out


def one_thread(fn: Callable[[], object]) -> Callable[[], object]:
    def wrapped():
        with threadpool_limits(limits=1, user_api="blas"):
            return fn()
    return wrapped


def best_of(*runs: tuple[float, float, object]) -> tuple[float, float, object]:
    return min(runs, key=lambda r: r[0])


def timed(fn: Callable[[], object], repeats: int = 1) -> tuple[float, float, object]:
    """Best wall and CPU seconds over ``repeats`` runs, and the last result."""
    wall = cpu = np.inf
    result = None
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall, cpu = min(wall, time.perf_counter() - w0), min(cpu, time.process_time() - c0)
    return wall, cpu, result


def statsmodels_loop(Y: list[np.ndarray], p: int = P) -> np.ndarray:
    """``[n, 2 + p]``: const, lags and sigma2 of ``AutoReg(y, lags=p, trend="c")`` per series."""
    from statsmodels.tsa.ar_model import AutoReg
    out = np.empty((len(Y), p + 2))
    for i, y in enumerate(Y):
        res = AutoReg(y, lags=p, trend="c").fit()
        out[i, :-1], out[i, -1] = res.params, res.sigma2
    return out


def numpy_normal_equations(Y: np.ndarray, p: int = P) -> np.ndarray:
    """The plain batched solve: contiguous lag matrices, ``X'X`` and ``X'y`` by matmul, ``solve``."""
    n, T = Y.shape
    windows = np.lib.stride_tricks.sliding_window_view(Y, p + 1, axis=1)       # (n, T-p, p+1)
    X = np.empty((n, T - p, p + 1))
    X[:, :, 0] = 1.0
    X[:, :, 1:] = windows[:, :, :p][:, :, ::-1]
    Xt = X.transpose(0, 2, 1)
    return np.linalg.solve(Xt @ X, Xt @ Y[:, p:, None])[..., 0]


def ours(panel: af.Panel, p: int = P) -> np.ndarray:
    model = af.AR(p=p, trend="c").fit(panel)
    return np.column_stack([model.intercept_, model.coef_, model.sigma2_])


def deviation(ours_: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Largest relative deviations from the reference: per coefficient (on the stationary rows
    and on all), per coefficient against the series' largest one, per series (vector norm), of sigma2."""
    params, ref_params = ours_[:, :-1], ref[:, :-1]
    gap = np.abs(params - ref_params)
    rel = gap / np.abs(ref_params)
    return {
        "max rel. dev. per coefficient, stationary series": float(np.max(rel[::2])),
        "max rel. dev. per coefficient, all series": float(np.max(rel)),
        "max dev. per coefficient / largest coefficient": float(np.max(gap / np.abs(ref_params).max(axis=1,
                                                                                                  keepdims=True))),
        "max rel. dev. per series (norm)": float(np.max(np.linalg.norm(params - ref_params, axis=1)
                                                        / np.linalg.norm(ref_params, axis=1))),
        "max rel. dev. sigma2": float(np.max(np.abs(ours_[:, -1] / ref[:, -1] - 1))),
    }


def run(suite: str = "full", verbose: bool = True) -> dict:
    """Measure (a), (b), (c); returns a JSON-ready dict (tables and the three ratios)."""
    quick = suite == "quick"
    n, T, long_T = (100, 1000, 100_000) if quick else (1000, 1000, 1_000_000)
    repeats = 5
    Y = simulate(n, T, seed=1)
    panel = af.Panel.from_arrays(list(Y))
    y_long = simulate(2, long_T, seed=2)[0]                       # a stationary AR(2)
    long_panel = af.Panel.from_arrays([y_long])

    ours(panel)                                                   # warm-up (imports, allocator)
    a_ours = timed(lambda: ours(panel), repeats)
    a_numpy = best_of(timed(lambda: numpy_normal_equations(Y), repeats),
                      timed(one_thread(lambda: numpy_normal_equations(Y)), repeats))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a_sm = timed(one_thread(lambda: statsmodels_loop(list(Y))))
        b_ours = timed(lambda: ours(long_panel), repeats)
        b_numpy = best_of(timed(lambda: numpy_normal_equations(y_long[None, :]), 2),
                          timed(one_thread(lambda: numpy_normal_equations(y_long[None, :])), 2))
        b_sm = best_of(timed(lambda: statsmodels_loop([y_long])),
                       timed(one_thread(lambda: statsmodels_loop([y_long]))))

    a_name, b_name = f"(a) {n} x {T}, p={P}", f"(b) 1 x {long_T}, p={P}"
    rows = [{"problem": problem, "method": method, "wall s": t[0], "cpu s": t[1]} for problem, method, t in [
        (a_name, "arforecast AR.fit", a_ours), (a_name, "plain numpy normal equations", a_numpy),
        (a_name, "statsmodels AutoReg loop", a_sm), (b_name, "arforecast AR.fit", b_ours),
        (b_name, "plain numpy normal equations", b_numpy), (b_name, "statsmodels AutoReg", b_sm)]]
    figures = {
        "(a) statsmodels loop / arforecast, wall": a_sm[0] / a_ours[0],
        "(a) statsmodels loop / arforecast, cpu": a_sm[1] / a_ours[1],
        "(b) statsmodels / arforecast, wall": b_sm[0] / b_ours[0],
        "(b) statsmodels / arforecast, cpu": b_sm[1] / b_ours[1],
        "(c) plain numpy / arforecast, wall": a_numpy[0] / a_ours[0],
        "(c) plain numpy / arforecast, cpu": a_numpy[1] / a_ours[1],
        "(b') plain numpy / arforecast (long series), wall": b_numpy[0] / b_ours[0],
    }
    accuracy = {f"(a) {k}": v for k, v in deviation(a_ours[2], a_sm[2]).items()}
    accuracy.update({f"(b) {k}": v for k, v in deviation(b_ours[2], b_sm[2]).items()
                     if "all series" not in k})
    figures.update(accuracy)
    if verbose:
        print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        for k, v in figures.items():
            print(f"{k:<52} {v:.3g}")
    description = __doc__.split("    python")[0].split("\n", 2)[2].strip()
    return {"title": "AR fit speed (statsmodels, plain numpy)", "description": description,
            "table": rows, "figures": {k: f"{v:.3g}" for k, v in figures.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 series and a 100,000-point series")
    args = parser.parse_args()
    run("quick" if args.quick else "full")


if __name__ == "__main__":
    main()
