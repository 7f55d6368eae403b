"""Saving and loading a fitted NeuralAR: parameters, the settings chosen from the data, weights
and the fitted series, in a file of tensors, numbers and strings only (``torch.load`` with
``weights_only=True`` reads it; nothing is unpickled). A file of another format version is
rejected with a message saying to refit.

Saves are atomic: the file is written next to ``path`` under a temporary name and renamed over
it only once complete, so a save that fails leaves the previous file as it was. A file that
cannot be read as a NeuralAR model (empty, truncated, random bytes, tampered, or holding
objects other than tensors, numbers and strings) raises :class:`~arforecast.exceptions.ModelFileError`.
Time-zone-aware starts keep their zone by name (exact across DST changes) and custom business
frequencies keep their week mask and holidays.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from arforecast.data.panel import Layout, Panel
from arforecast.exceptions import ModelFileError
from arforecast.models.neural.config import GROUPS, to_dict

FORMAT = "arforecast.NeuralAR"
#: 2: settings grouped (architecture, inputs, output, training) and the data-chosen ones saved.
#: 3: the local AR's pooled prior and its weight (network buffers).
#: 4: covariates (the kept history, their kinds and the input normalisation).
FORMAT_VERSION = 4
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
        # the network's share against AR() (anchor.py); AR() itself is refitted to the panel at predict
        "anchor_share": float(getattr(model, "anchor_share_", 1.0)),
        "panel": {"values": torch.from_numpy(p.values.copy()), "indptr": torch.from_numpy(p.indptr.copy()),
                  "ids": _plain(p.ids),
                  "starts": [str(s) for s in p.starts], "tz": _tz_name(p.starts), "freq": _freq_to_dict(p.freq),
                  "step": int(p.step), "layout": [p.layout.kind, p.layout.name, p.layout.id_col,
                                                  p.layout.time_col, p.layout.target_col]},
    }
    if getattr(model, "n_exog_", 0):
        payload["covariates"] = _covariates_to_dict(model)
    _atomic_write(payload, Path(path))


def _plain(ids: Any) -> list:
    """Series ids as Python scalars (numpy scalars are not among what ``weights_only`` loads)."""
    return [x.item() if hasattr(x, "item") else x for x in ids]


def _covariates_to_dict(model: Any) -> dict:
    """The covariates a fitted model forecasts with: those kept at fit, their kinds, the input
    normalisation (tensors, numbers and strings only)."""
    c = model.covariates_
    return {"names": list(c.names), "past_only": torch.from_numpy(np.asarray(c.past_only, dtype=bool).copy()),
            "ids": _plain(c.ids),
            "origins": torch.from_numpy(np.asarray(c.origins, dtype=np.int64).copy()),
            "values": torch.from_numpy(np.asarray(c.values, dtype=np.float64).copy()),
            "indptr": torch.from_numpy(np.asarray(c.indptr, dtype=np.int64).copy()),
            "static_names": list(c.static_names),
            "static": None if c.static is None else torch.from_numpy(np.asarray(c.static, dtype=np.float64).copy()),
            "n_exog": int(model.n_exog_),
            "exog_past": torch.from_numpy(np.asarray(model.exog_past_, dtype=bool).copy()),
            "exog_mean": torch.from_numpy(np.asarray(model.exog_mean_, dtype=np.float64).copy()),
            "exog_scale": torch.from_numpy(np.asarray(model.exog_scale_, dtype=np.float64).copy())}


def _covariates_from_dict(model: Any, d: dict) -> None:
    """Set the covariate attributes of a loaded model (before its network is built)."""
    from arforecast.data.covariates import Covariates
    n = int(d["n_exog"])
    static = None if d["static"] is None else d["static"].numpy()
    cov = Covariates(tuple(d["names"]), d["past_only"].numpy().astype(bool), np.asarray(d["ids"], dtype=object),
                     d["origins"].numpy(), d["values"].numpy(), d["indptr"].numpy(), tuple(d["static_names"]), static)
    width = len(cov.names) + len(cov.static_names)
    if n < 1 or n != width or any(len(d[k]) != n for k in ("exog_past", "exog_mean", "exog_scale")) \
            or cov.values.shape != (int(cov.indptr[-1]), len(cov.names)):
        raise ModelFileError("the covariates do not fit together")
    model.n_exog_ = n
    model.exog_past_ = d["exog_past"].numpy().astype(bool)
    model.exog_mean_ = d["exog_mean"].numpy()
    model.exog_scale_ = d["exog_scale"].numpy()
    model.covariates_ = cov
    model.covariate_spec_ = cov.spec()


def _atomic_write(payload: dict, path: Path) -> None:
    """``torch.save`` to a temporary file in ``path``'s folder, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent if str(path.parent) else ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


#: frequency classes rebuilt from their keywords (their ``freqstr`` loses holidays, week masks, hours)
_OFFSETS = ("CustomBusinessDay", "CustomBusinessHour", "CustomBusinessMonthBegin", "CustomBusinessMonthEnd",
            "BusinessHour")


