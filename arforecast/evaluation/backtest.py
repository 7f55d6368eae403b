"""Rolling-origin backtests: forecast from many past cut-offs of each series and score what happened.

One call fits and forecasts every window (:mod:`arforecast.evaluation.windows` places them),
leak-free by construction: a task only ever receives each series cut after its last cut-off, and
every fit or forecast gets the series cut at that window's own cut-off. Covariates (``X``) travel
with the series: each fit and forecast gets them up to its cut-off, plus the future-known ones
on the window's ``h`` steps; past-only covariates are masked from the cut-off on. Refit policies:

* ``refit=True`` fits a fresh clone of the model at every cut-off;
* ``refit=False`` fits once at the first cut-off and then only re-conditions the fitted model on
  each newer history (``model.predict(h, y=history)``): cheap for AR and neural models;
* ``refit=k`` refits every ``k`` windows and re-conditions in between.

Work is split into tasks (a block of windows that shares one fit, optionally for a chunk of
series) and run in this process (``n_jobs=1``) or through joblib (local processes, or a Dask
cluster when a ``distributed.Client`` is active or inside ``joblib.parallel_config(backend="dask")``).
When there are fewer blocks than workers (``refit=False``), the fits run first and their windows'
forecasts are then spread over the workers. Every task makes the same calls with the same inputs
wherever it runs, so results do not depend on ``n_jobs`` or the backend; the sample paths of
window ``w`` use a seed derived from ``(seed, w)`` only.
"""
from __future__ import annotations

import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone

from arforecast.base import Forecaster
from arforecast.data.covariates import Covariates, build_covariates
from arforecast.data.frames import to_panel
from arforecast.data.panel import Panel, lag_abs_means
from arforecast.evaluation import metrics as M
from arforecast.evaluation.windows import Windows, refit_blocks, rolling_windows
from arforecast.forecasts import quantile_column
from arforecast.levels import as_level, as_levels, as_quantiles, interval_quantiles
from arforecast.multi import several
from arforecast.progress import progress_enabled

if TYPE_CHECKING:
    from arforecast.evaluation.compare import BacktestComparison

BY_OPTIONS = (None, "unique_id", "cutoff", "window", "horizon_step")


# ---------------------------------------------------------------------- the work of one task
@dataclass
class _Work:
    """What one task fits and forecasts; row indices point into ``data``."""

    data: Panel                                   # its series, cut after the task's last cut-off
    fit: tuple[np.ndarray, np.ndarray, np.ndarray] | None   # rows, ends, sizes of the fit panel
    windows: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, bool]]  # w, rows, ends, sizes, from_fit
    covariates: Covariates | None = None          # of data's series, over all their values


def _covariates_at(work: _Work, panel: Panel) -> Covariates | None:
    """What a fit or forecast from ``panel`` (a cut of ``work.data``) may know of the covariates:
    everything up to each series' cut-off, and after it the future-known ones only."""
    if work.covariates is None:
        return None
    return work.covariates.for_ids(panel.ids).masked_after(panel.next_positions())


def _context(data: Panel, rows: np.ndarray, ends: np.ndarray, sizes: np.ndarray) -> Panel:
    """``data``'s series ``rows``, each cut to the ``sizes`` values that end at its cut-off."""
    if len(rows) != data.n_series or np.any(rows != np.arange(data.n_series)):
        data = data.subset(rows)
    panel = data.head(ends) if np.any(ends != data.lengths) else data
    return panel.tail(sizes) if np.any(sizes < ends) else panel


def _window_seed(seed: int | None, w: int) -> int | None:
    """The seed of window ``w``: a function of ``(seed, w)`` only, whatever the split of the work."""
    if seed is None:
        return None
    return int(np.random.SeedSequence([seed, w]).generate_state(1)[0])


