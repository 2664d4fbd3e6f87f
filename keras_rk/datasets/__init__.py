"""Data sets of the paper: point sets (``points``) and MNIST / Fashion-MNIST (``images``).

The facts a network needs about a data set (its input dimension and number of
classes) are defined once, in those two modules; ``input_dim_of`` and
``num_classes_of`` answer for any name ``available_datasets`` lists.

>>> available_datasets()[-2:]
['mnist', 'fashion_mnist']
>>> input_dim_of("mnist"), num_classes_of("mnist"), input_dim_of("donut_3d_6c")
(784, 10, 3)
"""

from keras_rk.datasets import images as _images
from keras_rk.datasets import points as _points
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

IMAGE_SETS = _images.DATASETS


def available_datasets() -> list[str]:
    """Every data set a study can use: the point sets, then the image sets."""
    return [*available_point_sets(), *IMAGE_SETS]


def input_dim_of(name: str) -> int:
    """The dimension of one input of the named set (784 for the images)."""
    return _images.INPUT_DIM if name in IMAGE_SETS else _points.input_dim_of(name)


def num_classes_of(name: str) -> int:
    """The number of classes of the named set (10 for the images)."""
    return _images.NUM_CLASSES if name in IMAGE_SETS else _points.num_classes_of(name)


__all__ = [
    "CLASS_NAMES",
    "IMAGE_SETS",
    "CorruptDataError",
    "available_datasets",
    "available_point_sets",
    "donut",
    "donut_1d",
    "donut_2d",
    "input_dim_of",
    "load_images",
    "load_points",
    "num_classes_of",
    "read_idx",
    "spiral",
    "squares",
]
