import keras
import numpy as np
import pytest
from conftest import finite_difference_gradient, gradient, to_numpy

import keras_rk
from keras_rk import ConvRKBlock
from keras_rk.loop import integrate
from keras_rk.rk import conv_runge_kutta_step


def numpy_conv_same(y, kernel):
    """Cross-correlation with zero 'same' padding, stride 1, channels last, by
    explicit loops: the reference the layer's ops.conv is checked against."""
    batch, height, width, _ = y.shape
    kh, kw, _, out = kernel.shape
    padded = np.pad(y, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    result = np.zeros((batch, height, width, out))
    for i in range(height):
        for j in range(width):
            patch = padded[:, i : i + kh, j : j + kw, :]
            result[:, i, j, :] = np.einsum("bhwc,hwco->bo", patch, kernel)
    return result


def numpy_rk_step(y, kernel, bias, h, tableau, iterations):
    field = lambda state: np.tanh(numpy_conv_same(state, kernel) + bias)
    a, s = tableau.a, tableau.num_stages
    combine = lambda row, stages: y + h * sum(c * k for c, k in zip(row, stages))
    if tableau.is_explicit:
        stages = []
        for i in range(s):
            stages.append(field(combine(a[i][:i], stages)))
    else:
        stages = [field(y)] * s
        for _ in range(iterations):
            stages = [field(combine(a[i], stages)) for i in range(s)]
    return combine(tableau.b, stages)


def test_shapes_and_channel_augmentation(rng):
    block = ConvRKBlock("rk4", num_steps=5, kernel_size=(3, 5), channels=6)
    x = rng.random((2, 7, 9, 2)).astype("float32")
    out = to_numpy(block(x))
    assert out.shape == (2, 7, 9, 6)
    assert block.compute_output_shape((None, 7, 9, 2)) == (None, 7, 9, 6)
    assert tuple(block.kernel.shape) == (5, 3, 5, 6, 6)
    assert tuple(block.bias.shape) == (5, 6)
    # Without `channels` the state keeps the input's channels.
    assert to_numpy(ConvRKBlock("euler", num_steps=2)(x)).shape == (2, 7, 9, 2)


def test_zero_channels_are_appended(rng):
    # With K = 0, b = 0 the field vanishes and the output is the padded input.
    block = ConvRKBlock(
        "euler", num_steps=2, channels=3, kernel_initializer="zeros", bias_initializer="zeros"
    )
    x = rng.random((1, 4, 4, 1)).astype("float32")
    out = to_numpy(block(x))
    np.testing.assert_array_equal(out[..., :1], x)
    np.testing.assert_array_equal(out[..., 1:], 0.0)


@pytest.mark.parametrize("name", keras_rk.available_tableaus())
def test_one_step_matches_a_hand_computation(name, rng):
    # Float32 ops against a float64 numpy reference: rtol 1e-4 covers the
    # rounding of a few dozen products per output.
    tableau = keras_rk.get_tableau(name)
    y = rng.normal(size=(2, 5, 4, 3))
    kernel = rng.normal(scale=0.3, size=(3, 3, 3, 3))
    bias = rng.normal(scale=0.3, size=(3,))
    expected = numpy_rk_step(y, kernel, bias, 0.3, tableau, iterations=3)
    block = ConvRKBlock(tableau, num_steps=1, step_size=0.3, num_implicit_iterations=3)
    block.build((None, 5, 4, 3))
    block.set_weights([kernel[None].astype("float32"), bias[None].astype("float32")])
    np.testing.assert_allclose(to_numpy(block(y.astype("float32"))), expected, rtol=1e-4, atol=1e-5)


def test_euler_step_is_y_plus_h_field(rng):
    # The simplest case by hand: y + h tanh(conv(y, K) + b), a 1 x 1 kernel,
    # so conv is a per-pixel matrix product.
    y = rng.normal(size=(1, 2, 2, 2))
    kernel = np.array([[[[0.5, -1.0], [2.0, 0.25]]]])
    bias = np.array([0.1, -0.2])
    expected = y + 0.1 * np.tanh(y @ kernel[0, 0] + bias)
    block = ConvRKBlock("euler", num_steps=1, kernel_size=1, step_size=0.1)
    block.build((None, 2, 2, 2))
    block.set_weights([kernel[None].astype("float32"), bias[None].astype("float32")])
    np.testing.assert_allclose(to_numpy(block(y.astype("float32"))), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["rk4", "implicit_midpoint"])
def test_gradient_matches_finite_differences(name, rng):
    # Float64 throughout. The bias gradient is checked entry by entry; the
    # image and kernel gradients along two random directions each (central
    # differences of the directional derivative), which keeps the number of
    # forward passes small. eps 1e-6 gives ~1e-8 accuracy; rtol 1e-5.
    tableau = keras_rk.get_tableau(name)
    y0 = rng.normal(size=(1, 3, 3, 2))
    kernels = rng.normal(scale=0.4, size=(2, 3, 3, 2, 2))
    biases = rng.normal(scale=0.4, size=(2, 2))

    def loss(y, k, b):
        def step(state, kernel, bias):
            return conv_runge_kutta_step(state, kernel, bias, 0.2, tableau, keras.ops.tanh, 4)

        return keras.ops.sum(integrate(step, y, (k, b)) ** 2)

    arrays = (y0, kernels, biases)
    grads = gradient(loss, *arrays)
    expected = finite_difference_gradient(loss, arrays, 2)
    np.testing.assert_allclose(grads[2], expected, rtol=1e-5, atol=1e-8)
    eps = 1e-6
    for index in (0, 1):
        for _ in range(2):
            direction = rng.normal(size=arrays[index].shape)
            plus, minus = list(arrays), list(arrays)
            plus[index] = arrays[index] + eps * direction
            minus[index] = arrays[index] - eps * direction
            numeric = (float(to_numpy(loss(*plus))) - float(to_numpy(loss(*minus)))) / (2 * eps)
            np.testing.assert_allclose(np.sum(grads[index] * direction), numeric, rtol=1e-5)


def test_config_round_trip_keeps_tableau_coefficients():
    block = ConvRKBlock("heun", num_steps=3, kernel_size=5, channels=4, final_time=1.5)
    config = block.get_config()
    assert config["tableau"]["b"] == [0.5, 0.5]
    again = ConvRKBlock.from_config(config)
    assert again.tableau == block.tableau
    assert again.step_size == pytest.approx(0.5)
    assert again.kernel_size == (5, 5) and again.channels == 4


def test_saved_model_round_trip(tmp_path, rng):
    inputs = keras.Input((6, 6, 1))
    features = ConvRKBlock("rk4", num_steps=2, channels=3)(inputs)
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(features))
    model = keras.Model(inputs, outputs)
    x = rng.random((3, 6, 6, 1)).astype("float32")
    path = tmp_path / "conv.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(x)), rtol=1e-6, atol=1e-6)


