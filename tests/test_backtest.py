"""Rolling-origin backtests: leak-free windows, references (statsforecast, statsmodels), parallel equality."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import arforecast as af
from arforecast import metrics
from arforecast.base import Forecaster
from arforecast.data.panel import Panel
from arforecast.datasets import load_m4_hourly
from arforecast.evaluation.windows import refit_blocks, rolling_windows
from arforecast.exceptions import DataError
from arforecast.forecasts import Forecast, quantile_column

FIT_LOG: list = []


class Spy(Forecaster):
    """Forecasts the newest timestamp it has seen (fit or predict) at step 1 and the oldest one of
    the history it forecasts from at step 2, so any leak shows up in the backtest's output."""

    def __init__(self, min_obs: int = 5) -> None:
        self.min_obs = min_obs

    @property
    def min_length(self) -> int:
        return self.min_obs

    def _fit(self, panel: Panel) -> None:
        self.latest_ = {uid: float(panel.time_index(i)[-1]) for i, uid in enumerate(panel.ids)}
        FIT_LOG.append(dict(self.latest_))

    def _fitted_latest(self, uid) -> float:
        if uid not in self.latest_:
            raise DataError(f"Spy was not fitted on series {uid!r}")
        return self.latest_[uid]

    def _predict(self, panel, h, num_samples, seed, **options):
        point = np.empty((panel.n_series, h))
        for i, uid in enumerate(panel.ids):
            idx = panel.time_index(i)
            point[i] = max(float(idx[-1]), self._fitted_latest(uid))
            point[i, 1] = float(idx[0])
        samples = None if num_samples is None else np.repeat(point[:, None, :], num_samples, axis=1)
        return Forecast(panel, h, point, samples=samples, model="Spy")


class GlobalSpy(Spy):
    """A global model: what it learnt in fit comes from every series, so it reports the newest
    timestamp of any series it was fitted on."""

    is_global = True

    def _fitted_latest(self, uid) -> float:
        return max(self.latest_.values())


class NoRecondition(Spy):
    can_recondition = False


def int_panel_frame(starts=(0, 5, 30), ends=(59, 54, 59)) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    parts = [pd.DataFrame({"unique_id": f"s{k}", "ds": np.arange(a, b + 1), "y": rng.normal(size=b - a + 1)})
             for k, (a, b) in enumerate(zip(starts, ends))]
    return pd.concat(parts, ignore_index=True)


# ---------------------------------------------------------------------- leaks
@pytest.mark.parametrize("window", ["expanding", "sliding"])
@pytest.mark.parametrize("refit", [True, False, 2])
@pytest.mark.parametrize("placement", ["n_windows", "start"])
def test_no_timestamp_after_the_cutoff_reaches_the_model(window, refit, placement):
    y = int_panel_frame()
    size = 12 if window == "sliding" else None
    where = dict(n_windows=5) if placement == "n_windows" else dict(start=20)
    FIT_LOG.clear()
    res = af.backtest(Spy(), y, h=4, step=3, window=window, window_size=size, refit=refit, progress=False, **where)
    fc = res.forecasts
    step1, step2 = fc.groupby(["unique_id", "cutoff"]).nth(0), fc.groupby(["unique_id", "cutoff"]).nth(1)
    # newest timestamp seen in fit or predict is the cut-off itself, never later
    assert (step1["mean"] == step1["cutoff"]).all()
    assert (step1["ds"] == step1["cutoff"] + 1).all()
    first_obs = step2["unique_id"].map(y.groupby("unique_id")["ds"].min())
    expected_oldest = first_obs if size is None else np.maximum(first_obs, step2["cutoff"] - size + 1)
    assert (step2["mean"] == expected_oldest).all()
    # one fit per refit block, and every window of every series was forecast
    assert len(FIT_LOG) == len(refit_blocks(res.windows.n_windows, refit))
    assert len(fc) == 4 * res.windows.present.sum()