def _run(template: Forecaster, fitted: Forecaster | None, work: _Work, h: int, num_samples: int | None,
         seed: int | None, qs: list[float], options: dict, keep_model: bool,
         tick: Callable[[int], Any] | None = None) -> tuple[Any, list]:
    """Fit (if ``work.fit``) and forecast every window of ``work``; runs in a worker.

    ``tick(1)`` is called after each window (progress, when running in this process).
    """
    model = fitted
    cov_options: dict = {}
    if work.fit is not None:
        fit_panel = _context(work.data, *work.fit)
        if work.covariates is not None:
            cov_options = {"X": _covariates_at(work, fit_panel), "past_only": (),
                           "static": work.covariates if work.covariates.static_names else None}
        model = clone(template).fit(fit_panel, **cov_options)
    out = []
    for w, rows, ends, sizes, from_fit in work.windows:
        history = None if from_fit else _context(work.data, rows, ends, sizes)
        extra = {}
        if work.covariates is not None:
            extra["X"] = _covariates_at(work, history if history is not None else model.panel_)
        fc = model.predict(h, num_samples=num_samples, seed=_window_seed(seed, w), y=history, **extra, **options)
        if fc.point.shape[0] != len(rows):
            raise RuntimeError(f"{type(model).__name__}.predict returned {fc.point.shape[0]} series "
                               f"for a history of {len(rows)}")
        if qs and fc.marginals is None and fc.samples is None:
            raise ValueError(f"quantiles/levels need a predictive distribution but {type(model).__name__} "
                             "gave point forecasts only; pass num_samples=... or drop quantiles/levels")
        qv = fc.quantile_values(qs) if qs else None
        out.append((w, fc.point, qv, fc.samples if num_samples is not None else None))
        if tick is not None:
            tick(1)
    return (model if keep_model else None), out


# ---------------------------------------------------------------------- where tasks run
def _explicit_joblib_backend() -> bool:
    """Whether the caller chose a joblib backend (``parallel_config``/``parallel_backend``)."""
    try:
        from joblib import parallel
        from joblib._parallel_backends import ParallelBackendBase
        config = getattr(parallel._backend, "config", None) or {}
        return isinstance(config.get("backend"), ParallelBackendBase)
    except Exception:  # joblib internals moved: behave as if no backend was chosen
        return False


def _active_dask_client() -> bool:
    import sys
    if "distributed" not in sys.modules:  # never import dask just to look
        return False
    try:
        sys.modules["distributed"].get_client()
        return True
    except Exception:
        return False


def _resolve_backend(n_jobs: int | None, backend: str | None) -> tuple[int, str | None]:
    """``(number of workers, joblib backend or None)``; one worker means: run in this process."""
    import joblib
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0):
        raise ValueError(f"n_jobs must be None, a positive integer or a negative one (-1: all cores), got {n_jobs!r}")
    if n_jobs == 1 and backend is None:
        return 1, None
    if backend is None and not _explicit_joblib_backend() and _active_dask_client():
        backend = "dask"
    with joblib.parallel_config(backend=backend) if backend else nullcontext():
        workers = joblib.effective_n_jobs(n_jobs)
    return max(1, int(workers)), backend


def _execute(calls: list[tuple], n_jobs: int | None, backend: str | None, workers: int,
             bar: Any) -> Iterator:
    """Run ``_run(*args)`` for each of ``calls``, yielding results in order; ``bar`` counts windows."""
    if workers == 1:
        for args in calls:
            yield _run(*args, tick=bar.update)
        return
    import joblib
    with joblib.parallel_config(backend=backend) if backend else nullcontext():
        try:
            par = joblib.Parallel(n_jobs=n_jobs, batch_size=1, return_as="generator")
        except ValueError:  # a backend that cannot stream results (multiprocessing)
            par = joblib.Parallel(n_jobs=n_jobs, batch_size=1)
        results = par(joblib.delayed(_run)(*args) for args in calls)
        for args, result in zip(calls, results):
            yield result
            bar.update(len(args[2].windows))


