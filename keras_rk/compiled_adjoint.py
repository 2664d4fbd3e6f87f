"""The discrete adjoint as the compiled gradient of an explicit Runge-Kutta network.

``integrate_with_adjoint`` computes y[L] exactly as ``keras_rk.integrate`` does,
but gives the backend a hand-written gradient (``keras.ops.custom_gradient``):
one reverse ``scan`` over the steps that carries the costate p (eqs. 3.20-3.26,
written for the stage costates of the forward tableau itself, which is what
reverse-mode differentiation of eq. 2.12 is; see docs/adjoint.md), followed by
ONE batched product that forms all L kernel gradients at once,

    dF/dK[l] = sum_i Y_i[l]^T dz_i[l]      for every l:  einsum (L, s*B, D) x (L, s*B, D).

Automatic differentiation of the step loop forms s rank-B products per step
inside the loop and adds them into the stacked gradient one (D, D) slice per
iteration; at small batches that memory traffic, not arithmetic, is what the
backward pass costs (``benchmarks/bench_images.py`` measures the difference).

Row-vector convention: z_i = Y_i @ kernel + bias and k_i = act(z_i), so with
lambda_i = dF/dk_i the backward pass of one step is

    lambda_i = h b_i p + sum_{j>i} h a_ji (dz_j @ kernel^T)
    dz_i     = lambda_i * act'(z_i)         (act' from k_i = act(z_i))
    p[l]     = p[l+1] + sum_i dz_i @ kernel^T.

Explicit tableaus and a fixed step size only; the activation must be one whose
derivative is a function of its output (``activations_with_output_derivative``).
Keras implements ``custom_gradient`` for JAX and TensorFlow; ``RKBlock`` falls
back to automatic differentiation on PyTorch.
"""

from __future__ import annotations

from collections.abc import Callable

from keras import ops

from keras_rk.activations import derivative_from_output
from keras_rk.integrate import Activation, _weighted_sum, tableau_stages, vector_field
from keras_rk.tableaus import ButcherTableau


def _scan(body, carry, per_step, num_outputs, num_stages, reverse=False):
    """``carry, outputs = body(carry, per_step[l])`` for every step l, in order or
    reversed; returns the last carry and its `num_outputs` outputs, each of shape
    (s, B, D), stacked over l to (L, s, B, D). A while loop that writes into
    preallocated buffers: TensorFlow's ``ops.scan`` only stacks outputs shaped
    like the carry, and nothing here is differentiated by the backend."""
    num_steps = per_step[0].shape[0]
    stage_shape = (num_stages,) + tuple(ops.shape(carry))
    buffers = tuple(
        ops.zeros((num_steps,) + stage_shape, dtype=carry.dtype) for _ in range(num_outputs)
    )

    def loop_body(i, carry, buffers):
        index = num_steps - 1 - i if reverse else i
        carry, outputs = body(carry, [ops.take(x, index, axis=0) for x in per_step])
        buffers = tuple(
            ops.slice_update(
                buffer, (index, 0, 0, 0), ops.expand_dims(ops.cast(output, buffer.dtype), 0)
            )
            for buffer, output in zip(buffers, outputs)
        )
        return i + 1, carry, buffers

    _, carry, buffers = ops.while_loop(
        lambda i, carry, buffers: i < num_steps,
        loop_body,
        (0, carry, buffers),
        maximum_iterations=num_steps,
    )
    return carry, buffers


def _forward(y0, kernel, bias, step_size, tableau, activation):
    """y[L], with every step's stage states Y_i and stage values k_i, (L, s, B, D)."""

    def body(y, weights):
        step_kernel, step_bias = weights
        field = lambda state: vector_field(state, step_kernel, step_bias, activation)
        states, stages = tableau_stages(field, y, step_size, tableau, 0)
        y_next = _weighted_sum(y, step_size, tableau.b, stages)
        return y_next, (ops.stack(states), ops.stack(stages))

    return _scan(body, y0, (kernel, bias), 2, tableau.num_stages)


def _backward(upstream, kernel, stage_states, stage_values, step_size, tableau, derivative):
    """(dy0, dkernel, dbias) from dF/dy[L] = upstream by one reverse sweep."""
    a, weights, num_stages = tableau.a, tableau.b, tableau.num_stages

    def body(costate, per_step):
        step_kernel, values = per_step
        state_cotangents = [None] * num_stages  # dF/dY_j = dz_j @ kernel^T
        field_cotangents = [None] * num_stages  # dz_j
        for i in reversed(range(num_stages)):
            terms = [step_size * weights[i] * costate] if weights[i] != 0.0 else []
            terms += [
                step_size * a[j][i] * state_cotangents[j]
                for j in range(i + 1, num_stages)
                if a[j][i] != 0.0
            ]
            stage_cotangent = sum(terms[1:], terms[0]) if terms else ops.zeros_like(costate)
            field_cotangents[i] = stage_cotangent * derivative(values[i])
            state_cotangents[i] = ops.einsum("bj,ij->bi", field_cotangents[i], step_kernel)
        costate = costate + sum(state_cotangents[1:], state_cotangents[0])
        return costate, (ops.stack(field_cotangents),)

    dy0, (field_cotangents,) = _scan(
        body, upstream, (kernel, stage_values), 1, num_stages, reverse=True
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
    derivative: Callable | None = derivative_from_output(activation)
    if derivative is None or not tableau.is_explicit:
        raise ValueError(
            "integrate_with_adjoint needs an explicit tableau and an activation in "
            "keras_rk.activations.activations_with_output_derivative()."
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
