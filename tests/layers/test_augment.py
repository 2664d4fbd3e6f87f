import keras
import numpy as np
import pytest
from conftest import to_numpy

from keras_rk import Augment


def test_zero_padding_is_eq_2_3():
    x = np.array([[1.0, 2.0]], dtype="float32")
    np.testing.assert_array_equal(to_numpy(Augment(5)(x)), [[1, 2, 0, 0, 0]])
    assert Augment(5).trainable_weights == []


def test_random_lift_is_frozen_and_seeded():
    lift = Augment(6, mode="random", seed=4)
    x = np.eye(3, dtype="float32")
    out = to_numpy(lift(x))
    assert out.shape == (3, 6)
    assert lift.trainable_weights == [] and len(lift.non_trainable_weights) == 1
    assert np.abs(out).max() <= 1 / np.sqrt(3)
    np.testing.assert_array_equal(to_numpy(Augment(6, mode="random", seed=4)(x)), out)


def test_trainable_lift_is_trained():
    lift = Augment(6, mode="trainable")
    lift.build((None, 3))
    assert len(lift.trainable_weights) == 1


def test_config_round_trip():
    lift = Augment(6, mode="random", seed=1, name="lift")
    assert Augment.from_config(lift.get_config()).get_config() == lift.get_config()


def test_width_smaller_than_input_is_an_error():
    with pytest.raises(
        ValueError, match=r"`width` \(=2\) must be at least the input dimension \(=3\)"
    ):
        Augment(2)(np.ones((1, 3), dtype="float32"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(width=0), r"`width`, expected a positive integer"),
        (
            dict(width=4, mode="pad"),
            r"`mode`, expected one of \['zeros', 'random', 'trainable'\]. Received: mode='pad'",
        ),
        (dict(width=4, seed=-1), r"`seed`, expected a non-negative integer"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Augment(**kwargs)


def test_serialises_by_registered_name():
    assert keras.saving.get_registered_object("keras_rk>Augment") is Augment
