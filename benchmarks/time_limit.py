"""How well NeuralAR keeps its time_limit on M4 Hourly: wall time of fit / time_limit (1.00 = exact).

The first fit of a process pays one-time costs (torch imports its compiler when the first optimizer
is built, about 2 s); train() counts them, the model's own set-up outside train() is not counted.

    python benchmarks/time_limit.py 10 10 5        # time limits to try, in this order, in one process
"""
import sys
import time

import torch

import arforecast as af
from arforecast.datasets import load_m4_hourly


def main(limits: list[float]) -> None:
    torch.set_num_threads(1)
    train, _ = load_m4_hourly()
    print(f"M4 Hourly, {train['unique_id'].nunique()} series; NeuralAR(conv, continuous), max_steps=100000")
    for limit in limits:
        model = af.NeuralAR(backbone="conv", values="continuous", time_limit=limit, max_steps=100_000, seed=0,
                            progress=False)
        start = time.perf_counter()
        model.fit(train)
        wall = time.perf_counter() - start
        r = model.training_
        print(f"time_limit={limit:g} s: fit / limit = {wall / limit:.3f} ({wall:.2f} s; train() {r.seconds:.2f} s, "
              f"{r.steps} steps, {len(r.history)} validations, stopped by {r.stopped})", flush=True)


if __name__ == "__main__":
    main([float(x) for x in sys.argv[1:]] or [10.0, 10.0, 5.0])
