"""The compiled adjoint gradient equals automatic differentiation of the step loop."""

import keras
import numpy as np
import pytest
from conftest import BACKEND, gradient, to_numpy

import keras_rk
from keras_rk.activations import activations_with_output_derivative, get_activation
from keras_rk.adjoint_gradient import integrate_with_adjoint
from keras_rk.loop import integrate
from keras_rk.rk import runge_kutta_step

only_tensorflow = pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow's XLA path")
only_torch = pytest.mark.skipif(BACKEND != "torch", reason="PyTorch's autograd.Function")
EXPLICIT = ["euler", "midpoint", "heun", "ralston", "kutta3", "rk4", "rk38"]


def _plain(tableau, activation, step_size=0.1):
    tableau, activation = keras_rk.get_tableau(tableau), get_activation(activation)

    def network(y0, kernel, bias):
        def step(y, k, b):
            return runge_kutta_step(y, k, b, step_size, tableau, activation, 0)

        return integrate(step, y0, (kernel, bias))

    return network


def _arrays(rng, num_steps=5, batch=3, width=4):
    return (
        rng.normal(size=(batch, width)),
        0.5 * rng.normal(size=(num_steps, width, width)),
        rng.normal(size=(num_steps, width)),
        rng.normal(size=(batch, width)),  # weights of the scalar loss
    )


# Every explicit tableau with tanh, and every supported activation with rk4.
CASES = [(t, "tanh") for t in EXPLICIT] + [
    ("rk4", a) for a in activations_with_output_derivative() if a != "tanh"
]


@pytest.mark.parametrize("tableau, activation", CASES)
def test_gradient_equals_autodiff_in_float64(tableau, activation, rng):
    y0, kernel, bias, weights = _arrays(rng)
    plain = _plain(tableau, activation)
    t, act = keras_rk.get_tableau(tableau), get_activation(activation)

    def adjoint(y0, kernel, bias):
        return integrate_with_adjoint(y0, kernel, bias, 0.1, t, act)

    for network in (plain, adjoint):
        value = to_numpy(network(y0, kernel, bias))
        np.testing.assert_allclose(value, to_numpy(plain(y0, kernel, bias)), rtol=1e-13, atol=1e-15)
    expected = gradient(
        lambda *a: keras.ops.sum(keras.ops.multiply(plain(*a), weights)), y0, kernel, bias
    )
    actual = gradient(
        lambda *a: keras.ops.sum(keras.ops.multiply(adjoint(*a), weights)), y0, kernel, bias
    )
    for e, a in zip(expected, actual):
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("mode", ["adjoint", "auto"])
def test_training_with_the_adjoint_gradient_follows_autodiff(rng, mode):
    # Same seed, same data: three Adam steps at batch 8 give the same weights with
    # autodiff and with the sweep ('auto' uses it at this batch on every backend).
    x = rng.normal(size=(24, 3)).astype("float32")
    y = rng.integers(0, 3, 24)
    trained = {}
    for choice in ("autodiff", mode):
        keras.utils.set_random_seed(1)
        model = keras_rk.build("rk4", depth=6, width=5, input_dim=3, num_classes=3, gradient=choice)
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        trained[choice] = model.get_weights()
    for a, b in zip(trained["autodiff"], trained[mode]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_option_round_trips_and_predicts_like_autodiff(tmp_path, rng):
    keras.utils.set_random_seed(0)
    model = keras_rk.build("heun", depth=4, width=4, input_dim=2, num_classes=2, gradient="adjoint")
    x = rng.normal(size=(7, 2)).astype("float32")
    path = tmp_path / "net.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.get_layer("rk_block").gradient == "adjoint"
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(x)), rtol=1e-6)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x, np.arange(7) % 2, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"gradient": "backprop"}, r"gradient.*'auto', 'autodiff', 'adjoint'.*backprop"),
        ({"tableau": "backward_euler", "gradient": "adjoint"}, r"implicit"),
        ({"step_size_mode": "learned", "gradient": "adjoint"}, r"step_size_mode='learned'"),
        ({"remat": True, "gradient": "adjoint"}, r"remat=True"),
        ({"return_trajectory": True, "gradient": "adjoint"}, r"return_trajectory=True"),
        ({"activation": "elu", "gradient": "adjoint"}, r"activation 'elu'.*tanh"),
        ({"activation": lambda x: 2 * x, "gradient": "adjoint"}, r"activation '<lambda>'.*tanh"),
    ],
)
def test_unsupported_combinations_are_named(kwargs, message):
    kwargs = {"tableau": "rk4", "num_steps": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        keras_rk.RKBlock(**kwargs)


@only_torch
@pytest.mark.parametrize("tableau", ["rk4", "midpoint", "kutta3"])
def test_torch_inference_computes_the_same_states_without_storing_stages(tableau, rng):
    # Expected: the plain loop, in float64. Without a gradient to record, the
    # sweep keeps two steps of stages, whatever L.
    import torch

    y0, kernel, bias, _ = _arrays(rng, num_steps=7)
    t, act = keras_rk.get_tableau(tableau), get_activation("tanh")
    with torch.no_grad():
        value = integrate_with_adjoint(y0, kernel, bias, 0.1, t, act)
    assert not value.requires_grad
    np.testing.assert_allclose(
        to_numpy(value), to_numpy(_plain(tableau, "tanh")(y0, kernel, bias)), rtol=1e-13, atol=1e-15
    )


def _tensorflow_gradients(network, arrays, weights, in_function):
    import tensorflow as tf

    tensors = [tf.constant(a) for a in arrays]

    def run():
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            loss = tf.reduce_sum(network(*tensors) * weights)
        return [tf.convert_to_tensor(g) for g in tape.gradient(loss, tensors)]

    return [g.numpy() for g in (tf.function(run)() if in_function else run())]


@only_tensorflow
@pytest.mark.parametrize("tableau", ["rk4", "midpoint"])
def test_tensorflow_graph_runs_the_sweeps_with_xla_and_the_same_gradient(tableau, rng):
    # Expected: autodiff of the plain loop, eagerly (no XLA), in float64.
    import tensorflow as tf

    y0, kernel, bias, weights = _arrays(rng)
    t, act = keras_rk.get_tableau(tableau), get_activation("tanh")
    adjoint = lambda *a: integrate_with_adjoint(*a, 0.1, t, act)
    expected = _tensorflow_gradients(_plain(tableau, "tanh"), (y0, kernel, bias), weights, False)
    actual = _tensorflow_gradients(adjoint, (y0, kernel, bias), weights, True)
    for e, a in zip(expected, actual):
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-13)
    graph = tf.function(adjoint).get_concrete_function(y0, kernel, bias).graph
    assert _xla_calls(graph) == 1  # the forward sweep; the reverse one is traced on demand


def _xla_calls(graph) -> int:
    return sum(
        1
        for op in graph.get_operations()
        if "_XlaMustCompile" in op.node_def.attr and op.get_attr("_XlaMustCompile")
    )
