"""Speculative sampling: a cheap draft proposes ``k`` steps, the target checks them in one pass.

Each round, per path: the draft (any :class:`~arforecast.rollout.protocol.Stepper` with a
fixed-size state: ``AR``, NeuralAR's local AR path) draws ``x_0 .. x_{k-1}`` from its own
next-step laws ``q_j``; the target feeds ``[y, x_0, .., x_{k-1}]`` (``y`` the last value fixed)
in one teacher-forced pass (:meth:`score_steps`) and gets its laws ``p_0 .. p_k`` at those
positions. ``x_j`` is accepted with probability ``min(1, p_j(x_j) / q_j(x_j))``; the first
rejected position is redrawn from the normalized residual ``max(0, p - q)``, and when all ``k``
are accepted a bonus value is drawn from ``p_k``. The target then rolls its state back to the
accepted prefix (:meth:`truncate`), the draft keeps the state of the accepted prefix. Every
value is exactly a draw from the target's next-step law given the values before it (Leviathan
et al., 2023; Chen et al., 2023), so the paths have the target's joint law; only speed depends on
how often the draft is right.

Residuals: for a categorical target (bins) the residual is normalized and sampled directly. For
a continuous target it is sampled exactly by rejection: propose from ``p``, accept with
probability ``max(0, 1 - q/p)``. A continuous draft of a categorical target is first
discretized on the target's bins (its mass in each bin, cut halfway between centers), so both
laws live on one vocabulary.

Randomness is tied to positions, never to rounds or chunks: position ``t`` of path ``r`` reads
the plain sampler's uniform ``u[r, t]`` (for the draft's proposal, or for a direct draw from
``p``) and counter-based uniforms ``hash(seed, r, t, stream)`` for the acceptance test and the
residual. A position's uniforms are used only when that position is decided, and are
independent of everything before it, which makes each draw exact, seeds reproducible and the
paths independent of ``chunk_size``. With a draft identical to the target every proposal is
accepted and the paths equal plain sampling's bit for bit.

The optional target methods (NeuralAR implements them for its KV cache and conv queues):

* ``score_steps(state, values [B, m]) -> (state, dist)``: feed ``m`` values per row at once;
  ``dist`` has batch shape ``[B, m]``, entry ``j`` the next-value law after ``values[:, :j+1]``;
* ``truncate(state, keep [B]) -> state``: the scored state rolled back to the first ``keep``
  values of the last ``score_steps`` (``1 <= keep <= m``), per row.

A target without them is re-stepped with ``advance`` (a copy of its state per fed value), which
needs a state of fixed size.
"""
from __future__ import annotations

import copy
import warnings
from typing import Any, Callable

import torch

from arforecast.distributions import Categorical, Distribution, StudentT, _inverse_cdf_index
from arforecast.rollout.protocol import State, map_state

#: most rejection-sampling attempts for a continuous residual before falling back to ``p``
RESIDUAL_ATTEMPTS = 4096
_BLOCK = 16          # residual attempts drawn at once per row
_MASK = 0xFFFFFFFF


# --------------------------------------------------------------------------- counter-based uniforms
def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """``x * c mod 2**32`` for ``x`` in ``[0, 2**32)`` without int64 overflow (16-bit halves)."""
    lo = x * (c & 0xFFFF)
    hi = ((x * (c >> 16)) & 0xFFFF) << 16
    return (lo + hi) & _MASK


