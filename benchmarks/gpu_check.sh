#!/usr/bin/env bash
# One short GPU check (under 6 minutes on an H200): tests/test_cuda.py, speculative vs plain
# rollout and the throughput of the stand-ins on CUDA. Extra arguments go to gpu_check.py,
# e.g. `bash benchmarks/gpu_check.sh --device cpu` for a dry run on the CPU. PYTHON=... picks the
# interpreter (default: .venv/bin/python if present, else python).
set -u
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
[ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ] && PY=.venv/bin/python
if ! $PY -c "import torch" 2>/dev/null; then
    echo "no torch: pip install torch==2.13.0"
    $PY -m pip install -q torch==2.13.0 || { echo "could not install torch"; exit 1; }
fi
if ! $PY -c "import numpy, pandas, scipy, pytest, hypothesis" 2>/dev/null; then
    echo "missing dependencies: pip install -e ."
    $PY -m pip install -q -e . pytest hypothesis || echo "pip install failed; trying with what is there"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export ARFORECAST_DATA="${ARFORECAST_DATA:-$PWD/shared/datasets:$PWD/../shared/datasets}"
exec $PY benchmarks/gpu_check.py "$@"