@pytest.mark.parametrize("refit", [True, False, 2])
@pytest.mark.parametrize("window", ["expanding", "sliding"])
def test_global_model_never_sees_another_series_past_the_cutoff(refit, window):
    # calendar cut-offs (start=...) with series that start late: a global model's fit only holds
    # values up to the cut-off of every window it forecasts
    y = int_panel_frame()
    res = af.backtest(GlobalSpy(), y, h=4, start=20, step=3, refit=refit, window=window,
                      window_size=12 if window == "sliding" else None, progress=False)
    step1 = res.forecasts.groupby(["unique_id", "cutoff"]).nth(0)
    assert (step1["mean"] <= step1["cutoff"]).all()
    assert set(step1["unique_id"]) == {"s0", "s1", "s2"}
    assert step1.loc[step1["unique_id"] == "s2", "cutoff"].min() == 35   # s2 starts at 30: 6 >= 5 values


class CovariateSpy(Spy):
    """Reports at step 1 the newest value of the past-only covariate (which holds its own time) it
    has seen in fit or predict, and at steps 2..h the future-known covariate (also its time) it was
    given for those steps."""

    supports_covariates = True

    def _fit(self, panel, covariates=None):
        super()._fit(panel)
        j = list(covariates.names).index("past")
        self.past_seen_ = {uid: np.nanmax(covariates.series(i)[:, j]) for i, uid in enumerate(panel.ids)}

    def _predict(self, panel, h, num_samples, seed, covariates=None, **options):
        names = list(covariates.names)
        point = np.empty((panel.n_series, h))
        future = covariates.block(panel.next_positions(), h)[:, :, names.index("known")]
        for i, uid in enumerate(panel.ids):
            point[i, 0] = max(np.nanmax(covariates.series(i)[:, names.index("past")]), self.past_seen_[uid])
            point[i, 1:] = future[i, 1:]
        return Forecast(panel, h, point, model="CovariateSpy")


@pytest.mark.parametrize("window", ["expanding", "sliding"])
@pytest.mark.parametrize("refit", [True, False, 2])
def test_no_past_only_covariate_after_the_cutoff_reaches_the_model(window, refit):
    y = int_panel_frame()
    X = y[["unique_id", "ds"]].assign(known=y["ds"].astype(float), past=y["ds"].astype(float))
    X0 = X.copy()
    res = af.backtest(CovariateSpy(), y, h=4, n_windows=5, step=3, window=window, refit=refit, progress=False,
                      window_size=12 if window == "sliding" else None, X=X, past_only=["past"])
    pd.testing.assert_frame_equal(X, X0)
    fc = res.forecasts
    step1 = fc.groupby(["unique_id", "cutoff"]).nth(0)
    later = fc.drop(step1.index)
    assert (step1["mean"] == step1["cutoff"]).all()             # past-only: never a value after the cut-off
    assert (later["mean"] == later["ds"]).all()                 # future-known: the window's own future values


def test_arx_backtest_with_covariates_equals_fitting_each_window_by_hand():
    from arforecast.models.arx import ARX
    rng = np.random.default_rng(1)
    idx = pd.date_range("2024-01-01", periods=300, freq="h")
    X = pd.DataFrame({"x": rng.normal(size=300), "p": rng.normal(size=300)}, index=idx)
    y = pd.Series(2 * X["x"].to_numpy() + np.cumsum(rng.normal(size=300)) * 0.2, index=idx)
    res = af.backtest(ARX(p=2, x_lags=(0, 1)), y, h=5, n_windows=3, step=5, refit=2, X=X, past_only=["p"],
                      progress=False)
    cut = len(y) - 15
    model = ARX(p=2, x_lags=(0, 1)).fit(y.iloc[:cut], X=X.iloc[:cut], past_only=["p"])
    for k, end in enumerate((cut, cut + 5)):
        ref = model.predict(5, y=y.iloc[:end], X=X.iloc[:end], X_future=X.iloc[end:end + 5]).point[0]
        np.testing.assert_allclose(res.forecasts["mean"].to_numpy()[5 * k:5 * k + 5], ref, rtol=1e-10)
    # the future of the past-only covariate changes nothing
    X2 = X.copy()
    X2.iloc[cut:, 1] = 1e3
    res2 = af.backtest(ARX(p=2, x_lags=(0, 1)), y, h=5, n_windows=3, step=5, refit=2, X=X2, past_only=["p"],
                       progress=False)
    assert not np.allclose(res2.forecasts["mean"].to_numpy()[-5:], res.forecasts["mean"].to_numpy()[-5:])
    np.testing.assert_array_equal(res2.forecasts["mean"].to_numpy()[:5], res.forecasts["mean"].to_numpy()[:5])


