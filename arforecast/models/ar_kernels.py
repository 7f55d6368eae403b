"""Batched conditional least squares for AR models: the maths behind :class:`arforecast.AR`.

**Cross products in O(p*T).** A regression of ``y_t`` on lags ``y_{t-l}`` over the sample
``t = hold_back .. n-1`` needs only the cross products of its columns, and for a lag matrix these
are almost Toeplitz: with ``a, b`` lags (``0`` standing for ``y`` itself),

    sum_t y_{t-a} y_{t-b} = c_{|a-b|} + (products of the first values) - (products of the last values),
    c_d = sum_{t=hold_back}^{n-1} y_t y_{t-d}

(:func:`lag_gram`). All ``c_d`` up to the largest lag come from two batched matrix products over
blocks of the series (:func:`lagged_products`); the end corrections involve only ``max lag``
values at each end; constant and time-trend columns come from sums with the same corrections.

**Numerical care.** Cross products are formed on a standardized, well conditioned design ``W``:
every series is centred on its mean and divided by its standard deviation, and the time index is
centred and scaled, so that ``W = [1, tau, z_{t-l}..., z_t]``. The model's own columns (e.g. the
uncentred lags ``y_{t-l} / s = z_{t-l} + mean/s`` of a model without a constant) are an exact linear
map ``A`` of ``W``'s columns. With ``W'W = L L'`` (Cholesky), least squares reduces to the small,
well-conditioned problem ``min ||L'(A beta - b) - L^{-1} W'z||`` whose matrix is triangular (plus one
row, removed by Givens rotations, for models without a constant; :func:`triangularize`), so its
accuracy is that of a QR of the centred design rather than of the normal equations of the raw one.
The same triangular form gives the residual sum of squares of every nested order at once
(:func:`nested_ssr`), which is how orders are selected by AIC/BIC. Series whose centred
regressors are collinear (a constant series) are flagged and get the minimum-norm least-squares
solution of the model's own normal equations.

**Missing values.** A series with NaN inside is estimated on the rows whose target and active
lags are all observed: exactly least squares on the observed pairs, i.e. the regression of the
complete rows of the full design (``t = hold_back .. n-1``; the time trend keeps counting through
the holes). Its cross products are formed row by row from that design (:func:`_direct_gram`, in the
same standardized units), ``nobs`` is the number of complete rows, and everything after the cross
products (solve, nested orders, criteria) is shared with the complete series.

Example:
    >>> import numpy as np
    >>> y = np.random.default_rng(0).normal(size=200)
    >>> fit = fit_ar(y, np.array([0, 200]), trend="c", lags=np.arange(1, 3), hold_back=np.array([2]))
    >>> fit.coef.shape, fit.nobs.tolist()
    ((1, 2), [198])
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, TypeVar

import numpy as np
import torch
from threadpoolctl import ThreadpoolController

TRENDS = ("n", "c", "t", "ct")
#: squared Cholesky pivots below this fraction of their column's sum of squares mark collinear regressors
RANK_TOL = 1e-10
#: elements of the padded work array per chunk of series (bounds memory on long panels)
CHUNK_ELEMENTS = 1 << 23


F = TypeVar("F", bound=Callable)


def one_blas_thread(fn: F) -> F:
    """Run ``fn`` with a single BLAS thread: its LAPACK calls factor thousands of small matrices,
    where threads only add synchronization (and on a busy machine, stalls of seconds)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with _blas_controller().limit(limits=1, user_api="blas"):
            return fn(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


@functools.lru_cache(maxsize=1)
def _blas_controller() -> ThreadpoolController:
    return ThreadpoolController()      # scans the loaded libraries once


def deterministic_count(trend: str) -> int:
    """Number of deterministic columns (constant, time trend) of a statsmodels trend string."""
    return {"n": 0, "c": 1, "t": 1, "ct": 2}[trend]


# ---------------------------------------------------------------------------- standardized layout
def standardize(values: np.ndarray, indptr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-series mean and an approximate standard deviation (1 where the series is constant).

    Any shift and scale give the same fit (they are undone exactly); they only keep the cross
    products well conditioned, so one pass of moments is precise enough.
    """
    lengths = np.diff(indptr)
    starts = indptr[:-1]
    if np.isnan(values).any():                                     # missing values: moments of the observed
        observed = ~np.isnan(values)
        count = np.maximum(np.add.reduceat(observed.astype(np.float64), starts), 1.0)
        filled = np.where(observed, values, 0.0)
        mean = np.add.reduceat(filled, starts) / count
        square = np.add.reduceat(filled * filled, starts) / count
    elif np.all(lengths == lengths[0]):                            # rectangular: no temporaries
        rows = values.reshape(len(lengths), -1)
        mean = rows.mean(axis=1)
        square = np.einsum("ij,ij->i", rows, rows) / lengths
    else:
        mean = np.add.reduceat(values, starts) / lengths
        square = np.add.reduceat(values * values, starts) / lengths
    scale = np.sqrt(np.maximum(square - mean * mean, 0.0))
    scale = np.where(np.isfinite(scale) & (scale > 1e-12 * np.abs(mean)), scale, 1.0)
    return mean, scale


@dataclass(frozen=True)
class Padded:
    """Standardized series laid out so that every row's first regression target is at ``anchor``.

    Row ``i`` holds ``z = (y - mean) / scale`` at columns ``offset[i] .. last[i]`` (``offset =
    anchor - hold_back``) and zeros elsewhere; the width is ``anchor`` plus whole blocks.
    """

    z: np.ndarray          # [n, width]
    anchor: int            # = block length
    offset: np.ndarray     # [n] column of each row's first observation
    last: np.ndarray       # [n] column of each row's last observation
    nobs: np.ndarray       # [n] regression targets: length - hold_back


def pad(values: np.ndarray, indptr: np.ndarray, shift: np.ndarray, scale: np.ndarray,
        hold_back: np.ndarray, block: int) -> Padded:
    """Standardize the series of ``values``/``indptr`` into a :class:`Padded` layout (vectorized)."""
    lengths = np.diff(indptr)
    nobs = lengths - hold_back
    n_blocks = max(int(-(-int(nobs.max()) // block)), 1)
    offset = block - hold_back
    z = np.zeros((len(lengths), block * (1 + n_blocks)))
    if np.all(lengths == lengths[0]) and np.all(offset == offset[0]):      # rectangular panel
        part = z[:, offset[0]:offset[0] + lengths[0]]
        np.subtract(values.reshape(len(lengths), -1), shift[:, None], out=part)
        np.divide(part, scale[:, None], out=part)
    else:
        rows = np.repeat(np.arange(len(lengths)), lengths)
        cols = np.arange(len(values)) - np.repeat(indptr[:-1] - offset, lengths)
        z[rows, cols] = (values - np.repeat(shift, lengths)) / np.repeat(scale, lengths)
    return Padded(z, block, offset, offset + lengths - 1, nobs)


# ---------------------------------------------------------------------------- cross products
#: largest lag for which the block products are used; beyond it an FFT is cheaper (O(T log T))
BLOCK_MAX_LAG = 64


def lagged_products(pad_: Padded, max_lag: int) -> np.ndarray:
    """``c[i, d] = sum_{t >= anchor} z[i, t] z[i, t-d]`` for ``d = 0..max_lag``.

    Up to ``BLOCK_MAX_LAG``: cut each row into blocks of ``L >= max_lag`` values; ``z_t z_{t-d}``
    pairs a value with one in its own block or in the block before, so the two batched products
    ``sum_b B_b' B_{b-1}`` and ``sum_b B_b' B_b`` (``[L, blocks] @ [blocks, L]`` each, O(L T) work)
    hold every product, and ``c_d`` sums the entries ``(r, L + r - d)`` of the pair side by side.
    Longer lags: the cross-correlation of the sample with the series by real FFTs.
    """
    L = pad_.anchor
    if max_lag > L:
        raise ValueError(f"block length {L} must be at least the largest lag {max_lag}")
    n, width = pad_.z.shape
    if max_lag > BLOCK_MAX_LAG:
        size = 1 << int(np.ceil(np.log2(width + max_lag + 1)))
        sample = np.fft.rfft(np.where(np.arange(width) >= L, pad_.z, 0.0), n=size, axis=1)
        full = np.fft.rfft(pad_.z, n=size, axis=1)
        return np.fft.irfft(sample * np.conj(full), n=size, axis=1)[:, :max_lag + 1]
    blocks = pad_.z.reshape(n, -1, L)                                   # (n, 1 + nb, L)
    cur_t = blocks[:, 1:].transpose(0, 2, 1)
    # both = [C_prev, C_same] (n, L, 2L) inside a buffer with L spare zeros per row: entry
    # (r, L + r - d) sits at flat position r (2L + 1) + L - d, so viewed as (n, L, 2L + 1) each
    # wanted diagonal is a column
    buffer = np.zeros((n, L * (2 * L + 1)))
    both = buffer[:, :2 * L * L].reshape(n, L, 2 * L)
    np.matmul(cur_t, blocks[:, :-1], out=both[:, :, :L])
    np.matmul(cur_t, blocks[:, 1:], out=both[:, :, L:])
    return buffer.reshape(n, L, 2 * L + 1)[:, :, L - max_lag:L + 1].sum(axis=1)[:, ::-1]   # (n, max_lag + 1)


def time_standardization(hold_back: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and half-width of the time regressor ``t + 1`` over each regression sample."""
    nobs = (lengths - hold_back).astype(np.float64)
    return (hold_back + lengths + 1) / 2.0, np.maximum(nobs / 2.0, 1.0)


def _tau(pad_: Padded, cols: np.ndarray, center: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """``tau = (t + 1 - center) / spread`` at padded columns ``cols`` (``[n, ...]``) of each row;
    ``t`` is the 0-based position in the series (``t + 1`` is statsmodels' trend regressor)."""
    shape = (-1,) + (1,) * (cols.ndim - 1)
    return (cols - pad_.offset.reshape(shape) + 1.0 - center.reshape(shape)) / spread.reshape(shape)


def _end_products(u: np.ndarray, v: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """``E[a, b] = sum_{j=1}^{min(lam_a, lam_b)} (u_j u_{j+d} - v_j v_{j+d})``, ``d = |lam_a - lam_b|``.

    ``u[:, j]`` (``j = 1..P``, column 0 unused) are the values ``j`` steps before the sample start,
    ``v[:, j]`` the values ``j - 1`` steps before its end: the products that the cross product of
    lags ``a, b`` counts but the Toeplitz sum ``c_d`` does not, and the reverse. Cumulative sums
    down the diagonals of the outer products give them all in O(P^2).
    """
    n, P1 = u.shape
    cum = np.empty((n, P1, P1))                                   # [n, d, a]; a > P - d unused
    for d in range(P1):
        np.cumsum(u[:, :P1 - d] * u[:, d:] - v[:, :P1 - d] * v[:, d:], axis=1, out=cum[:, d, :P1 - d])
    return cum[:, np.abs(lam[:, None] - lam[None, :]), np.minimum(lam[:, None], lam[None, :])]


def lag_gram(pad_: Padded, lags: np.ndarray, with_time: bool, center: np.ndarray,
             spread: np.ndarray) -> np.ndarray:
    """Cross products ``W'W`` of ``W = [1, (tau), z_{t-lag}..., z_t]`` over each row's sample.

    Returns ``[n, k, k]`` with ``k = 1 + with_time + len(lags) + 1``; the target is last. With
    ``u_j = z[start - j]`` and ``v_j = z[end + 1 - j]`` (``j = 1..max lag``),
    ``sum_t z_{t-a} z_{t-b} = c_{|a-b|} + E_u[a, b] - E_v[a, b]`` (:func:`_end_products`) and
    ``sum_t z_{t-a} = sum_t z_t + sum_{j<=a} u_j - sum_{j<=a} v_j``.
    """
    n = pad_.z.shape[0]
    lam = np.concatenate([np.asarray(lags, dtype=np.int64), [0]])    # lag of each column; y last
    P = int(lam.max())
    c = lagged_products(pad_, P)
    j = np.arange(P + 1)
    head_cols = np.broadcast_to(pad_.anchor - j, (n, P + 1))
    tail_cols = pad_.last[:, None] + 1 - j[None, :]
    u = pad_.z[:, pad_.anchor - j] * (j > 0)
    v = np.take_along_axis(pad_.z, np.minimum(tail_cols, pad_.z.shape[1] - 1), axis=1) * (j > 0)
    n_det = 1 + int(with_time)
    k = n_det + len(lam)
    out = np.empty((n, k, k))
    out[:, n_det:, n_det:] = c[:, np.abs(lam[:, None] - lam[None, :])] + _end_products(u, v, lam)

    nobs = pad_.nobs.astype(np.float64)
    region = pad_.z[:, pad_.anchor:]
    sums = region.sum(axis=1)[:, None] + (np.cumsum(u, axis=1) - np.cumsum(v, axis=1))[:, lam]
    det = [sums]
    if with_time:
        cols = np.broadcast_to(np.arange(pad_.anchor, pad_.z.shape[1]), region.shape)
        tau_sum = np.einsum("nw,nw->n", _tau(pad_, cols, center, spread), region)
        weighted = _tau(pad_, head_cols, center, spread) * u - _tau(pad_, tail_cols, center, spread) * v
        tau_sums = tau_sum[:, None] + np.cumsum(weighted, axis=1)[:, lam]
        # sum_t tau_t z_{t-a} = sum_s tau_{s+a} z_s = sum_s (tau_s + a / spread) z_s
        det.append(tau_sums + lam[None, :] / spread[:, None] * sums)
    out[:, :n_det, n_det:] = np.stack(det, axis=1)
    out[:, n_det:, :n_det] = out[:, :n_det, n_det:].transpose(0, 2, 1)
    out[:, 0, 0] = nobs
    if with_time:                          # tau is centred: sum tau = 0, sum tau^2 in closed form
        out[:, 0, 1] = out[:, 1, 0] = 0.0
        out[:, 1, 1] = nobs * (nobs ** 2 - 1) / 12.0 / spread ** 2
    return out


# ---------------------------------------------------------------------------- the model's columns
def design_map(trend: str, n_lags: int, mu: np.ndarray, center: np.ndarray, spread: np.ndarray,
               time_scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The model's columns and target as exact linear maps of ``W``'s regressor columns.

    Model columns (units of ``y / scale``): ``[1 (if "c"), (t + 1) / time_scale (if "t"),
    y_{t-lag} / scale...]``; ``W``'s: ``[1, (tau if "t"), z_{t-lag}...]`` with ``z = y / scale - mu``.
    Returns ``A [n, k_W, k_model]`` (``X = W A``) and ``b [n, k_W]`` (``target = z_t + W b``).
    """
    n = len(mu)
    with_time = "t" in trend
    n_wdet = 1 + int(with_time)
    k_model = deterministic_count(trend) + n_lags
    A = np.zeros((n, n_wdet + n_lags, k_model))
    col = 0
    if "c" in trend:
        A[:, 0, col] = 1.0
        col += 1
    if with_time:
        A[:, 0, col] = center / time_scale
        A[:, 1, col] = spread / time_scale
        col += 1
    lag_cols = np.arange(col, k_model)
    A[:, n_wdet + np.arange(n_lags), lag_cols] = 1.0
    A[:, 0, lag_cols] = mu[:, None]
    b = np.zeros((n, n_wdet + n_lags))
    b[:, 0] = mu
    return A, b


def _factor(gram: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cholesky ``W'W = L L'`` of the regressors, ``r = L^{-1} W'z``, ``z'z - r'r`` and collinear rows."""
    xx, xy, yy = gram[:, :-1, :-1], gram[:, :-1, -1], gram[:, -1, -1]
    try:
        chol = np.linalg.cholesky(xx)
        failed = np.zeros(len(xx), dtype=bool)
    except np.linalg.LinAlgError:          # some rows are not numerically positive definite
        chol_t, info = torch.linalg.cholesky_ex(torch.from_numpy(np.ascontiguousarray(xx)))
        chol, failed = chol_t.numpy().copy(), info.numpy() > 0
    diag = np.diagonal(xx, axis1=1, axis2=2)
    pivots = np.diagonal(chol, axis1=1, axis2=2) ** 2
    collinear = failed | ~np.all(pivots > RANK_TOL * diag, axis=1)
    chol[collinear] = np.eye(xx.shape[1])
    r = torch.linalg.solve_triangular(torch.from_numpy(chol), torch.from_numpy(xy[..., None]),
                                      upper=False).numpy()[..., 0]
    return chol, r, np.maximum(yy - np.einsum("nk,nk->n", r, r), 0.0), collinear


@dataclass(frozen=True)
class Triangular:
    """Each row's least-squares problem as ``SSR(beta) = resid + ||U beta - rhs||^2``, ``U`` upper triangular.

    With the first ``m`` columns only, the minimum is ``resid + sum_{i >= m} rhs_i^2``.
    """

    U: np.ndarray            # [n, k, k]
    rhs: np.ndarray          # [n, k]
    resid: np.ndarray        # [n]
    collinear: np.ndarray    # [n] bool: regressors (numerically) collinear; U not usable


def triangularize(gram: np.ndarray, A: np.ndarray, b: np.ndarray, n_wdet: int) -> Triangular:
    """Reduce every row's problem to triangular form (see module docstring).

    ``M = L'A`` is upper triangular when the model has a constant (then ``W`` and the model have
    the same number of columns) and upper Hessenberg with one extra row otherwise; Givens
    rotations, vectorized over rows, remove that row. ``A``'s rows past the first ``n_wdet``
    (``W``'s deterministic columns) are the identity onto the model's last columns (the lags),
    which makes ``L'A`` a cheap O(k^2) product.
    """
    chol, r, resid, collinear = _factor(gram)
    lt = chol.transpose(0, 2, 1)
    n_lags = A.shape[1] - n_wdet
    M = lt[:, :, 0, None] * A[:, 0, None, :]
    for row in range(1, n_wdet):
        M += lt[:, :, row, None] * A[:, row, None, :]
    M[:, :, A.shape[2] - n_lags:] += lt[:, :, n_wdet:]
    rhs = r + np.einsum("nkw,nw->nk", lt[:, :, :n_wdet], b[:, :n_wdet])
    k = A.shape[2]
    if M.shape[1] == k + 1:
        for j in range(k):
            a, c_ = M[:, j, j], M[:, j + 1, j]
            h = np.hypot(a, c_)
            safe = np.where(h > 0, h, 1.0)
            cos, sin = np.where(h > 0, a / safe, 1.0), np.where(h > 0, c_ / safe, 0.0)
            top, low = M[:, j, j:].copy(), M[:, j + 1, j:].copy()
            M[:, j, j:] = cos[:, None] * top + sin[:, None] * low
            M[:, j + 1, j:] = cos[:, None] * low - sin[:, None] * top
            rt, rl = rhs[:, j].copy(), rhs[:, j + 1].copy()
            rhs[:, j], rhs[:, j + 1] = cos * rt + sin * rl, cos * rl - sin * rt
        resid = resid + rhs[:, k] ** 2
        M, rhs = M[:, :k], rhs[:, :k]
        # a model column that is (numerically) a combination of the earlier ones is collinear too
        # (with a constant, M's pivots are W's, already checked)
        diag = np.abs(np.diagonal(M, axis1=1, axis2=2))
        col_norm = np.sqrt(np.einsum("nij,nij->nj", M, M))
        collinear = collinear | ~np.all(diag > np.sqrt(RANK_TOL) * col_norm, axis=1)
    return Triangular(M, rhs, resid, collinear)


def _min_norm(gram: np.ndarray, A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-norm least squares from the model's own normal equations (for collinear rows)."""
    xx, xy, yy = gram[:, :-1, :-1], gram[:, :-1, -1:], gram[:, -1, -1]
    gm = A.transpose(0, 2, 1) @ xx @ A                       # X'X
    xt = A.transpose(0, 2, 1) @ (xy + xx @ b[..., None])       # X'target
    tt = yy + 2 * np.einsum("nk,nk->n", b, xy[..., 0]) + np.einsum("nk,nkl,nl->n", b, xx, b)
    evals, evecs = np.linalg.eigh(gm)
    cutoff = np.maximum(np.abs(evals).max(axis=1, keepdims=True), 1e-300) * gm.shape[1] * 1e-13
    inv = np.where(evals > cutoff, 1.0 / np.where(evals > cutoff, evals, 1.0), 0.0)
    beta = evecs @ (inv[..., None] * (evecs.transpose(0, 2, 1) @ xt))
    ssr = tt - 2 * np.einsum("nki,nki->n", beta, xt) + np.einsum("nki,nkl,nli->n", beta, gm, beta)
    return beta[..., 0], np.maximum(ssr, 0.0)


@dataclass(frozen=True)
class Solution:
    beta: np.ndarray        # [n, k] coefficients in units of y / scale (zeros on inactive columns)
    ssr: np.ndarray         # [n] residual sum of squares in units of (y / scale)^2
    deficient: np.ndarray   # [n] bool: collinear regressors, minimum-norm solution


def solve(gram: np.ndarray, A: np.ndarray, b: np.ndarray, n_wdet: int,
          n_active: np.ndarray | None = None) -> Solution:
    """Least squares of every row on its first ``n_active[i]`` model columns (all by default)."""
    tri = triangularize(gram, A, b, n_wdet)
    n, k = tri.rhs.shape
    U, rhs = tri.U, tri.rhs
    ssr = tri.resid.copy()
    if n_active is not None and np.all(np.asarray(n_active) >= k):
        n_active = None
    if n_active is not None:
        off = np.arange(k)[None, :] >= np.asarray(n_active)[:, None]        # [n, k] inactive columns
        ssr += np.einsum("nk,nk->n", rhs * off, rhs)
        U = np.where(off[:, :, None] | off[:, None, :], np.eye(k), U)
        rhs = np.where(off, 0.0, rhs)
    beta = torch.linalg.solve_triangular(torch.from_numpy(U), torch.from_numpy(rhs[..., None]),
                                         upper=True).numpy()[..., 0]
    bad = tri.collinear | ~np.all(np.isfinite(beta), axis=1)
    if bad.any():
        A_bad = A[bad] if n_active is None else A[bad] * ~off[bad][:, None, :]
        beta[bad], ssr[bad] = _min_norm(gram[bad], A_bad, b[bad])
    return Solution(beta, ssr, bad)


def nested_ssr(gram: np.ndarray, A: np.ndarray, b: np.ndarray, n_wdet: int,
               fixed: int) -> tuple[np.ndarray, np.ndarray]:
    """Residual sums of squares of the nested models on the first ``fixed + j`` columns, ``j = 0..``.

    One triangularization serves every order: ``SSR(m columns) = resid + sum_{i >= m} rhs_i^2``.
    Returns ``ssr [n, k - fixed + 1]`` and the collinear rows (recomputed order by order, minimum norm).
    """
    tri = triangularize(gram, A, b, n_wdet)
    sq = tri.rhs ** 2
    tail = np.cumsum(sq[:, ::-1], axis=1)[:, ::-1]                     # sum_{i >= m} rhs_i^2
    tail = np.concatenate([tail, np.zeros((len(sq), 1))], axis=1)
    ssr = tri.resid[:, None] + tail[:, fixed:]
    for r in np.flatnonzero(tri.collinear):
        for j in range(ssr.shape[1]):
            keep = np.arange(A.shape[2]) < fixed + j
            ssr[r, j] = _min_norm(gram[r:r + 1], A[r:r + 1] * keep, b[r:r + 1])[1][0]
    return ssr, tri.collinear


# ---------------------------------------------------------------------------- criteria, psi weights
def information_criterion(ssr: np.ndarray, nobs: np.ndarray, n_params: np.ndarray, kind: str) -> np.ndarray:
    """AIC, AICc or BIC of Gaussian conditional likelihoods as statsmodels computes them.

    ``llf = -nobs/2 (log(2 pi ssr/nobs) + 1)``; ``aic = -2 llf + 2 k``, ``bic = -2 llf + log(nobs) k``
    with ``k`` the number of estimated parameters (pass statsmodels' ``df_model + 1``);
    ``aicc = aic + 2 k (k + 1) / (nobs - k - 1)`` (infinite when ``nobs <= k + 1``).
    """
    nobs = np.asarray(nobs, dtype=np.float64)
    with np.errstate(divide="ignore"):
        llf = -nobs / 2 * (np.log(2 * np.pi * ssr / nobs) + 1)
    penalty = np.log(nobs) if kind == "bic" else 2.0
    out = -2 * llf + penalty * n_params
    if kind == "aicc":
        k = np.asarray(n_params, dtype=np.float64)
        room = nobs - k - 1
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(room > 0, out + 2 * k * (k + 1) / np.where(room > 0, room, 1.0), np.inf)
    return out


def psi_weights(coef: np.ndarray, lags: np.ndarray, h: int) -> np.ndarray:
    """MA(infinity) weights ``psi_0..psi_{h-1}`` of AR models ``[n, len(lags)]`` (``psi_0 = 1``).

    ``psi_j = sum_k coef_k psi_{j - lag_k}``, so the ``j``-step forecast error variance is
    ``sigma2 * sum_{i<j} psi_i^2``.

    Example:
        >>> psi_weights(np.array([[0.5]]), np.array([1]), 4).tolist()
        [[1.0, 0.5, 0.25, 0.125]]
    """
    n = coef.shape[0]
    psi = np.zeros((n, h))
    psi[:, 0] = 1.0
    lags = np.asarray(lags, dtype=np.int64)
    for j in range(1, h):
        use = lags <= j
        if use.any():
            psi[:, j] = np.einsum("nk,nk->n", coef[:, use], psi[:, j - lags[use]])
    return psi


# ---------------------------------------------------------------------------- whole panel
@dataclass(frozen=True)
class Fit:
    """Coefficients of every series in the original units of the data.

    ``coef[i, k]`` multiplies ``y_{t - lags[k]}``; ``intercept`` and ``trend_coef`` (on ``t + 1``,
    ``t`` counted from the series' first observation) are zero when the trend lacks them.
    """

    coef: np.ndarray
    intercept: np.ndarray
    trend_coef: np.ndarray
    sigma2: np.ndarray
    ssr: np.ndarray
    nobs: np.ndarray
    deficient: np.ndarray


@dataclass(frozen=True)
class Problem:
    """Everything a batch of least-squares problems needs: ``W'W``, the column map, the units."""

    gram: np.ndarray
    A: np.ndarray
    b: np.ndarray
    shift: np.ndarray
    scale: np.ndarray
    time_scale: np.ndarray
    nobs: np.ndarray
    n_wdet: int            # W's deterministic columns (1, or 2 with a time trend)


def chunks(nobs: np.ndarray, extra: int, budget: int | None = None) -> list[np.ndarray]:
    """Groups of rows (by decreasing sample size) whose padded arrays stay within ``budget``
    elements (default ``CHUNK_ELEMENTS``)."""
    budget = CHUNK_ELEMENTS if budget is None else budget
    order = np.argsort(-nobs, kind="stable")
    out, start = [], 0
    while start < len(order):
        size = max(1, budget // (int(nobs[order[start]]) + extra))
        out.append(order[start:start + size])
        start += size
    return out


def build_problem(values: np.ndarray, indptr: np.ndarray, trend: str, lags: np.ndarray,
                  hold_back: np.ndarray, n_lags: np.ndarray | None = None) -> Problem:
    """Cross products (chunked over series) and column maps of ``trend`` + ``lags`` regressions.

    Series with missing values get their cross products from their complete rows
    (:func:`_direct_gram`); ``n_lags`` (how many of the first ``lags`` each series uses) decides
    which lags a row must have observed."""
    if trend not in TRENDS:
        raise ValueError(f"trend must be one of {TRENDS}, got {trend!r}")
    lengths = np.diff(indptr)
    lags = np.asarray(lags, dtype=np.int64)
    hold_back = np.asarray(hold_back, dtype=np.int64)
    max_lag = int(lags.max()) if len(lags) else 0
    block = max(max_lag, 16)
    shift, scale = standardize(values, indptr)
    center, spread = time_standardization(hold_back, lengths)
    with_time = "t" in trend
    k = 1 + int(with_time) + len(lags) + 1
    gram = np.empty((len(lengths), k, k))
    for rows in chunks(lengths - hold_back, 2 * block):
        if len(rows) == len(lengths) and np.all(rows[:-1] < rows[1:]):
            sub_values, sub_indptr = values, indptr
        else:                                   # the chunk's series, gathered without a Python loop
            sub_indptr = np.concatenate([[0], np.cumsum(lengths[rows])])
            sub_values = values[np.arange(sub_indptr[-1]) + np.repeat(indptr[rows] - sub_indptr[:-1], lengths[rows])]
        layout = pad(np.nan_to_num(sub_values), sub_indptr, shift[rows], scale[rows], hold_back[rows], block)
        gram[rows] = lag_gram(layout, lags, with_time, center[rows], spread[rows])
    nobs = lengths - hold_back
    holes = np.flatnonzero(np.isnan(np.add.reduceat(values, indptr[:-1]))) if len(values) else np.zeros(0, int)
    for i in holes:                              # series with missing values: their complete rows
        active = len(lags) if n_lags is None else int(n_lags[i])
        gram[i], nobs[i] = _direct_gram(values[indptr[i]:indptr[i + 1]], lags, active, int(hold_back[i]),
                                        with_time, shift[i], scale[i], center[i], spread[i])
    time_scale = lengths.astype(np.float64)
    A, b = design_map(trend, len(lags), shift / scale, center, spread, time_scale)
    return Problem(gram, A, b, shift, scale, time_scale, nobs, 1 + int(with_time))


def _direct_gram(y: np.ndarray, lags: np.ndarray, active: int, hold_back: int, with_time: bool, shift: float,
                 scale: float, center: float, spread: float) -> tuple[np.ndarray, int]:
    """``W'W`` of ``W = [1, (tau), z_{t-lag}..., z_t]`` over the rows ``t >= hold_back`` whose
    target and first ``active`` lags are observed (the other lag columns are zero: inactive), and
    the number of those rows."""
    z = (y - shift) / scale
    t = np.arange(hold_back, len(y))
    cols = [np.ones(len(t))]
    if with_time:
        cols.append((t + 1.0 - center) / spread)
    # an inactive lag may reach before the series (negative index) or a hole: it only fills its
    # column (the solve ignores it: the nested triangular form), so 0 stands in there
    cols += [np.where(t >= lag, z[np.maximum(t - int(lag), 0)], np.nan) for lag in lags] + [z[t]]
    X = np.stack(cols, axis=1)
    n_det = 1 + int(with_time)
    need = np.r_[np.arange(n_det, n_det + active), X.shape[1] - 1]
    complete = ~np.isnan(X[:, need]).any(axis=1)
    X = np.nan_to_num(X[complete])
    return X.T @ X, int(complete.sum())


@one_blas_thread
def fit_ar(values: np.ndarray, indptr: np.ndarray, trend: str, lags: np.ndarray, hold_back: np.ndarray,
           n_lags: np.ndarray | None = None) -> Fit:
    """Conditional least squares of every series on ``trend`` terms and ``lags`` (one batched solve).

    Args:
        values, indptr: the panel's concatenated values and offsets.
        trend: ``"n"``, ``"c"``, ``"t"`` or ``"ct"`` (statsmodels ``AutoReg``'s meaning).
        lags: the lag columns, e.g. ``1..p`` (plus seasonal lags).
        hold_back: ``[n]`` observations excluded at the start of each series (at least its largest
            active lag); the sample is ``t = hold_back .. n-1``.
        n_lags: optional ``[n]``, how many of the first ``lags`` each series uses (the others get 0).
    """
    prob = build_problem(values, indptr, trend, lags, hold_back, n_lags)
    n_det = deterministic_count(trend)
    sol = solve(prob.gram, prob.A, prob.b, prob.n_wdet, None if n_lags is None else n_det + np.asarray(n_lags))
    zero = np.zeros(len(prob.scale))
    intercept = prob.scale * sol.beta[:, 0] if "c" in trend else zero
    trend_coef = prob.scale * sol.beta[:, n_det - 1] / prob.time_scale if "t" in trend else zero
    ssr = sol.ssr * prob.scale ** 2
    return Fit(sol.beta[:, n_det:], intercept, trend_coef, ssr / prob.nobs, ssr, prob.nobs, sol.deficient)


# ---------------------------------------------------------------------------- order selection
def lag_columns(max_p: int, seasonal: tuple[int, ...] = ()) -> np.ndarray:
    """Lag columns in nesting order: the seasonal lags (always in the model), then ``1..max_p``.

    The model of order ``k`` uses the seasonal lags plus ``1..k``, i.e. a prefix of this list.
    """
    seasonal = sorted(set(int(s) for s in seasonal))
    return np.array(seasonal + [lag for lag in range(1, max_p + 1) if lag not in seasonal], dtype=np.int64)


def prefix_length(orders: np.ndarray, seasonal: tuple[int, ...] = ()) -> np.ndarray:
    """Number of :func:`lag_columns` used by models of order ``orders`` (seasonal lags included)."""
    seasonal = np.array(sorted(set(int(s) for s in seasonal)), dtype=np.int64)
    orders = np.asarray(orders, dtype=np.int64)
    inside = (seasonal[None, :] <= orders[:, None]).sum(axis=1) if len(seasonal) else 0
    return len(seasonal) + orders - inside


@one_blas_thread
def select_orders(values: np.ndarray, indptr: np.ndarray, trend: str, max_p: int, criterion: str,
                  seasonal: tuple[int, ...] = ()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orders ``0..max_p`` minimizing AIC, AICc or BIC for every series, as statsmodels' ``ar_select_order``.

    All orders are estimated on one sample (the first ``max(max_p, seasonal lags)`` observations
    held back); ``ic = -2 llf + penalty * (df_model + 1)`` with ``df_model`` the number of
    regressors less the constant, as in statsmodels (AICc: every regressor plus the variance). Returns ``orders [n]``, the criterion table
    ``[n, max_p + 1]`` and the rows whose regressors were collinear.
    """
    lags = lag_columns(max_p, seasonal)
    hold = max([max_p] + [int(s) for s in seasonal])
    lengths = np.diff(indptr)
    prob = build_problem(values, indptr, trend, lags, np.full(len(lengths), hold))
    fixed = deterministic_count(trend) + len(set(seasonal))
    ssr, collinear = nested_ssr(prob.gram, prob.A, prob.b, prob.n_wdet, fixed)       # [n, max_p - |S inside| + 1]
    cols = prefix_length(np.arange(max_p + 1), seasonal) - len(set(seasonal))
    ssr = ssr[:, cols]                                                   # one column per order 0..max_p
    n_params = deterministic_count(trend) + prefix_length(np.arange(max_p + 1), seasonal)
    # statsmodels counts the constant out of df_model; AICc (not in statsmodels) counts every
    # estimated parameter, the innovation variance included, as Hurvich & Tsai do
    k = n_params + 1 if criterion == "aicc" else n_params - int("c" in trend) + 1
    table = information_criterion(ssr * prob.scale[:, None] ** 2, prob.nobs[:, None], k[None, :], criterion)
    return np.argmin(table, axis=1), table, collinear


def residuals(values: np.ndarray, indptr: np.ndarray, lags: np.ndarray, hold_back: np.ndarray,
              coef: np.ndarray, intercept: np.ndarray, trend_coef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """In-sample one-step residuals ``y_t - fitted_t`` for ``t = hold_back .. n-1`` of every series.

    Returns ``[n, max count]`` (left-aligned, NaN-padded) and the count of each row.
    """
    lengths = np.diff(indptr)
    n, width = len(lengths), int(lengths.max())
    lags = np.asarray(lags, dtype=np.int64)
    P = int(lags.max()) if len(lags) else 0
    y = np.zeros((n, P + width))                       # P zeros on the left, zeros past each end
    rows = np.repeat(np.arange(n), lengths)
    y[rows, P + np.arange(len(values)) - np.repeat(indptr[:-1], lengths)] = values
    t = np.arange(width)
    fitted = intercept[:, None] + trend_coef[:, None] * (t + 1)[None, :]
    for k, lag in enumerate(lags):
        fitted = fitted + coef[:, k:k + 1] * y[:, P - lag:P - lag + width]
    resid = y[:, P:] - fitted
    counts = lengths - hold_back
    out = np.full((n, int(counts.max())), np.nan)
    keep = np.arange(out.shape[1])[None, :] < counts[:, None]
    src = np.minimum(hold_back[:, None] + np.arange(out.shape[1])[None, :], width - 1)
    out[keep] = np.take_along_axis(resid, src, axis=1)[keep]
    return out, counts
