"""Data sets of the paper: point sets (``points``) and MNIST / Fashion-MNIST (``images``)."""

from keras_rk.datasets.images import CLASS_NAMES, CorruptDataError, load_images, read_idx
from keras_rk.datasets.points import (
    available_point_sets,
    donut,
    donut_1d,
    donut_2d,
    load_points,
    spiral,
    squares,
)

__all__ = [
    "CLASS_NAMES",
    "CorruptDataError",
    "available_point_sets",
    "donut",
    "donut_1d",
    "donut_2d",
    "load_images",
    "load_points",
    "read_idx",
    "spiral",
    "squares",
]
