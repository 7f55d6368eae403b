"""NeuralAR's anchor (arforecast/models/neural/anchor.py): the forecast AR() + share * (network - AR()),
the share chosen on validation windows. Checked against the two models it blends, fitted alone."""
from __future__ import annotations

import numpy as np
import pytest

import arforecast as af
from arforecast.datasets import simulate_ar
from arforecast.models.neural import grouped
from arforecast.models.neural.anchor import SHARES, choose_share

SMALL = dict(context_length=32, d_model=8, n_layers=3, lags=(), periods=(4,), ar_lags=(1, 2, 4), window_length=8,
             batch_size=8, validation_length=8, val_every=5, seed=0, progress=False, max_steps=3)


def _data(n_series: int = 4, length: int = 90) -> object:
    return simulate_ar([0.5, -0.2], n_series=n_series, length=length, intercept=10.0,
                       seasonal=[0.0, 1.0, 2.0, 1.0], seed=3)


def _model(share, **extra) -> af.NeuralAR:
    return af.NeuralAR("conv", "continuous", **grouped({**SMALL, "anchor_share": share, **extra}))


def test_choose_share_closed_forms():
    y = np.array([[1.0, 2.0], [3.0, 4.0]])
    scale = np.ones(2)
    assert choose_share(y, y + 1, y, scale)[0] == 1.0          # the network is exact
    assert choose_share(y + 1, y, y, scale)[0] == 0.0          # AR() is exact
    share, scores = choose_share(y + 1, y - 1, y, scale)       # symmetric errors: the midpoint
    assert share == 0.5 and scores[0.5] == pytest.approx(0.0)
    assert set(scores) == set(SHARES)
    # an entry AR() cannot forecast counts for the network alone
    nan_anchor = np.where(np.eye(2, dtype=bool), np.nan, y + 1)
    assert choose_share(y, nan_anchor, y, scale)[0] == 1.0


def test_share_one_is_the_network_alone():
    y = _data()
    alone = _model(1.0).fit(y)
    assert alone.anchor_share_ == 1.0 and alone.anchor_ is None and alone.anchor_scores_ == {}
    net = alone.predict(6).point
    # the same network with the blend switched off after fitting: identical
    other = _model(0.3).fit(y)
    other.anchor_share_ = 1.0
    np.testing.assert_allclose(other.predict(6).point, net, rtol=0, atol=0)


@pytest.mark.parametrize("share", [0.0, 0.4])
def test_blend_of_the_two_forecasts(share):
    y = _data()
    model = _model(share).fit(y)
    assert model.anchor_share_ == share and model.anchor_ is not None
    blended = model.predict(6).point
    model.anchor_share_ = 1.0
    network = model.predict(6).point
    automatic = af.AR().fit(y).predict(6).point
    np.testing.assert_allclose(blended, automatic + share * (network - automatic), rtol=1e-10, atol=1e-10)
    # sample paths: the network's, moved as the mean is (their mean is the point forecast)
    model.anchor_share_ = share
    fc = model.predict(6, num_samples=16, seed=0)
    model.anchor_share_ = 1.0
    raw = model.predict(6, num_samples=16, seed=0)
    np.testing.assert_allclose(fc.point, fc.samples.mean(axis=1), rtol=1e-10)
    np.testing.assert_allclose(fc.samples - fc.point[:, None, :], raw.samples - raw.point[:, None, :], atol=1e-8)


def test_chosen_on_validation_windows():
    model = _model(None).fit(_data())
    assert model.anchor_share_ in SHARES
    assert set(model.anchor_scores_) == set(SHARES)
    assert model.anchor_scores_[model.anchor_share_] == min(model.anchor_scores_.values())
    assert (model.anchor_ is None) == (model.anchor_share_ == 1.0)


def test_new_histories_get_their_own_ar():
    y = _data()
    model = _model(0.5).fit(y)
    new = _data(n_series=2, length=70)
    blended = model.predict(5, y=new).point
    model.anchor_share_ = 1.0
    network = model.predict(5, y=new).point
    automatic = af.AR().fit(new).predict(5).point
    np.testing.assert_allclose(blended, 0.5 * (network + automatic), rtol=1e-10)


def test_short_series_are_blended_with_ar_too():
    """``AR()`` forecasts series of any length (a naive fallback below 3 values): every series is blended."""
    model = _model(0.0).fit(_data())
    short = af.Panel.from_arrays([np.array([10.0, 11.0]), np.linspace(5.0, 9.0, 40)], ids=["a", "b"])
    np.testing.assert_allclose(model.predict(3, y=short).point, af.AR().fit(short).predict(3).point, rtol=1e-10)


def test_save_load_keeps_the_share(tmp_path):
    model = _model(0.3).fit(_data())
    path = tmp_path / "m.pt"
    model.save(path)
    loaded = af.NeuralAR.load(path)
    assert loaded.anchor_share_ == 0.3
    np.testing.assert_allclose(loaded.predict(6).point, model.predict(6).point, rtol=1e-6)


def test_bad_share_is_refused():
    with pytest.raises(ValueError, match="anchor_share"):
        _model(1.5).fit(_data())


def test_a_failing_ar_leaves_the_network_alone(monkeypatch):
    from arforecast.exceptions import DataError
    from arforecast.models.neural import anchor

    model = _model(0.5).fit(_data())
    model.anchor_share_ = 1.0
    network = model.predict(4).point
    model.anchor_share_ = 0.5

    class Refuses:
        def fit(self, panel):
            raise DataError("refused")

    monkeypatch.setattr(anchor, "_automatic_ar", lambda: type("AR", (), {"min_length": 1, "fit": Refuses.fit})())
    with pytest.warns(RuntimeWarning, match="anchor failed"):
        got = model.predict(4, y=_data(n_series=2, length=60)).point
    model.anchor_share_ = 1.0
    np.testing.assert_allclose(got, model.predict(4, y=_data(n_series=2, length=60)).point)
    assert network.shape == (4, 4)
