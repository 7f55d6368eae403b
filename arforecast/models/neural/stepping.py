"""NeuralAR as a :class:`~arforecast.rollout.protocol.Stepper`: values -> network inputs, the
incremental rollout state, teacher-forced likelihood of windows.

:class:`NeuralStepper` is a mixin of the estimator: it reads the fitted attributes
(``network_``, ``scaler_``, ``quantizer_``, ``context_length_``, ``history_``, ``spread_``, ...)
and implements ``start`` / ``distribution`` / ``advance``. The state holds the scale, the local
AR coefficients, the last ``history_`` values (for the lags and the AR path) and the backbone's
incremental state (conv queues or key/value cache), so each step costs one position of work.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from arforecast.data.panel import Panel
from arforecast.distributions import Distribution
from arforecast.rollout.protocol import Context, State


class NeuralStepper:
    """The rollout half of NeuralAR (see module docstring)."""

    # ------------------------------------------------------------------ values -> network inputs
    def _encode(self, values: torch.Tensor, scale: torch.Tensor, first_observed: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Original values ``[B, N]`` (NaN = none) -> scaled inputs, observed flags, tokens.

        ``first_observed [B]`` (column of each row's first real value) marks the columns before
        it as padding (token ``PAD``) rather than missing (``MISSING``).
        """
        q = self.quantizer_
        embed = self.config_.output.embed_tokens
        observed = ~torch.isnan(values)
        z = values / scale.unsqueeze(-1)
        tokens = None
        if q is not None:
            tokens = q.bin_of(z)
            z = q.dequantize(tokens, torch.float64)
            if embed and first_observed is not None:
                cols = torch.arange(values.shape[1], device=values.device)
                tokens = torch.where(cols[None, :] < first_observed[:, None], q.pad_token, tokens)
            if not embed:
                tokens = None
        z = torch.where(observed, z, torch.zeros_like(z))
        return z.to(self.dtype_), observed.to(self.dtype_), tokens

    def _exog_inputs(self, cov: torch.Tensor | None) -> torch.Tensor | None:
        """Covariates ``[B, N, k]`` beside ``N`` values -> the network's covariate inputs of the
        ``N - 1`` input columns ``[B, N - 1, k]``: input column ``c`` (whose value predicts column
        ``c + 1``) gets the future-known covariates of column ``c + 1`` (the step forecast) and the
        past-only and static ones of column ``c``; standardized as in fit, unknown ones 0.
        ``None`` for a model fitted without covariates."""
        if getattr(self.network_, "exog", None) is None:
            return None
        if cov is None:
            raise ValueError("NeuralAR fitted with covariates needs them beside the values")
        cov = cov.to(self.device_, torch.float64)
        past = torch.as_tensor(self.exog_past_, device=cov.device)
        x = torch.where(past, cov[:, :-1], cov[:, 1:])
        x = (x - torch.as_tensor(self.exog_mean_, device=cov.device)) / torch.as_tensor(self.exog_scale_,
                                                                                         device=cov.device)
        return torch.nan_to_num(x, nan=0.0).to(self.dtype_)

    def _encode_window(self, values: torch.Tensor, positions: torch.Tensor, context: int,
                       cov: torch.Tensor | None = None) -> dict[str, Any]:
        """A window batch as the network reads it: ``values [B, context + W]`` in original units,
        ``positions [B, context + W - 1]``. Returns the scaled inputs ``z``, their mask ``obs`` and
        ``tokens``, the rows' ``scale``, the local AR's ``coef``, the first input column the
        network reads (``first``) with the ``exog`` and ``positions`` from there, the scaled
        ``target [B, W]`` and ``context`` (what the exposure-bias options of training also read)."""
        net = self.network_
        scale = self.scaler_.scale(values[:, :context])
        first_obs = (~torch.isnan(values)).to(torch.int64).argmax(1)
        z, obs, tokens = self._encode(values[:, :-1], scale, first_obs)
        coef = net.fit_ar(z[:, :context], obs[:, :context])
        first = max(context - net.span, 0)
        exog = self._exog_inputs(cov)
        target = (values[:, context:] / scale[:, None]).to(self.dtype_)
        return {"z": z, "obs": obs, "tokens": tokens, "scale": scale, "coef": coef, "first": first,
                "exog": None if exog is None else exog[:, first:], "positions": positions[:, first:],
                "target": target, "context": context}

    def _window_nll(self, values: torch.Tensor, positions: torch.Tensor, context: int,
                    cov: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced NLL (scaled units) of the values after column ``context`` of each row.

        ``values [B, context + W]`` in original units, ``positions [B, context + W - 1]``.
        Returns ``nll [B, W]`` and the rows' ``scale [B]``. Exactly what a forecast from the
        first ``context`` values computes, with the true values fed back.
        """
        net, w = self.network_, self._encode_window(values, positions, context, cov)
        params = net(w["z"], w["obs"], w["positions"], w["first"], w["coef"], w["tokens"], w["exog"])
        W = w["target"].shape[1]
        params = {k: v[:, -W:] for k, v in params.items()}
        return net.head.nll(params, torch.nan_to_num(w["target"])), w["scale"]

    def start(self, context: Context) -> State:
        """Scale each row by its context, fit its local AR, run the network over it.

        The first ``context_length_`` columns are the context: the scale and the AR come from
        them alone. Columns past those (values appended by a naive recomputation) are run
        through the network but change neither, so recomputing equals stepping.
        """
        if not hasattr(self, "network_"):
            self._check_fitted()
        net, dev = self.network_, self.device_
        values = context.values.to(dev, torch.float64)
        B, T = values.shape
        H = self.history_
        Fc = min(T, int(self.context_length_))
        scale = self.scaler_.scale(values[:, :Fc])
        first_obs = (T - context.lengths.to(dev)).clamp_min(0)
        z, obs, tokens = self._encode(values, scale, first_obs)
        coef = net.fit_ar(z[:, :Fc], obs[:, :Fc])
        first = max(Fc - net.span, 0)
        positions = context.positions.to(dev)[:, None] - (T - 1 - torch.arange(first, T, device=dev))[None, :]
        exog = self._exog_inputs(context.covariates)       # [B, T + F - 1, k]: input columns 0 .. T + F - 2
        with torch.no_grad():
            params, bstate = net.start(z, obs, positions, first, coef, tokens,
                                       None if exog is None else exog[:, first:T])
        pad = max(H - T, 0)
        state = {"scale": scale, "coef": coef, "z": F.pad(z, (pad, 0))[:, -H:],
                 "observed": F.pad(obs, (pad, 0))[:, -H:], "position": positions[:, -1],
                 "backbone": bstate, "params": params}
        if exog is not None:                               # the inputs of the values the rollout appends
            state["exog"] = exog[:, T:]
            state["exog_step"] = torch.zeros(B, dtype=torch.int64, device=dev)
        if tokens is not None:
            state["tokens"] = F.pad(tokens, (pad, 0), value=self.quantizer_.pad_token)[:, -H:]
        return state

    def distribution(self, state: State) -> Distribution:
        """Next value's distribution in original units."""
        return self.network_.head.distribution(state["params"], state["scale"].to(self.dtype_),
                                               spread=getattr(self, "spread_", 1.0))

    def advance(self, state: State, value: torch.Tensor) -> State:
        """Append one value per row (original units) and step the network once."""
        net = self.network_
        value = value.to(self.device_, torch.float64).reshape(-1, 1)
        z_new, obs_new, tok_new = self._encode(value, state["scale"])
        z = torch.cat([state["z"][:, 1:], z_new], 1)
        obs = torch.cat([state["observed"][:, 1:], obs_new], 1)
        tokens = None
        if "tokens" in state:
            tokens = torch.cat([state["tokens"][:, 1:], tok_new], 1)
        position = state["position"] + 1
        exog = None
        if "exog" in state:
            last = max(state["exog"].shape[1] - 1, 0)
            exog = state["exog"].gather(1, state["exog_step"].clamp(max=last)[:, None, None].expand(
                -1, 1, state["exog"].shape[2])) if state["exog"].shape[1] else None
        with torch.no_grad():
            params, bstate = net.step(z, obs, position[:, None], state["backbone"], state["coef"], tokens, exog)
        out = {"scale": state["scale"], "coef": state["coef"], "z": z, "observed": obs, "position": position,
               "backbone": bstate, "params": params}
        if "exog" in state:
            out["exog"], out["exog_step"] = state["exog"], state["exog_step"] + 1
        if tokens is not None:
            out["tokens"] = tokens
        return out

    # ------------------------------------------------------------------ speculative decoding
    def score_steps(self, state: State, values: torch.Tensor) -> tuple[State, Distribution]:
        """Feed ``values [B, m]`` (original units) in one pass; the laws after each prefix, batch
        ``[B, m]``. The state remembers the pass until :meth:`truncate` keeps a prefix of it."""
        net = self.network_
        values = values.to(self.device_, torch.float64)
        m = values.shape[1]
        z_new, obs_new, tok_new = self._encode(values, state["scale"])
        pending = {"z": torch.cat([state["z"], z_new], 1), "observed": torch.cat([state["observed"], obs_new], 1)}
        tokens = None
        if "tokens" in state:
            tokens = pending["tokens"] = torch.cat([state["tokens"], tok_new], 1)
        positions = state["position"][:, None] + torch.arange(1, m + 1, device=values.device)[None, :]
        with torch.no_grad():
            params, bstate = net.score_steps(pending["z"], pending["observed"], positions, state["backbone"],
                                             state["coef"], tokens)
        pending["params"] = params
        out = {**state, "backbone": bstate, "pending": pending}
        dist = net.head.distribution(params, state["scale"].to(self.dtype_)[:, None],
                                     spread=getattr(self, "spread_", 1.0))
        return out, dist

    def truncate(self, state: State, keep: torch.Tensor) -> State:
        """The state after only the first ``keep [B]`` (>= 1) values of the last :meth:`score_steps`."""
        pending = state["pending"]
        keep = keep.to(self.device_)
        B, H = keep.shape[0], self.history_
        cols = keep[:, None] + torch.arange(H, device=keep.device)[None, :]
        rows = torch.arange(B, device=keep.device)
        out = {"scale": state["scale"], "coef": state["coef"], "z": pending["z"].gather(1, cols),
               "observed": pending["observed"].gather(1, cols), "position": state["position"] + keep,
               "backbone": self.network_.backbone.truncate(state["backbone"], keep),
               "params": {k: v[rows, keep - 1] for k, v in pending["params"].items()}}
        if "tokens" in pending:
            out["tokens"] = pending["tokens"].gather(1, cols)
        return out

    def _context(self, panel: Panel, covariates=None, h: int = 0) -> Context:
        """The last ``context_length_`` values of every series, at their calendar positions (with
        covariates: theirs beside them and on the ``h`` steps after)."""
        width = int(self.context_length_)
        values = torch.from_numpy(panel.padded(width))
        lengths = torch.from_numpy(np.minimum(panel.lengths, width).astype(np.int64))
        positions = torch.from_numpy(panel.next_positions().astype(np.int64))
        cov = None
        if covariates is not None:
            cov = torch.from_numpy(exog_block(covariates, panel.next_positions() - width, width + h, width))
        return Context(values, lengths, torch.arange(panel.n_series), positions, cov)


def exog_block(covariates, first: np.ndarray, count: int, known: int) -> np.ndarray:
    """``[n, count, k + s]``: the covariates from calendar ``first`` on, past-only ones carried
    forward after the first ``known`` columns (their future is never read), static ones repeated."""
    block = covariates.block(first, count)
    past = np.asarray(covariates.past_only, dtype=bool)
    if past.any() and known < count:
        block[:, known:, past] = block[:, known - 1:known, past]
    if covariates.static is not None and len(covariates.static_names):
        block = np.concatenate([block, np.repeat(covariates.static[:, None, :], count, axis=1)], axis=2)
    return block
