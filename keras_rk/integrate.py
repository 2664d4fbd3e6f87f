"""The math of a Runge-Kutta network: pure functions over ``keras.ops``.

Shapes: the state ``y`` is (batch, width); a step's weights are ``kernel``
(width, width) and ``bias`` (width,). Keras's row-vector convention is used, so
the paper's f(u, y) = act(K y + b) (eq. 2.5) is ``act(y @ kernel + bias)`` with
``kernel = K^T``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
from keras import ops

from keras_rk.tableaus import ButcherTableau

Activation = Callable[[object], object]


def vector_field(y, kernel, bias, activation: Activation):
    """f(u, y) = act(K y + b), the right-hand side of eq. (2.10), batched.

    An einsum rather than ``ops.matmul``: Keras 3.15's torch ``matmul`` promotes
    float64 operands through float32 and loses half the digits."""
    return activation(ops.einsum("...i,ij->...j", y, kernel) + bias)


def _weighted_sum(base, step_size, coefficients: Sequence[float], stages):
    """base + h * sum_j coefficients[j] * stages[j], skipping zero coefficients."""
    total = None
    for coefficient, stage in zip(coefficients, stages):
        if coefficient == 0.0:
            continue
        term = stage if coefficient == 1.0 else coefficient * stage
        total = term if total is None else total + term
    if total is None:
        return base
    return base + step_size * total


def tableau_stages(
    field: Callable, y, step_size, tableau: ButcherTableau, num_implicit_iterations: int
):
    """The stages of one Runge-Kutta step of y' = field(y): lists (Y_1..Y_s), (k_1..k_s).

    Y_i = y + h sum_j a_ij k_j and k_i = field(Y_i). Explicit tableaus compute them
    in order; implicit ones by ``num_implicit_iterations`` fixed-point (Jacobi)
    sweeps from k_i = field(y), and these are the stages of the last sweep. Any
    field whose output has the shape of y works: dense (eq. 2.5) or convolutional.
    """
    a = tableau.a
    num_stages = tableau.num_stages
    if tableau.is_explicit:
        states, stages = [], []
        for i in range(num_stages):
            states.append(_weighted_sum(y, step_size, a[i][:i], stages))
            stages.append(field(states[-1]))
        return states, stages
    stages = [field(y)] * num_stages
    states = [y] * num_stages
    for _ in range(num_implicit_iterations):
        states = [_weighted_sum(y, step_size, a[i], stages) for i in range(num_stages)]
        stages = [field(state) for state in states]
    return states, stages


def runge_kutta_stages(
    y,
    kernel,
    bias,
    step_size,
    tableau: ButcherTableau,
    activation: Activation,
    num_implicit_iterations: int,
):
    """The stages of one step of eq. (2.12): lists (Y_1, ..., Y_s) and (k_1, ..., k_s).

    Y_i = y + h sum_j a_ij k_j is the state at which stage i evaluates the field and
    k_i = f(Y_i), each of shape (batch, width). For an implicit tableau these are
    the stages of the last fixed-point sweep (see ``runge_kutta_step``), so the
    step is y + h sum_i b_i k_i with exactly these k_i. The adjoint pass
    (``keras_rk.adjoint``) evaluates f_y and f_u at these Y_i.
    """
    y = ops.convert_to_tensor(y)
    field = lambda state: vector_field(state, kernel, bias, activation)
    return tableau_stages(field, y, step_size, tableau, num_implicit_iterations)


def runge_kutta_step(
    y,
    kernel,
    bias,
    step_size,
    tableau: ButcherTableau,
    activation: Activation,
    num_implicit_iterations: int,
):
    """One step of eq. (2.12): the same (K, b) in every stage.

    ``step_size`` is a Python float or a scalar tensor. Explicit tableaus compute
    their stages in order. Implicit tableaus solve the coupled stage equations
    k_i = f(y + h sum_j a_ij k_j) by ``num_implicit_iterations`` fixed-point
    (Jacobi) sweeps from k_i = f(y); each sweep gains one order in h, so the
    step keeps the tableau's order when the count is at least that order and
    h * Lip(f) < 1.
    """
    y = ops.convert_to_tensor(y)
    _, stages = runge_kutta_stages(
        y, kernel, bias, step_size, tableau, activation, num_implicit_iterations
    )
    return _weighted_sum(y, step_size, tableau.b, stages)


def standard_step(y, kernel, bias, activation: Activation):
    """One layer of a StandardNet, y <- act(K y + b) (eq. 2.6)."""
    return vector_field(ops.convert_to_tensor(y), kernel, bias, activation)


def integrate(step: Callable, y0, per_step: Sequence, return_trajectory: bool = False):
    """Applies ``y <- step(y, *per_step[:, l])`` for l = 0, ..., L-1.

    ``per_step`` holds tensors whose leading axis has length L (stacked weights,
    step sizes). The loop is a compiled loop, so the traced graph does not grow
    with L. TensorFlow runs it as a ``while_loop`` with a fixed trip count, which
    XLA (``jit_compile=True``) can differentiate, unlike ``scan``/``fori_loop``
    whose gradient needs a growing tensor list; the other backends use ``scan``,
    which JAX can differentiate and a ``while_loop`` it cannot.

    Returns:
        y[L], shape (batch, width); or with ``return_trajectory`` all L + 1 states,
        shape (batch, L + 1, width), y[0] first.
    """
    per_step = tuple(ops.convert_to_tensor(x) for x in per_step)
    num_steps = per_step[0].shape[0]
    if keras.backend.backend() == "tensorflow":
        return _integrate_while(step, y0, per_step, num_steps, return_trajectory)

    def body(y, xs):
        y_next = step(y, *xs)
        return y_next, (y_next if return_trajectory else None)

    y_final, states = ops.scan(body, y0, per_step, length=num_steps)
    if not return_trajectory:
        return y_final
    trajectory = ops.concatenate([ops.expand_dims(y0, 0), states], axis=0)
    return ops.transpose(trajectory, (1, 0, 2))


def _integrate_while(step, y0, per_step, num_steps, return_trajectory):
    def take(i):
        return [ops.take(x, i, axis=0) for x in per_step]

    if not return_trajectory:

        def body(i, y):
            return i + 1, step(y, *take(i))

        _, y_final = ops.while_loop(
            lambda i, y: i < num_steps, body, (0, y0), maximum_iterations=num_steps
        )
        return y_final

    trajectory = ops.zeros((num_steps + 1,) + tuple(ops.shape(y0)), dtype=y0.dtype)
    trajectory = ops.slice_update(trajectory, (0, 0, 0), ops.expand_dims(y0, 0))

    def body_with_states(i, y, states):
        y_next = step(y, *take(i))
        states = ops.slice_update(states, (i + 1, 0, 0), ops.expand_dims(y_next, 0))
        return i + 1, y_next, states

    _, _, trajectory = ops.while_loop(
        lambda i, y, states: i < num_steps,
        body_with_states,
        (0, y0, trajectory),
        maximum_iterations=num_steps,
    )
    return ops.transpose(trajectory, (1, 0, 2))
