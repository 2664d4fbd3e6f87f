"""Argument checks shared by the layers and ``build``: each error names the
argument, the value received and what was expected."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from keras_rk import limits


def positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(
            f"Received an invalid value for `{name}`, expected a positive integer. "
            f"Received: {name}={value!r}"
        )
    return int(value)


def non_negative_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(
            f"Received an invalid value for `{name}`, expected a non-negative "
            f"integer. Received: {name}={value!r}"
        )
    return int(value)


def bounded_int(value: Any, name: str, low: int, limit: str, why: str) -> int:
    """An integer in [low, keras_rk.limits.<limit>]; `why` says what the bound
    protects, and the error says how to raise it."""
    high = getattr(limits, limit)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        kind = {0: "a non-negative integer", 1: "a positive integer"}[low]
        raise ValueError(
            f"Received an invalid value for `{name}`, expected {kind}. Received: {name}={value!r}"
        )
    if value > high:
        raise ValueError(
            f"Received an invalid value for `{name}`, expected an integer in "
            f"[{low}, {high}] ({why}; to go beyond, set keras_rk.limits.{limit} "
            f"first). Received: {name}={value!r}"
        )
    return int(value)


def num_steps(value: Any, name: str = "num_steps") -> int:
    return bounded_int(
        value,
        name,
        1,
        "MAX_NUM_STEPS",
        "the paper's deepest network has 100 steps, the benchmarks 1,000",
    )


def num_iterations(value: Any, name: str) -> int:
    return bounded_int(
        value,
        name,
        0,
        "MAX_ITERATIONS",
        "fixed-point sweeps converge geometrically when h * Lip(f) < 1, and more "
        "sweeps do not help when it is not",
    )


def positive_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"Received an invalid value for `{name}`, expected a positive number. "
            f"Received: {name}={value!r}"
        )
    number = float(value)
    if not (number > 0.0 and number < float("inf")):
        raise ValueError(
            f"Received an invalid value for `{name}`, expected a positive finite "
            f"number. Received: {name}={value!r}"
        )
    return number


def one_of(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(
            f"Received an invalid value for `{name}`, expected one of "
            f"{list(choices)}. Received: {name}={value!r}"
        )
    return value


def class_labels(labels: Any, name: str, num_classes: int) -> np.ndarray:
    """`labels` as an integer array after checking every one is a class index.

    Integer dtypes pass as they are; floats must hold whole numbers and become
    int64. Raises a ValueError naming `name`, the first bad label and its index.
    """
    array = np.asarray(labels)
    if array.dtype.kind not in "iuf":
        raise ValueError(
            f"Received an invalid value for `{name}`, expected integer class labels in "
            f"[0, {num_classes}). Received: {name} of dtype {array.dtype}"
        )
    bad = (array < 0) | (array >= num_classes)
    if array.dtype.kind == "f":
        bad |= ~np.isfinite(array) | (array != np.floor(array))
    if np.any(bad):
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        index = ", ".join(map(str, where))
        raise ValueError(
            f"Received an invalid value for `{name}`, expected integer class labels in "
            f"[0, {num_classes}). Received: {name}[{index}]={array[where].item()!r}, the "
            f"first of {int(bad.sum())} bad labels"
        )
    return array if array.dtype.kind in "iu" else array.astype(np.int64)
