"""The step math of keras_rk.rk and the loop of keras_rk.loop, checked against exact solutions and by hand."""

import math

import keras
import numpy as np
import pytest
import scipy.linalg
from conftest import finite_difference_gradient, gradient, to_numpy

import keras_rk
from keras_rk.loop import integrate
from keras_rk.rk import (
    ELEMENTWISE_PRODUCT_MAX_WIDTH,
    _products_are_elementwise,
    row_times_matrix,
    row_times_transpose,
    runge_kutta_step,
    solve_stages,
    standard_step,
)

ALL_TABLEAUS = keras_rk.available_tableaus()
LINEAR = keras.activations.get("linear")
TANH = keras.activations.get("tanh")

# y' = K y with a fixed, well-conditioned K (eigenvalues of modest size).
K = np.array([[-0.5, 1.0, 0.2], [-1.0, -0.3, 0.4], [0.1, -0.6, -0.2]])
Y0 = np.array([[1.0, -0.5, 0.25], [0.3, 0.8, -1.2]])


def solve_linear(tableau, num_steps, final_time=1.0):
    """y(T) of y' = K y by `num_steps` steps of RKBlock, linear activation, float64."""
    block = keras_rk.RKBlock(
        tableau,
        num_steps=num_steps,
        activation="linear",
        final_time=final_time,
        num_implicit_iterations=40,
        dtype="float64",
    )
    block.build((None, 3))
    block.kernel.assign(np.broadcast_to(K.T, (num_steps, 3, 3)))
    block.bias.assign(np.zeros((num_steps, 3)))
    return to_numpy(block(Y0))


def empirical_order(tableau):
    """Slope of log(error) against log(h), on step counts where the error stays
    well above float64 rounding for this order."""
    first = {1: 16, 2: 16, 3: 8, 4: 4, 5: 4, 6: 2}[min(tableau.order, 6)]
    steps = [first, 2 * first, 4 * first, 8 * first]
    exact = Y0 @ scipy.linalg.expm(K).T
    errors = [np.max(np.abs(solve_linear(tableau, n) - exact)) for n in steps]
    slope = np.polyfit(np.log([1.0 / n for n in steps]), np.log(errors), 1)[0]
    return slope, errors


@pytest.mark.parametrize("name", ALL_TABLEAUS)
def test_empirical_order_of_convergence_matches_the_tableau(name):
    # Expected: the tableau's classical order. A linear problem can show a higher
    # order than the nonlinear one, never a lower, so the check is one-sided with
    # 0.3 slack for the pre-asymptotic range.
    tableau = keras_rk.get_tableau(name)
    slope, errors = empirical_order(tableau)
    assert slope > tableau.order - 0.3, (slope, errors)
    assert errors[-1] < errors[0]


@pytest.mark.parametrize("name", ["rk4", "gauss_legendre_2", "euler"])
def test_adjoint_tableau_is_an_integrator_of_the_same_order(name):
    # The adjoint tableau (3.23) integrates the costate; as a method on its own
    # it has the order of the original for these tableaus.
    adjoint = keras_rk.get_tableau(name).adjoint()
    slope, errors = empirical_order(adjoint)
    assert slope > adjoint.order - 0.3, (slope, errors)


def test_rk4_step_matches_a_hand_computation():
    # One RK4 step of y' = tanh(K y + b), width 2, written out stage by stage.
    kernel = np.array([[0.5, -0.2], [0.3, 0.1]])
    bias = np.array([0.1, -0.4])
    y = np.array([[0.7, -1.1]])
    h = 0.3

    def f(z):
        return np.tanh(z @ kernel + bias)

    k1 = f(y)
    k2 = f(y + h / 2 * k1)
    k3 = f(y + h / 2 * k2)
    k4 = f(y + h * k3)
    expected = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    got = runge_kutta_step(y, kernel, bias, h, keras_rk.get_tableau("rk4"), TANH, 0)
    np.testing.assert_allclose(to_numpy(got), expected, rtol=1e-13)


def test_implicit_midpoint_step_solves_its_stage_equation():
    # y1 = y + h k with k = f(y + h/2 k): check the residual of the stage equation.
    kernel = np.array([[0.5, -0.2], [0.3, 0.1]])
    bias = np.array([0.1, -0.4])
    y = np.array([[0.7, -1.1]])
    h = 0.2
    y1 = to_numpy(
        runge_kutta_step(y, kernel, bias, h, keras_rk.get_tableau("implicit_midpoint"), TANH, 30)
    )
    k = (y1 - y) / h
    residual = k - np.tanh((y + h / 2 * k) @ kernel + bias)
    assert np.max(np.abs(residual)) < 1e-14


