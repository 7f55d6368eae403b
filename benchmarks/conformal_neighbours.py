"""Which calibration forecasts a model's conformal intervals should use: one ``Conformal`` fit,
then the raw forecast and the conformal ones calibrated on every calibration forecast
(``local=False``), on those nearest in history length (``local="length"``), and on the newest fits
(``local="recency"``, the default).

    python benchmarks/conformal_neighbours.py m4_hourly ar validation        # data set, model, split
    python benchmarks/conformal_neighbours.py m4_hourly neural test --max-steps 200

``model`` is ``ar``, ``neural`` or ``ensemble`` (their benchmarks/conformal.py configurations), or
``ar_auto``: ``AR()`` with its defaults (orders chosen from the data, holdout-calibrated intervals),
``neural_auto``: ``NeuralAR()`` with its defaults (settings chosen from the data, anchored on ``AR()``)
trained for ``--max-steps`` steps, and ``ensemble_auto`` the ensemble of the two.
``validation`` holds out the last ``h`` values of the train part (the split that chooses);
``test`` fits on the train part and scores the test part. For ``neural_auto`` the comparison is
of the fits that calibrate instead (one window: the neighbourhoods coincide): a second NeuralAR
fitted at the calibration origin (``refit=True``) against the final network itself
(``refit="final"``, what ``refit="auto"`` picks for it).
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import arforecast as af  # noqa: E402
from conformal import SPECS, ar, compare_calibrations, conformal, neural, split_data  # noqa: E402


def model_of(kind: str, spec, steps: int) -> af.Forecaster:
    if kind == "ar":
        return ar(spec)
    if kind == "ar_auto":                        # AR() with its defaults: orders chosen, intervals calibrated
        return af.AR()
    if kind == "neural":
        return neural(spec, None, steps)
    if kind == "neural_auto":                    # NeuralAR with its defaults (anchored on AR()), `steps` steps
        return af.NeuralAR(max_steps=steps, seed=0, progress=False)
    if kind == "ensemble_auto":
        return af.Ensemble([af.AR(), model_of("neural_auto", spec, steps)])
    return af.Ensemble([ar(spec), neural(spec, None, steps)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=list(SPECS))
    parser.add_argument("model", choices=("ar", "ar_auto", "neural", "neural_auto", "ensemble", "ensemble_auto"))
    parser.add_argument("split", choices=("validation", "test"))
    parser.add_argument("--max-steps", type=int, default=200, help="NeuralAR training steps per fit")
    parser.add_argument("--n-windows", type=int, default=None, help="calibration windows (default: the spec's)")
    parser.add_argument("--num-samples", type=int, default=100)
    parser.add_argument("--spread-levels", default=None,
                        help="compare these spread_level values (comma-separated) instead: the central interval "
                             "whose width scales the scores (method='normalized')")
    parser.add_argument("--save", default=None, help="write the calibration scores and the final forecast's "
                                                     "quantiles to this .npz (for offline looks)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    spec, train, test = split_data(args.dataset, args.split)
    start = time.time()
    kw = {} if args.n_windows is None else {"n_windows": args.n_windows}
    if args.model in ("neural", "ensemble"):  # the explicit configurations: the settings of their recorded figures
        kw.update(refit=True, spread_level=0.5)
    cp = conformal(model_of(args.model, spec, args.max_steps), spec, **kw).fit(train)
    print(f"$ python benchmarks/conformal_neighbours.py {' '.join(sys.argv[1:])}\nfit {time.time() - start:.0f} s, "
          f"n_local_ {cp.n_local_}", flush=True)
    name = {"ar": "AR", "ar_auto": "AR()", "neural": "NeuralAR", "neural_auto": "NeuralAR()", "ensemble": "Ensemble",
            "ensemble_auto": "Ensemble(AR(), NeuralAR())"}[args.model]
    fc = cp.model_.predict(spec.h, num_samples=args.num_samples, seed=0)
    if args.save:
        qs = [0.025, 0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 0.95, 0.975]
        y = np.stack([g["y"].to_numpy() for _, g in test.groupby(pd.Categorical(test["unique_id"], list(fc.ids)),
                                                                 observed=True, sort=True)])
        np.savez(args.save, errors=cp._errors, lengths=cp.calibration_lengths_, offsets=cp.calibration_offsets_,
                 point=fc.point, quantiles=np.stack(fc.quantile_values(qs)), qs=np.array(qs), y=y,
                 final_lengths=cp.panel_.lengths)
    n_local = cp.n_local_

    def neighbours(k: int | None, by: str | None):
        def prepare() -> None:                         # same calibration, other neighbours
            cp.n_local_, cp.local_by_, cp._local_cache = k, by, {}
        return prepare
    variants = [("local=False", neighbours(None, None)), ("by length", neighbours(n_local, "length")),
                ("by recency", neighbours(n_local, "recency"))]
    if args.model == "neural_auto":     # the same final network calibrated on a second fit, then on itself

        def fits(refit: bool | str):
            def prepare() -> None:
                cp.refit = refit
                cp._calibrate(cp.panel_, spec.h, cp.step or spec.h)
            return prepare
        variants = [("refit=True", fits(True)), ("refit='final'", fits("final"))]
    if args.spread_levels:                  # the same fit, its scores scaled by other central intervals' widths

        def spread(level: float):
            def prepare() -> None:
                if level != cp.spread_level:          # the fit's own calibration is that of the default
                    cp.spread_level = level
                    cp._calibrate(cp.panel_, spec.h, cp.step or spec.h)
            return prepare
        variants = [(f"spread_level={float(v):g}", spread(float(v))) for v in args.spread_levels.split(",")]
    compare_calibrations(cp, name, variants, spec, test, args.num_samples, f"{args.dataset} {args.split}", start,
                         raw_forecast=fc)

if __name__ == "__main__":
    main()