# ---------------------------------------------------------------------- windows
def test_windows_count_back_from_each_series_end():
    p = Panel.from_arrays([np.arange(30.0), np.arange(20.0)], ids=["long", "short"])
    win = rolling_windows(p, h=4, n_windows=3, step=2)
    assert win.ends.tolist() == [[22, 24, 26], [12, 14, 16]]
    assert (win.ends[:, -1] + 4 == p.lengths).all()
    slide = rolling_windows(p, h=4, n_windows=3, step=2, window="sliding", window_size=13)
    assert slide.sizes.tolist() == [[13, 13, 13], [12, 13, 13]]
    frac = rolling_windows(p, h=4, start=0.5, step=5)
    assert frac.ends.tolist() == [[15, 20, 25], [10, 15, -1]]
    assert refit_blocks(5, True) == [[0], [1], [2], [3], [4]]
    assert refit_blocks(5, False) == [[0, 1, 2, 3, 4]]
    assert refit_blocks(5, 2) == [[0, 1], [2, 3], [4]]


def test_start_timestamp_puts_the_same_calendar_cutoffs_in_every_series():
    y = load_m4_hourly(n_series=3)[0]
    y = y[~((y["unique_id"] == "H2") & (y["ds"] < pd.Timestamp("2000-01-03")))]  # H2 starts 48h later
    res = af.backtest(af.Naive(), y, h=6, start="2000-01-20 11:00", step=100, progress=False)
    cut = res.forecasts.groupby("unique_id")["cutoff"].unique()
    assert cut["H1"][0] == cut["H2"][0] == pd.Timestamp("2000-01-20 11:00")
    assert (res.forecasts["ds"] > res.forecasts["cutoff"]).all()


def test_statsforecast_convention_for_series_of_different_lengths():
    pytest.importorskip("statsforecast")
    from statsforecast import StatsForecast
    from statsforecast.models import SeasonalNaive

    train = m4_unequal(6)
    for kw, sf_kw in [({}, {}), (dict(window="sliding", window_size=100), dict(input_size=100))]:
        cv = StatsForecast(models=[SeasonalNaive(season_length=24)], freq="h").cross_validation(
            df=train, h=30, n_windows=4, step_size=7, **sf_kw)
        for refit in (True, False, 3):   # a seasonal naive forecast only needs the history
            res = af.backtest(af.SeasonalNaive(24), train, h=30, n_windows=4, step=7, refit=refit,
                              progress=False, **kw)
            both = res.forecasts.merge(cv, on=["unique_id", "cutoff", "ds"], how="outer", validate="1:1")
            assert len(both) == len(cv) == len(res.forecasts)
            np.testing.assert_allclose(both["mean"], both["SeasonalNaive"], rtol=0, atol=1e-8)
            np.testing.assert_array_equal(both["y_x"], both["y_y"])


def m4_unequal(n: int) -> pd.DataFrame:
    """The first ``n`` M4 Hourly series, series ``k`` with its first ``7 k`` values dropped."""
    train = load_m4_hourly(n_series=n)[0]
    rank = train.groupby("unique_id").cumcount()
    shift = train["unique_id"].str[1:].astype(int) * 7
    return train[rank >= shift].reset_index(drop=True)


