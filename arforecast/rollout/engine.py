"""The rollout engine: ``h``-step paths for a batch of series by feeding each chosen value back.

A model implements the :class:`~arforecast.rollout.protocol.Stepper` protocol (``start``,
``distribution``, ``advance``); :func:`rollout` does everything else: sample paths (each context
row repeated ``num_samples`` times inside the state), chunking of the paths to bound memory,
seeds, decoding strategies and beam search.

Memory: the engine steps at most ``chunk_size`` paths at once; the peak is the model's state for
those rows (AR: ``p`` values; a causal conv stack: one input queue per layer; a transformer: its
key/value cache, which grows with every step) plus one next-step distribution per row (a
categorical head: ``K`` logits), plus the start state of the series in the chunk.

Missing values: a context with NaN among a row's observations is started before the row's first
hole and replayed, the model filling each hole by its own mean (``decoding="mean"``) or each path's
own draw (``"sample"``): :mod:`arforecast.rollout.missing`. The uniforms then cover the replay
steps too.

Seeds: every uniform the sampler uses is drawn up front, ``[B, S, h]`` float64 from one
``torch.Generator`` in a fixed order (series, then sample, then step); step ``t`` of path
``(b, s)`` always reads ``u[b, s, t]``, so samples do not depend on ``chunk_size``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from arforecast.distributions import Categorical, Distribution
from arforecast.progress import progress_enabled
from arforecast.rollout.decoding import Decoding, beam_step, choose, gnmt_length_penalty
from arforecast.rollout.missing import plan_replay
from arforecast.rollout.protocol import Context, State, Stepper, map_state


@dataclass
class RolloutResult:
    """The paths of a rollout, in the original units of the series.

    Attributes:
        paths: ``[B, S, h]`` float64 (CPU): ``S`` is ``num_samples`` for ``sample``, 1 for ``mean``
            and ``greedy``, ``beam_width`` for ``beam`` (most likely first).
        log_prob: ``[B, S]`` float64 log-probability of each path under the model (sum of the
            per-step ``log_prob`` of the values fed back, without temperature/top-k/top-p):
            always for ``beam``, for the others when ``return_log_prob=True``, else ``None``.
            For categorical models it is a log mass; for continuous ones a log density.
        score: ``[B, S]`` beam score, ``log_prob / ((5 + h) / 6) ** length_penalty``; ``None``
            unless ``decoding="beam"``.
        decoding: the decoding strategy used.
    """

    paths: torch.Tensor
    log_prob: torch.Tensor | None = None
    score: torch.Tensor | None = None
    decoding: str = "mean"

    def numpy(self) -> np.ndarray:
        """``paths`` as a numpy array ``[B, S, h]``."""
        return self.paths.numpy()

    @property
    def point(self) -> torch.Tensor:
        """``[B, h]``: the single path of ``mean``/``greedy``, the best beam, or the mean of samples."""
        return self.paths[:, 0] if self.decoding != "sample" else self.paths.mean(dim=1)


# --------------------------------------------------------------------------- drivers
class _Incremental:
    """Steps a model through its incremental state (the real engine)."""

    def __init__(self, model: Stepper, state: State) -> None:
        self.model, self.state = model, state

    @staticmethod
    def start(model: Stepper, context: Context) -> "_Incremental":
        return _Incremental(model, model.start(context))

    def fork(self, rows: torch.Tensor) -> "_Incremental":
        return _Incremental(self.model, _select(self.state, rows))

    def select(self, rows: torch.Tensor) -> None:
        self.state = _select(self.state, rows)

    def distribution(self) -> Distribution:
        return self.model.distribution(self.state)

    def push(self, value: torch.Tensor) -> None:
        self.state = self.model.advance(self.state, value)


class _Naive:
    """Recomputes the model from the whole growing context at every step (reference only)."""

    def __init__(self, model: Stepper, context: Context) -> None:
        self.model, self.context = model, context

    @staticmethod
    def start(model: Stepper, context: Context) -> "_Naive":
        return _Naive(model, context)

    def fork(self, rows: torch.Tensor) -> "_Naive":
        return _Naive(self.model, self.context.rows(rows.to(self.context.values.device)))

    def select(self, rows: torch.Tensor) -> None:
        self.context = self.context.rows(rows.to(self.context.values.device))

    def distribution(self) -> Distribution:
        return self.model.distribution(self.model.start(self.context))

    def push(self, value: torch.Tensor) -> None:
        self.context = self.context.append(value.detach().to(self.context.values.device))


def _select(state: State, rows: torch.Tensor) -> State:
    return map_state(state, lambda x: x.index_select(0, rows.to(x.device)))


# --------------------------------------------------------------------------- engine
def rollout(model: Stepper, context: Context, h: int, *, num_samples: int | None = None,
            decoding: str = "mean", seed: int | None = None, chunk_size: int | None = None,
            naive: bool = False, temperature: float = 1.0, top_k: int | None = None,
            top_p: float | None = None, beam_width: int = 4, length_penalty: float = 0.0,
            return_log_prob: bool = False, progress: bool = False) -> RolloutResult:
    """Roll ``model`` out ``h`` steps from every row of ``context``.

    Args:
        model: any object with ``start``, ``distribution`` and ``advance`` (the Stepper protocol).
        context: ``B`` histories (see :class:`~arforecast.rollout.protocol.Context`).
        h: number of steps.
        num_samples: sample paths per series (``decoding="sample"`` only; default 1).
        decoding: ``"mean"``, ``"greedy"``, ``"sample"`` or ``"beam"`` (see ``docs/rollout.md``).
        seed: seed of the uniforms behind ``sample``; ``None`` draws fresh entropy.
        chunk_size: most paths stepped at once (bounds memory; results do not depend on it).
            Beam search keeps all ``beam_width`` beams of a series in one chunk.
        naive: recompute the model from the full growing context at every step instead of
            advancing its state: the slow reference for tests and benchmarks.
        temperature, top_k, top_p: reshape a categorical next-step distribution before sampling.
        beam_width, length_penalty: beam search options (categorical models only).
        return_log_prob: also return each path's log-probability under the model.
        progress: show a progress bar over the steps.

    Returns:
        A :class:`RolloutResult` with ``paths [B, S, h]`` in float64.

    Example:
        >>> import torch
        >>> from arforecast.distributions import Normal
        >>> class RandomWalk:          # y[t+1] = y[t] + N(0, 1)
        ...     def start(self, context):
        ...         return {"last": context.values[:, -1]}
        ...     def distribution(self, state):
        ...         return Normal(state["last"], torch.ones_like(state["last"]))
        ...     def advance(self, state, value):
        ...         return {"last": value}
        >>> ctx = Context.from_list([[1.0, 2.0], [5.0]])
        >>> rollout(RandomWalk(), ctx, h=3).paths[:, 0].tolist()
        [[2.0, 2.0, 2.0], [5.0, 5.0, 5.0]]
        >>> res = rollout(RandomWalk(), ctx, h=3, decoding="sample", num_samples=100, seed=0)
        >>> tuple(res.paths.shape)
        (2, 100, 3)
    """
    if not isinstance(model, Stepper):
        raise TypeError(f"{type(model).__name__} does not implement the Stepper protocol "
                        "(start(context), distribution(state), advance(state, value))")
    if isinstance(h, bool) or int(h) != h or h < 1:
        raise ValueError(f"h must be a positive integer, got {h}")
    h = int(h)
    dec = Decoding.make(decoding, num_samples, temperature, top_k, top_p, beam_width, length_penalty)
    if chunk_size is not None and (isinstance(chunk_size, bool) or int(chunk_size) != chunk_size
                                   or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size}")
    B, S = context.batch_size, dec.paths_per_series
    replay = plan_replay(context)
    if replay is not None:
        if dec.name == "beam" and replay.width:
            raise ValueError("decoding='beam' cannot forecast from a context with missing values (NaN); "
                             "use decoding='mean', 'greedy' or 'sample'")
        context = replay.context
    if B == 0:
        empty = torch.empty(0, S, h, dtype=torch.float64)
        lp = torch.empty(0, S, dtype=torch.float64) if (return_log_prob or dec.name == "beam") else None
        return RolloutResult(empty, lp, lp if dec.name == "beam" else None, dec.name)
    paths = torch.empty(B * S, h, dtype=torch.float64)
    log_prob = torch.zeros(B * S, dtype=torch.float64) if (return_log_prob or dec.name == "beam") else None
    K = 0 if replay is None else replay.width
    uniforms = _UniformStream(h + K, seed) if dec.needs_uniforms else None
    if chunk_size is None and not naive:
        chunk_size = default_chunk_size(model, context, h, B * S)
    driver_cls = _Naive if naive else _Incremental
    plan = []   # (series of the group, flat path rows of each chunk)
    for series, rows in _chunks(B, S, chunk_size):
        step = len(rows) if dec.name == "beam" else _row_chunk(chunk_size, len(rows))
        plan.append((series, [rows[lo:lo + step] for lo in range(0, len(rows), step)]))
    bar = None
    if progress_enabled(progress):
        from tqdm.auto import tqdm
        bar = tqdm(total=h * sum(len(parts) for _, parts in plan), desc="rollout", unit="step")

    with torch.no_grad():
        for series, parts in plan:
            base = driver_cls.start(model, context.rows(series))
            for part in parts:
                local = torch.div(part, S, rounding_mode="floor") - int(series[0])
                if dec.name == "beam":
                    out, lp = _beam(base, len(series), h, dec, bar)
                else:
                    u = None if uniforms is None else uniforms.next(len(part))
                    if K:
                        b = torch.div(part, S, rounding_mode="floor")
                        out, lp = _replayed_steps(base.fork(local), h, dec, u, log_prob is not None, bar,
                                                  replay.teacher[b], replay.steps[b])
                    else:
                        out, lp = _steps(base.fork(local), h, dec, u, log_prob is not None, bar)
                _check_finite(out, dec, context, series[local])
                paths[part] = out
                if log_prob is not None:
                    log_prob[part] = lp
    if bar is not None:
        bar.close()
    score = None
    if dec.name == "beam":
        score = (log_prob / gnmt_length_penalty(h, dec.length_penalty)).reshape(B, S)
    return RolloutResult(paths.reshape(B, S, h), None if log_prob is None else log_prob.reshape(B, S),
                         score, dec.name)


def path_memory(model: Stepper, context: Context, h: int) -> int:
    """Bytes one path holds during a rollout: the model's state after ``h`` steps plus one
    next-step distribution (temporaries of the model's own step are not counted).

    Divide the memory you can spare by it to choose ``chunk_size``.

    Example:
        >>> import torch
        >>> from arforecast.distributions import Normal
        >>> class RandomWalk:
        ...     def start(self, context):
        ...         return {"last": context.values[:, -1]}
        ...     def distribution(self, state):
        ...         return Normal(state["last"], torch.ones_like(state["last"]))
        ...     def advance(self, state, value):
        ...         return {"last": value}
        >>> path_memory(RandomWalk(), Context.from_list([[1.0, 2.0]]), h=10)   # loc and scale
        16
    """
    one = context.rows(torch.zeros(1, dtype=torch.int64))
    with torch.no_grad():
        state = model.start(one)
        for _ in range(h - 1):
            state = model.advance(state, model.distribution(state).mean)
        dist = model.distribution(state)
    seen: dict[int, int] = {}

    def count(x: torch.Tensor) -> torch.Tensor:
        # A view counts for its own elements (at most its storage); shared storage counts once.
        size = min(x.untyped_storage().nbytes(), x.nelement() * x.element_size())
        seen[x.data_ptr()] = max(size, seen.get(x.data_ptr(), 0))
        return x

    map_state(state, count)
    map_state({k: v for k, v in vars(dist).items() if isinstance(v, torch.Tensor)}, count)
    return int(sum(seen.values()))


def _uniforms(B: int, S: int, h: int, seed: int | None) -> torch.Tensor:
    """``[B, S, h]`` float64 uniforms in ``(0, 1)`` from one generator, drawn in a fixed order."""
    gen = torch.Generator()
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed))
    u = torch.rand((B, S, h), generator=gen, dtype=torch.float64)
    return u.clamp_(min=torch.finfo(torch.float64).tiny)   # icdf(0) would be -inf for a Normal


class _UniformStream:
    """The uniforms of :func:`_uniforms`, drawn a chunk of consecutive path rows at a time: the
    generator's stream is sequential, so the values are the same as one draw of ``[B, S, h]``
    while only one chunk's uniforms are held."""

    def __init__(self, h: int, seed: int | None) -> None:
        self.h = h
        self.gen = torch.Generator()
        if seed is None:
            self.gen.seed()
        else:
            self.gen.manual_seed(int(seed))

    def next(self, rows: int) -> torch.Tensor:
        u = torch.rand((rows, self.h), generator=self.gen, dtype=torch.float64)
        return u.clamp_(min=torch.finfo(torch.float64).tiny)


#: working memory of one chunk: at least this (fewer, larger steps are faster) ...
MIN_CHUNK_BYTES = 64 * 2 ** 20
#: ... and otherwise this fraction of the paths' own size, so the peak stays near the output's size
CHUNK_FRACTION = 1 / 8


def default_chunk_size(model: Stepper, context: Context, h: int, n_paths: int) -> int:
    """Paths stepped at once when the caller gives no ``chunk_size``: the chunk's working memory
    (the model's state per path, its step's values and uniforms) is at most an eighth of the
    paths' size, but at least 64 MiB, and never above a quarter of the memory budget
    (:mod:`arforecast.resources`)."""
    from arforecast.resources import memory_budget
    per_path = path_memory(model, context, h) + 3 * 8 * h
    target = min(max(MIN_CHUNK_BYTES, CHUNK_FRACTION * n_paths * 8 * h), memory_budget() / 4)
    return int(max(1, min(n_paths, target // max(per_path, 1))))


def _chunks(B: int, S: int, chunk_size: int | None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Groups of consecutive series and their flat path rows ``b * S + s``.

    A group holds as many whole series as fit in ``chunk_size`` paths (at least one); a series
    with more paths than ``chunk_size`` is split further by the caller (except beam search,
    whose beams of one series must stay together).
    """
    per_group = B if chunk_size is None else max(1, chunk_size // S)
    for first in range(0, B, per_group):
        series = torch.arange(first, min(B, first + per_group))
        yield series, torch.arange(int(series[0]) * S, (int(series[-1]) + 1) * S)


def _row_chunk(chunk_size: int | None, n: int) -> int:
    return n if chunk_size is None else min(n, chunk_size)


def _steps(driver, h: int, dec: Decoding, u: torch.Tensor | None, want_log_prob: bool, bar
           ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run ``h`` steps of mean/greedy/sample decoding for the rows of ``driver``."""
    values, lp = [], None
    for t in range(h):
        dist = driver.distribution()
        ut = None
        if u is not None:
            if t == 0:
                u = u.to(_device_of(dist))   # once per chunk: the model's device
            ut = u[:, t]
        value = choose(dist, dec, ut)
        if want_log_prob:
            step_lp = dist.log_prob(value).to(torch.float64)
            lp = step_lp if lp is None else lp + step_lp
        values.append(value)
        if t + 1 < h:
            driver.push(value)
        if bar is not None:
            bar.update(1)
    out = torch.stack(values, dim=1).detach().to("cpu", torch.float64)
    return out, None if lp is None else lp.detach().cpu()


def _replayed_steps(driver, h: int, dec: Decoding, u: torch.Tensor | None, want_log_prob: bool, bar,
                    teacher: torch.Tensor, steps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``_steps`` over ``K + h`` steps where step ``t < steps[r]`` of row ``r`` feeds back the
    context value ``teacher[r, t]`` when observed (the model's choice where it is NaN); row ``r``'s
    forecast is its steps ``steps[r] .. steps[r] + h - 1`` (see :mod:`arforecast.rollout.missing`)."""
    K = teacher.shape[1]
    values, lp = [], None
    for t in range(K + h):
        dist = driver.distribution()
        ut = None
        if u is not None:
            if t == 0:
                u = u.to(_device_of(dist))
            ut = u[:, t]
        value = choose(dist, dec, ut)
        if t < K:
            given = teacher[:, t].to(value.device, value.dtype)
            value = torch.where(torch.isnan(given), value, given)
        if want_log_prob:
            step_lp = dist.log_prob(value).to(torch.float64)
            step_lp = torch.where((t >= steps.to(step_lp.device)) & (t < steps.to(step_lp.device) + h), step_lp,
                                  torch.zeros_like(step_lp))
            lp = step_lp if lp is None else lp + step_lp
        values.append(value)
        if t + 1 < K + h:
            driver.push(value)
        if bar is not None and t >= K:
            bar.update(1)
    out = torch.stack(values, dim=1).detach().to("cpu", torch.float64)
    take = steps[:, None] + torch.arange(h)[None, :]
    return out.gather(1, take), None if lp is None else lp.detach().cpu()


def _beam(base, G: int, h: int, dec: Decoding, bar) -> tuple[torch.Tensor, torch.Tensor]:
    """Beam search for ``G`` series: the ``beam_width`` most likely paths of each, best first."""
    W = dec.beam_width
    driver = base.fork(torch.arange(G).repeat_interleave(W))
    scores = None
    history = None
    for t in range(h):
        dist = driver.distribution()
        if not isinstance(dist, Categorical):
            raise ValueError(f"decoding='beam' searches over the bins of a categorical distribution; "
                             f"this model gives a {type(dist).__name__} distribution. Use "
                             f"decoding='mean' or 'sample'.")
        log_probs = dist.log_probs.to(torch.float64).reshape(G, W, dist.num_bins)
        if scores is None:   # all beams start equal: keep only the first alive
            scores = torch.full((G, W), float("-inf"), dtype=torch.float64, device=log_probs.device)
            scores[:, 0] = 0.0
        scores, parent, bins = beam_step(scores, log_probs, W)
        rows = (torch.arange(G, device=parent.device).unsqueeze(1) * W + parent).reshape(-1)
        centers = dist.centers.reshape(G * W, -1)
        value = centers[rows, bins.reshape(-1)]
        history = value.unsqueeze(1) if history is None else torch.cat([history[rows], value.unsqueeze(1)], 1)
        if t + 1 < h:
            driver.select(rows)
            driver.push(value)
        if bar is not None:
            bar.update(1)
    return history.detach().to("cpu", torch.float64), scores.reshape(-1).detach().cpu()


def _device_of(dist: Distribution) -> torch.device:
    for name in ("loc", "logits"):
        x = getattr(dist, name, None)
        if isinstance(x, torch.Tensor):
            return x.device
    return dist.mean.device


def _check_finite(paths: torch.Tensor, dec: Decoding, context: Context, rows: torch.Tensor) -> None:
    """Raise on NaN or infinite values rather than return them as a forecast."""
    bad = ~torch.isfinite(paths)
    if bool(bad.any()):
        r, t = (int(i) for i in torch.nonzero(bad)[0])
        row = int(rows[r])
        raise ValueError(
            f"rollout produced a non-finite value at step {t + 1} for context row {row} (fitted "
            f"series {int(context.series[row])}) with decoding={dec.name!r}: the model's next-step "
            f"distribution has no finite {'mean' if dec.name == 'mean' else 'value'} there (e.g. a "
            f"Student-t with df <= 1 has no mean; NaN parameters). Check the model's inputs, or "
            f"use decoding='sample'.")
