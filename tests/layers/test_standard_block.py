import keras
import numpy as np
import pytest
from conftest import to_numpy

from keras_rk import StandardBlock


def test_is_a_stack_of_dense_tanh_layers(rng):
    block = StandardBlock(num_steps=3, activation="tanh")
    x = rng.normal(size=(4, 5)).astype("float32")
    out = to_numpy(block(x))
    kernel, bias = to_numpy(block.kernel), to_numpy(block.bias)
    expected = x
    for layer in range(3):
        expected = np.tanh(expected @ kernel[layer] + bias[layer])
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_trajectory_and_config_round_trip():
    block = StandardBlock(num_steps=2, activation="relu", return_trajectory=True)
    assert tuple(block(np.ones((1, 3), dtype="float32")).shape) == (1, 3, 3)
    clone = StandardBlock.from_config(block.get_config())
    assert clone.get_config() == block.get_config()
    assert clone.activation is keras.activations.relu


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"`num_steps`, expected a positive integer"):
        StandardBlock(num_steps=-1)
    with pytest.raises(ValueError, match=r"Unknown `activation`"):
        StandardBlock(num_steps=2, activation="bogus")
