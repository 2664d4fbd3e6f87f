"""The custom gradient ``RKBlock(gradient='adjoint')`` trains with.

``integrate_with_adjoint`` computes y[L] exactly as ``keras_rk.loop.integrate``
with ``keras_rk.rk.runge_kutta_step`` does, but gives the backend a
hand-written gradient (``keras.ops.custom_gradient``): one reverse loop over
the steps that carries the costate p (eqs. 3.20-3.26, written for the stage
costates of the forward tableau itself, which is what reverse-mode
differentiation of eq. 2.12 is; see docs/adjoint.md), followed by ONE batched
product that forms all L kernel gradients at once,

    dF/dK[l] = sum_i Y_i[l]^T dz_i[l]      for every l:  einsum (L, s*B, D) x (L, s*B, D).

Automatic differentiation of the step loop forms s rank-B products per step
inside the loop and adds them into the stacked gradient one (D, D) slice per
iteration; at small batches that memory traffic, not arithmetic, is what the
backward pass costs (``benchmarks/bench_images.py`` measures the difference).

Row-vector convention: z_i = Y_i @ kernel + bias and k_i = act(z_i), so with
lambda_i = dF/dk_i the backward pass of one step is

    lambda_i = h b_i p + sum_{j>i} h a_ji (dz_j @ kernel^T)
    dz_i     = lambda_i * act'(z_i)         (act' from k_i = act(z_i))
    p[l]     = p[l+1] + sum_i dz_i @ kernel^T,

the stage recursion ``keras_rk.rk.solve_stages`` with the matrix A^T and the
pullback ``keras_rk.rk.dense_pullback``. The section 3 analysis of any tableau
(gradients of a whole model, costate trajectories) is ``keras_rk.optimal_control``.

Explicit tableaus and a fixed step size only; the activation must be one whose
derivative is a function of its output (``activations_with_output_derivative``).
Keras implements ``custom_gradient`` for JAX and TensorFlow; ``RKBlock`` falls
back to automatic differentiation on PyTorch.

Example (on PyTorch this is the forward pass only):

>>> import numpy as np
>>> from keras_rk import get_tableau
>>> from keras_rk.activations import get_activation
>>> y = integrate_with_adjoint(np.ones((2, 3)), np.zeros((4, 3, 3)), np.zeros((4, 3)),
...                            0.1, get_tableau("rk4"), get_activation("tanh"))
>>> tuple(y.shape)
(2, 3)
"""

from __future__ import annotations

from keras import ops

from keras_rk.activations import derivative_from_output
from keras_rk.loop import loop
from keras_rk.rk import (
    Activation,
    dense_field,
    dense_pullback,
    solve_stages,
    tableau_stages,
    weighted_sum,
)
from keras_rk.tableaus import ButcherTableau


def _forward(y0, kernel, bias, step_size, tableau, activation):
    """y[L], with every step's stage states Y_i and stage values k_i, (L, s, B, D)."""

    def body(y, step_kernel, step_bias):
        field = lambda state: dense_field(state, step_kernel, step_bias, activation)
        states, stages = tableau_stages(field, y, step_size, tableau, 0)
        y_next = weighted_sum(y, step_size, tableau.b, stages)
        return y_next, (ops.stack(states), ops.stack(stages))

    stage_shape = (tableau.num_stages,) + tuple(ops.shape(y0))
    return loop(body, y0, (kernel, bias), output_shapes=[stage_shape] * 2)


def _backward(upstream, kernel, stage_states, stage_values, step_size, tableau, derivative):
    """(dy0, dkernel, dbias) from dF/dy[L] = upstream by one reverse sweep."""
    s = tableau.num_stages
    transposed = [[tableau.a[j][i] for j in range(s)] for i in range(s)]

    def body(costate, step_kernel, values):
        field_cotangents = [None] * s  # dz_j

        def pull(i, stage_cotangent):
            field_cotangents[i], state_cotangent = dense_pullback(
                stage_cotangent, derivative(values[i]), step_kernel
            )
            return state_cotangent  # dF/dY_i

        bases = [
            step_size * tableau.b[i] * costate if tableau.b[i] != 0.0 else ops.zeros_like(costate)
            for i in range(s)
        ]
        _, state_cotangents = solve_stages(pull, bases, step_size, transposed, 0)
        costate = weighted_sum(costate, 1.0, [1.0] * s, state_cotangents)
        return costate, (ops.stack(field_cotangents),)

    stage_shape = (s,) + tuple(ops.shape(upstream))
    dy0, (field_cotangents,) = loop(
        body, upstream, (kernel, stage_values), reverse=True, output_shapes=[stage_shape]
    )
    dkernel = ops.einsum("lsbi,lsbj->lij", stage_states, field_cotangents)
    dbias = ops.sum(field_cotangents, axis=(1, 2))
    return dy0, dkernel, dbias


def integrate_with_adjoint(
    y0, kernel, bias, step_size: float, tableau: ButcherTableau, activation: Activation
):
    """y[L] of L explicit steps (eq. 2.12), differentiated by the adjoint sweep.

    Args:
        y0: (batch, width). kernel: (L, width, width). bias: (L, width).
        step_size: h, a Python float. tableau: explicit. activation: one with an
            output-form derivative (see ``keras_rk.activations``).
    """
    derivative = derivative_from_output(activation)
    if derivative is None or not tableau.is_explicit:
        raise ValueError(
            "integrate_with_adjoint needs an explicit tableau and an activation in "
            "keras_rk.activations.activations_with_output_derivative(). Received: "
            f"tableau={tableau.name!r}, activation={activation!r}"
        )

    @ops.custom_gradient
    def network(y0, kernel, bias):
        y_final, (stage_states, stage_values) = _forward(
            y0, kernel, bias, step_size, tableau, activation
        )

        def gradient(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            return _backward(
                upstream, kernel, stage_states, stage_values, step_size, tableau, derivative
            )

        return y_final, gradient

    return network(
        ops.convert_to_tensor(y0), ops.convert_to_tensor(kernel), ops.convert_to_tensor(bias)
    )
