"""Saving and loading a fitted NeuralAR: parameters, the settings chosen from the data, weights
and the fitted series, in a file of tensors, numbers and strings only (``torch.load`` with
``weights_only=True`` reads it; nothing is unpickled). A file of another format version is
rejected with a message saying to refit.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from arforecast.data.panel import Layout, Panel
from arforecast.models.neural.config import GROUPS, to_dict

FORMAT = "arforecast.NeuralAR"
#: 2: settings grouped (architecture, inputs, output, training) and the data-chosen ones saved.
FORMAT_VERSION = 2
#: fitted attributes chosen from the data at fit time
CHOSEN = ("d_model_", "context_length_", "validation_length_", "window_length_", "lags_", "periods_", "ar_lags_")


def save(model: Any, path: str | Path) -> None:
    """Write a fitted ``model`` to ``path``."""
    p = model.panel_
    params = {k: (to_dict(v) if k in GROUPS else v) for k, v in model.get_params().items()}
    payload = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "params": params,
        "chosen": {k: (list(v) if isinstance(v, tuple) else int(v)) for k, v in
                   ((k, getattr(model, k)) for k in CHOSEN)},
        "state_dict": {k: v.detach().cpu() for k, v in model.network_.state_dict().items()},
        "spread": float(getattr(model, "spread_", 1.0)),
        "panel": {"values": torch.from_numpy(p.values.copy()), "indptr": torch.from_numpy(p.indptr.copy()),
                  "ids": [x.item() if hasattr(x, "item") else x for x in p.ids],
                  "starts": [str(s) for s in p.starts], "freq": None if p.freq is None else p.freq.freqstr,
                  "step": int(p.step), "layout": [p.layout.kind, p.layout.name, p.layout.id_col,
                                                  p.layout.time_col, p.layout.target_col]},
    }
    torch.save(payload, str(path))


def load(cls: type, path: str | Path, device: str | None = None) -> Any:
    """Read a model written by :func:`save` as an instance of ``cls``."""
    payload = torch.load(str(path), map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a NeuralAR file written by NeuralAR.save()")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(f"{path} was written in NeuralAR file format {version}; this arforecast reads "
                         f"format {FORMAT_VERSION}: refit the model and save it again")
    params = {k: (GROUPS[k](**v) if k in GROUPS and v is not None else v) for k, v in payload["params"].items()}
    if device is not None:
        params["device"] = device
    model = cls(**params)
    chosen = payload["chosen"]
    model._setup({k: (tuple(v) if isinstance(v, list) else v) for k, v in chosen.items()})
    model.network_.load_state_dict(payload["state_dict"])
    model.network_.eval()
    model.spread_ = float(payload.get("spread", 1.0))
    pp = payload["panel"]
    freq = pp["freq"]
    starts = tuple(pd.Timestamp(s) if freq is not None else int(s) for s in pp["starts"])
    kind, name, id_col, time_col, target_col = pp["layout"]
    panel = Panel(pp["values"].numpy(), pp["indptr"].numpy(), np.asarray(pp["ids"], dtype=object), starts,
                  pd.tseries.frequencies.to_offset(freq) if freq is not None else None, pp["step"],
                  Layout(kind, name, id_col, time_col, target_col))
    model.panel_, model.ids_, model.n_series_ = panel, panel.ids, panel.n_series
    return model
