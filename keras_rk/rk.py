"""The step math of a Runge-Kutta network: pure functions over ``keras.ops``.

A field maps a state to a tensor of its shape: ``dense_field`` (eq. 2.5) on a
state y of shape (batch, width), ``conv_field`` (section 4.5) on an image batch
(batch, H, W, C). Keras's row-vector convention is used, so the paper's
f(u, y) = act(K y + b) is ``act(y @ kernel + bias)`` with ``kernel = K^T``.

``solve_stages`` is the one stage recursion of the library: the forward stages
of eq. (2.12), the costate stages of the adjoint (eqs. 3.21-3.26, in
``keras_rk.adjoint_gradient`` and ``keras_rk.optimal_control``) and the tangent
stages all solve X_i = base_i + h sum_j m_ij g_i(X_j)-style systems with it.

Example:

>>> import numpy as np
>>> from keras_rk import get_tableau
>>> from keras_rk.activations import get_activation
>>> y = runge_kutta_step(np.ones((2, 3)), np.zeros((3, 3)), np.ones(3), 0.5,
...                      get_tableau("euler"), get_activation("linear"), 0)
>>> np.round(np.asarray(y, dtype=float), 3).tolist()
[[1.5, 1.5, 1.5], [1.5, 1.5, 1.5]]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
from keras import ops

from keras_rk.tableaus import ButcherTableau

Activation = Callable[[object], object]

# The widest square kernel whose products are written as an elementwise multiply
# and a sum instead of a dot, on the backends that compile with XLA. XLA on a CPU
# hands every dot to a matrix-multiply routine with a fixed cost per call (and on
# TensorFlow a thread hand-off per call), which for a 16 x 16 kernel is most of the
# work; the multiply-and-sum fuses into the surrounding loop. Measured on the paper's
# point setting (RK4Net, depth 100, batch 5; s/epoch, dot vs multiply-and-sum):
# JAX width 16 0.18 vs 0.11, 24 0.25 vs 0.17, 32 0.26 vs 0.46; TensorFlow width 16
# 0.34-0.66 vs 0.21, 24 0.35-0.94 vs 0.26-0.33, 32 0.37-0.66 vs 0.45. PyTorch runs
# op by op, where the extra op costs more (width 16: 2.08 vs 2.25 s/epoch).
ELEMENTWISE_PRODUCT_MAX_WIDTH = 24
_XLA_BACKENDS = ("jax", "tensorflow")


def _products_are_elementwise(kernel) -> bool:
    """Whether `kernel`'s products are written as multiply-and-sum (see above).

    Only in float32 and float64: a dot of 16-bit operands accumulates in float32,
    a 16-bit sum would round at every term."""
    if keras.backend.backend() not in _XLA_BACKENDS:
        return False  # first: PyTorch calls this at every eager step
    rows, columns = ops.shape(kernel)[-2:]
    return (
        keras.backend.standardize_dtype(kernel.dtype) in ("float32", "float64")
        and rows is not None
        and columns is not None
        and max(rows, columns) <= ELEMENTWISE_PRODUCT_MAX_WIDTH
    )


def row_times_matrix(y, kernel):
    """y @ kernel for y of shape (..., i) and kernel (i, j).

    An einsum rather than ``ops.matmul``: Keras 3.15's torch ``matmul`` promotes
    float64 operands through float32 and loses half the digits. Small kernels on
    JAX and TensorFlow: multiply and sum (``ELEMENTWISE_PRODUCT_MAX_WIDTH``).

    >>> import numpy as np
    >>> y, kernel = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    >>> bool(np.allclose(np.asarray(row_times_matrix(y, kernel)), y @ kernel))
    True
    """
    if _products_are_elementwise(kernel):
        return ops.sum(ops.expand_dims(y, -1) * kernel, axis=-2)
    return ops.einsum("...i,ij->...j", y, kernel)


def row_times_transpose(v, kernel):
    """v @ kernel^T for v of shape (batch, j) and kernel (i, j); see ``row_times_matrix``.

    >>> import numpy as np
    >>> v, kernel = np.arange(8.0).reshape(2, 4), np.arange(12.0).reshape(3, 4)
    >>> bool(np.allclose(np.asarray(row_times_transpose(v, kernel)), v @ kernel.T))
    True
    """
    if _products_are_elementwise(kernel):
        return ops.sum(ops.expand_dims(v, -2) * kernel, axis=-1)
    return ops.einsum("bj,ij->bi", v, kernel)


def dense_preactivation(y, kernel, bias):
    """z = y @ kernel + bias, shape (batch, width)."""
    return row_times_matrix(y, kernel) + bias


def dense_field(y, kernel, bias, activation: Activation):
    """f(u, y) = act(K y + b), the right-hand side of eq. (2.10), batched."""
    return activation(dense_preactivation(y, kernel, bias))


def conv_field(y, kernel, bias, activation: Activation):
    """f(u, y) = act(conv(y, K) + b), channels last, stride 1, 'same' padding, so
    f(y) has the shape of y. kernel: (kh, kw, C, C); bias: (C,)."""
    return activation(ops.conv(y, kernel, strides=1, padding="same") + bias)


def dense_pullback(cotangent, slope, kernel):
    """(dz, f_y(Y)^T v) for v = `cotangent` in the row-vector convention.

    dz = v * act'(z) is the cotangent of the pre-activation z = Y @ kernel + bias
    (``slope`` = act'(z)), and f_y(Y)^T v = dz @ kernel^T. Both adjoints use it."""
    dz = cotangent * slope
    return dz, row_times_transpose(dz, kernel)


def weighted_sum(base, step_size, coefficients: Sequence[float], terms):
    """base + h * sum_j coefficients[j] * terms[j], skipping zero coefficients.

    ``base`` None stands for zero; with every coefficient zero the result is
    ``base``. A Python ``h = 1.0`` adds no multiplication."""
    total = None
    for coefficient, term in zip(coefficients, terms):
        if coefficient == 0.0:
            continue
        term = term if coefficient == 1.0 else coefficient * term
        total = term if total is None else total + term
    if total is None:
        return base
    if not (isinstance(step_size, float) and step_size == 1.0):
        total = step_size * total
    return total if base is None else base + total


def _order(matrix: Sequence[Sequence[float]]) -> list[int] | None:
    """The order in which the stages of X_i = base_i + h sum_j m_ij k_j can be
    computed one by one: forward for a strictly lower triangular m, backward for
    a strictly upper one; None when they are coupled."""
    s = len(matrix)
    if all(matrix[i][j] == 0.0 for i in range(s) for j in range(i, s)):
        return list(range(s))
    if all(matrix[i][j] == 0.0 for i in range(s) for j in range(i + 1)):
        return list(reversed(range(s)))
    return None


def solve_stages(
    field: Callable,
    bases: Sequence,
    step_size,
    matrix: Sequence[Sequence[float]],
    num_iterations: int,
    *,
    same_field: bool = False,
):
    """Stage states X_i = bases[i] + h sum_j m_ij k_j with k_i = field(i, X_i).

    Returns the lists (X_1..X_s), (k_1..k_s). When ``matrix`` is strictly lower
    (upper) triangular the stages follow in order (in reverse order); otherwise
    by ``num_iterations`` fixed-point (Jacobi) sweeps from k_i = field(i, bases[i]),
    and these are the stages of the last sweep. Each sweep gains one order in h,
    so a step keeps its tableau's order when the count is at least that order and
    h * Lip(field) < 1. ``same_field``: field ignores i (and the bases are one
    tensor), so the starting sweep evaluates it once.
    """
    s = len(matrix)
    order = _order(matrix)
    if order is not None:
        states, stages = [None] * s, [None] * s
        for i in order:
            # Coefficients of stages not yet computed are zero, so weighted_sum skips them.
            states[i] = weighted_sum(bases[i], step_size, matrix[i], stages)
            stages[i] = field(i, states[i])
        return states, stages
    states = list(bases)
    if same_field:
        stages = [field(0, bases[0])] * s
    else:
        stages = [field(i, bases[i]) for i in range(s)]
    for _ in range(num_iterations):
        states = [weighted_sum(bases[i], step_size, matrix[i], stages) for i in range(s)]
        stages = [field(i, state) for i, state in enumerate(states)]
    return states, stages


def tableau_stages(field: Callable, y, step_size, tableau: ButcherTableau, num_iterations: int):
    """The stages of one Runge-Kutta step of y' = field(y): lists (Y_1..Y_s), (k_1..k_s).

    Y_i = y + h sum_j a_ij k_j and k_i = field(Y_i) (eq. 2.12); explicit tableaus
    in order, implicit ones by ``num_iterations`` fixed-point sweeps from
    k_i = field(y). The step is y + h sum_i b_i k_i with exactly these k_i."""
    bases = [y] * tableau.num_stages
    return solve_stages(
        lambda i, state: field(state), bases, step_size, tableau.a, num_iterations, same_field=True
    )


def tableau_step(field: Callable, y, step_size, tableau: ButcherTableau, num_iterations: int):
    """y + h sum_i b_i k_i: one step of eq. (2.12) with any field."""
    _, stages = tableau_stages(field, y, step_size, tableau, num_iterations)
    return weighted_sum(y, step_size, tableau.b, stages)


def runge_kutta_step(
    y, kernel, bias, step_size, tableau: ButcherTableau, activation: Activation, num_iterations: int
):
    """One step of eq. (2.12) with the dense field, the same (K, b) in every stage.

    ``step_size`` is a Python float or a scalar tensor; y: (batch, width)."""
    y = ops.convert_to_tensor(y)
    field = lambda state: dense_field(state, kernel, bias, activation)
    return tableau_step(field, y, step_size, tableau, num_iterations)


def conv_runge_kutta_step(
    y, kernel, bias, step_size, tableau: ButcherTableau, activation: Activation, num_iterations: int
):
    """One step of eq. (2.12) on an image state (batch, H, W, C), with ``conv_field``."""
    y = ops.convert_to_tensor(y)
    field = lambda state: conv_field(state, kernel, bias, activation)
    return tableau_step(field, y, step_size, tableau, num_iterations)


def standard_step(y, kernel, bias, activation: Activation):
    """One layer of a StandardNet, y <- act(K y + b) (eq. 2.6)."""
    return dense_field(ops.convert_to_tensor(y), kernel, bias, activation)


def dense_pushforward(tangent, slope, kernel):
    """f_y(Y) v for v = `tangent`: (v @ kernel) * act'(z), with ``slope`` = act'(z)."""
    return row_times_matrix(tangent, kernel) * slope