def _hash32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer mixer (Wellons' "lowbias32") on int64 tensors holding 32-bit values."""
    x = x & _MASK
    x = _mul32(x ^ (x >> 16), 0x7FEB352D)
    x = _mul32(x ^ (x >> 15), 0x846CA68B)
    return x ^ (x >> 16)


def counter_uniforms(seed: int, rows: torch.Tensor, t: torch.Tensor, stream: int | torch.Tensor) -> torch.Tensor:
    """Float64 uniforms in ``(0, 1)``, a pure function of ``(seed, row, position, stream)``.

    ``rows``, ``t`` and ``stream`` broadcast; 53 random bits from two chained 32-bit hashes.

    Example:
        >>> u = counter_uniforms(0, torch.arange(3), torch.zeros(3, dtype=torch.long), 1)
        >>> bool(((u > 0) & (u < 1)).all()), torch.equal(u, counter_uniforms(0, torch.arange(3), torch.zeros(3, dtype=torch.long), 1))
        (True, True)
    """
    stream = torch.as_tensor(stream, dtype=torch.int64, device=rows.device)
    seed = int(seed)
    key = _hash32(torch.as_tensor(seed & _MASK, dtype=torch.int64, device=rows.device) + _hash32(stream * 2 + 1))
    key = _hash32(key ^ _hash32(torch.as_tensor((seed >> 32) & _MASK, dtype=torch.int64, device=rows.device)))
    key = _hash32(key ^ _hash32(rows.to(torch.int64) & _MASK) + (rows.to(torch.int64) >> 32))
    key = _hash32(key + _hash32(t.to(torch.int64) * 0x9E3779B1 & _MASK))
    a = _hash32(key ^ 0x68E31DA4)
    b = _hash32(key + 0x1B56C4E9)
    bits = (a >> 5) * 67108864 + (b >> 6)                      # 27 + 26 = 53 bits
    return (bits.to(torch.float64) + 0.5) / 9007199254740992.0


# --------------------------------------------------------------------------- distributions as batches
def _remap(dist: Distribution, fn: Callable[[torch.Tensor], torch.Tensor]) -> Distribution:
    """A copy of ``dist`` with ``fn`` applied to each of its tensor parameters."""
    new = copy.copy(dist)
    for name, value in vars(dist).items():
        if isinstance(value, torch.Tensor):
            setattr(new, name, fn(value))
    return new


def _stack(dists: list[Distribution]) -> Distribution:
    """Distributions of batch ``[B]`` (same type) -> one of batch ``[B, m]``."""
    out = copy.copy(dists[0])
    for name, value in vars(dists[0]).items():
        if isinstance(value, torch.Tensor):
            setattr(out, name, torch.stack([getattr(d, name) for d in dists], 1))
    return out


def _take(dist: Distribution, j: torch.Tensor | int) -> Distribution:
    """Entry ``j`` (an int, or one index per row) of a ``[B, m]`` batch of distributions."""
    if isinstance(j, int):
        return _remap(dist, lambda v: v[:, j])
    return _remap(dist, lambda v: v[torch.arange(v.shape[0], device=v.device), j.to(v.device)])


def _discretize(dist: Distribution, centers: torch.Tensor) -> torch.Tensor:
    """Log mass ``[B, K]`` of a continuous ``dist`` (batch ``[B]``) in each bin of ``centers [B, K]``."""
    if not hasattr(dist, "cdf"):
        raise ValueError(f"a {type(dist).__name__} draft has no cdf to put on the target's bins")
    c = centers.to(torch.float64)
    edges = (c[:, 1:] + c[:, :-1]) / 2
    wide = _remap(dist, lambda v: v.to(torch.float64).unsqueeze(-1))
    cdf = wide.cdf(edges)
    zero, one = torch.zeros_like(cdf[:, :1]), torch.ones_like(cdf[:, :1])
    mass = torch.diff(torch.cat([zero, cdf, one], 1), dim=1).clamp_min(0.0)
    return mass.log()


def _log_softmax_at(logits: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``log_softmax(logits)[..., index]`` in float64 without a ``[..., K]`` log-softmax copy."""
    picked = logits.gather(-1, index.unsqueeze(-1)).squeeze(-1).to(torch.float64)
    return picked - torch.logsumexp(logits, -1).to(torch.float64)


# --------------------------------------------------------------------------- the two models
def _clone(state: State) -> State:
    return map_state(state, lambda x: x.clone())


def _pick(states: list[State], index: torch.Tensor) -> State:
    """Per row ``b``, the state ``states[index[b]]`` (states of equal shapes)."""
    if len(states) == 1:
        return states[0]

    def fn(path: list) -> Any:
        leaves = path
        first = leaves[0]
        if isinstance(first, torch.Tensor):
            if any(x.shape != first.shape for x in leaves):
                raise ValueError("speculative decoding re-steps a model without score_steps/truncate by keeping a "
                                 "copy of its state per step; its state changes shape from step to step. Implement "
                                 "score_steps and truncate (see arforecast.rollout.speculative)")
            stacked = torch.stack(leaves, 0)
            idx = index.to(first.device).view(1, -1, *([1] * (first.dim() - 1))).expand(1, *first.shape)
            return stacked.gather(0, idx).squeeze(0)
        if isinstance(first, dict):
            return {k: fn([s[k] for s in leaves]) for k in first}
        if isinstance(first, (list, tuple)):
            return type(first)(fn([s[i] for s in leaves]) for i in range(len(first)))
        return first

    return fn(states)


class _Target:
    """The target model's state, fed several values at once and rolled back per row."""

    def __init__(self, model: Any, state: State) -> None:
        self.model, self.state = model, state
        self.native = callable(getattr(model, "score_steps", None)) and callable(getattr(model, "truncate", None))
        self._states: list[State] | None = None

    def distribution(self) -> Distribution:
        return self.model.distribution(self.state)

    def score(self, values: torch.Tensor) -> Distribution:
        if self.native:
            self.state, dist = self.model.score_steps(self.state, values)
            return dist
        states, dists, s = [], [], self.state
        for j in range(values.shape[1]):
            s = self.model.advance(_clone(s), values[:, j])
            states.append(s)
            dists.append(self.model.distribution(s))
        self._states = states
        return _stack(dists)

    def keep(self, keep: torch.Tensor) -> None:
        if self.native:
            self.state = self.model.truncate(self.state, keep)
        else:
            self.state = _pick(self._states, keep - 1)
            self._states = None

    def select(self, rows: torch.Tensor) -> None:
        self.state = map_state(self.state, lambda x: x.index_select(0, rows.to(x.device)))


class _Draft:
    """The draft model: proposes ``k`` values per row and keeps its state at every step."""

    def __init__(self, model: Any, state: State) -> None:
        self.model, self.state = model, state
        self._states: list[State] = []

    def push(self, value: torch.Tensor) -> None:
        self.state = self.model.advance(self.state, value)

    def propose(self, u: torch.Tensor, centers: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor | None, Any]:
        """Values ``[B, k]`` (and bin indices for a categorical target) and the draft's laws.

        Returns ``(values, bins, laws)``: ``laws`` is ``[B, k, K]`` logits (categorical target)
        or a ``[B, k]`` batch of distributions (continuous target).
        """
        k = u.shape[1]
        states, values, bins, laws = [self.state], [], [], []
        s = self.state
        for j in range(k):
            q = self.model.distribution(s)
            if centers is not None:
                if isinstance(q, Categorical):
                    if q.num_bins != centers.shape[-1]:
                        raise ValueError(f"the draft has {q.num_bins} bins and the target {centers.shape[-1]}: "
                                         "speculative decoding needs one vocabulary")
                    logits = q.logits
                else:
                    logits = _discretize(q, centers)
                idx = _inverse_cdf_index(logits, u[:, j].to(logits.device))
                bins.append(idx)
                laws.append(logits)
                x = centers.gather(-1, idx.unsqueeze(-1)).squeeze(-1)
            else:
                if isinstance(q, Categorical):
                    raise ValueError("a categorical draft cannot propose values for a continuous target: "
                                     "speculative decoding needs one vocabulary")
                x = q.icdf(u[:, j].to(_device(q)))
                laws.append(q)
            values.append(x)
            if j + 1 < k:
                s = self.model.advance(_clone(s), x)
                states.append(s)
        self._states = states
        out = torch.stack(values, 1)
        if centers is not None:
            return out, torch.stack(bins, 1), torch.stack(laws, 1)
        return out, None, _stack(laws)

    def commit(self, n: torch.Tensor, last_value: torch.Tensor, proposals: torch.Tensor) -> None:
        """Keep the state after the first ``n`` proposals of each row, then feed ``last_value``.

        The states kept in :meth:`propose` stop before the last proposal; a row that accepted all
        ``k`` is advanced by it here."""
        k = proposals.shape[1]
        s = _pick(self._states, n.clamp_max(k - 1))
        full = n == k
        if bool(full.any()):
            stepped = self.model.advance(_clone(s), proposals[:, k - 1])
            s = _pick([s, stepped], full.to(torch.int64))
        self.state = self.model.advance(s, last_value)
        self._states = []

    def select(self, rows: torch.Tensor) -> None:
        self.state = map_state(self.state, lambda x: x.index_select(0, rows.to(x.device)))


def _device(dist: Distribution) -> torch.device:
    for value in vars(dist).values():
        if isinstance(value, torch.Tensor):
            return value.device
    return torch.device("cpu")


# --------------------------------------------------------------------------- residual draws
def _residual_categorical(logp: torch.Tensor, logq: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Bin drawn from ``max(0, p - q)`` normalized (``logp``, ``logq`` logits ``[R, K]``);
    rows where the residual vanishes (``p == q`` up to rounding) draw from ``p``."""
    p = torch.softmax(logp.to(torch.float64), -1)
    r = (p - torch.softmax(logq.to(torch.float64), -1)).clamp_min(0.0)
    empty = r.sum(-1, keepdim=True) <= 0
    r = torch.where(empty, p, r)
    return _inverse_cdf_index(r.log(), u.to(r.device))


def _residual_continuous(p: Distribution, q: Distribution, seed: int, rows: torch.Tensor, t: torch.Tensor
                         ) -> tuple[torch.Tensor, int]:
    """Exact draws from ``max(0, p - q)`` normalized (batch ``[R]``) by rejection from ``p``.

    Returns the values and the number of rows that used up :data:`RESIDUAL_ATTEMPTS` (drawn
    from ``p`` instead; essentially never when ``p`` and ``q`` differ enough to reject at all).
    """
    R = rows.shape[0]
    dev = _device(p)
    out = torch.full((R,), float("nan"), dtype=torch.float64, device=dev)
    todo = torch.arange(R, device=dev)
    attempt = 0
    p64 = _remap(p, lambda v: v.to(torch.float64))
    q64 = _remap(q, lambda v: v.to(torch.float64))
    while todo.numel() and attempt < RESIDUAL_ATTEMPTS:
        a = attempt + torch.arange(_BLOCK, device=dev)
        r, tt = rows[todo].to(dev)[:, None], t[todo].to(dev)[:, None]
        u1 = counter_uniforms(seed, r, tt, 2 + 3 * a[None, :])
        u2 = counter_uniforms(seed, r, tt, 3 + 3 * a[None, :])
        pw = _remap(p64, lambda v: v[todo].unsqueeze(-1))
        qw = _remap(q64, lambda v: v[todo].unsqueeze(-1))
        if isinstance(pw, StudentT):
            # Bailey's (1994) polar method: an exact Student-t draw from a point of the unit disk,
            # far cheaper than the quantile function (no incomplete beta); points outside the
            # disk are rejected attempts like any other
            x, inside = _polar_t(u1, counter_uniforms(seed, r, tt, 4 + 3 * a[None, :]), pw)
        else:
            x, inside = pw.icdf(u1), torch.ones_like(u1, dtype=torch.bool)
        ok = inside & (u2 <= -torch.expm1(qw.log_prob(x) - pw.log_prob(x)))
        hit = ok.any(1)
        first = ok.to(torch.int8).argmax(1)
        out[todo[hit]] = x[hit, first[hit]]
        todo = todo[~hit]
        attempt += _BLOCK
    misses = int(todo.numel())
    if misses:
        pw = _remap(p64, lambda v: v[todo])
        out[todo] = pw.icdf(counter_uniforms(seed, rows[todo].to(dev), t[todo].to(dev), 1))
    return out, misses


def _polar_t(u: torch.Tensor, v: torch.Tensor, p: "StudentT") -> tuple[torch.Tensor, torch.Tensor]:
    """Student-t draws by Bailey's polar method from uniforms ``u, v`` (and whether each was usable).

    ``(U, V) = (2u - 1, 2v - 1)`` is kept when ``W = U^2 + V^2 <= 1``; then
    ``U * sqrt(df * (W^(-2/df) - 1) / W)`` is exactly Student-t with ``df`` degrees of freedom.
    """
    U, V = 2 * u - 1, 2 * v - 1
    W = U * U + V * V
    inside = (W <= 1) & (W > 0)
    Ws = torch.where(inside, W, torch.full_like(W, 0.5))
    df = p.df.expand_as(Ws)
    z = U * torch.sqrt(df * torch.expm1(-2 / df * torch.log(Ws)) / Ws)
    return p.loc + p.scale * z, inside


# --------------------------------------------------------------------------- the rounds
def speculative_steps(target_model: Any, target_state: State, draft_model: Any, draft_state: State, h: int,
                      k: int, u: torch.Tensor, seed: int, rows: torch.Tensor, want_log_prob: bool,
                      groups: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, int]]:
    """``h`` steps of speculative sampling for the rows of one chunk.

    Args:
        target_state, draft_state: the two models' start states for these rows (not shared).
        k: proposals per round.
        u: ``[B, h]`` the plain sampler's uniforms of these rows.
        seed: key of the counter-based uniforms.
        rows: ``[B]`` global path index of each row (the key of its counter-based uniforms).
        groups: ``[B]`` series of each row: finished rows are dropped a whole series at a time,
            which keeps the paths of a series together (a transformer shares their context).

    Returns:
        ``(paths [B, h] float64 CPU, log_prob [B] or None, stats)`` with ``stats`` counting
        ``proposed`` and ``accepted`` draft values, ``rounds``, target passes and residual
        fallbacks (``residual_misses``).
    """
    target, draft = _Target(target_model, target_state), _Draft(draft_model, draft_state)
    p0 = target.distribution()
    dev = _device(p0)
    B = u.shape[0]
    u = u.to(dev)
    rows = rows.to(dev)
    categorical = isinstance(p0, Categorical)
    centers = p0.centers.reshape(B, -1) if categorical else None
    stats = {"proposed": 0, "accepted": 0, "rounds": 0, "residual_misses": 0}

    # position 0: exactly plain sampling's draw
    if categorical:
        y = centers.gather(-1, _inverse_cdf_index(p0.logits, u[:, 0]).unsqueeze(-1)).squeeze(-1)
    else:
        y = p0.icdf(u[:, 0])
    out = torch.zeros(B, h + k + 1, dtype=torch.float64, device=dev)
    out[:, 0] = y.to(torch.float64)
    lp = p0.log_prob(y).to(torch.float64) if want_log_prob else None
    t = torch.ones(B, dtype=torch.int64, device=dev)
    live = torch.arange(B, device=dev)        # output row of each batch row
    groups = (torch.zeros(B, dtype=torch.int64) if groups is None else groups).to(dev)
    draft.push(y)
    pending = y
    ar = torch.arange(k + 1, device=dev)
    while True:
        active = t < h
        if not bool(active.any()):
            break
        busy = torch.isin(groups, groups[active])       # rows of series with a path still going
        if int(busy.sum()) * 2 <= t.numel():            # drop finished series
            keep_rows = torch.nonzero(busy).squeeze(1)
            target.select(keep_rows)
            draft.select(keep_rows)
            t, pending, live, groups = t[keep_rows], pending[keep_rows], live[keep_rows], groups[keep_rows]
            centers = None if centers is None else centers[keep_rows]
            active = active[keep_rows]
        stats["rounds"] += 1
        Bn = t.numel()
        pos = t[:, None] + ar[None, :k]                                  # positions of the proposals
        uu = u[live[:, None], pos.clamp_max(h - 1)]
        x, bins, laws = draft.propose(uu, centers)
        P = target.score(torch.cat([pending.reshape(-1, 1).to(x.dtype), x], 1))   # [Bn, k + 1]
        ua = counter_uniforms(seed, rows[live][:, None], pos, 1)
        if categorical:
            logits = P.logits
            lp_x = _log_softmax_at(logits[:, :k], bins)
            lq_x = _log_softmax_at(laws, bins)
        else:
            P64 = _remap(P, lambda v: v.to(torch.float64))
            lp_x = _take_first(P64, k).log_prob(x.to(torch.float64))
            lq_x = _remap(laws, lambda v: v.to(torch.float64)).log_prob(x.to(torch.float64))
        accept = ua.log() <= lp_x - lq_x
        n = accept.to(torch.int64).cumprod(1).sum(1)                       # leading accepts
        n = torch.where(active, n, torch.zeros_like(n))
        stats["proposed"] += int(active.sum()) * k
        stats["accepted"] += int(n.sum())
        # the value at position t + n: a residual draw, or (all accepted) a draw from p_k
        bonus = n == k
        y_new = torch.empty(Bn, dtype=torch.float64, device=dev)
        pos_n = t + n
        u_bonus = u[live, pos_n.clamp_max(h - 1)]
        if categorical:
            if bool(bonus.any()):
                b = torch.nonzero(bonus).squeeze(1)
                idx = _inverse_cdf_index(logits[b, k], u_bonus[b])
                y_new[b] = centers[b].gather(-1, idx.unsqueeze(-1)).squeeze(-1).to(torch.float64)
            rej = torch.nonzero(~bonus).squeeze(1)
            if rej.numel():
                nr = n[rej]
                ur = counter_uniforms(seed, rows[live[rej]], pos_n[rej], 2)
                idx = _residual_categorical(logits[rej, nr], laws[rej, nr], ur)
                y_new[rej] = centers[rej].gather(-1, idx.unsqueeze(-1)).squeeze(-1).to(torch.float64)
        else:
            if bool(bonus.any()):
                b = torch.nonzero(bonus).squeeze(1)
                pb = _remap(P, lambda v: v[b, k])
                y_new[b] = pb.icdf(u_bonus[b]).to(torch.float64)
            rej = torch.nonzero(~bonus).squeeze(1)
            if rej.numel():
                nr = n[rej]
                pr = _remap(P, lambda v: v[rej, nr])
                qr = _remap(laws, lambda v: v[rej, nr])
                vals, misses = _residual_continuous(pr, qr, seed, rows[live[rej]], pos_n[rej])
                y_new[rej] = vals
                stats["residual_misses"] += misses
        y_new = y_new.to(x.dtype)
        if want_log_prob:          # the log-probability of the values kept inside the horizon
            kept = (ar[None, :k] < n[:, None]) & (pos < h)
            lp_y = (_log_softmax_at(logits[torch.arange(Bn, device=dev), n], _bin_of(centers, y_new))
                    if categorical else
                    _remap(P64, lambda v: v[torch.arange(Bn, device=dev), n]).log_prob(y_new.to(torch.float64)))
            step = torch.where(kept, lp_x, 0.0).sum(1) + torch.where(pos_n < h, lp_y, 0.0)
            lp[live[active]] += step[active]
        # write x_0 .. x_{n-1}, then the new value, at positions t .. t + n
        vals = torch.cat([x.to(torch.float64), torch.zeros_like(x[:, :1], dtype=torch.float64)], 1)
        vals[torch.arange(Bn, device=dev), n] = y_new.to(torch.float64)
        cols = (t[:, None] + ar[None, :]).clamp_max(h + k)
        write = (ar[None, :] <= n[:, None]) & active[:, None]
        r_idx = live[:, None].expand_as(cols)
        out[r_idx[write], cols[write]] = vals[write]
        target.keep(1 + n)
        draft.commit(n, y_new, x)
        pending = y_new
        t = torch.where(active, t + n + 1, t)
    if stats["residual_misses"]:
        warnings.warn(f"speculative decoding: {stats['residual_misses']} continuous residual draws used up "
                      f"{RESIDUAL_ATTEMPTS} rejection attempts and were drawn from the target instead",
                      RuntimeWarning, stacklevel=3)
    paths = out[:, :h].detach().to("cpu", torch.float64)
    return paths, None if lp is None else lp.detach().cpu(), stats


def _take_first(dist: Distribution, k: int) -> Distribution:
    return _remap(dist, lambda v: v[:, :k])


def _bin_of(centers: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    edges = (centers[:, 1:] + centers[:, :-1]) / 2
    return torch.searchsorted(edges.contiguous(), x.to(edges.dtype).unsqueeze(-1).contiguous()).squeeze(-1)
