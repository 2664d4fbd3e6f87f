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

Per backend: JAX and TensorFlow use ``keras.ops.custom_gradient``; TensorFlow,
when it traces a graph that is not already XLA-compiled, compiles the forward and
the reverse sweep each with XLA (``keras_rk.loop.xla_function``). PyTorch,
where Keras has no ``custom_gradient``, gets the same sweeps as a
``torch.autograd.Function`` written in torch ops (``_torch_adjoint``).

Example:

>>> import numpy as np
>>> from keras_rk import get_tableau
>>> from keras_rk.activations import get_activation
>>> y = integrate_with_adjoint(np.ones((2, 3)), np.zeros((4, 3, 3)), np.zeros((4, 3)),
...                            0.1, get_tableau("rk4"), get_activation("tanh"))
>>> tuple(y.shape)
(2, 3)
"""

from __future__ import annotations

import keras
from keras import ops

from keras_rk.activations import activation_name, derivative_from_output
from keras_rk.loop import loop, read_tensor, use_xla_function, xla_function
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
    dkernel = stage_products(stage_states, field_cotangents)
    dbias = ops.sum(field_cotangents, axis=(1, 2))
    return dy0, dkernel, dbias


def stage_products(stage_states, field_cotangents):
    """dF/dK[l] = sum_i Y_i[l]^T dz_i[l] for all l: (L, s, B, D) x (L, s, B, D) -> (L, D, D).

    The stage and batch axes are merged first, so the backend sees L products of
    (s*B, D)^T x (s*B, D): with the two contracted axes kept apart, XLA on a CPU
    took 1.7x as long for the same sums at width 900, batch 128 (497 against 288 ms).

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.random((2, 4, 3, 5)), rng.random((2, 4, 3, 5))
    >>> bool(np.allclose(np.asarray(stage_products(a, b)), np.einsum("lsbi,lsbj->lij", a, b)))
    True
    """
    shape = ops.shape(stage_states)  # on TensorFlow, a dynamic dimension is a tensor
    depth, width = shape[0], shape[-1]
    merged = lambda x: ops.reshape(x, (depth, -1, width))
    return ops.einsum("lki,lkj->lij", merged(stage_states), merged(field_cotangents))


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

    if keras.backend.backend() == "torch":
        return _torch_adjoint(y0, kernel, bias, step_size, tableau, activation)

    forward = lambda y0, kernel, bias: _forward(y0, kernel, bias, step_size, tableau, activation)
    backward = lambda upstream, kernel, states, values: _backward(
        upstream, kernel, states, values, step_size, tableau, derivative
    )
    if use_xla_function():
        forward, backward = xla_function(forward), xla_function(backward)

    @ops.custom_gradient
    def network(y0, kernel, bias):
        y_final, (stage_states, stage_values) = forward(y0, kernel, bias)

        def gradient(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            return backward(upstream, kernel, stage_states, stage_values)

        return y_final, gradient

    return network(read_tensor(y0), read_tensor(kernel), read_tensor(bias))


# PyTorch: the same two sweeps in torch ops. At batch 5 and width 16 every op is a
# few microseconds of work behind a few microseconds of dispatch, so the sweeps
# below issue as few ops as they can: each stage state is written in place into the
# stored stages (``out=``), the step's update is one ``addmm`` over all stages, the
# activation is applied in place, its derivative is formed for all L steps in one
# op, and the L kernel gradients are one ``bmm``. Keras's ops, and autodiff of the
# step loop through them, cost several times more per op here (benchmarks/
# bench_points.py). TorchScript (deprecated in torch 2.13) and torch.compile of
# one step (no faster than these eager ops, after 30 s of compiling) did not win.

_TORCH_IN_PLACE = {"tanh": "tanh_", "sigmoid": "sigmoid_", "relu": "relu_"}


def _torch_activate(activation: Activation):
    """act applied in place to a torch tensor (or out of place, then copied)."""
    name = activation_name(activation)
    if name in _TORCH_IN_PLACE:
        method = _TORCH_IN_PLACE[name]
        return lambda z: getattr(z, method)()
    if name == "linear":
        return lambda z: z
    return lambda z: z.copy_(activation(z))


def _torch_sweep(y0, kernel, bias, step_size, tableau, activation, store: bool):
    """y[L]; with ``store``, also every step's stage states and values (L, s, B, D)
    (without, two steps' worth of buffers are reused)."""
    import torch

    num_steps, num_stages = kernel.shape[0], tableau.num_stages
    activate = _torch_activate(activation)
    # Stage i's state is y + h sum_j a_ij k_j; explicit, so stage 0's is y itself.
    rows = [[(j, step_size * a) for j, a in enumerate(tableau.a[i][:i]) if a != 0.0]
            for i in range(num_stages)]  # fmt: skip
    weights = y0.new_tensor([[step_size * b for b in tableau.b]])  # (1, s)
    shape = (num_stages,) + tuple(y0.shape)
    states = y0.new_empty((num_steps if store else 2,) + shape)
    values = y0.new_empty((num_steps if store else 1,) + shape)
    y_final = torch.empty_like(y0)
    states[0, 0].copy_(y0)
    for step in range(num_steps):
        step_states = states[step if store else step % 2]
        step_values = values[step if store else 0]
        step_kernel, step_bias = kernel[step], bias[step]
        y = step_states[0]
        for i in range(num_stages):
            state = step_states[i]
            if i > 0 and not rows[i]:
                state.copy_(y)
            elif len(rows[i]) == 1:
                ((j, weight),) = rows[i]
                torch.add(y, step_values[j], alpha=weight, out=state)
            elif rows[i]:
                coefficients = y0.new_tensor([[weight for _, weight in rows[i]]])
                terms = step_values[[j for j, _ in rows[i]]].reshape(len(rows[i]), -1)
                torch.addmm(y.reshape(1, -1), coefficients, terms, out=state.view(1, -1))
            torch.addmm(step_bias, state, step_kernel, out=step_values[i])
            activate(step_values[i])
        # y[l+1] is written straight into the next step's first stage state.
        if step + 1 == num_steps:
            target = y_final
        else:
            target = states[step + 1 if store else (step + 1) % 2, 0]
        torch.addmm(
            y.reshape(1, -1), weights, step_values.reshape(num_stages, -1), out=target.view(1, -1)
        )
    if num_steps == 0:
        y_final.copy_(y0)
    return y_final, (states if store else None), (values if store else None)


def _torch_backward(upstream, kernel, states, values, step_size, tableau, derivative):
    """(dy0, dkernel, dbias): the reverse sweep of ``_backward`` in torch ops."""
    import torch

    num_steps, num_stages = values.shape[0], values.shape[1]
    a, b = tableau.a, tableau.b
    # dz_i = act'(z_i) * lambda_i with lambda_i = h b_i p + sum_{j>i} h a_ji g_j and
    # g_j = dz_j @ kernel^T. Divided by scale_i = h b_i (or h where b_i = 0), the
    # bracket is (p if b_i else 0) + sum_j c_ji g_j; act'(z) * scale is formed
    # for every step at once.
    scales = [step_size * (b[i] if b[i] != 0.0 else 1.0) for i in range(num_stages)]
    pulls = [[(j, step_size * a[j][i] / scales[i]) for j in range(i + 1, num_stages)
              if a[j][i] != 0.0] for i in range(num_stages)]  # fmt: skip
    needed = {j for row in pulls for j, _ in row}
    slopes = derivative(values) * values.new_tensor(scales).view(1, num_stages, 1, 1)
    field_cotangents = torch.empty_like(values)
    costate = upstream
    for step in range(num_steps - 1, -1, -1):
        transposed = kernel[step].t()
        step_slopes, step_cotangents = slopes[step], field_cotangents[step]
        pulled = [None] * num_stages
        for i in range(num_stages - 1, -1, -1):
            bracket = costate if b[i] != 0.0 else None
            for j, weight in pulls[i]:
                if bracket is None:
                    bracket = pulled[j] * weight
                else:
                    bracket = torch.add(bracket, pulled[j], alpha=weight)
            if bracket is None:
                step_cotangents[i].zero_()
            else:
                torch.mul(step_slopes[i], bracket, out=step_cotangents[i])
            if i in needed:
                pulled[i] = torch.mm(step_cotangents[i], transposed)
        costate = torch.addmm(costate, step_cotangents.sum(0), transposed)
    flat_states = states.reshape(num_steps, -1, states.shape[-1])
    flat_cotangents = field_cotangents.reshape(num_steps, -1, states.shape[-1])
    dkernel = torch.bmm(flat_states.transpose(1, 2), flat_cotangents)
    dbias = flat_cotangents.sum(1)
    return costate, dkernel, dbias


_TORCH_FUNCTION = None


def _torch_adjoint(y0, kernel, bias, step_size, tableau, activation):
    """``integrate_with_adjoint`` on PyTorch. Without a gradient to record (no
    input requires one, or under ``torch.no_grad``) only y[L] is computed, in two
    steps' worth of buffers, so inference on large batches stores no stages."""
    import torch

    global _TORCH_FUNCTION
    y0, kernel, bias = (ops.convert_to_tensor(x) for x in (y0, kernel, bias))
    if not (torch.is_grad_enabled() and any(x.requires_grad for x in (y0, kernel, bias))):
        with torch.no_grad():
            y_final, _, _ = _torch_sweep(y0, kernel, bias, step_size, tableau, activation, False)
        return y_final
    if _TORCH_FUNCTION is None:

        class RungeKuttaAdjoint(torch.autograd.Function):
            @staticmethod
            def forward(ctx, y0, kernel, bias, step_size, tableau, activation):
                y_final, states, values = _torch_sweep(
                    y0, kernel, bias, step_size, tableau, activation, True
                )
                ctx.save_for_backward(kernel, states, values)
                ctx.settings = (step_size, tableau, derivative_from_output(activation))
                return y_final

            @staticmethod
            @torch.autograd.function.once_differentiable
            def backward(ctx, upstream):
                kernel, states, values = ctx.saved_tensors
                step_size, tableau, derivative = ctx.settings
                gradients = _torch_backward(
                    upstream.contiguous(), kernel, states, values, step_size, tableau, derivative
                )
                return (*gradients, None, None, None)

        _TORCH_FUNCTION = RungeKuttaAdjoint
    return _TORCH_FUNCTION.apply(y0, kernel, bias, step_size, tableau, activation)
