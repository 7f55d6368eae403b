"""Decoding strategies: how the engine turns each step's predictive distribution into the value
it feeds back.

* ``mean``: the distribution's mean (one deterministic path, the usual point forecast path);
* ``greedy``: the mode (one deterministic path);
* ``sample``: ``icdf(u)`` of a pre-drawn uniform (sample paths); for categorical distributions
  the distribution may first be reshaped by ``temperature``, ``top_k`` and ``top_p``;
* ``beam``: beam search over the bins of a categorical distribution (the ``beam_width`` most
  likely paths and their log-probabilities);
* ``speculative``: sample paths with the law of ``sample``, drawn faster by letting a cheap
  ``draft`` model propose ``draft_steps`` values that the model accepts or corrects
  (:mod:`arforecast.rollout.speculative`).

See ``docs/rollout.md`` for which of these make sense for forecasting.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from arforecast.distributions import Categorical, Distribution

DECODINGS = ("mean", "greedy", "sample", "beam", "speculative")


@dataclass(frozen=True)
class Decoding:
    """A validated decoding strategy and its parameters.

    Example:
        >>> Decoding.make("sample", num_samples=10, top_k=5).paths_per_series
        10
    """

    name: str
    num_samples: int = 1
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    beam_width: int = 4
    length_penalty: float = 0.0
    draft: object = None
    draft_steps: int = 4

    @staticmethod
    def make(name: str, num_samples: int | None = None, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, beam_width: int = 4,
             length_penalty: float = 0.0, draft: object = None, draft_steps: int = 4) -> "Decoding":
        """Check the options of decoding ``name`` and return them as a :class:`Decoding`."""
        if name not in DECODINGS:
            raise ValueError(f"decoding must be one of {DECODINGS}, got {name!r}")
        if name == "speculative":
            if draft is None:
                raise ValueError("decoding='speculative' needs a draft model (draft=...): a Stepper with a "
                                 "fixed-size state, e.g. a fitted AR or NeuralAR's local AR path")
            for method in ("start", "distribution", "advance"):
                if not callable(getattr(draft, method, None)):
                    raise TypeError(f"the draft {type(draft).__name__} does not implement the Stepper protocol "
                                    "(start, distribution, advance)")
            if isinstance(draft_steps, bool) or int(draft_steps) != draft_steps or draft_steps < 1:
                raise ValueError(f"draft_steps must be a positive integer, got {draft_steps}")
        elif draft is not None:
            raise ValueError(f"draft only applies to decoding='speculative', not to decoding={name!r}")
        shaped = temperature != 1.0 or top_k is not None or top_p is not None
        if name == "speculative" and shaped:
            raise ValueError("temperature, top_k and top_p do not apply to decoding='speculative': it draws "
                             "from the model's own next-step law")
        if name != "sample" and shaped:
            raise ValueError("temperature, top_k and top_p only apply to decoding='sample', "
                             f"not to decoding={name!r}")
        if name in ("mean", "greedy", "beam") and num_samples not in (None, 1):
            raise ValueError(f"decoding={name!r} gives deterministic paths; use decoding='sample' "
                             f"to draw num_samples={num_samples} sample paths")
        if name in ("sample", "speculative"):
            num_samples = 1 if num_samples is None else num_samples
            if isinstance(num_samples, bool) or int(num_samples) != num_samples or num_samples < 1:
                raise ValueError(f"num_samples must be a positive integer, got {num_samples}")
        if not temperature > 0:
            raise ValueError(f"temperature must be positive (it divides the logits), got {temperature}")
        if top_k is not None and (isinstance(top_k, bool) or int(top_k) != top_k or top_k < 1):
            raise ValueError(f"top_k must be a positive integer or None, got {top_k}")
        if top_p is not None and not 0 < top_p <= 1:
            raise ValueError(f"top_p must lie in (0, 1] or be None, got {top_p}")
        if name == "beam" and (isinstance(beam_width, bool) or int(beam_width) != beam_width
                               or beam_width < 1):
            raise ValueError(f"beam_width must be a positive integer, got {beam_width}")
        return Decoding(name, int(num_samples or 1), float(temperature),
                        None if top_k is None else int(top_k), top_p, int(beam_width),
                        float(length_penalty), draft, int(draft_steps))

    @property
    def paths_per_series(self) -> int:
        return self.beam_width if self.name == "beam" else self.num_samples

    @property
    def needs_uniforms(self) -> bool:
        return self.name in ("sample", "speculative")

    @property
    def shapes_distribution(self) -> bool:
        return self.temperature != 1.0 or self.top_k is not None or self.top_p is not None


def sampling_distribution(dist: Distribution, decoding: Decoding) -> Distribution:
    """The distribution actually sampled: ``dist`` reshaped by temperature, top-k and top-p.

    Raises a clear error when the options are asked of a continuous distribution (they are
    defined over a finite set of bins, and would distort a calibrated density in any case).
    """
    if not decoding.shapes_distribution:
        return dist
    if not isinstance(dist, Categorical):
        raise ValueError(
            f"temperature, top_k and top_p apply to categorical (binned) next-step distributions; "
            f"this model gives a {type(dist).__name__} distribution. Sample it as it is "
            f"(temperature=1.0, top_k=None, top_p=None).")
    if decoding.temperature != 1.0:
        dist = dist.with_temperature(decoding.temperature)
    if decoding.top_k is not None:
        dist = dist.top_k(decoding.top_k)
    if decoding.top_p is not None:
        dist = dist.top_p(decoding.top_p)
    return dist


def choose(dist: Distribution, decoding: Decoding, u: torch.Tensor | None) -> torch.Tensor:
    """The value fed back for each row under ``mean``, ``greedy`` or ``sample`` decoding."""
    if decoding.name == "mean":
        return dist.mean
    if decoding.name == "greedy":
        return dist.mode
    return sampling_distribution(dist, decoding).icdf(u)


def gnmt_length_penalty(length: int, alpha: float) -> float:
    """GNMT length penalty ``((5 + length) / 6) ** alpha`` (Wu et al., 2016).

    Beam scores are ``log_prob / penalty``. A forecast has a fixed horizon, so every hypothesis
    has the same length and the penalty rescales all scores alike: it never changes which paths
    win, and the engine reports it only as ``RolloutResult.score``.
    """
    return ((5.0 + length) / 6.0) ** alpha


def beam_step(scores: torch.Tensor, log_probs: torch.Tensor, width: int
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of beam search for ``G`` series.

    Args:
        scores: ``[G, W]`` log-probabilities of the current beams (``-inf`` for empty beams).
        log_probs: ``[G, W, K]`` next-step log-probabilities of every bin after every beam.
        width: beams to keep.

    Returns:
        ``(new_scores [G, width], parent [G, width], bin [G, width])``, best first.
    """
    G, W, K = log_probs.shape
    candidates = (scores.unsqueeze(-1) + log_probs).reshape(G, W * K)
    new_scores, flat = candidates.topk(width, dim=-1)
    return new_scores, torch.div(flat, K, rounding_mode="floor"), flat % K
