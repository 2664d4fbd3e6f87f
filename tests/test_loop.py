"""keras_rk.loop: the one compiled loop over the steps, forward and reverse."""

import keras
import numpy as np
import pytest
from conftest import finite_difference_gradient, gradient, to_numpy

from keras_rk import get_tableau
from keras_rk.loop import integrate, loop, use_xla_function
from keras_rk.rk import runge_kutta_step, standard_step

TANH = keras.activations.get("tanh")


def test_integrate_returns_the_whole_trajectory(rng):
    kernels = rng.normal(size=(5, 3, 3))
    biases = rng.normal(size=(5, 3))
    y0 = rng.normal(size=(4, 3))

    def step(y, kernel, bias):
        return standard_step(y, kernel, bias, TANH)

    trajectory = to_numpy(integrate(step, y0, (kernels, biases), return_trajectory=True))
    assert trajectory.shape == (4, 6, 3)
    expected = y0
    np.testing.assert_allclose(trajectory[:, 0], y0, rtol=1e-15)
    for layer in range(5):
        expected = np.tanh(expected @ kernels[layer] + biases[layer])
        np.testing.assert_allclose(trajectory[:, layer + 1], expected, rtol=1e-12)
    final = to_numpy(integrate(step, y0, (kernels, biases)))
    np.testing.assert_allclose(final, trajectory[:, -1], rtol=1e-15)


def test_reverse_loop_visits_the_last_step_first_and_keeps_outputs_in_step_order():
    # carry <- 2 carry + x_l: reversed over x = (1, 2, 3) from 0 gives
    # 3, 2*3 + 2 = 8, 2*8 + 1 = 17; output l is the carry after step l.
    xs = np.array([[1.0], [2.0], [3.0]])

    def body(carry, x):
        carry = 2.0 * carry + x
        return carry, (carry,)

    final, (outputs,) = loop(body, keras.ops.zeros((1,), dtype="float64"), (xs,),
                             reverse=True, output_shapes=[(1,)])  # fmt: skip
    assert to_numpy(final).tolist() == [17.0]
    assert to_numpy(outputs).tolist() == [[17.0], [8.0], [3.0]]


def test_integrate_keeps_the_trajectory_of_an_image_state(rng):
    # Any state shape: (batch, H, W, C) gives (batch, L + 1, H, W, C).
    y0 = rng.normal(size=(2, 3, 3, 1))
    shifts = np.arange(4.0)
    trajectory = to_numpy(integrate(lambda y, s: y + s, y0, (shifts,), return_trajectory=True))
    assert trajectory.shape == (2, 5, 3, 3, 1)
    np.testing.assert_allclose(trajectory[:, -1], y0 + shifts.sum(), rtol=1e-15)


only_tensorflow = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="TensorFlow's XLA path"
)


def test_a_trajectory_is_differentiable(rng):
    # Expected: central differences (float64). TensorFlow's buffer writes had no
    # gradient (XlaDynamicUpdateSlice), so a model trained on a trajectory failed.
    y0, kernels, weights = (
        rng.normal(size=(2, 3)),
        rng.normal(size=(4, 3, 3)),
        rng.normal(size=(2, 5, 3)),
    )

    def loss(y0, kernels):
        step = lambda y, k: keras.ops.tanh(keras.ops.matmul(y, k))
        trajectory = integrate(step, y0, (kernels,), return_trajectory=True)
        return keras.ops.sum(keras.ops.multiply(trajectory, weights))

    actual = gradient(loss, y0, kernels)
    for index in (0, 1):
        expected = finite_difference_gradient(loss, [y0, kernels], index)
        np.testing.assert_allclose(actual[index], expected, rtol=1e-6, atol=1e-8)
    if keras.backend.backend() == "tensorflow":  # in a graph and under XLA, too
        import tensorflow as tf

        def tape_gradient(*arrays):
            with tf.GradientTape() as tape:
                tape.watch(arrays)
                value = loss(*arrays)
            return tape.gradient(value, arrays)

        tensors = (tf.constant(y0), tf.constant(kernels))
        for jit_compile in (False, True):
            in_graph = tf.function(tape_gradient, jit_compile=jit_compile)(*tensors)
            for a, e in zip(in_graph, actual):
                np.testing.assert_allclose(a.numpy(), e, rtol=1e-12, atol=1e-13)


def test_xla_is_used_only_when_tracing_a_tensorflow_graph_outside_xla():

    if keras.backend.backend() != "tensorflow":
        assert not use_xla_function()
        return
    import tensorflow as tf

    seen = {}

    def probe(name):
        seen[name] = use_xla_function()
        return tf.constant(0.0)

    probe("eager")
    tf.function(lambda: probe("graph"))()
    tf.function(lambda: probe("xla"), jit_compile=True)()
    assert seen == {"eager": False, "graph": True, "xla": False}


def _xla_calls(graph) -> int:
    return sum(
        1
        for op in graph.get_operations()
        if "_XlaMustCompile" in op.node_def.attr and op.get_attr("_XlaMustCompile")
    )


@only_tensorflow
@pytest.mark.parametrize("xla", [True, False], ids=["xla", "no-xla"])
def test_tensorflow_graph_loop_keeps_values_and_gradients(xla, rng, monkeypatch):
    # Expected: the eager loop and its autodiff gradient, float64. Per-step step
    # sizes are differentiated too (the learned-step case). Without XLA in the
    # build, the graph keeps the plain while loop.
    import tensorflow as tf

    if not xla:
        monkeypatch.setattr(tf.test, "is_built_with_xla", lambda: False)
    tableau = get_tableau("rk4")
    y0 = rng.normal(size=(3, 4))
    kernel, bias = 0.5 * rng.normal(size=(5, 4, 4)), rng.normal(size=(5, 4))
    steps = np.full((5,), 0.1) + 0.01 * rng.normal(size=5)
    weights = rng.normal(size=(3, 4))

    def network(y0, kernel, bias, steps):
        step = lambda y, k, b, h: runge_kutta_step(y, k, b, h, tableau, TANH, 0)
        return integrate(step, y0, (kernel, bias, steps), xla=True)

    tensors = [tf.constant(a) for a in (y0, kernel, bias, steps)]

    def run():
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            value = network(*tensors)
            loss = tf.reduce_sum(value * weights)
        return value, [tf.convert_to_tensor(g) for g in tape.gradient(loss, tensors)]

    expected_value, expected = run()
    value, actual = tf.function(run)()
    np.testing.assert_allclose(value.numpy(), expected_value.numpy(), rtol=1e-13, atol=1e-15)
    for e, a in zip(expected, actual):
        np.testing.assert_allclose(a.numpy(), e.numpy(), rtol=1e-12, atol=1e-13)
    graph = tf.function(network).get_concrete_function(*tensors).graph
    assert _xla_calls(graph) == (1 if xla else 0)


@only_tensorflow
def test_tensorflow_graph_loop_without_the_xla_flag_stays_a_graph_loop(rng):
    # The convolutional block's loop: oneDNN's convolutions beat XLA's on a CPU.
    import tensorflow as tf

    step = lambda y, k, b: standard_step(y, k, b, TANH)
    arrays = [rng.normal(size=(2, 3)), rng.normal(size=(4, 3, 3)), rng.normal(size=(4, 3))]
    network = lambda y0, kernel, bias: integrate(step, y0, (kernel, bias))
    graph = tf.function(network).get_concrete_function(*arrays).graph
    assert _xla_calls(graph) == 0