# ---------------------------------------------------------------------- AR against statsmodels
def test_ar_matches_a_loop_of_statsmodels_autoreg_fits():
    # statsforecast's AutoRegressive is an ARIMA(p,0,0) fitted by an optimizer (CSS / ML): not the
    # exact least-squares AR(p), so the reference is statsmodels' AutoReg (OLS) over the same windows.
    if not hasattr(af, "AR"):
        pytest.skip("arforecast.AR does not exist yet")
    from statsmodels.tsa.ar_model import AutoReg

    p, h = 3, 12
    train = m4_unequal(3)
    for refit, window in [(True, "expanding"), (True, "sliding"), (False, "expanding"), (2, "sliding")]:
        size = 150 if window == "sliding" else None
        res = af.backtest(af.AR(p=p, trend="c"), train, h=h, n_windows=4, step=10, refit=refit,
                          window=window, window_size=size, progress=False)
        blocks = refit_blocks(4, refit)
        for uid, g in res.forecasts.groupby("unique_id", sort=False):
            s = train.loc[train["unique_id"] == uid, "y"].to_numpy()
            for w, (cut, fc) in enumerate(g.groupby("cutoff")):
                end = len(s) - h - (3 - w) * 10
                assert fc["ds"].iloc[0] == train.loc[train["unique_id"] == uid, "ds"].iloc[end]
                lo = 0 if size is None else max(0, end - size)
                fit_w = next(b[0] for b in blocks if w in b)
                fit_end = len(s) - h - (3 - fit_w) * 10
                fitted = AutoReg(s[(0 if size is None else max(0, fit_end - size)):fit_end], lags=p, trend="c").fit()
                ref = fitted.apply(s[lo:end]).forecast(h) if fit_w != w else fitted.forecast(h)
                np.testing.assert_allclose(fc["mean"].to_numpy(), ref, rtol=1e-8, atol=1e-8)


# ---------------------------------------------------------------------- scores
def test_metrics_equal_a_hand_written_loop_of_fit_predict_and_library_metrics():
    train = m4_unequal(4)
    h, m, n_win, step = 24, 24, 3, 12
    res = af.backtest(af.SeasonalNaive(m), train, h=h, n_windows=n_win, step=step, num_samples=50, seed=7,
                      quantiles=[0.1, 0.5, 0.9], levels=[0.8], season_length=m, progress=False)
    panel = af.to_panel(train)
    ys, fs, los, his, qvs, insample, rows = [], [], [], [], [], [], []
    for w in range(n_win):
        ends = panel.lengths - h - (n_win - 1 - w) * step
        hist = panel.head(ends)
        fc = af.SeasonalNaive(m).fit(hist).predict(h)
        y = np.stack([panel.series(i)[e:e + h] for i, e in enumerate(ends)])
        ys.append(y), fs.append(fc.point), qvs.append(fc.quantile_values([0.1, 0.5, 0.9]))
        lo, hi = fc.interval_values(0.8)
        los.append(lo), his.append(hi)
        insample += [hist.series(i) for i in range(hist.n_series)]
        rows += [(i, w) for i in range(panel.n_series)]
    order = np.lexsort(np.array(rows).T[::-1])   # the result sorts by series, then window
    y, f, lo, hi = (np.concatenate(a)[order] for a in (ys, fs, los, his))
    qv = np.concatenate(qvs, axis=1)[:, order]
    insample = [insample[k] for k in order]
    got = res.metrics()
    expected = {
        "MAE": metrics.mae(y, f).mean(), "RMSE": metrics.rmse(y, f).mean(), "sMAPE": metrics.smape(y, f).mean(),
        "MASE": metrics.mase(y, f, insample, m).mean(), "coverage_80": metrics.coverage(y, lo, hi).mean(),
        "MSIS_80": metrics.msis(y, lo, hi, insample, m, level=0.8).mean(),
        "WQL": metrics.weighted_quantile_loss(y, qv, [0.1, 0.5, 0.9]),
    }
    for name, value in expected.items():
        np.testing.assert_allclose(got[name].iloc[0], value, rtol=1e-12, err_msg=name)
    np.testing.assert_allclose(res.forecasts["mean"], f.ravel(), rtol=0, atol=0)
    np.testing.assert_allclose(res.forecasts[quantile_column(0.9)], qv[2].ravel(), rtol=1e-12)
    assert 0 < got["CRPS"].iloc[0] < got["MAE"].iloc[0]   # sampled paths around the point forecast

    per_step = res.metrics(by="horizon_step")
    np.testing.assert_allclose(per_step["RMSE"], np.sqrt(np.mean((y - f) ** 2, axis=0)), rtol=1e-12)
    np.testing.assert_allclose(per_step["MAE"].mean(), got["MAE"].iloc[0], rtol=1e-12)
    per_series = res.metrics(by="unique_id")
    np.testing.assert_allclose(per_series["MASE"].to_numpy(),
                               metrics.mase(y, f, insample, m).reshape(-1, n_win).mean(axis=1), rtol=1e-12)
    per_window = res.metrics(by="window")
    np.testing.assert_allclose(per_window["MAE"].to_numpy(),
                               metrics.mae(y, f).reshape(-1, n_win).mean(axis=0), rtol=1e-12)
    assert len(res.metrics(by="cutoff")) == len(res.forecasts["cutoff"].unique())