def test_trains_a_step(rng):
    inputs = keras.Input((4, 4, 1))
    features = ConvRKBlock("euler", num_steps=2, channels=2)(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(features))
    model = keras.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy")
    before = to_numpy(model.layers[1].kernel).copy()
    model.fit(rng.random((8, 4, 4, 1)), np.arange(8) % 2, epochs=1, verbose=0)
    assert not np.allclose(to_numpy(model.layers[1].kernel), before)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_steps": 0}, r"`num_steps`, expected a positive integer. Received: num_steps=0"),
        ({"kernel_size": 2}, r"`kernel_size`, expected an odd .*Received: kernel_size=2"),
        ({"kernel_size": (3, 4)}, r"Received: kernel_size=\(3, 4\)"),
        ({"channels": 0}, r"`channels`, expected a positive integer"),
        ({"tableau": "nope"}, r"nope"),
        ({"step_size": 0.1, "final_time": 1.0}, r"not both"),
        ({"activation": "nope"}, r"Unknown `activation`"),
    ],
)
def test_errors_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ConvRKBlock(**kwargs)


def test_fewer_channels_than_the_input_is_an_error():
    with pytest.raises(
        ValueError, match=r"`channels` \(=2\) must be at least the input's channels \(=3\)"
    ):
        ConvRKBlock(channels=2).build((None, 5, 5, 3))
    with pytest.raises(ValueError, match=r"known number of input channels"):
        ConvRKBlock().build((None, 5, 5, None))


def test_is_a_stacked_steps_block_and_returns_its_trajectory(rng):
    # The shared base gives ConvRKBlock return_trajectory like RKBlock's.
    from keras_rk.layers._stacked import StackedStepsBlock

    assert issubclass(ConvRKBlock, StackedStepsBlock)
    block = ConvRKBlock("heun", num_steps=3, channels=2, return_trajectory=True)
    x = rng.random((2, 4, 5, 1)).astype("float32")
    trajectory = to_numpy(block(x))
    assert trajectory.shape == (2, 4, 4, 5, 2)
    assert block.compute_output_shape((None, 4, 5, 1)) == (None, 4, 4, 5, 2)
    np.testing.assert_array_equal(trajectory[:, 0, ..., :1], x)
    np.testing.assert_array_equal(trajectory[:, 0, ..., 1:], 0.0)
    final = ConvRKBlock.from_config({**block.get_config(), "return_trajectory": False})
    final.build((None, 4, 5, 1))
    final.set_weights(block.get_weights())
    np.testing.assert_allclose(to_numpy(final(x)), trajectory[:, -1], rtol=1e-6)


def test_config_keys_of_earlier_versions_still_load():
    # A config saved before ConvRKBlock shared StackedStepsBlock has no
    # return_trajectory; it loads with the default.
    config = ConvRKBlock("rk4", num_steps=2, channels=3).get_config()
    del config["return_trajectory"]
    assert ConvRKBlock.from_config(config).return_trajectory is False
