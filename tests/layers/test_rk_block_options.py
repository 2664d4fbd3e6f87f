"""RKBlock's options for optimal control: learned step sizes and remat."""

import keras
import numpy as np
import pytest
from conftest import gradient, to_numpy

import keras_rk
from keras_rk import RKBlock


def test_fixed_is_the_default_and_has_no_step_parameters():
    block = RKBlock("rk4", num_steps=4, step_size=0.1)
    block.build((None, 3))
    assert block.step_size_mode == "fixed" and block.remat is False
    assert [v.name for v in block.weights] == ["kernel", "bias"]
    np.testing.assert_allclose(to_numpy(block.step_sizes()), [0.1] * 4, rtol=1e-6)


@pytest.mark.parametrize("mode", ["learned", "simplex"])
def test_trainable_steps_start_at_h(mode):
    block = RKBlock("rk4", num_steps=5, step_size=0.2, step_size_mode=mode)
    block.build((None, 3))
    assert block.step_parameters.trainable
    assert tuple(block.step_parameters.shape) == (5,)
    # Expected: softplus(softplus^-1(h)) = h and T softmax(0) = T / L = h.
    np.testing.assert_allclose(to_numpy(block.step_sizes()), [0.2] * 5, rtol=1e-6)
    # So at initialisation the block computes the fixed scheme.
    fixed = RKBlock("rk4", num_steps=5, step_size=0.2)
    fixed.build((None, 3))
    fixed.kernel.assign(block.kernel)
    fixed.bias.assign(block.bias)
    x = np.random.default_rng(0).normal(size=(2, 3)).astype("float32")
    np.testing.assert_allclose(to_numpy(block(x)), to_numpy(fixed(x)), rtol=1e-5, atol=1e-6)


def test_simplex_steps_are_positive_and_sum_to_the_final_time():
    block = RKBlock("euler", num_steps=6, final_time=3.0, step_size_mode="simplex")
    block.build((None, 2))
    block.step_parameters.assign(np.linspace(-4.0, 5.0, 6))
    steps = to_numpy(block.step_sizes())
    assert np.all(steps > 0)
    np.testing.assert_allclose(steps.sum(), 3.0, rtol=1e-6)
    assert not np.allclose(steps, 0.5)


def test_learned_steps_are_positive():
    block = RKBlock("euler", num_steps=3, step_size_mode="learned")
    block.build((None, 2))
    block.step_parameters.assign([-30.0, 0.0, 4.0])
    assert np.all(to_numpy(block.step_sizes()) > 0)


def test_euler_with_learned_steps_uses_each_step_size():
    # y' = K y, linear, Euler: y[L] = y0 prod_l (I + h_l K^T), by hand.
    block = RKBlock("euler", num_steps=3, activation="linear", step_size_mode="learned")
    block.build((None, 2))
    kernel = np.array([[0.5, -0.3], [0.2, 0.1]], dtype="float32")
    block.kernel.assign(np.broadcast_to(kernel, (3, 2, 2)))
    block.bias.assign(np.zeros((3, 2)))
    block.step_parameters.assign([-1.0, 0.0, 1.0])
    steps = np.log1p(np.exp([-1.0, 0.0, 1.0]))
    expected = np.ones((1, 2))
    for h in steps:
        expected = expected @ (np.eye(2) + h * kernel)
    np.testing.assert_allclose(to_numpy(block(np.ones((1, 2), "float32"))), expected, rtol=1e-5)


@pytest.mark.parametrize("mode", ["learned", "simplex"])
def test_config_round_trip_keeps_the_options(mode):
    block = RKBlock("heun", num_steps=4, final_time=2.0, step_size_mode=mode, remat=True)
    config = block.get_config()
    assert config["step_size_mode"] == mode and config["remat"] is True
    clone = RKBlock.from_config(config)
    assert clone.step_size_mode == mode and clone.remat is True
    assert clone.get_config() == config


def test_saved_model_keeps_its_learned_steps(tmp_path):
    model = keras_rk.build("rk4", depth=4, width=3, input_dim=2, step_size_mode="simplex")
    block = model.get_layer("rk_block")
    block.step_parameters.assign([0.5, -0.5, 1.0, 0.0])
    path = tmp_path / "simplex.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    loaded_block = loaded.get_layer("rk_block")
    assert loaded_block.step_size_mode == "simplex"
    np.testing.assert_allclose(
        to_numpy(loaded_block.step_sizes()), to_numpy(block.step_sizes()), rtol=1e-7
    )
    x = np.random.default_rng(1).normal(size=(5, 2)).astype("float32")
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(x)), rtol=1e-6)