def test_crps_uses_each_windows_own_seed_and_matches_the_library():
    y = m4_unequal(2)
    res = af.backtest(af.Naive(), y, h=6, n_windows=2, num_samples=200, seed=1, progress=False)
    again = af.backtest(af.Naive(), y, h=6, n_windows=2, num_samples=200, seed=1, progress=False)
    other = af.backtest(af.Naive(), y, h=6, n_windows=2, num_samples=200, seed=2, progress=False)
    assert res.metrics()["CRPS"].iloc[0] == again.metrics()["CRPS"].iloc[0] != other.metrics()["CRPS"].iloc[0]
    # the sampled CRPS of Normal marginals approaches the closed form
    from scipy.stats import norm
    panel = af.to_panel(y)
    fc = af.Naive().fit(panel.head(panel.lengths - 6)).predict(6)
    mu, sd = fc.point, fc.marginals.scale.numpy()
    actual = np.stack([panel.series(i)[-6:] for i in range(panel.n_series)])
    z = (actual - mu) / sd
    exact = sd * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / np.sqrt(np.pi))
    np.testing.assert_allclose(res.metrics(by="window")["CRPS"].iloc[-1], exact.mean(), rtol=0.1)


# ---------------------------------------------------------------------- parallel execution
def test_same_results_with_one_two_jobs_and_a_dask_cluster():
    distributed = pytest.importorskip("distributed")
    import joblib

    train = m4_unequal(8)
    ar = af.AR(p=3, trend="c") if hasattr(af, "AR") else af.Drift()
    runs = {   # name: (model, options)
        "refit": (af.SeasonalNaive(24), dict(refit=True, levels=[0.9])),
        "recondition": (ar, dict(refit=False, levels=[0.9])),                       # fit, then windows in parallel
        "sampled": (af.SeasonalNaive(24), dict(refit=2, num_samples=16, seed=5)),
        "chunked": (ar, dict(refit=3, chunk_size=3, num_samples=8, seed=1)),      # series in 3 fits per block
    }

    def run(**kw):
        return {k: af.backtest(model, train, h=12, n_windows=4, step=6, progress=False, **kw, **opts)
                for k, (model, opts) in runs.items()}

    one = run(n_jobs=1)
    results = {"n_jobs=2": run(n_jobs=2)}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster):
        results["client"] = run()                               # picked up from the active client
        with joblib.parallel_config(backend="dask"):
            results["parallel_config"] = run(n_jobs=-1)
    for how, res in results.items():
        for k in runs:
            pd.testing.assert_frame_equal(one[k].forecasts, res[k].forecasts, check_exact=True, obj=f"{how}/{k}")
            pd.testing.assert_frame_equal(one[k].metrics(), res[k].metrics(), check_exact=True)
    # chunks are separate batches: the same forecasts up to rounding (samples are drawn per chunk)
    whole = af.backtest(ar, train, h=12, n_windows=4, step=6, refit=3, progress=False)
    np.testing.assert_allclose(one["chunked"].forecasts["mean"], whole.forecasts["mean"], rtol=1e-10)


