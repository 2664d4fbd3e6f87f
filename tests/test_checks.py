import numpy as np
import pytest

import keras_rk
from keras_rk import limits
from keras_rk._checks import class_labels, num_iterations, num_steps


def test_integer_labels_pass_unchanged():
    labels = np.array([0, 1, 1], dtype="int32")
    assert class_labels(labels, "y", 2) is labels
    np.testing.assert_array_equal(class_labels([0, 2, 1], "y", 3), [0, 2, 1])


def test_whole_float_labels_become_int64():
    got = class_labels(np.array([0.0, 1.0, 2.0], "float32"), "y", 3)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, [0, 1, 2])


@pytest.mark.parametrize(
    "labels, message",
    [
        ([0, 5, 1, 9], r"Received: y\[1\]=5, the first of 2 bad labels"),
        ([0, -1], r"Received: y\[1\]=-1, the first of 1 bad labels"),
        ([0.0, 0.5], r"Received: y\[1\]=0.5,"),
        ([np.nan, 0.0], r"Received: y\[0\]=nan,"),
        ([np.inf], r"Received: y\[0\]=inf,"),
        (np.array([[0], [3]]), r"Received: y\[1, 0\]=3,"),
    ],
)
def test_bad_labels_name_the_argument_the_value_and_the_range(labels, message):
    with pytest.raises(
        ValueError, match=r"`y`, expected integer class labels in \[0, 2\)\. " + message
    ):
        class_labels(labels, "y", 2)


@pytest.mark.parametrize("labels", [["a", "b"], [True, False], [1 + 0j]])
def test_non_numeric_labels_name_their_dtype(labels):
    with pytest.raises(
        ValueError, match=r"`y`, expected integer class labels in \[0, 2\)\. Received: y of dtype"
    ):
        class_labels(labels, "y", 2)


def test_the_bounds_are_inclusive_and_can_be_raised(monkeypatch):
    assert num_steps(limits.MAX_NUM_STEPS) == 10_000
    assert num_iterations(limits.MAX_ITERATIONS, "sweeps") == 100
    with pytest.raises(ValueError, match=r"set keras_rk.limits.MAX_NUM_STEPS first"):
        num_steps(10_001)
    # The error's advice works: the checks read the limit when they run.
    monkeypatch.setattr(limits, "MAX_NUM_STEPS", 20_000)
    assert keras_rk.RKBlock(num_steps=20_000).num_steps == 20_000
    with pytest.raises(ValueError, match=r"\[1, 20000\].*Received: depth=20001"):
        num_steps(20_001, "depth")