@pytest.mark.parametrize("mode", ["learned", "simplex"])
def test_gradients_flow_to_the_step_parameters(mode):
    keras.utils.set_random_seed(0)
    block = RKBlock("rk4", num_steps=3, step_size_mode=mode)
    block.build((None, 3))
    weights = [to_numpy(v) for v in block.weights]
    x = np.random.default_rng(2).normal(size=(4, 3)).astype("float32")

    def loss(*args):
        out, _ = block.stateless_call(list(args), [], x)
        return keras.ops.sum(out**2)

    step_grad = gradient(loss, *weights)[-1]
    assert step_grad.shape == (3,)
    assert np.all(np.isfinite(step_grad)) and np.any(np.abs(step_grad) > 1e-6)


@pytest.mark.parametrize("mode", ["fixed", "simplex"])
def test_remat_changes_neither_values_nor_gradients(mode):
    x = np.random.default_rng(3).normal(size=(4, 3)).astype("float32")
    results = []
    for remat in (False, True):
        keras.utils.set_random_seed(1)
        block = RKBlock("rk4", num_steps=4, step_size_mode=mode, remat=remat)
        block.build((None, 3))
        weights = [to_numpy(v) for v in block.weights]

        def loss(*args, block=block):
            out, _ = block.stateless_call(list(args[:-1]), [], args[-1])
            return keras.ops.sum(out**2)

        results.append(gradient(loss, *weights, x))
    for plain, remat in zip(*results):
        np.testing.assert_allclose(remat, plain, rtol=1e-5, atol=1e-7)


def test_a_model_with_remat_and_learned_steps_trains():
    keras.utils.set_random_seed(0)
    model = keras_rk.build("rk4", depth=4, width=4, step_size_mode="learned", remat=True)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    before = to_numpy(model.get_layer("rk_block").step_sizes())
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 2)).astype("float32")
    model.fit(x, (x[:, 0] > 0).astype("int32"), epochs=2, batch_size=8, verbose=0)
    after = to_numpy(model.get_layer("rk_block").step_sizes())
    assert not np.allclose(before, after)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(step_size_mode="adaptive"),
            r"`step_size_mode`, expected one of \['fixed', 'learned', 'simplex'\]",
        ),
        (dict(remat="yes"), r"`remat`, expected True or False. Received: remat='yes'"),
    ],
)
def test_bad_options_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RKBlock("rk4", num_steps=3, **kwargs)


def test_auto_is_the_default_gradient_and_round_trips(tmp_path):
    model = keras_rk.build("rk4", depth=3, width=4)
    assert model.get_layer("rk_block").gradient == "auto"
    path = tmp_path / "net.keras"
    model.save(path)
    assert keras.models.load_model(path).get_layer("rk_block").gradient == "auto"
    # A config written before 'auto' existed keeps its gradient.
    config = {**RKBlock("rk4", num_steps=3).get_config(), "gradient": "autodiff"}
    assert RKBlock.from_config(config).gradient == "autodiff"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tableau": "backward_euler"},
        {"step_size_mode": "learned"},
        {"remat": True},
        {"return_trajectory": True},
        {"activation": "elu"},
    ],
    ids=["implicit", "learned", "remat", "trajectory", "elu"],
)
def test_auto_falls_back_to_autodiff_where_the_sweep_does_not_apply(kwargs, rng):
    # Expected: the same block with gradient='autodiff', weights copied.
    kwargs = {"tableau": "rk4", "num_steps": 3, **kwargs}
    auto, plain = RKBlock(**kwargs), RKBlock(**kwargs, gradient="autodiff")
    x = rng.normal(size=(2, 4)).astype("float32")
    auto.build(x.shape)
    plain.build(x.shape)
    plain.set_weights(auto.get_weights())
    assert not auto._uses_adjoint(True)
    np.testing.assert_allclose(
        to_numpy(auto(x, training=True)), to_numpy(plain(x, training=True)), rtol=1e-6
    )


def test_auto_trains_with_the_sweep_on_every_backend():
    block = RKBlock("rk4", num_steps=3)
    assert block._uses_adjoint(True)
    # Inference runs the plain loop, except on PyTorch, where the sweep's forward is the fast path.
    assert block._uses_adjoint(False) == (keras.backend.backend() == "torch")
    assert not RKBlock("rk4", num_steps=3, gradient="autodiff")._uses_adjoint(True)
