"""keras_rk.loop: the one compiled loop over the steps, forward and reverse."""

import keras
import numpy as np
from conftest import to_numpy

from keras_rk.loop import integrate, loop
from keras_rk.rk import standard_step

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
