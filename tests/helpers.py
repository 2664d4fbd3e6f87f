"""Helpers shared by several test modules (imported as ``helpers``: pytest puts
tests/ on sys.path for its conftest)."""

import gzip
import struct

import keras
import numpy as np


class Interrupt(Exception):
    pass


class InterruptAt(keras.callbacks.Callback):
    """Raises at the start of epoch `epoch` (the state of the epochs before is saved)."""

    def __init__(self, epoch=None, at_train_end=False):
        super().__init__()
        self.epoch, self.at_train_end = epoch, at_train_end

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Interrupt

    def on_train_end(self, logs=None):
        if self.at_train_end:
            raise Interrupt


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