# ---------------------------------------------------------------------- planning
def _plan(panel: Panel, win: Windows, blocks: list[list[int]], chunks: list[np.ndarray],
          is_global: bool, covariates: Covariates | None = None) -> tuple[list[_Work], list[list[np.ndarray]]]:
    """One work per (refit block, series chunk), and for each of its windows the panel rows."""
    works, rows_out = [], []
    present = win.present
    for block in blocks:
        for chunk in chunks:
            sub = present[np.ix_(chunk, block)]
            keep = sub.any(axis=1)
            if not keep.any():
                continue
            rows, sub = chunk[keep], sub[keep]
            ends = win.ends[np.ix_(rows, block)]
            sizes = win.sizes[np.ix_(rows, block)]
            data = panel if len(rows) == panel.n_series else panel.subset(rows)
            data = data.head(ends.max(axis=1))
            first = np.argmax(sub, axis=1)             # each series' first window in the block
            b0 = int(first.min())
            # a global model is fitted at the block's first window only, so that no series reaches
            # it past that cut-off; a local model fits each series at its own first window
            fit_rows = np.flatnonzero(sub[:, b0]) if is_global else np.arange(len(rows))
            fit_at = np.full(len(rows), b0) if is_global else first
            fit = (fit_rows, ends[fit_rows, fit_at[fit_rows]], sizes[fit_rows, fit_at[fit_rows]])
            windows, global_rows = [], []
            for k, w in enumerate(block):
                local = np.flatnonzero(sub[:, k])
                if not len(local):
                    continue
                from_fit = (len(local) == len(fit_rows) and np.all(local == fit_rows)
                            and np.all(fit_at[local] == k))
                windows.append((w, local, ends[local, k], sizes[local, k], bool(from_fit)))
                global_rows.append(rows[local])
            works.append(_Work(data, fit, windows, None if covariates is None else covariates.for_ids(data.ids)))
            rows_out.append(global_rows)
    return works, rows_out


def _chunks(n_series: int, chunk_size: int | None) -> list[np.ndarray]:
    """Series split into fits of at most ``chunk_size`` (one chunk by default)."""
    rows = np.arange(n_series)
    return [rows] if chunk_size is None else [rows[a:a + chunk_size] for a in range(0, n_series, chunk_size)]