# ---------------------------------------------------------------------- errors and hygiene
def test_clear_errors():
    y = int_panel_frame()
    with pytest.raises(DataError, match=r"'s0' \(60 observations, 5 short\).*'s2' \(30 observations, 35 short\)"):
        af.backtest(Spy(), y, h=20, n_windows=3, step=20, progress=False)
    with pytest.raises(DataError, match=r"Spy's min_length.*'s2' \(30 observations, 3 short\)"):
        af.backtest(Spy(min_obs=25), y, h=4, n_windows=2, progress=False)
    with pytest.raises(DataError, match="leaves no window for 's1'"):
        af.backtest(Spy(), y, h=4, start=52, progress=False)
    with pytest.raises(ValueError, match="cannot re-condition.*refit=True"):
        af.backtest(NoRecondition(), y, h=4, n_windows=3, refit=False, progress=False)
    af.backtest(NoRecondition(), y, h=4, n_windows=3, refit=True, progress=False)
    with pytest.raises(ValueError, match="window_size"):
        af.backtest(Spy(), y, h=4, window="sliding", progress=False)
    with pytest.raises(ValueError, match="shorter than the 5 observations"):
        af.backtest(Spy(), y, h=4, window="sliding", window_size=3, progress=False)
    with pytest.raises(ValueError, match="not both"):
        af.backtest(Spy(), y, h=4, n_windows=2, start=20, progress=False)
    with pytest.raises(ValueError, match="global model.*chunk_size"):
        af.backtest(GlobalSpy(), y, h=4, chunk_size=1, progress=False)
    with pytest.raises(ValueError, match="refit must be"):
        af.backtest(Spy(), y, h=4, refit=0, progress=False)
    with pytest.raises(ValueError, match="point forecasts only"):
        af.backtest(Spy(), y, h=4, levels=[0.9], progress=False)
    every_other = pd.DataFrame({"unique_id": "e", "ds": np.arange(0, 40, 2), "y": 1.0})
    with pytest.raises(ValueError, match="not on series 'e'"):
        af.backtest(Spy(), every_other, h=2, start=21, progress=False)
    with pytest.raises(TypeError, match="Forecaster"):
        af.backtest(object(), y, h=4, progress=False)
    with pytest.raises(ValueError, match="by must be"):
        af.backtest(Spy(), y, h=4, progress=False).metrics(by="series")


def test_caller_data_and_model_are_left_alone_and_frame_layout():
    y = m4_unequal(2)
    before = y.copy()
    model = af.SeasonalNaive(24)
    res = af.backtest(model, y, h=8, n_windows=2, levels=[0.8, 0.5], quantiles=[0.5], progress=False)
    pd.testing.assert_frame_equal(y, before)
    assert not hasattr(model, "panel_")
    assert list(res.forecasts.columns) == ["unique_id", "cutoff", "ds", "y", "mean",
                                           "q0.1", "q0.25", "q0.5", "q0.75", "q0.9"]
    assert list(res.metrics().columns) == ["MAE", "RMSE", "sMAPE", "MASE", "WQL",
                                           "coverage_50", "MSIS_50", "coverage_80", "MSIS_80"]
    with pytest.warns(UserWarning, match="NaN"):
        short = af.backtest(af.Naive(), y, h=8, n_windows=2, window="sliding", window_size=10, progress=False)
        assert short.metrics(season_length=24)["MASE"].isna().all()


def test_plot_draws_one_series(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    res = af.backtest(af.SeasonalNaive(24), m4_unequal(2), h=24, n_windows=3, levels=[0.8], progress=False)
    ax = res.plot("H1")
    ax.figure.savefig(tmp_path / "backtest.png")
    assert len(ax.lines) >= 1 + 3 and (tmp_path / "backtest.png").stat().st_size > 0
    with pytest.raises(ValueError, match="no series 'H9'"):
        res.plot("H9")
