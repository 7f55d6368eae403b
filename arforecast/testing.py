"""Contract checks every forecaster must pass (in the spirit of scikit-learn's estimator checks).

Example:
    >>> import numpy as np, pandas as pd
    >>> from arforecast import Naive
    >>> y = pd.Series(np.random.default_rng(0).normal(size=40).cumsum(),
    ...               index=pd.date_range("2024-01-01", periods=40, freq="D"))
    >>> check_forecaster(Naive(), y, h=3)
"""
from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from arforecast.base import Forecaster
from arforecast.exceptions import NotFittedError


def _copy(y: Any) -> Any:
    return y.copy(deep=True)


def check_forecaster(model: Forecaster, y: Any, h: int = 5, num_samples: int = 200,
                     rtol: float = 1e-7) -> None:
    """Run the contract checks on ``model`` with data ``y``; raise AssertionError on a breach.

    Checks: predict before fit raises NotFittedError; ``fit`` returns self and sets trailing
    underscore attributes; the caller's data is unchanged; fitting twice equals fitting once;
    ``clone`` and pickle round-trip; the same seed gives the same samples; the point forecast
    agrees with the sample paths within Monte-Carlo error; sampled quantiles bracket the mean.
    """
    fresh = clone(model)
    try:
        fresh.predict(h)
    except NotFittedError:
        pass
    else:
        raise AssertionError("predict before fit must raise NotFittedError")
    assert not [k for k in vars(fresh) if k.endswith("_") and not k.startswith("_")], \
        "__init__ must not set fitted attributes"

    before = _copy(y)
    fitted = clone(model)
    assert fitted.fit(y) is fitted, "fit must return self"
    _assert_unchanged(before, y)
    assert [k for k in vars(fitted) if k.endswith("_") and not k.startswith("_")], "fit sets no *_ attribute"

    first = fitted.predict(h, num_samples=num_samples, seed=0)
    _assert_unchanged(before, y)
    again = clone(model).fit(y).fit(y).predict(h, num_samples=num_samples, seed=0)
    np.testing.assert_allclose(again.point, first.point, rtol=rtol, err_msg="fitting twice changed the forecast")
    np.testing.assert_array_equal(again.samples, first.samples, err_msg="same seed, different samples")

    params = model.get_params()
    assert _plain(clone(model).get_params()) == _plain(params), "clone changed the parameters"
    unpickled = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(unpickled.predict(h).point, first.point, rtol=rtol,
                               err_msg="pickle round trip changed the forecast")

    assert first.samples.shape == (first.panel.n_series, num_samples, h)
    spread = first.samples.std(axis=1)
    mc_err = 5 * spread / np.sqrt(num_samples) + 1e-9 * (1 + np.abs(first.point))
    gap = np.abs(first.samples.mean(axis=1) - first.point)
    assert np.all(gap <= mc_err + 0.05 * spread), "point forecast disagrees with the sample paths"
    if first.marginals is not None or first.samples is not None:
        lo, hi = first.interval_values(0.9)
        assert np.all(lo <= hi), "interval bounds out of order"


def _plain(params: Any) -> Any:
    """Parameters with nested estimators (wrappers' models) replaced by their type and parameters,
    since a clone holds equal, not identical, estimators."""
    if hasattr(params, "get_params") and not isinstance(params, type):
        return (type(params).__name__, _plain(params.get_params(deep=False)))
    if isinstance(params, dict):
        return {k: _plain(v) for k, v in params.items()}
    if isinstance(params, (list, tuple)):
        return type(params)(_plain(v) for v in params)
    return params


def _assert_unchanged(before: Any, after: Any) -> None:
    if isinstance(before, pd.Series):
        pd.testing.assert_series_equal(before, after, check_exact=True)
    else:
        pd.testing.assert_frame_equal(before, after, check_exact=True)


#: the ways :func:`damaged_model_file` can spoil a saved model file
DAMAGES = ("empty", "truncated", "random", "text", "pickle", "evil", "tampered", "bad_setting", "wrong_type")


def damaged_model_file(good: Any, kind: str, dest: Any, evil: Any = None) -> Any:
    """Write to ``dest`` a copy of the saved NeuralAR file ``good`` spoiled one way (``kind`` in
    :data:`DAMAGES`), for checks that loading refuses it with one clear error; returns ``dest``.

    ``"evil"`` stores ``evil``, an object whose unpickling would run code (required for that kind):
    a safe loader must refuse it without running anything. ``"tampered"`` cuts every weight tensor,
    ``"bad_setting"`` gives a fitted setting the wrong type, ``"wrong_type"`` replaces the stored
    training values by a string.

    Example:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> (folder / "good.pt").write_bytes(b"0123456789")
        10
        >>> damaged_model_file(folder / "good.pt", "truncated", folder / "bad.pt").read_bytes()
        b'012'
    """
    import pickle
    from pathlib import Path

    import torch

    good, dest = Path(good), Path(dest)
    if kind not in DAMAGES:
        raise ValueError(f"kind must be one of {DAMAGES}, got {kind!r}")
    raw = good.read_bytes()
    if kind == "empty":
        dest.write_bytes(b"")
    elif kind == "truncated":
        dest.write_bytes(raw[: len(raw) // 3])
    elif kind == "random":
        dest.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "text":
        dest.write_text("hello")
    elif kind == "pickle":
        dest.write_bytes(pickle.dumps({"format": "arforecast.NeuralAR"}))
    elif kind == "evil":
        if evil is None:
            raise ValueError('kind="evil" needs the object to store (evil=...)')
        torch.save({"format": "arforecast.NeuralAR", "x": evil}, dest)
    else:
        payload = torch.load(good, weights_only=True)
        if kind == "tampered":
            payload["state_dict"] = {k: (v[..., :1] if v.dim() else v) for k, v in payload["state_dict"].items()}
        elif kind == "bad_setting":
            payload["chosen"]["context_length_"] = "many"
        else:
            payload["panel"]["values"] = "not a tensor"
        torch.save(payload, dest)
    return dest
