#!/usr/bin/env bash
# Fills .whl/ with the wheels benchmarks/gpu.sh installs on a machine that has JAX
# but no Keras: Keras, namex and optree, at the versions this environment runs.
# The lent GPU machine (an H200 with Python 3.12) already has Keras's other needs
# (absl-py, h5py, ml-dtypes, numpy, packaging, rich); carrying a second version of
# one of those would shadow the machine's own. PYTHON_VERSION (default 312, the GPU
# machine's) picks the compiled optree wheel; 311 suits this machine, for a trial.
# It empties .whl/ first, so that no second version of a wheel travels.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${PYTHON_VERSION:-312}"
pinned() { python3 -c "import importlib.metadata as m; print('$1==' + m.version('$1'))"; }
rm -rf .whl
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --dest .whl \
  --python-version "$version" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  "$(pinned keras)" "$(pinned namex)" "$(pinned optree)"
ls .whl
