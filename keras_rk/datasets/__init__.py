"""Data sets of the paper's experiments."""

from keras_rk.datasets.images import CLASS_NAMES, CorruptDataError, load_images, read_idx

__all__ = ["CLASS_NAMES", "CorruptDataError", "load_images", "read_idx"]