# ---------------------------------------------------------------------- the public call
def backtest(model: Any, y: Any, h: int, n_windows: int | None = None, step: int | None = None, *,
             start: Any = None, window: str = "expanding", window_size: int | None = None,
             refit: bool | int = True, num_samples: int | None = None, seed: int | None = None,
             quantiles: Sequence[float] = (), levels: Sequence[float] = (), season_length: int | None = None,
             n_jobs: int | None = None, backend: str | None = None, chunk_size: int | None = None,
             progress: bool = True, predict_options: dict | None = None, freq: Any = None,
             id_col: str = "unique_id", time_col: str = "ds", target_col: str = "y", X: Any = None,
             static: Any = None, past_only: Sequence[str] = (),
             **data_options: str) -> "BacktestResult | BacktestComparison":
    """Rolling-origin backtest of ``model`` on ``y``: forecast ``h`` steps from many cut-offs.

    Args:
        model: any :class:`~arforecast.Forecaster` (it is cloned, never modified); or a list of
            them, or a dict ``name -> model``: each is backtested with the same arguments and a
            :class:`~arforecast.evaluation.compare.BacktestComparison` comes back (one forecast
            frame with a column per model, one score table).
        y: the series (a Series, wide or long DataFrame, or a Panel).
        h: horizon of every window.
        n_windows: windows per series counted back from each series' end (the last window ends at
            its last observation); default 1 when ``start`` is not given.
        step: steps between cut-offs (default ``h``).
        start: instead of ``n_windows``, the first cut-off: a timestamp (integer time for integer
            indexes; the same calendar cut-offs for every series) or a fraction of each series' length.
        window: ``"expanding"`` (train on all history) or ``"sliding"`` (the last ``window_size`` values).
        refit: ``True`` (refit at every cut-off), ``False`` (fit at the first cut-off, then re-condition
            on newer history) or ``k`` (refit every ``k`` windows).
        num_samples, seed: sample paths per forecast (needed for CRPS) and their seed; window ``w``
            uses a seed derived from ``(seed, w)``.
        quantiles, levels: quantile columns to keep (and score with WQL) and central interval levels
            (scored with coverage and MSIS), e.g. ``levels=(0.8, 0.95)`` or ``levels=(80, 95)``.
        season_length: ``m`` of the MASE/MSIS scale (each window's own training history); ``None``
            (default) takes the main season of the data's frequency
            (:func:`arforecast.data.frequency.season_length`: 24 hourly, 7 daily, 12 monthly, 1 for
            yearly or integer time); the one used is ``BacktestResult.season_length``.
        n_jobs: ``1`` runs here; ``None`` follows joblib's configuration (and an active Dask client);
            ``k``/``-1`` use that many joblib workers.
        backend: a joblib backend name (``"loky"``, ``"threading"``, ``"dask"``...) to force one.
        chunk_size: fit and forecast a local model on chunks of at most this many series, as separate
            tasks (a big panel over a cluster). Chunks are batches of their own, so results can differ
            from the unsplit run by floating-point rounding and, with ``num_samples``, in their random
            draws; they never depend on ``n_jobs`` or the backend.
        progress: show a progress bar over tasks.
        predict_options: extra keyword arguments for ``model.predict`` (e.g. a decoding strategy).
        freq: frequency for ``y`` when it cannot be inferred.
        id_col, time_col, target_col: column names of a long ``y``; the forecasts keep them.
        X, static, past_only: covariates on every timestamp of ``y`` in ``y``'s layout, per-series
            covariates and the names of the past-only ones (docs/covariates.md). Each fit and
            forecast sees them up to its cut-off; the future-known ones also on the window's
            ``h`` steps; past-only ones never after the cut-off.
        data_options: ``duplicates=``, ``off_grid=``, ``gaps=``, ``missing=`` as
            :func:`arforecast.to_panel` takes them (messy timestamps, missing values: docs/data.md).
            Missing values of a test window are not scored.

    Example:
        >>> import numpy as np, pandas as pd
        >>> import arforecast as af
        >>> y = pd.Series(np.tile([1.0, 5.0, 3.0], 20), index=pd.date_range("2024", periods=60, freq="h"))
        >>> res = af.backtest(af.SeasonalNaive(3), y, h=6, n_windows=3, progress=False)
        >>> res.forecasts.shape, float(res.metrics()["MAE"].iloc[0])
        ((18, 5), 0.0)
    """
    from arforecast.distributed import is_dask_frame
    if is_dask_frame(y):               # a Dask DataFrame: the forecasts frame, per partition of whole series
        from arforecast.distributed import per_partition
        args = dict(n_windows=n_windows, step=step, start=start, window=window, window_size=window_size,
                    refit=refit, num_samples=num_samples, seed=seed, quantiles=quantiles, levels=levels,
                    season_length=season_length, chunk_size=chunk_size, progress=False,
                    predict_options=predict_options, freq=freq, id_col=id_col, time_col=time_col,
                    target_col=target_col, **data_options)
        return per_partition(lambda part, **cov: backtest(model, part, h, **args, **cov).forecasts, model, y,
                             id_col, time_col, "backtest", cov={"X": X, "static": static, "past_only": past_only},
                             target_col=target_col)
    if data_options:                   # messy timestamps fixed (and checked) once, for every window and model
        y = to_panel(y, freq=freq, id_col=id_col, time_col=time_col, target_col=target_col, **data_options)
    if several(model):
        from arforecast.evaluation.compare import backtest_models
        return backtest_models(model, y, h, n_windows, step, start=start, window=window, window_size=window_size,
                               refit=refit, num_samples=num_samples, seed=seed, quantiles=quantiles, levels=levels,
                               season_length=season_length, n_jobs=n_jobs, backend=backend, chunk_size=chunk_size,
                               progress=progress, predict_options=predict_options, freq=freq, id_col=id_col,
                               time_col=time_col, target_col=target_col, X=X, static=static, past_only=past_only)
    if not isinstance(model, Forecaster):
        raise TypeError(f"model must be an arforecast Forecaster, got {type(model).__name__}")
    name = type(model).__name__
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"seed must be None or a non-negative integer, got {seed!r}")
    if num_samples is not None and (isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer))
                                    or num_samples < 1):
        raise ValueError(f"num_samples must be a positive integer or None, got {num_samples!r}")
    if season_length is not None and (isinstance(season_length, bool) or not isinstance(season_length, (int, np.integer))
                                      or season_length < 1):
        raise ValueError(f"season_length must be a positive integer or None, got {season_length!r}")
    quantiles = sorted(set(as_quantiles(quantiles)))
    levels = as_levels(levels)                    # fractions or percentages: 0.95 or 95
    qs = sorted(set(quantiles) | {q for lv in levels for q in interval_quantiles(lv)})

    panel = to_panel(y, freq=freq, id_col=id_col, time_col=time_col, target_col=target_col)
    if season_length is None:
        season_length = panel.season_length
    win = rolling_windows(panel, h, n_windows=n_windows, step=step, start=start, window=window,
                          window_size=window_size, min_length=model.min_length, model_name=name)
    blocks = refit_blocks(win.n_windows, refit)
    if not model.can_recondition and any(len(b) > 1 for b in blocks):
        raise ValueError(f"{name} cannot re-condition on newer history without refitting "
                         f"(can_recondition=False), so refit={refit!r} is not possible; use refit=True")
    if chunk_size is not None:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
        if model.is_global:
            raise ValueError(f"{name} is a global model: its fit uses every series, so they cannot be split "
                             "into chunks; drop chunk_size")
        chunk_size = int(chunk_size)
    workers, backend = _resolve_backend(n_jobs, backend)
    covariates = None
    if X is not None or static is not None:
        covariates = build_covariates(panel, X, static=static,
                                      past_only=(past_only,) if isinstance(past_only, str) else tuple(past_only))
    works, rows = _plan(panel, win, blocks, _chunks(panel.n_series, chunk_size), model.is_global, covariates)
    args = (win.h, num_samples, seed, qs, dict(predict_options or {}))

    from tqdm.auto import tqdm
    two_phase = workers > 1 and len(works) < workers and any(len(wk.windows) > 1 for wk in works)
    outputs: list[list] = [[] for _ in works]
    total = sum(len(wk.windows) for wk in works)
    with tqdm(total=total, desc=f"backtest {name}", unit="window", disable=not progress_enabled(progress),
              leave=False) as bar:
        if not two_phase:
            calls, owners = [(model, None, wk) + args + (False,) for wk in works], range(len(works))
        else:
            # few long refit blocks (refit=False): fit them first, then forecast their windows in parallel
            fits = [(model, None, _Work(wk.data, wk.fit, [], wk.covariates)) + args + (True,) for wk in works]
            fitted = [m for m, _ in _execute(fits, n_jobs, backend, workers, bar)]
            groups = -(-workers // len(works))
            calls, owners = [], []
            for k, wk in enumerate(works):
                for part in np.array_split(np.arange(len(wk.windows)), min(groups, len(wk.windows))):
                    calls.append((model, fitted[k], _Work(wk.data, None, [wk.windows[j] for j in part], wk.covariates))
                                 + args + (False,))
                    owners.append(k)
        for k, (_, out) in zip(owners, _execute(calls, n_jobs, backend, workers, bar)):
            outputs[k] += out
    return BacktestResult(model, panel, win, outputs, rows, quantiles=quantiles, levels=levels, qs=qs,
                          num_samples=num_samples, season_length=int(season_length))


# ---------------------------------------------------------------------- the result
class BacktestResult:
    """The forecasts of every window, with the actuals, and their scores.

    Attributes:
        forecasts: long DataFrame ``unique_id, cutoff, ds, y, mean`` plus one column per quantile
            (``q0.1``, ...; :func:`arforecast.forecasts.quantile_column`); ``cutoff`` is the last
            timestamp the model saw.
        windows: the cut-offs (:class:`arforecast.evaluation.windows.Windows`).
    """

    def __init__(self, model: Forecaster, panel: Panel, windows: Windows, outputs: list, rows: list, *,
                 quantiles: list[float], levels: list[float], qs: list[float], num_samples: int | None,
                 season_length: int) -> None:
        self.model = model
        self.panel = panel
        self.windows = windows
        self.h = windows.h
        self.quantiles, self.levels, self.season_length = quantiles, levels, season_length
        self._qs = qs
        present = windows.present
        index = np.cumsum(present.ravel()).reshape(present.shape) - 1   # row of (series, window)
        self._series, self._window = np.nonzero(present)                  # rows sorted by series, window
        R, h = len(self._series), self.h
        self._ends = windows.ends[self._series, self._window]
        self._sizes = windows.sizes[self._series, self._window]
        pos = (panel.indptr[self._series] + self._ends)[:, None] + np.arange(h)[None, :]
        self._y = panel.values[pos]
        self._point = np.full((R, h), np.nan)
        self._qv = np.full((len(qs), R, h), np.nan) if qs else None
        self._crps = np.full((R, h), np.nan) if num_samples is not None else None
        for work_out, work_rows in zip(outputs, rows):
            for (w, point, qv, samples), series in zip(work_out, work_rows):
                r = index[series, w]
                self._point[r] = point
                if qv is not None:
                    self._qv[:, r] = qv
                if samples is not None:
                    self._crps[r] = M.crps_per_step(self._y[r], samples)
        self._scales: dict[int, np.ndarray] = {}

    # ------------------------------------------------------------------ frames
    @cached_property
    def _times(self) -> pd.Index:
        """Every observation's timestamp (time zone kept), aligned with ``panel.values``."""
        return self.panel.observed_times()

    @cached_property
    def forecasts(self) -> pd.DataFrame:
        lay, h = self.panel.layout, self.h
        base = self.panel.indptr[self._series] + self._ends
        pos = base[:, None] + np.arange(h)[None, :]
        frame = {
            lay.id_col: np.repeat(self.panel.ids[self._series], h),
            "cutoff": np.repeat(self._times[base - 1], h),
            lay.time_col: self._times[pos.ravel()],
            lay.target_col: self._y.ravel(),
            "mean": self._point.ravel(),
        }
        for k, q in enumerate(self._qs):
            frame[quantile_column(q)] = self._qv[k].ravel()
        return pd.DataFrame(frame)

    # ------------------------------------------------------------------ scores
    def _scale(self, m: int) -> np.ndarray:
        """MASE/MSIS denominator of each forecast, from the history its window saw (NaN if too short)."""
        if m not in self._scales:
            lo = self.panel.indptr[self._series] + self._ends - self._sizes
            ok = self._sizes > m
            scale = np.full(len(self._series), np.nan)
            if ok.any():
                scale[ok] = lag_abs_means(self.panel.values, lo[ok], self._sizes[ok], m)
            if not ok.all():
                r = int(np.flatnonzero(~ok)[0])
                warnings.warn(f"MASE and MSIS are NaN for {int((~ok).sum())} forecast(s) whose history has "
                              f"<= season_length={m} values (e.g. series {self.panel.ids[self._series[r]]!r} "
                              f"at window {self._window[r]})", stacklevel=3)
            self._scales[m] = scale
        return self._scales[m]

    def metrics(self, by: str | None = None, season_length: int | None = None) -> pd.DataFrame:
        """Scores over all forecasts (``by=None``) or per ``"unique_id"``, ``"cutoff"``, ``"window"``
        or ``"horizon_step"``.

        Columns: MAE, RMSE, sMAPE, MASE; WQL when ``quantiles`` were given; ``coverage_<level>`` and
        ``MSIS_<level>`` (percent, e.g. ``MSIS_95``) per level; CRPS with ``num_samples``.
        Each metric is :mod:`arforecast.metrics`' per-series value over a forecast's ``h`` steps,
        averaged over the forecasts of a group (WQL pools the group). For ``"horizon_step"`` the
        values of one step over all forecasts form the series (so RMSE pools them). MASE and MSIS
        scale each forecast by ``mean |y_t - y_{t-m}|`` of the history its window saw.
        """
        if by not in BY_OPTIONS:
            raise ValueError(f"by must be one of {BY_OPTIONS}, got {by!r}")
        m = self.season_length if season_length is None else season_length
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
            raise ValueError(f"season_length must be a positive integer, got {m!r}")
        scale = self._scale(int(m))[:, None]
        y, f = self._y, self._point
        qv, crps = self._qv, self._crps
        if by == "horizon_step":          # units: one per step, its values over every forecast
            y, f, scale = y.T, f.T, scale.T
            qv = None if qv is None else qv.transpose(0, 2, 1)
            crps = None if crps is None else crps.T
            codes, keys = np.arange(self.h), pd.RangeIndex(1, self.h + 1, name="horizon_step")
        else:
            codes, keys = self._groups(by)
        units = self._unit_scores(y, f, scale, qv, crps)
        counts = np.bincount(codes, minlength=len(keys))
        table = {name: np.bincount(codes, weights=vals, minlength=len(keys)) / counts for name, vals in units.items()}
        if self.quantiles:
            sel = [self._qs.index(q) for q in self.quantiles]
            table["WQL"] = np.array([M.weighted_quantile_loss(y[codes == g], qv[sel][:, codes == g], self.quantiles)
                                     for g in range(len(keys))])
        order = ["MAE", "RMSE", "sMAPE", "MASE", "WQL", "CRPS"] + [c for c in units if "_" in c]
        return pd.DataFrame({c: table[c] for c in order if c in table}, index=keys)

    def _groups(self, by: str | None) -> tuple[np.ndarray, pd.Index]:
        if by is None:
            return np.zeros(len(self._series), dtype=np.int64), pd.Index(["all"])
        if by == "unique_id":
            return self._series, pd.Index(self.panel.ids, name=self.panel.layout.id_col)
        if by == "window":
            return self._window, pd.RangeIndex(self.windows.n_windows, name="window")
        cutoffs = self._times[self.panel.indptr[self._series] + self._ends - 1]
        keys, codes = np.unique(cutoffs, return_inverse=True)
        return codes.ravel(), pd.Index(keys, name="cutoff")

    def _unit_scores(self, y: np.ndarray, f: np.ndarray, scale: np.ndarray, qv: np.ndarray | None,
                     crps: np.ndarray | None) -> dict[str, np.ndarray]:
        """Per-unit (row of ``y``) values of the averaged metrics."""
        with np.errstate(divide="ignore", invalid="ignore"):
            out = {"MAE": M.mae(y, f), "RMSE": M.rmse(y, f), "sMAPE": M.smape(y, f),
                   "MASE": M.mae(y / scale, f / scale)}      # = M.mase with the window's own scale
            if crps is not None:
                out["CRPS"] = M._nanmean(crps, axis=1)
            unit = [np.array([0.0, 1.0])] * len(y)       # scale 1: values are already scaled
            for lv in self.levels:
                lo = qv[self._qs.index(round((1 - lv) / 2, 10))]
                hi = qv[self._qs.index(round((1 + lv) / 2, 10))]
                tag = f"{100 * lv:g}"
                out[f"coverage_{tag}"] = M.coverage(y, lo, hi)
                out[f"MSIS_{tag}"] = M.msis(y / scale, lo / scale, hi / scale, unit, 1, level=lv)
        return out

    # ------------------------------------------------------------------ picture
    def plot(self, unique_id: Any = None, *, level: float | None = None, history: int | None = None,
             ax: Any = None) -> Any:
        """Actuals, each window's mean forecast and (if kept) its ``level`` interval, for one series.

        ``history`` limits the observations drawn before the first cut-off (default ``2 * h``).
        Returns the matplotlib Axes.
        """
        import matplotlib.pyplot as plt
        ids = list(self.panel.ids)
        uid = ids[0] if unique_id is None else unique_id
        if uid not in ids:
            raise ValueError(f"no series {uid!r} in this backtest (it has {ids[:5]}{'...' if len(ids) > 5 else ''})")
        i = ids.index(uid)
        level = (self.levels[-1] if self.levels else None) if level is None else as_level(level)
        if level is not None and level not in self.levels:
            raise ValueError(f"level {level} was not kept; backtest(..., levels=[{level}]) keeps it "
                             f"(kept: {self.levels})")
        rows = np.flatnonzero(self._series == i)
        if ax is None:
            _, ax = plt.subplots(figsize=(10, 4))
        a, n = self.panel.indptr[i], int(self.panel.lengths[i])
        first = max(0, int(self._ends[rows].min()) - (2 * self.h if history is None else int(history)))
        t = self._times[a:a + n]
        ax.plot(t[first:], self.panel.values[a + first:a + n], color="black", lw=1, label="actual")
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for k, r in enumerate(rows):
            c = colors[k % len(colors)]
            ds = t[self._ends[r]:self._ends[r] + self.h]
            ax.axvline(t[self._ends[r] - 1], color=c, ls=":", lw=0.8, label="cut-offs" if k == 0 else None)
            if level is not None:
                lo = self._qv[self._qs.index(round((1 - level) / 2, 10)), r]
                hi = self._qv[self._qs.index(round((1 + level) / 2, 10)), r]
                ax.fill_between(ds, lo, hi, color=c, alpha=0.2, lw=0)
            ax.plot(ds, self._point[r], color=c, lw=1.5, label="forecasts" if k == 0 else None)
        if np.issubdtype(t.dtype, np.datetime64):
            import matplotlib.dates as mdates
            locator = mdates.AutoDateLocator()
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        band = f", {100 * level:g}% intervals" if level is not None else ""
        ax.set_title(f"{type(self.model).__name__} backtest of {uid!r}: {len(rows)} window(s) of h={self.h}{band}")
        ax.legend(loc="upper left")
        return ax

    def __repr__(self) -> str:
        return (f"BacktestResult(model={type(self.model).__name__}, n_series={self.panel.n_series}, "
                f"n_windows={self.windows.n_windows}, h={self.h}, forecasts={len(self._series)})")
