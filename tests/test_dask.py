"""Dask DataFrames through forecast, backtest and detect_anomalies: the same numbers as the pandas call
(rows compared after sorting: a Dask result comes back partition by partition)."""
import numpy as np
import pandas as pd
import pytest

import arforecast as af

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, processes=False, threads_per_worker=1,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    n, T = 12, 80
    df = pd.DataFrame({"unique_id": np.repeat([f"s{i}" for i in range(n)], T),
                       "ds": np.tile(pd.date_range("2024", periods=T, freq="D"), n),
                       "y": (rng.standard_normal(n * T).cumsum() + 50.0)})
    return df.sample(frac=1.0, random_state=1).sort_values("ds", kind="stable")   # series interleaved


def _same(got, want, key, rtol=None):
    got = got.sort_values(key).reset_index(drop=True)
    want = want.sort_values(key).reset_index(drop=True)
    if rtol is None:
        pd.testing.assert_frame_equal(got[want.columns], want, check_exact=True)
    else:
        pd.testing.assert_frame_equal(got[want.columns], want, check_exact=False, rtol=rtol, atol=0)


def test_forecast_equals_pandas(client, frame):
    ddf = dd.from_pandas(frame, npartitions=3)
    out = af.forecast(af.AR(p=7), ddf, h=14)
    assert hasattr(out, "compute")                          # a Dask DataFrame comes back
    _same(out.compute(), af.forecast(af.AR(p=7), frame, h=14), ["unique_id", "ds"])
    models = [af.Naive(), af.SeasonalNaive(7), af.AR()]
    # AR()'s combination weighs its members by their variances, which the batched kernels compute
    # to the last bits differently for other batch compositions (a partition vs the whole panel)
    _same(af.forecast(models, ddf, h=5, levels=[80, 95]).compute(), af.forecast(models, frame, h=5, levels=[80, 95]),
          ["unique_id", "ds"], rtol=1e-12)


def test_backtest_and_detection_equal_pandas(client, frame):
    ddf = dd.from_pandas(frame, npartitions=2)
    got = af.backtest(af.AR(p=3), ddf, h=4, n_windows=2).compute()
    want = af.backtest(af.AR(p=3), frame, h=4, n_windows=2, progress=False).forecasts
    _same(got, want, ["unique_id", "cutoff", "ds"])
    got = af.detect_anomalies(af.AR(p=2), ddf, level=0.95).compute()
    _same(got, af.detect_anomalies(af.AR(p=2), frame, level=0.95), ["unique_id", "ds"])


def test_neural_ar_is_fitted_once_and_broadcast(client, frame):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    model = af.NeuralAR(context_length=8, max_steps=5, seed=0) if "max_steps" in af.NeuralAR().get_params() \
        else af.NeuralAR(seed=0)
    ddf = dd.from_pandas(frame, npartitions=2)
    got = af.forecast(model, ddf, h=3).compute()
    fitted = af.NeuralAR(**model.get_params()).fit(frame)
    want = fitted.predict(3).mean.rename(columns={"mean": "NeuralAR"})
    # trained once on the client, predicted per partition; two NeuralAR trainings on the same data are
    # not bit-identical on this machine, hence the tolerance
    key = ["unique_id", "ds"]
    pd.testing.assert_frame_equal(got.sort_values(key).reset_index(drop=True)[want.columns],
                                  want.sort_values(key).reset_index(drop=True), rtol=0.05)
    with pytest.raises(NotImplementedError, match="global model"):
        af.backtest(model, ddf, h=2)


def test_data_errors_fire_with_their_message(client, frame):
    bad = pd.concat([frame, frame.iloc[[5]]], ignore_index=True)          # a duplicate timestamp
    with pytest.raises(af.DataError) as want:
        af.forecast(af.Naive(), bad, h=2)
    with pytest.raises(af.DataError) as got:
        af.forecast(af.Naive(), dd.from_pandas(bad, npartitions=2), h=2).compute()
    assert str(got.value) == str(want.value)


def test_forecast_with_covariates_equals_pandas(client, frame):
    """Covariates keyed by series (pandas or Dask) travel with their series' rows; a time-indexed
    frame shared by every series is handed to every partition; the numbers are the pandas call's."""
    rng = np.random.default_rng(3)
    ids, T, h = sorted(frame["unique_id"].unique()), 80, 6
    times = pd.date_range("2024", periods=T + h, freq="D")
    X = pd.DataFrame({"unique_id": np.repeat(ids, T + h), "ds": np.tile(times, len(ids)),
                      "x": rng.standard_normal(len(ids) * (T + h))})
    y = frame.merge(X, on=["unique_id", "ds"]).assign(y=lambda d: d["y"] + 3.0 * d["x"])[["unique_id", "ds", "y"]]
    models = {"arx": af.ARX(p=2), "naive": af.Naive()}
    want = af.forecast(models, y, h=h, levels=[90], X=X)
    ddf = dd.from_pandas(y, npartitions=3)
    for given in (X, dd.from_pandas(X.sample(frac=1.0, random_state=0), npartitions=2)):
        _same(af.forecast(models, ddf, h=h, levels=[90], X=given).compute(), want, ["unique_id", "ds"], rtol=1e-12)
    shared = pd.DataFrame({"w": np.sin(np.arange(T + h))}, index=times)
    _same(af.forecast(af.ARX(p=1), ddf, h=h, X=shared).compute(), af.forecast(af.ARX(p=1), y, h=h, X=shared),
          ["unique_id", "ds"], rtol=1e-12)


def test_backtest_and_detection_with_covariates_equal_pandas(client, frame):
    rng = np.random.default_rng(4)
    X = frame[["unique_id", "ds"]].assign(x=rng.standard_normal(len(frame)))
    y = frame.assign(y=frame["y"] + 2.0 * X["x"])
    ddf = dd.from_pandas(y, npartitions=2)
    got = af.backtest(af.ARX(p=2), ddf, h=4, n_windows=2, X=dd.from_pandas(X, npartitions=3)).compute()
    want = af.backtest(af.ARX(p=2), y, h=4, n_windows=2, X=X, progress=False).forecasts
    _same(got, want, ["unique_id", "cutoff", "ds"], rtol=1e-12)
    got = af.detect_anomalies(ddf, af.ARX(p=1), level=0.95, X=X).compute()
    _same(got, af.detect_anomalies(y, af.ARX(p=1), level=0.95, X=X), ["unique_id", "ds"], rtol=1e-12)
