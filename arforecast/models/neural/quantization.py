"""Int8 inference for NeuralAR on the CPU: PyTorch's dynamic quantization of the linear layers.

``torch.ao.quantization.quantize_dynamic`` stores each ``nn.Linear``'s weights as int8 (one
scale per layer) and quantizes its input on the fly at every call; the output is float again.
In NeuralAR that covers the transformer's attention and MLP projections, the input features'
projection and the head's projection (for a 4096-bin head, its largest matrix). WaveNet's gated
convolutions are ``nn.Conv1d`` and stay float32. The fitted network is never changed: a
quantized copy serves one ``predict`` call (``model.predict(h, quantize="int8")``).

Example:
    >>> import torch
    >>> from arforecast.nn.network import build_network
    >>> net = build_network("transformer", "continuous", d_model=8, n_layers=1, n_heads=2, ar_lags=(1,))
    >>> q = int8_network(net)
    >>> type(q.backbone.blocks[0].attn.qkv).__name__, type(net.backbone.blocks[0].attn.qkv).__name__
    ('Linear', 'Linear')
    >>> q.backbone.blocks[0].attn.qkv.weight().dtype
    torch.qint8
"""
from __future__ import annotations

import copy
import warnings
from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import nn

QUANTIZE = (None, "int8")


def int8_network(net: nn.Module) -> nn.Module:
    """A copy of ``net`` (on the CPU, in eval mode) whose ``nn.Linear`` layers are dynamic int8."""
    from torch.ao.quantization import quantize_dynamic
    clone = copy.deepcopy(net).cpu().eval()
    with warnings.catch_warnings():     # torch.ao.quantization announces its move to torchao; it still works
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantiz.*deprecated", category=UserWarning)
        return quantize_dynamic(clone, {nn.Linear}, dtype=torch.qint8)


@contextmanager
def quantized(model: Any, quantize: str | None) -> Iterator[None]:
    """Within the block, ``model.network_`` is the int8 copy (``quantize="int8"``) or unchanged."""
    if quantize not in QUANTIZE:
        raise ValueError(f"quantize must be None or 'int8', got {quantize!r}")
    if quantize is None:
        yield
        return
    if model.device_.type != "cpu":
        raise ValueError(f"quantize='int8' runs on the CPU (PyTorch's dynamic quantization); this model is on "
                         f"{model.device_}. Load it with device='cpu' to forecast in int8")
    cache = getattr(model, "_int8_cache", None)
    if cache is None or cache[0] is not model.network_:
        cache = (model.network_, int8_network(model.network_))
        model._int8_cache = cache
    original = model.network_
    model.network_ = cache[1]
    try:
        yield
    finally:
        model.network_ = original
