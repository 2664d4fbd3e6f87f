#!/usr/bin/env bash
# Speed of keras-rk on a GPU with the JAX backend, as one short prepared run.
#
# For a machine that has JAX (with its GPU plugin) but not Keras: the wheels Keras
# needs are carried in .whl/ (fill it here with benchmarks/gpu_wheels.sh; another
# folder with GPU_BENCH_WHEELS) and installed into /tmp/site without an index.
# Prints images/s of RK4Net width 900, depth 100 at batch 5 and 128
# (benchmarks/bench_images.py) and s/epoch of the point setting (width 16, depth
# 100, batch 5; benchmarks/bench_points.py, beside the hand-written JAX loop), and
# writes every output under "$OUT".
#
#     OUT=/tmp/gpu-out bash benchmarks/gpu.sh            # about 5 minutes
#     GPU_BENCH_QUICK=1 OUT=/tmp/gpu-out bash benchmarks/gpu.sh   # tiny sizes, any machine
#
# PyTorch rows (the paper-style baseline) run only where torch is installed, and
# on the machine's CPU cores: the baseline is the paper's code as it runs here.
# tests/test_examples.py runs the quick sizes with no wheels folder; on 2026-11-30
# the quick run also passed in a fresh virtual environment with JAX and PyTorch and
# without TensorFlow, from the wheels of `PYTHON_VERSION=311 gpu_wheels.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/keras-rk-gpu}"
mkdir -p "$OUT"
export KERAS_BACKEND=jax
export TF_CPP_MIN_LOG_LEVEL=3

wheels="${GPU_BENCH_WHEELS:-.whl}"
if compgen -G "$wheels/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site "$wheels"/*.whl
  export PYTHONPATH="/tmp/site:$PWD"
else
  echo "no wheels in $wheels/: using the Keras this Python already has" | tee "$OUT/setup.txt"
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi

{
  date -u
  python3 -c "import jax, keras; print('jax', jax.__version__, 'keras', keras.__version__); print(jax.devices())"
  nvidia-smi --query-gpu=name,memory.total,utilization.gpu --format=csv 2>/dev/null || true
} 2>&1 | tee "$OUT/devices.txt"

if python3 -c "import torch" 2>/dev/null; then baseline=(); else baseline=(--no-baseline); fi

if [[ "${GPU_BENCH_QUICK:-0}" == 1 ]]; then
  images=(--quick)
  points=(--quick)
else
  images=(--batch-sizes 5 128 --seconds 20)
  points=(--depths 100 --epochs 3)
fi

python3 benchmarks/bench_images.py "${images[@]}" "${baseline[@]}" 2>&1 | tee "$OUT/bench_images.txt"
python3 benchmarks/bench_points.py --backends jax "${points[@]}" "${baseline[@]}" 2>&1 \
  | tee "$OUT/bench_points.txt"

{
  echo "== summary =="
  grep -E "^ +[0-9]+ +(autodiff|adjoint|auto) " "$OUT/bench_images.txt" \
    | awk '$3 ~ /^[0-9.]+$/ {print "images: batch " $1 ", gradient " $2 ": " $3 " images/s"}'
  grep -E "^\| (keras-rk|jax hand-written|pytorch)" "$OUT/bench_points.txt" \
    | awk -F'|' '{print "points:" $2 "depth" $3 "steady s/epoch" $5 "(first" $4 ")"}'
} | tee "$OUT/summary.txt"