@pytest.mark.parametrize(
    "rows, columns",
    [(3, 5), (ELEMENTWISE_PRODUCT_MAX_WIDTH,) * 2, (ELEMENTWISE_PRODUCT_MAX_WIDTH + 1,) * 2],
)
def test_kernel_products_equal_numpy_on_both_sides_of_the_elementwise_width(rows, columns, rng):
    # Up to ELEMENTWISE_PRODUCT_MAX_WIDTH, JAX and TensorFlow multiply and sum; wider
    # kernels (and PyTorch always) use a dot. Both must be the product to float64
    # digits, with one leading axis or two.
    kernel = rng.normal(size=(rows, columns))
    y, v, stacked = (
        rng.normal(size=(4, rows)),
        rng.normal(size=(4, columns)),
        rng.normal(size=(2, 4, rows)),
    )
    elementwise = keras.backend.backend() != "torch" and columns <= ELEMENTWISE_PRODUCT_MAX_WIDTH
    assert _products_are_elementwise(keras.ops.convert_to_tensor(kernel)) == elementwise
    np.testing.assert_allclose(
        to_numpy(row_times_matrix(y, kernel)), y @ kernel, rtol=1e-12, atol=1e-13
    )
    np.testing.assert_allclose(
        to_numpy(row_times_matrix(stacked, kernel)), stacked @ kernel, rtol=1e-12, atol=1e-13
    )
    np.testing.assert_allclose(
        to_numpy(row_times_transpose(v, kernel)), v @ kernel.T, rtol=1e-12, atol=1e-13
    )
    assert not _products_are_elementwise(keras.ops.convert_to_tensor(kernel, "bfloat16"))


def test_standard_step_is_one_dense_layer():
    kernel = np.array([[0.5, -0.2], [0.3, 0.1]])
    bias = np.array([0.1, -0.4])
    y = np.array([[0.7, -1.1]])
    got = standard_step(y, kernel, bias, TANH)
    np.testing.assert_allclose(to_numpy(got), np.tanh(y @ kernel + bias), rtol=1e-15)


@pytest.mark.parametrize("name", ["euler", "rk4", "gauss_legendre_2"])
def test_gradients_match_finite_differences(name, rng):
    # float64 central differences, eps = 1e-6: truncation error ~1e-12 here,
    # so agreement to rtol 1e-6 separates right from wrong gradients clearly.
    tableau = keras_rk.get_tableau(name)
    num_steps, width = 3, 2
    kernels = rng.normal(scale=0.5, size=(num_steps, width, width))
    biases = rng.normal(scale=0.5, size=(num_steps, width))
    y0 = rng.normal(size=(2, width))
    weights = rng.normal(size=(2, width))

    def loss(y, kernel, bias):
        def step(state, k, b):
            return runge_kutta_step(state, k, b, 0.3, tableau, TANH, 12)

        out = integrate(step, y, (kernel, bias))
        return keras.ops.sum(keras.ops.multiply(out, weights))

    automatic = gradient(loss, y0, kernels, biases)
    for index, grad in enumerate(automatic):
        numeric = finite_difference_gradient(loss, [y0, kernels, biases], index)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_solve_stages_back_substitutes_a_strictly_upper_system():
    # X_1 = 1 + h (2 k_2), X_2 = 3 with k_i = 10 X_i: X_1 = 1 + 0.5 * 2 * 30 = 31,
    # exact after one pass, last stage first (no fixed-point sweeps).
    states, stages = solve_stages(
        lambda i, x: 10.0 * x, [1.0, 3.0], 0.5, [[0.0, 2.0], [0.0, 0.0]], 0
    )
    assert states == [31.0, 3.0]
    assert stages == [310.0, 30.0]


def test_solve_stages_sweeps_a_coupled_system():
    # X = 1 + h (0.5 k) with k = X, h = 1: X = 2 by the fixed point; 60 sweeps
    # contract by 1/2 each, far below float64 rounding.
    states, _ = solve_stages(lambda i, x: x, [1.0], 1.0, [[0.5]], 60)
    assert states[0] == pytest.approx(2.0, rel=1e-15)


def test_step_size_math_is_eq_2_12():
    # h = T / L: 10 Euler steps with T = 1 on y' = K y equal (I + K/10)^10.
    got = solve_linear(keras_rk.get_tableau("euler"), 10)
    expected = Y0 @ np.linalg.matrix_power(np.eye(3) + K.T / 10, 10)
    np.testing.assert_allclose(got, expected, rtol=1e-13)
    assert math.isclose(keras_rk.RKBlock("euler", num_steps=20, final_time=2.0).step_size, 0.1)
