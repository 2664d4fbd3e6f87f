"""Data sets of the paper: point sets (``points``)."""

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
    "available_point_sets",
    "donut",
    "donut_1d",
    "donut_2d",
    "load_points",
    "spiral",
    "squares",
]
