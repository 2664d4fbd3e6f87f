import keras
import numpy as np
import pytest
from conftest import BACKEND, to_numpy

import keras_rk
from keras_rk import RKBlock
from keras_rk.tableaus import ButcherTableau


def test_output_and_trajectory_shapes():
    block = RKBlock("rk4", num_steps=7, return_trajectory=True)
    out = block(np.ones((3, 4), dtype="float32"))
    assert tuple(out.shape) == (3, 8, 4)
    assert block.compute_output_shape((None, 4)) == (None, 8, 4)
    assert tuple(block.kernel.shape) == (7, 4, 4)
    assert tuple(block.bias.shape) == (7, 4)


def test_trajectory_ends_in_the_plain_output(rng):
    x = rng.normal(size=(5, 3)).astype("float32")
    keras.utils.set_random_seed(0)
    plain = RKBlock("heun", num_steps=6)
    plain.build((None, 3))
    with_states = RKBlock("heun", num_steps=6, return_trajectory=True)
    with_states.build((None, 3))
    with_states.set_weights(plain.get_weights())
    trajectory = to_numpy(with_states(x))
    np.testing.assert_allclose(trajectory[:, 0], x, rtol=1e-6)
    np.testing.assert_allclose(trajectory[:, -1], to_numpy(plain(x)), rtol=1e-5, atol=1e-6)


def test_default_initialisation_is_uniform_in_one_over_sqrt_width():
    keras.utils.set_random_seed(3)
    block = RKBlock("rk4", num_steps=50)
    block.build((None, 16))
    kernel, bias = to_numpy(block.kernel), to_numpy(block.bias)
    limit = 1 / np.sqrt(16)
    for values in (kernel, bias):
        assert values.max() <= limit and values.min() >= -limit
        # U(-l, l) has variance l^2 / 3: 12,800 and 800 samples pin it to a few %.
        assert abs(values.var() / (limit**2 / 3) - 1) < 0.15
    # Each step is drawn separately: no two steps share weights.
    assert not np.allclose(kernel[0], kernel[1])


def test_a_seeded_initializer_gives_each_step_its_own_draw():
    init = keras.initializers.GlorotUniform(seed=7)
    block = RKBlock("euler", num_steps=3, kernel_initializer=init)
    block.build((None, 4))
    kernel = to_numpy(block.kernel)
    assert not np.allclose(kernel[0], kernel[1])
    # Glorot with fans (4, 4), not the stacked shape: limit sqrt(6 / 8).
    assert np.abs(kernel).max() > 0.5 * np.sqrt(6 / 8)
    again = RKBlock(
        "euler", num_steps=3, kernel_initializer=keras.initializers.GlorotUniform(seed=7)
    )
    again.build((None, 4))
    np.testing.assert_array_equal(to_numpy(again.kernel), kernel)


def test_config_round_trip_keeps_everything():
    block = RKBlock(
        "ralston",
        num_steps=4,
        activation="softplus",
        final_time=2.0,
        num_implicit_iterations=3,
        return_trajectory=True,
        name="rk",
    )
    config = block.get_config()
    assert config["tableau"]["a"] == [[0.0, 0.0], [2 / 3, 0.0]]
    clone = RKBlock.from_config(config)
    assert clone.tableau == block.tableau
    assert clone.step_size == 0.5
    assert clone.get_config() == config


def test_saved_model_loads_without_the_plugin_that_made_its_tableau(tmp_path, rng):
    # A tableau that no registry knows: only its coefficients in the config
    # can bring it back.
    private = ButcherTableau(
        a=[[0, 0], [0.4, 0]], b=[-0.25, 1.25], c=[0, 0.4], name="private_two_stage", order=2
    )
    model = keras_rk.build(tableau=private, depth=3, width=4, input_dim=2)
    path = tmp_path / "private.keras"
    model.save(path)
    assert "private_two_stage" not in keras_rk.available_tableaus()
    loaded = keras.saving.load_model(path)
    x = rng.normal(size=(6, 2)).astype("float32")
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(x)), rtol=1e-6)
    assert loaded.get_layer("rk_block").tableau == private


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(tableau="nope"), r"Unknown `tableau`.*Received: tableau='nope'"),
        (dict(num_steps=0), r"`num_steps`, expected a positive integer. Received: num_steps=0"),
        (dict(num_steps=2.5), r"Received: num_steps=2.5"),
        (dict(step_size=-0.1), r"`step_size`, expected a positive finite number"),
        (dict(final_time=float("nan")), r"`final_time`, expected a positive finite number"),
        (dict(step_size=0.1, final_time=1.0), r"either as `step_size` \(h\) or as `final_time`"),
        (dict(activation="nope"), r"Unknown `activation`.*Received: activation='nope'"),
        (dict(num_implicit_iterations=-1), r"`num_implicit_iterations`, expected a non-negative"),
        (dict(return_trajectory="yes"), r"`return_trajectory`, expected True or False"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RKBlock(**{"tableau": "rk4", "num_steps": 3, **kwargs})


def test_input_of_the_wrong_width_is_rejected():
    block = RKBlock("rk4", num_steps=2)
    block(np.ones((1, 4), dtype="float32"))
    with pytest.raises(ValueError, match=r"expected axis -1 of input shape to have value 4"):
        block(np.ones((1, 5), dtype="float32"))
    with pytest.raises(ValueError, match=r"expected ndim=2"):
        block(np.ones((1, 2, 4), dtype="float32"))


def traced_size(depth):
    """The size of the traced forward-and-backward computation, per backend."""
    block = RKBlock("rk4", num_steps=depth)
    block.build((None, 4))
    x = np.ones((2, 4), dtype="float32")
    if BACKEND == "jax":
        import jax

        def loss(kernel, bias):
            out, _ = block.stateless_call([kernel, bias], [], x)
            return out.sum()

        jaxpr = jax.make_jaxpr(jax.grad(loss, argnums=(0, 1)))(block.kernel.value, block.bias.value)
        return len(str(jaxpr))
    if BACKEND == "tensorflow":
        import tensorflow as tf

        @tf.function
        def grad():
            with tf.GradientTape() as tape:
                total = tf.reduce_sum(block(x))
            return tape.gradient(total, block.trainable_variables)

        graph = grad.get_concrete_function().graph
        return len(graph.as_graph_def().SerializeToString())
    pytest.skip("torch runs eagerly; there is no traced graph to measure")


def test_traced_graph_does_not_grow_with_depth():
    # Depth enters only as the loop's trip count and the weights' shapes, so
    # the traced program is the same size (up to printed digits) at 10 and 1000.
    small, large = traced_size(10), traced_size(1000)
    assert abs(large - small) <= 0.01 * small, (small, large)
