"""The paper's point data sets (section 4, Figures 2 and 8), seeded.

Every set draws ``num_train + num_val`` samples together and splits them, as the
paper's public code does. Labels are assigned *before* the noise is added, so the
classes overlap at their borders; this is why no network reaches 100% on the
multi-class sets (Table 4). Each function's docstring gives its formula.

Each function returns ``((x_train, y_train), (x_val, y_val))`` with ``x`` float32
of shape (num_samples, dim) and ``y`` int32 class indices of shape (num_samples,),
ready for ``model.fit`` with ``sparse_categorical_crossentropy``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from keras_rk import _checks

Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

NUM_TRAIN = 1500
NUM_VAL = 1500


def _generator(seed: Any) -> np.random.Generator:
    if seed is not None:
        _checks.non_negative_int(seed, "seed")
    return np.random.default_rng(seed)


def _sizes(num_train: Any, num_val: Any) -> tuple[int, int]:
    return _checks.positive_int(num_train, "num_train"), _checks.positive_int(num_val, "num_val")


def _split(x: np.ndarray, y: np.ndarray, num_train: int) -> Split:
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int32)
    return (x[:num_train], y[:num_train]), (x[num_train:], y[num_train:])


def _check_dim(dim: Any, minimum: int = 2) -> int:
    dim = _checks.positive_int(dim, "dim")
    if dim < minimum:
        raise ValueError(
            f"Received an invalid value for `dim`, expected an integer of at least "
            f"{minimum}. Received: dim={dim}"
        )
    return dim


def donut_1d(num_train: int = NUM_TRAIN, num_val: int = NUM_VAL, seed: int | None = None) -> Split:
    """Two classes in the plane split along x1: class 0 is the band |x1| < 1.

    x1 ~ U(-4, 4), x2 ~ N(0, 1), then N(0, 0.5^2) noise on both coordinates
    (Figure 2, left).
    """
    num_train, num_val = _sizes(num_train, num_val)
    rng = _generator(seed)
    n = num_train + num_val
    x = np.stack([rng.uniform(-4.0, 4.0, n), rng.standard_normal(n)], axis=1)
    y = (np.abs(x[:, 0]) >= 1.0).astype(np.int32)
    x = x + rng.normal(0.0, 0.5, x.shape)
    return _split(x, y, num_train)


def donut_2d(
    num_train: int = NUM_TRAIN, num_val: int = NUM_VAL, seed: int | None = None, dim: int = 2
) -> Split:
    """A ball (class 0, |x| < 1) inside a ring (class 1), Figure 2.

    x ~ N(0, I_dim); class 0 where |x| < 1; then x <- 1.2 x + N(0, 0.2^2) noise.
    With ``dim=3`` this is the paper's donut_highD.
    """
    num_train, num_val = _sizes(num_train, num_val)
    dim = _check_dim(dim)
    rng = _generator(seed)
    x = rng.standard_normal((num_train + num_val, dim))
    y = (np.linalg.norm(x, axis=1) >= 1.0).astype(np.int32)
    x = 1.2 * x + rng.normal(0.0, 0.2, x.shape)
    return _split(x, y, num_train)


def spiral(num_train: int = NUM_TRAIN, num_val: int = NUM_VAL, seed: int | None = None) -> Split:
    """Two interleaved spiral arms in the plane (Figure 2, right).

    Per arm, phi = 2 pi sqrt(U(0, 1)); arm 0 at radius 2 phi + pi, arm 1 at
    -(2 phi + pi); points (r cos phi, r sin phi) + N(0, 1) noise, shuffled, the
    first num_train + num_val kept, divided by 5.
    """
    num_train, num_val = _sizes(num_train, num_val)
    rng = _generator(seed)
    n = num_train + num_val
    per_arm = (n + 1) // 2
    points, labels = [], []
    for arm, sign in enumerate((1.0, -1.0)):
        phi = np.sqrt(rng.uniform(0.0, 1.0, per_arm)) * 2.0 * np.pi
        radius = sign * (2.0 * phi + np.pi)
        arm_points = np.stack([radius * np.cos(phi), radius * np.sin(phi)], axis=1)
        points.append(arm_points + rng.standard_normal(arm_points.shape))
        labels.append(np.full(per_arm, arm))
    x, y = np.concatenate(points), np.concatenate(labels)
    order = rng.permutation(len(x))[:n]
    return _split(x[order] / 5.0, y[order], num_train)


def donut(
    dim: int = 2,
    num_classes: int = 2,
    num_train: int = NUM_TRAIN,
    num_val: int = NUM_VAL,
    seed: int | None = None,
) -> Split:
    """Concentric shells in R^dim, one class per shell (donut_multiclass, Figure 8).

    x ~ 1.5 N(0, I_dim); thresholds t = linspace(0, 4, num_classes, endpoint=False);
    class i where t[i] <= |x| < t[i+1] (the last shell is open); then
    N(0, 0.2^2) noise. Table 4 uses (dim, num_classes) = (3, 2), (3, 3), (2, 6)
    and (3, 6).
    """
    dim = _check_dim(dim)
    num_classes = _checks.positive_int(num_classes, "num_classes")
    if num_classes < 2:
        raise ValueError(
            f"Received an invalid value for `num_classes`, expected at least 2 "
            f"shells. Received: num_classes={num_classes}"
        )
    num_train, num_val = _sizes(num_train, num_val)
    rng = _generator(seed)
    x = 1.5 * rng.standard_normal((num_train + num_val, dim))
    thresholds = np.linspace(0.0, 4.0, num_classes, endpoint=False)
    y = np.searchsorted(thresholds, np.linalg.norm(x, axis=1), side="right") - 1
    x = x + rng.normal(0.0, 0.2, x.shape)
    return _split(x, y, num_train)


# In 3-D each of the four classes is a pair of opposite octants.
_OCTANT_CLASSES = {
    (1, 1, 1): 0, (-1, -1, -1): 0,
    (1, 1, -1): 1, (-1, -1, 1): 1,
    (1, -1, -1): 2, (-1, 1, 1): 2,
    (1, -1, 1): 3, (-1, 1, -1): 3,
}  # fmt: skip


def squares(
    dim: int = 2,
    num_classes: int = 2,
    num_train: int = NUM_TRAIN,
    num_val: int = NUM_VAL,
    seed: int | None = None,
) -> Split:
    """A checkerboard of the cube [-4, 4]^dim with N(0, 0.3^2) noise (Figures 2, 8).

    ``num_classes=2`` (any dim >= 2): the class is the sign of the product of the
    coordinates (the paper's squares and squares_highD). ``num_classes=4``
    (dim 2 or 3, squares_multiclass): the four quadrants in 2-D; in 3-D the pairs
    of opposite octants (+++/---), (++-/--+), (+--/-++), (+-+/-+-).
    """
    dim = _check_dim(dim)
    num_classes = _checks.positive_int(num_classes, "num_classes")
    if num_classes not in (2, 4):
        raise ValueError(
            f"Received an invalid value for `num_classes`, expected 2 (sign of the "
            f"product of the coordinates) or 4 (quadrants or octant pairs). "
            f"Received: num_classes={num_classes}"
        )
    if num_classes == 4 and dim not in (2, 3):
        raise ValueError(
            f"squares with num_classes=4 exists in 2-D (quadrants) and 3-D (pairs of "
            f"opposite octants) only; expected dim 2 or 3. Received: dim={dim}, "
            f"num_classes=4"
        )
    num_train, num_val = _sizes(num_train, num_val)
    rng = _generator(seed)
    x = rng.uniform(-4.0, 4.0, (num_train + num_val, dim))
    signs = np.where(x >= 0.0, 1, -1)
    if num_classes == 2:
        y = (np.prod(signs, axis=1) < 0).astype(np.int32)
    elif dim == 2:
        # Quadrants counter-clockwise from (+, +).
        quadrant = {(1, 1): 0, (-1, 1): 1, (-1, -1): 2, (1, -1): 3}
        y = np.array([quadrant[tuple(s)] for s in signs])
    else:
        y = np.array([_OCTANT_CLASSES[tuple(s)] for s in signs])
    x = x + rng.normal(0.0, 0.3, x.shape)
    return _split(x, y, num_train)


# Named sets: the four binary 2-D sets of Figure 2 and the six of Figure 8/Table 4.
POINT_SETS: dict[str, tuple[Callable[..., Split], dict[str, int]]] = {
    "donut_1d": (donut_1d, {}),
    "donut_2d": (donut_2d, {}),
    "squares": (squares, {}),
    "spiral": (spiral, {}),
    "donut_3d_2c": (donut, {"dim": 3, "num_classes": 2}),
    "donut_3d_3c": (donut, {"dim": 3, "num_classes": 3}),
    "donut_2d_6c": (donut, {"dim": 2, "num_classes": 6}),
    "donut_3d_6c": (donut, {"dim": 3, "num_classes": 6}),
    "squares_2d_4c": (squares, {"dim": 2, "num_classes": 4}),
    "squares_3d_4c": (squares, {"dim": 3, "num_classes": 4}),
}


def available_point_sets() -> list[str]:
    """The names ``load_points`` accepts."""
    return list(POINT_SETS)


def load_points(
    name: str, num_train: int = NUM_TRAIN, num_val: int = NUM_VAL, seed: int | None = None
) -> Split:
    """A named point set: 'spiral', 'donut_3d_6c', ... (see ``available_point_sets``).

    Example:

    >>> (x, y), (x_val, y_val) = load_points("donut_2d_6c", num_train=10, num_val=5, seed=0)
    >>> x.shape, y_val.shape, int(y.max()) <= 5
    ((10, 2), (5,), True)
    """
    if name not in POINT_SETS:
        raise ValueError(
            f"Unknown point data set `name`, expected one of {available_point_sets()}. "
            f"Received: name={name!r}"
        )
    function, fixed = POINT_SETS[name]
    return function(num_train=num_train, num_val=num_val, seed=seed, **fixed)


def num_classes_of(name: str) -> int:
    """How many classes the named set has."""
    if name not in POINT_SETS:
        load_points(name)  # raises the error that lists the names
    return POINT_SETS[name][1].get("num_classes", 2)


def input_dim_of(name: str) -> int:
    """The dimension of the named set's points."""
    if name not in POINT_SETS:
        load_points(name)
    return POINT_SETS[name][1].get("dim", 2)
