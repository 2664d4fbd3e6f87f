#!/usr/bin/env bash
# Fills .whl/ with the wheels benchmarks/gpu.sh installs on a machine that has JAX
# but no Keras: Keras (this checkout's version) and the packages it imports that
# JAX does not bring. PYTHON_VERSION (default: this Python's, e.g. 311) picks the
# compiled wheels (optree, h5py) for the GPU machine's Python.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${PYTHON_VERSION:-$(python3 -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')}"
keras="$(python3 -c 'import keras; print(keras.__version__)')"
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --dest .whl \
  --python-version "$version" --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  "keras==$keras" namex optree rich markdown-it-py mdurl pygments absl-py h5py
ls .whl