def _freq_to_dict(freq: Any) -> dict | None:
    if freq is None:
        return None
    out: dict = {"freqstr": freq.freqstr}
    name = type(freq).__name__
    if name in _OFFSETS:
        kw: dict = {"n": int(freq.n), "normalize": bool(freq.normalize)}
        if hasattr(freq, "weekmask"):
            kw["weekmask"] = str(freq.weekmask)
            kw["holidays"] = [str(np.datetime64(d, "D")) for d in freq.holidays]
        if hasattr(freq, "start") and hasattr(freq, "end"):
            kw["start"] = [t.strftime("%H:%M") for t in freq.start]
            kw["end"] = [t.strftime("%H:%M") for t in freq.end]
        out["class"], out["kwargs"] = name, kw
    return out


def _freq_from_dict(d: Any) -> Any:
    if d is None:
        return None
    if isinstance(d, str):                                  # written before the frequency kept its keywords
        return pd.tseries.frequencies.to_offset(d)
    if d.get("class") in _OFFSETS:
        return getattr(pd.offsets, d["class"])(**d["kwargs"])
    return pd.tseries.frequencies.to_offset(d["freqstr"])


def _tz_name(starts: tuple) -> str | None:
    """The IANA name of the starts' time zone (``None``: naive, integer or a fixed offset)."""
    tz = getattr(starts[0], "tz", None) if starts else None
    if tz is None:
        return None
    from pandas._libs.tslibs import timezones
    name = timezones.get_timezone(tz)
    return name if isinstance(name, str) else None


def _check_payload(payload: Any) -> None:
    """Only plain containers, numbers, strings and tensors (anything else means a tampered file)."""
    stack = [payload]
    while stack:
        x = stack.pop()
        if isinstance(x, dict):
            stack.extend(x.keys())
            stack.extend(x.values())
        elif isinstance(x, (list, tuple)):
            stack.extend(x)
        elif not (x is None or isinstance(x, (bool, int, float, str, torch.Tensor))):
            raise ModelFileError(f"unexpected {type(x).__name__} object")


def load(cls: type, path: str | Path, device: str | None = None) -> Any:
    """Read a model written by :func:`save` as an instance of ``cls``."""
    if device is not None:
        cls(device=device)._resolve_device()                # a bad device is the caller's error, not the file's
    try:
        payload = torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception:               # pickle/zip errors, torch's UnpicklingError for code-running objects
        raise ModelFileError(f"{path} cannot be read as a NeuralAR model file (empty, truncated, not written by "
                             "NeuralAR.save(), or holding objects other than tensors, numbers and strings); "
                             "it was not loaded") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a NeuralAR file written by NeuralAR.save()")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(f"{path} was written in NeuralAR file format {version}; this arforecast reads "
                             f"format {FORMAT_VERSION}: refit the model and save it again")
    try:
        _check_payload(payload)
        return _build(cls, payload, device)
    except ModelFileError as err:
        raise ModelFileError(f"{path} is a damaged or tampered NeuralAR file ({err})") from None
    except Exception as err:
        raise ModelFileError(f"{path} is a damaged or tampered NeuralAR file ({type(err).__name__}: "
                             f"{str(err)[:200]})") from None


def _build(cls: type, payload: dict, device: str | None) -> Any:
    params = {k: (GROUPS[k](**v) if k in GROUPS and v is not None else v) for k, v in payload["params"].items()}
    if device is not None:
        params["device"] = device
    model = cls(**params)
    if payload.get("covariates") is not None:
        _covariates_from_dict(model, payload["covariates"])
    chosen = payload["chosen"]
    for key in CHOSEN:
        v = chosen[key]
        items = v if isinstance(v, list) else [v]
        if any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in items):
            raise ModelFileError(f"{key} is {v!r}")
    model._setup({k: (tuple(v) if isinstance(v, list) else v) for k, v in chosen.items()})
    model.network_.load_state_dict(payload["state_dict"])
    model.network_.eval()
    model.ar_prior_ = float(model.network_.ar_prior_weight)
    model.config_ = model.config_._replace(inputs=dataclasses.replace(model.config_.inputs, ar_prior=model.ar_prior_))
    model.spread_ = float(payload.get("spread", 1.0))
    share = payload.get("anchor_share", 1.0)          # files written before the anchor: the network alone
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
        raise ModelFileError(f"anchor_share is {share!r}")
    model.anchor_share_, model.anchor_scores_, model.anchor_ = float(share), {}, None
    pp = payload["panel"]
    freq = _freq_from_dict(pp["freq"])
    tz = pp.get("tz")
    starts = tuple((pd.Timestamp(s) if tz is None else pd.Timestamp(s).tz_convert(tz)) if freq is not None
                   else int(s) for s in pp["starts"])
    kind, name, id_col, time_col, target_col = pp["layout"]
    panel = Panel(pp["values"].numpy(), pp["indptr"].numpy(), np.asarray(pp["ids"], dtype=object), starts,
                  freq, pp["step"], Layout(kind, name, id_col, time_col, target_col))
    model.panel_, model.ids_, model.n_series_ = panel, panel.ids, panel.n_series
    return model
