"""Hostile-input probe: a generated list of bad or unusual inputs run through every forecaster, the
wrappers, ``backtest``, ``detect_anomalies``, NeuralAR's save/load and the CLI, each outcome classified.

Classes: ``right`` (the answer agrees with the clean, unscaled, unshuffled run, or is finite where
no reference applies), ``clear_error`` (a ValueError/TypeError/ArithmeticError-free arforecast
error raised from arforecast's own code, naming the argument or series), ``unclear_error`` (any
other exception, or one raised from inside numpy/pandas/torch), ``silent_wrong``, ``hang`` (past
the per-case time limit), ``mutation`` (the caller's frame changed) and ``unsafe_load`` (a model
file that runs code, or a damaged file that loads). Every case that is not ``right`` or
``clear_error`` is listed.

    python -m benchmarks.probe              # the full list (about 5 minutes on one core)
    python -m benchmarks.probe --quick      # a small subset (the smoke test)
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

CLASSES = ("right", "clear_error", "silent_wrong", "unclear_error", "hang", "crash", "mutation", "unsafe_load")
TIMEOUT_S = 20


class _Timeout(BaseException):
    pass


class Wrong(Exception):
    """Raised by a check: the answer is wrong."""


def _alarm(signum: int, frame: Any) -> None:
    raise _Timeout()


def _frame_is_ours(tb: Any) -> bool:
    """True when the innermost frame that raised lies in arforecast (not numpy/pandas/torch/scipy)."""
    last = traceback.extract_tb(tb)[-1] if tb is not None else None
    return last is not None and f"{os.sep}arforecast{os.sep}" in last.filename


def classify(fn: Callable[[], Any], timeout: float = TIMEOUT_S) -> tuple[str, str]:
    """Run one case: (class, detail)."""
    import arforecast as af
    from arforecast.resources import MemoryRequestError
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            out = fn()
        return (out or "right"), ""
    except _Timeout:
        return "hang", f"over {timeout:.0f} s"
    except Wrong as err:
        return "silent_wrong", str(err)[:200]
    except (af.DataError, af.ModelFileError, MemoryRequestError, af.NotFittedError) as err:
        return "clear_error", str(err)[:120]
    except (ValueError, TypeError) as err:
        if _frame_is_ours(err.__traceback__) and str(err):
            return "clear_error", str(err)[:120]
        return "unclear_error", f"{type(err).__name__}: {str(err)[:160]} (from {traceback.extract_tb(err.__traceback__)[-1].filename.split('site-packages/')[-1]})"
    except SystemExit as err:           # the CLI: 2 is a usage or data mistake reported in one line
        return ("clear_error", "exit 2") if err.code == 2 else ("unclear_error", f"exit {err.code}")
    except Exception as err:
        return "unclear_error", f"{type(err).__name__}: {str(err)[:160]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


# ---------------------------------------------------------------------------- data
def long_frame(n_series: int = 3, n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n_series):
        t = np.arange(n)
        y = 10 * (k + 1) + np.sin(2 * np.pi * t / 24) + 0.3 * rng.standard_normal(n)
        frames.append(pd.DataFrame({"unique_id": f"s{k}", "ds": pd.date_range("2024-01-01", periods=n, freq="h"),
                                    "y": y}))
    return pd.concat(frames, ignore_index=True)


def models(quick: bool) -> dict[str, Callable[[], Any]]:
    import arforecast as af
    from arforecast.wrappers import Conformal, Ensemble, WithFallback
    tiny = dict(context_length=16, max_steps=2, seed=0, progress=False,
                architecture=dict(d_model=8, n_layers=2), inputs=dict(lags=(), periods=(), ar_lags=(1,)),
                training=dict(window_length=4, batch_size=4, validation_length=0))
    out = {"Naive": af.Naive, "SeasonalNaive": lambda: af.SeasonalNaive(24), "Naive2": lambda: af.Naive2(24),
           "Mean": af.Mean, "Drift": af.Drift, "AR": af.AR, "AR-aic": lambda: af.AR(p="aic", max_p=4),
           "NeuralAR": lambda: af.NeuralAR("conv", "continuous", **tiny),
           "Conformal": lambda: Conformal(af.Naive(), h=3, n_windows=3),
           "Ensemble": lambda: Ensemble([af.Naive(), af.Mean()]),
           "WithFallback": lambda: WithFallback(af.AR(), af.Naive())}
    if quick:
        return {k: out[k] for k in ("Naive", "AR", "NeuralAR")}
    return out


def _forecast(make: Callable[[], Any], df: Any, h: int = 3, num_samples: int | None = 16) -> Any:
    return make().fit(df).predict(h, num_samples=num_samples, seed=0)


def _points(fc: Any) -> pd.DataFrame:
    m = fc.mean.copy()
    m["unique_id"] = m["unique_id"].astype(str)
    return m.sort_values(["unique_id", "ds"]).reset_index(drop=True)


def _same(got: Any, ref: Any, scale: float = 1.0, rtol: float = 1e-6, what: str = "") -> None:
    a, b = _points(got), _points(ref)
    if len(a) != len(b) or a["unique_id"].tolist() != b["unique_id"].tolist():
        raise Wrong(f"{what}: other rows/ids {a['unique_id'].unique()[:4]} vs {b['unique_id'].unique()[:4]}")
    x, y = a["mean"].to_numpy(float) / scale, b["mean"].to_numpy(float)
    if not np.allclose(x, y, rtol=rtol, atol=0, equal_nan=False):
        raise Wrong(f"{what}: mean differs by {np.nanmax(np.abs(x / y - 1)):.2e} relative")
    if got.samples is not None and ref.samples is not None:
        w1 = np.diff(got.interval_values(0.8), axis=0) / scale
        w0 = np.diff(ref.interval_values(0.8), axis=0)
        if not np.allclose(w1, w0, rtol=1e-4, atol=0):
            raise Wrong(f"{what}: interval widths differ ({np.nanmax(np.abs(w1 / w0 - 1)):.2e} relative)")


def _finite(fc: Any, what: str = "") -> None:
    if not np.isfinite(fc.point).all():
        raise Wrong(f"{what}: non-finite point forecast")


# ---------------------------------------------------------------------------- cases
def cases(quick: bool) -> list[tuple[str, Callable[[], Any]]]:
    import arforecast as af
    from arforecast.anomaly.baselines import RollingZScore
    out: list[tuple[str, Callable[[], Any]]] = []
    clean = long_frame()
    mk = models(quick)
    refs: dict[str, Any] = {}

    def ref(name: str) -> Any:
        if name not in refs:
            refs[name] = _forecast(mk[name], clean)
        return refs[name]

    def guarded(frame: pd.DataFrame, body: Callable[[pd.DataFrame], Any]) -> Callable[[], Any]:
        def run() -> Any:
            before = frame.copy(deep=True)
            try:
                return body(frame)
            finally:
                if not frame.equals(before):
                    raise Wrong("MUTATION: the caller's frame changed")
        return run

    scales = [1e-12, 1e12] if quick else [1e-300, 1e-150, 1e-40, 1e-12, 1e-6, 1e6, 1e12, 1e40, 1e150, 1e300]
    for name, make in mk.items():
        # scales: equivariant, or refused
        for c in scales:
            df = clean.assign(y=clean["y"] * c)
            out.append((f"{name} scale {c:g}",
                        guarded(df, lambda d, m=make, c=c, n=name: _same(_forecast(m, d), ref(n), c,
                                                                           what=f"x{c:g}"))))
        # shuffled rows, ids of every dtype, time zones
        shuffled = clean.sample(frac=1.0, random_state=1).reset_index(drop=True)
        out.append((f"{name} shuffled rows",
                    guarded(shuffled, lambda d, m=make, n=name: _same(_forecast(m, d), ref(n), rtol=1e-9,
                                                                      what="shuffled"))))
        id_kinds = {"int": clean["unique_id"].str[1:].astype(int),
                    "categorical": pd.Categorical(clean["unique_id"], categories=["s2", "zz", "s0", "s1"]),
                    "object-mixed": clean["unique_id"].where(clean["unique_id"] != "s1", 1).astype(object),
                    "leading-zeros": "00" + clean["unique_id"].str[1:]}
        if quick:
            id_kinds = {k: id_kinds[k] for k in ("categorical",)}
        for kind, ids in id_kinds.items():
            df = clean.assign(unique_id=ids)

            def by_ids(d: pd.DataFrame, m: Callable = make, n: str = name) -> None:
                got, r = _points(_forecast(m, d)), _points(ref(n))
                order = {str(u): str(o) for u, o in zip(d["unique_id"], clean["unique_id"])}
                got["unique_id"] = got["unique_id"].map(order)
                got = got.sort_values(["unique_id", "ds"]).reset_index(drop=True)
                if not np.allclose(got["mean"].to_numpy(float), r["mean"].to_numpy(float), rtol=1e-9):
                    raise Wrong("ids: a series got another series' forecast")
            out.append((f"{name} ids {kind}", guarded(df, by_ids)))
        tz = clean.assign(ds=clean["ds"].dt.tz_localize("Europe/Berlin"))

        def tz_case(d: pd.DataFrame, m: Callable = make, n: str = name) -> None:
            fc = _forecast(m, d)
            if str(fc.mean["ds"].dt.tz) != "Europe/Berlin":
                raise Wrong("time zone lost")
            a, b = _points(fc), _points(ref(n))
            if not np.allclose(a["mean"].to_numpy(float), b["mean"].to_numpy(float), rtol=1e-9):
                raise Wrong("tz-aware: other forecasts")
        out.append((f"{name} tz-aware", guarded(tz, tz_case)))
        if quick:
            continue
        # bad values
        bad_values = {
            "one NaN": clean["y"].where(clean.index != 40),
            "inf": clean["y"].where(clean.index != 40, np.inf),
            "all-NaN series": clean["y"].where(clean["unique_id"] != "s1"),
            "constant": clean["y"] * 0 + 5.0,
            "zeros": clean["y"] * 0,
            "strings": clean["y"].astype(object).where(clean.index != 3, "x"),
            "bools": clean["y"] > 20,
        }
        for what, y in bad_values.items():
            df = clean.assign(y=y)
            out.append((f"{name} values {what}", guarded(df, lambda d, m=make, w=what: _finite(_forecast(m, d), w))))
        for n in (1, 2, 3, 5, 10, 30):
            df = long_frame(2, n)
            out.append((f"{name} length {n}", guarded(df, lambda d, m=make, n=n: _finite(_forecast(m, d), f"n={n}"))))
        # resource requests and bad parameters
        for label, kw in {"h=10**7": dict(h=10 ** 7, num_samples=None), "num_samples=10**8": dict(num_samples=10 ** 8),
                          "h=0": dict(h=0), "h=-1": dict(h=-1), "h=1.5": dict(h=1.5), "num_samples=0": dict(num_samples=0),
                          "h='3'": dict(h="3")}.items():
            def request(d: pd.DataFrame, m: Callable = make, kw: dict = kw, label: str = label) -> None:
                fc = _forecast(m, d, **kw)
                h = kw.get("h", 3)
                if not isinstance(h, int) or h < 1 or kw.get("num_samples", 16) == 0:
                    raise Wrong(f"{label} accepted (shape {fc.point.shape})")
                if fc.point.shape != (3, h) or not np.isfinite(fc.point).all():
                    raise Wrong(f"{label}: shape {fc.point.shape} or non-finite values")      # a big request, done
            out.append((f"{name} {label}", guarded(clean, request)))

    # backtest
    for name in (["Naive", "AR"] if quick else ["Naive", "AR", "NeuralAR", "Conformal"]):
        make = mk[name]

        def bt(d: pd.DataFrame, c: float = 1.0, m: Callable = make) -> pd.DataFrame:
            f = af.backtest(m(), d, h=3, n_windows=2, progress=False).forecasts
            f = f.assign(unique_id=f["unique_id"].astype(str)).sort_values(["unique_id", "cutoff", "ds"])
            return f.reset_index(drop=True)

        for c in ([1e-12] if quick else [1e-300, 1e-12, 1e12, 1e300]):
            df = clean.assign(y=clean["y"] * c)

            def bt_scale(d: pd.DataFrame, c: float = c, bt: Callable = bt) -> None:
                a, b = bt(d), bt(clean)
                if not np.allclose(a["mean"].to_numpy() / c, b["mean"].to_numpy(), rtol=1e-6):
                    raise Wrong("backtest not scale-equivariant")
            out.append((f"backtest {name} scale {c:g}", guarded(df, bt_scale)))
        shuffled = clean.sample(frac=1.0, random_state=2).reset_index(drop=True)

        def bt_shuffled(d: pd.DataFrame, bt: Callable = bt) -> None:
            a, b = bt(d), bt(clean)
            if not (np.allclose(a["mean"], b["mean"], rtol=1e-9) and np.allclose(a["y"], b["y"])):
                raise Wrong("backtest of shuffled rows differs")
        out.append((f"backtest {name} shuffled", guarded(shuffled, bt_shuffled)))
        tz = clean.assign(ds=clean["ds"].dt.tz_localize("Europe/Berlin"))
        out.append((f"backtest {name} tz-aware", guarded(tz, lambda d, bt=bt: bt(d) is not None and None)))
        if not quick:
            for label, kw in {"h=0": dict(h=0), "n_windows=1000": dict(n_windows=1000), "step=0": dict(step=0)}.items():
                def bt_bad(d: pd.DataFrame, m: Callable = make, kw: dict = kw, label: str = label) -> None:
                    args = {"h": 3, "n_windows": 2, **kw}
                    af.backtest(m(), d, progress=False, **args)
                    raise Wrong(f"backtest {label} accepted")
                out.append((f"backtest {name} {label}", guarded(clean, bt_bad)))

    # detect_anomalies
    series = pd.Series(long_frame(1, 200)["y"].to_numpy(), index=pd.date_range("2024", periods=200, freq="h"))
    for dname, dmake in {"RollingZScore": lambda: RollingZScore(window=24), "AR": lambda: af.AR(p=2)}.items():
        base_flags = []

        def detect(y: Any, dmake: Callable = dmake) -> np.ndarray:
            return af.detect_anomalies(dmake(), y, level=0.99)["is_anomaly"].to_numpy()

        for c in ([1e-12] if quick else [1e-300, 1e-12, 1e12, 1e300]):
            def det_scale(d: Any, c: float = c, detect: Callable = detect, base: list = base_flags) -> None:
                if not base:
                    base.append(detect(series))
                got = detect(d)
                if not np.array_equal(got, base[0]):
                    raise Wrong(f"detect x{c:g}: {int(got.sum())} flags vs {int(base[0].sum())}")
            out.append((f"detect {dname} scale {c:g}", guarded(series * c, det_scale)))
        if not quick:
            for label, kw in {"level=100": dict(level=100), "level=0": dict(level=0), "level=nan": dict(level=float("nan")),
                              "h=0": dict(h=0), "num_samples=0": dict(num_samples=0)}.items():
                def det_bad(d: Any, kw: dict = kw, label: str = label, dmake: Callable = dmake) -> None:
                    af.detect_anomalies(dmake(), d, **kw)
                    raise Wrong(f"detect {label} accepted")
                out.append((f"detect {dname} {label}", guarded(series, det_bad)))

    out.extend(_save_load_cases(mk["NeuralAR"], clean, quick))
    out.extend(_cli_cases(clean, quick))
    return out


def _save_load_cases(make: Callable[[], Any], clean: pd.DataFrame, quick: bool) -> list:
    import arforecast as af
    from arforecast.testing import damaged_model_file
    folder = Path(tempfile.mkdtemp(prefix="arforecast-probe-"))
    marker = folder / "PWNED"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    def fitted() -> Any:
        return make().fit(clean)

    def write(kind: str) -> Path:
        good = folder / "good.pt"
        if not good.exists():
            fitted().save(good)
        return damaged_model_file(good, kind, folder / f"{kind}.pt", evil=Evil())

    def load_case(kind: str) -> Callable[[], Any]:
        def run() -> str:
            p = write(kind)
            try:
                af.NeuralAR.load(p)
            except af.ModelFileError:
                if marker.exists():
                    return "unsafe_load"
                if "weights_only" in str(sys.exc_info()[1]):
                    return "unclear_error"
                return "clear_error"
            return "unsafe_load"            # a damaged file loaded
        return run

    def roundtrip(tz: bool) -> Callable[[], Any]:
        def run() -> None:
            df = clean.assign(ds=clean["ds"].dt.tz_localize("Europe/Berlin")) if tz else clean
            m = make().fit(df)
            p = folder / "rt.pt"
            m.save(p)
            a, b = m.predict(5).mean, af.NeuralAR.load(p).predict(5).mean
            if a["ds"].tolist() != b["ds"].tolist() or not np.array_equal(a["mean"], b["mean"]):
                raise Wrong("save/load changed the forecasts or their timestamps")
        return run

    kinds = ["evil", "truncated"] if quick else ["empty", "truncated", "random", "evil", "text", "bad_setting"]
    out = [(f"load {k} file", load_case(k)) for k in kinds]
    out += [("save/load round trip", roundtrip(False)), ("save/load tz-aware", roundtrip(True))]
    return out


def _cli_cases(clean: pd.DataFrame, quick: bool) -> list:
    from arforecast.cli.main import main
    folder = Path(tempfile.mkdtemp(prefix="arforecast-probe-cli-"))
    good = folder / "good.csv"
    clean.to_csv(good, index=False)
    zeros = folder / "zeros.csv"
    clean.assign(unique_id="00" + clean["unique_id"].str[1:]).to_csv(zeros, index=False)
    bad = folder / "bad.csv"
    bad.write_text("unique_id,ds,y\na,2024-01-01,1\na,not a date,2\n")
    empty = folder / "empty.csv"
    empty.write_text("")

    def cli(args: list[str], expect_ok: bool, check: Callable[[Path], None] | None = None) -> Callable[[], Any]:
        def run() -> None:
            out = folder / "out.csv"
            if out.exists():
                out.unlink()
            code = main([*args, "--output", str(out)] if args[0] in ("forecast", "backtest", "detect") else args)
            if expect_ok and code != 0:
                raise Wrong(f"exit {code} on a valid request")
            if not expect_ok and code == 0:
                raise Wrong("an invalid request succeeded")
            if code == 2:
                raise SystemExit(2)
            if code not in (0, 2):
                raise SystemExit(code)
            if check is not None:
                check(out)
        return run

    def ids_kept(out: Path) -> None:
        got = pd.read_csv(out, dtype={"unique_id": str})["unique_id"].unique().tolist()
        if sorted(got) != ["000", "001", "002"]:
            raise Wrong(f"CLI ids changed: {got}")

    out = [("cli forecast ok", cli(["forecast", "--input", str(good), "--horizon", "3", "-q"], True)),
           ("cli leading-zero ids", cli(["forecast", "--input", str(zeros), "--horizon", "3", "-q"], True, ids_kept))]
    if not quick:
        out += [("cli horizon 10**7", cli(["forecast", "--input", str(good), "--horizon", "10000000", "-q"], False)),
                ("cli samples 10**8", cli(["forecast", "--input", str(good), "--horizon", "3", "--samples",
                                           "100000000", "-q"], False)),("cli horizon 0", cli(["forecast", "--input", str(good), "--horizon", "0", "-q"], False)),
                ("cli bad dates", cli(["forecast", "--input", str(bad), "--horizon", "3", "-q"], False)),
                ("cli empty file", cli(["forecast", "--input", str(empty), "--horizon", "3", "-q"], False)),
                ("cli missing file", cli(["forecast", "--input", str(folder / "nope.csv"), "--horizon", "3", "-q"],
                                         False)),
                ("cli backtest step 0", cli(["backtest", "--input", str(good), "--horizon", "3", "--step", "0", "-q"],
                                            False)),
                ("cli samples -5", cli(["forecast", "--input", str(good), "--horizon", "3", "--samples", "-5", "-q"],
                                       False)),
                ("cli detect history too long", cli(["detect", "--input", str(good), "--history", "100000", "-q"],
                                                    False))]
    return out


def run(quick: bool = False, timeout: float = TIMEOUT_S) -> tuple[Counter, list[tuple[str, str, str]]]:
    counts: Counter = Counter()
    listed = []
    for name, fn in cases(quick):
        cls, detail = classify(fn, timeout)
        if cls == "silent_wrong" and detail.startswith("MUTATION"):
            cls = "mutation"
        counts[cls] += 1
        if cls not in ("right", "clear_error"):
            listed.append((cls, name, detail))
    return counts, listed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small subset (smoke test)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds per case before it counts as a hang")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    counts, listed = run(args.quick, args.timeout)
    total = sum(counts.values())
    print(f"probe: {total} cases in {time.perf_counter() - t0:.0f} s")
    for cls in CLASSES:
        print(f"  {cls:14s} {counts.get(cls, 0)}")
    for cls, name, detail in sorted(listed):
        print(f"{cls:14s} {name}: {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
