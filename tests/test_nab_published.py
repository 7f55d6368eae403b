"""The NAB scorer against NAB's own published numbers on the development subset.

NAB publishes each detector's per-row output (``results/<detector>/...``): the anomaly score and,
per profile, a column ``S(t)_<profile>``. For ARTime that column holds NAB's per-row sweep weight
(what a detection on that row would earn or cost); for numenta it holds the row's contribution at
NAB's own (full-corpus) threshold. The subset's README gives both detectors' normalised scores
with the threshold swept over these 18 files. Reads ``../shared/datasets/nab``; skipped when
absent.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import requires_nab
from arforecast.evaluation.nab import PROFILES, nab_rows, nab_score, probation_length

pytestmark = requires_nab

#: the subset README's table (threshold swept over the 18 files, normalised as NAB does)
PUBLISHED = {"ARTime": {"standard": 67.1, "reward_low_FP_rate": 58.1, "reward_low_FN_rate": 72.7},
             "numenta": {"standard": 61.3, "reward_low_FP_rate": 54.3, "reward_low_FN_rate": 66.2}}


def published(detector: str) -> dict[str, pd.DataFrame]:
    from arforecast.datasets_nab import load_nab_windows, nab_root
    out = {}
    for name in load_nab_windows():
        folder, file = name.split("/")
        out[name] = pd.read_csv(nab_root() / "results" / detector / folder / f"{detector}_{file}")
    return out


def corpus(frames: dict[str, pd.DataFrame]) -> list[tuple]:
    from arforecast.datasets_nab import load_nab_windows
    windows = load_nab_windows()
    return [(pd.to_datetime(f["timestamp"]), f["anomaly_score"].to_numpy(), windows[n]) for n, f in frames.items()]


@pytest.mark.parametrize("detector", sorted(PUBLISHED))
@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_swept_scores_match_the_published_table(detector, profile):
    res = nab_score(corpus(published(detector)), profile=profile)
    assert round(res.score, 1) == PUBLISHED[detector][profile]
    # NAB's null detector (a constant score) finds nothing at its best threshold on this subset
    assert res.null == pytest.approx(-25 * PROFILES[profile]["fnWeight"]) and res.perfect == 25


def test_row_weights_and_windows_match_nab_row_by_row():
    """ARTime's ``S(t)`` columns are NAB's sweep weights of every row, including the files whose
    clock repeats an hour or jumps back; ``label`` marks NAB's window rows."""
    from arforecast.datasets_nab import load_nab_windows
    windows = load_nab_windows()
    for name, frame in published("ARTime").items():
        for profile in PROFILES:
            rows = nab_rows(pd.to_datetime(frame["timestamp"]), frame["anomaly_score"], windows[name],
                            profile=profile)
            np.testing.assert_allclose(rows.weights, frame[f"S(t)_{profile}"], atol=1e-9, err_msg=name)
        np.testing.assert_array_equal((rows.window >= 0).astype(int), frame["label"], err_msg=name)


def test_file_scores_at_nabs_threshold_match_numenta_contributions():
    """numenta's ``S(t)`` columns sum, per file, to the file's raw score at NAB's full-corpus
    threshold; that threshold is the smallest score among the rows that cost a false positive."""
    frames = published("numenta")
    files = dict(zip(frames, corpus(frames)))
    for profile in PROFILES:
        col = f"S(t)_{profile}"
        costs = [f["anomaly_score"][(f[col] != 0) & (f["label"] == 0)
                                    & (np.arange(len(f)) >= probation_length(len(f)))] for f in frames.values()]
        threshold = float(pd.concat(costs).min())
        for name, f in frames.items():
            res = nab_score([files[name]], profile=profile, threshold=threshold)
            assert res.raw == pytest.approx(f[col].sum(), abs=1e-9), (profile, name)
