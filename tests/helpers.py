"""Helpers shared by several test modules (imported as ``helpers``: pytest puts
tests/ on sys.path for its conftest)."""

import gzip
import struct

import numpy as np


def write_idx(path, array, magic=None, compress=None):
    array = np.asarray(array, dtype=np.uint8)
    if magic is None:
        magic = 0x00000800 | array.ndim
    data = struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in array.shape)
    data += array.tobytes()
    compress = path.name.endswith(".gz") if compress is None else compress
    if compress:
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def write_dataset(directory, num_train=30, num_test=20, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (num_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(num_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (num_test, 28, 28)),
        "t10k-labels-idx1-ubyte": (np.arange(num_test) + 3) % 10,
    }
    for stem, array in arrays.items():
        write_idx(directory / (stem + (".gz" if gz else "")), array)
    return arrays
