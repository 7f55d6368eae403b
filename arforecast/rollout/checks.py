"""Reusable checks that a model's incremental state is exact, for the tests of every Stepper.

Example:
    >>> import torch
    >>> from arforecast.distributions import Normal
    >>> from arforecast.rollout import Context
    >>> class RandomWalk:
    ...     def start(self, context):
    ...         return {"last": context.values[:, -1]}
    ...     def distribution(self, state):
    ...         return Normal(state["last"], torch.ones_like(state["last"]))
    ...     def advance(self, state, value):
    ...         return {"last": value}
    >>> ctx = Context.from_list([[1.0, 2.0], [5.0]])
    >>> assert_incremental_matches_naive(RandomWalk(), ctx, h=4, seed=0)
    >>> assert_chunking_invariant(RandomWalk(), ctx, h=4, seed=0, num_samples=5)
"""
from __future__ import annotations

from typing import Sequence

import torch

from arforecast.rollout.engine import rollout
from arforecast.rollout.protocol import Context, Stepper


def assert_incremental_matches_naive(model: Stepper, context: Context, h: int, seed: int = 0,
                                     num_samples: int = 3, atol: float = 1e-5, rtol: float = 1e-5,
                                     decodings: Sequence[str] = ("mean", "sample"),
                                     **options) -> None:
    """Assert that advancing the state gives the same paths as recomputing from the full context.

    Runs :func:`~arforecast.rollout.rollout` twice per decoding (``naive=False`` and
    ``naive=True``) with the same seed and compares the paths to ``atol + rtol * |naive|``.
    Extra ``options`` (e.g. ``top_k``) go to ``rollout`` for the ``sample`` decoding.
    """
    for decoding in decodings:
        kwargs = dict(decoding=decoding, seed=seed)
        if decoding == "sample":
            kwargs.update(num_samples=num_samples, **options)
        fast = rollout(model, context, h, **kwargs).paths
        slow = rollout(model, context, h, naive=True, **kwargs).paths
        if not torch.allclose(fast, slow, atol=atol, rtol=rtol, equal_nan=True):
            err = (fast - slow).abs()
            worst = torch.nonzero(err == err.max())[0].tolist()
            raise AssertionError(
                f"decoding={decoding!r}: incremental rollout differs from naive recomputation by up "
                f"to {float(err.max()):.3g} (row, path, step) = {tuple(worst)}; the state update "
                f"(advance) is not equivalent to start() on the extended context")


def assert_chunking_invariant(model: Stepper, context: Context, h: int, seed: int = 0,
                              num_samples: int = 5, chunk_sizes: Sequence[int] = (1, 2, 7),
                              exact: bool = True, atol: float = 1e-6, **options) -> None:
    """Assert that sample paths do not depend on ``chunk_size`` (bit-identical when ``exact``).

    Bit-identity also needs the model to compute each row independently of the batch size;
    batched matrix products may differ in the last bits, hence ``exact=False`` with ``atol``.
    """
    ref = rollout(model, context, h, decoding="sample", num_samples=num_samples, seed=seed, **options).paths
    for chunk in chunk_sizes:
        got = rollout(model, context, h, decoding="sample", num_samples=num_samples, seed=seed,
                      chunk_size=chunk, **options).paths
        same = torch.equal(got, ref) if exact else torch.allclose(got, ref, atol=atol, rtol=0)
        if not same:
            raise AssertionError(f"chunk_size={chunk} changes the sample paths (max difference "
                                 f"{float((got - ref).abs().max()):.3g})")
