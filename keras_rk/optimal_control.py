"""Section 3: the discrete adjoint of a Runge-Kutta network, backpropagation as an RK scheme.

Section 3 of the paper shows that the gradient of the training loss F(y[L])
with respect to the controls u[l] = (K[l], b[l]) comes from a costate p that is
itself integrated backwards by a Runge-Kutta method, the adjoint tableau
(Ã, b̃) of condition (3.23) (``ButcherTableau.adjoint()``):

    p[L]   = grad F(y[L])                                  (3.20, final condition)
    p_i    = p[l+1] + h sum_j (b̃_j - ã_ij) f_y(Y_j)^T p_j   (3.21 = 3.26 solved for p[l+1])
    p[l]   = p[l+1] + h sum_i b̃_i f_y(Y_i)^T p_i            (3.20 = 3.24 with 3.25)
    dF/du[l] = h sum_i b_i f_u(Y_i)^T p_i                   (3.19/3.22 with xi_i = h b_i p_i)

where Y_i are the forward stage states of step l (eq. 2.12; for an implicit
tableau the stages of the last fixed-point sweep). This module runs that
recursion itself, from l = L-1 down to 0 in the compiled loop of
``keras_rk.loop``, with the stage recursion and pullback of ``keras_rk.rk``; the
backend's automatic differentiation is used only for the small pieces that are
not RK steps (``keras_rk._autodiff``): act'(z) of activations other than
``keras_rk.activations.derivative``'s exact ones, the head and loss (which give
p[L]), layers before the RK block (which take p[0] to the input gradient), and
the map from step-size parameters to step sizes. See docs/adjoint.md for the
derivation in the library's row-vector convention and why this equals
backpropagation.

Row-vector convention (as in ``keras_rk.rk``): a state is a row y of
shape (batch, width), f(y) = act(y @ kernel + bias) with kernel = K^T, so
f_y(Y)^T p is ``(p * act'(z)) @ kernel^T`` and f_u(Y)^T p is the pair
(Y^T (p * act'(z)), sum over the batch of p * act'(z)), with z = Y @ kernel + bias.

Activations must act elementwise (tanh, relu, softplus, sigmoid, ...). The
compiled gradient ``RKBlock(gradient='adjoint')`` trains with, for explicit
tableaus, is ``keras_rk.adjoint_gradient``; this module is the analysis, for any
tableau whose weights b_i are nonzero.

Example:

>>> import numpy as np
>>> import keras_rk
>>> model = keras_rk.build("rk4", depth=3, width=4)
>>> grads = gradients(model, np.ones((2, 2)), np.array([0, 1]))
>>> len(grads) == len(model.trainable_weights)
True
>>> [tuple(g.shape) for g in grads]
[(3, 4, 4), (3, 4), (4, 2), (2,)]
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_rk._autodiff import detached, grad, layer_pullback, layer_values, stateless_call
from keras_rk._gradient_inputs import checked_labels, loss_function, model_chain, sweep_count
from keras_rk.activations import derivative
from keras_rk.layers.rk_block import RKBlock
from keras_rk.loop import integrate, loop
from keras_rk.rk import (
    dense_field,
    dense_preactivation,
    dense_pullback,
    dense_pushforward,
    runge_kutta_step,
    solve_stages,
    tableau_stages,
    weighted_sum,
)
from keras_rk.tableaus import ButcherTableau

__all__ = ["costate_trajectory", "gradients", "tangent_trajectory"]


# ---------------------------------------------------------------------------
# One RK block: forward states, then the adjoint recursion backwards.


def _check_costate_tableau(forward: ButcherTableau, costate: ButcherTableau | None):
    if costate is None:
        # Raises, with the reason, when some b_i = 0.
        return forward.adjoint()
    if not isinstance(costate, ButcherTableau):
        raise ValueError(
            f"`costate_tableau` must be a keras_rk.ButcherTableau or None (the adjoint "
            f"tableau of condition 3.23). Received: costate_tableau={costate!r}"
        )
    if costate.num_stages != forward.num_stages:
        raise ValueError(
            f"`costate_tableau` must have as many stages as the block's tableau "
            f"'{forward.name}' ({forward.num_stages}): its stage i is paired with the "
            f"forward stage Y_i. Received: '{costate.name}' with {costate.num_stages}"
        )
    return costate


def _block_weights(block: RKBlock, dtype):
    kernel = ops.cast(detached(block.kernel), dtype)
    bias = ops.cast(detached(block.bias), dtype)
    if block.step_size_mode == "fixed":
        steps = ops.full((block.num_steps,), block.step_size, dtype=dtype)
    else:
        steps = ops.cast(block.step_sizes(detached(block.step_parameters)), dtype)
    return kernel, bias, steps


def _forward_states(block: RKBlock, y0, kernel, bias, steps):
    """y[0], ..., y[L-1] stacked to (L, batch, width), and y[L]."""
    tableau, activation = block.tableau, block.activation
    iterations = block.num_implicit_iterations

    def step(y, step_kernel, step_bias, step_size):
        return runge_kutta_step(
            y, step_kernel, step_bias, step_size, tableau, activation, iterations
        )

    trajectory = ops.transpose(integrate(step, y0, (kernel, bias, steps), True), (1, 0, 2))
    return trajectory[:-1], trajectory[-1]


def _stages_and_slopes(block: RKBlock, y, kernel, bias, step_size):
    """The forward stage states Y_i and values k_i of one step, and act'(z_i)."""
    activation = block.activation
    field = lambda state: dense_field(state, kernel, bias, activation)
    states, stages = tableau_stages(
        field, y, step_size, block.tableau, block.num_implicit_iterations
    )
    slopes = [
        derivative(activation, k, lambda Y=Y: dense_preactivation(Y, kernel, bias))
        for Y, k in zip(states, stages)
    ]
    return states, stages, slopes


def _block_adjoint(
    block: RKBlock,
    y0,
    p_final,
    *,
    costate_tableau: ButcherTableau | None = None,
    num_adjoint_iterations: int | None = None,
):
    """The adjoint recursion (3.20)-(3.26) through one RKBlock.

    Returns p[0], the gradients (d kernel (L, D, D), d bias (L, D), d h (L,)) and
    the costates p[0], ..., p[L] stacked to (L + 1, batch, width).
    """
    dtype = y0.dtype
    tableau = block.tableau
    costate = _check_costate_tableau(tableau, costate_tableau)
    s = tableau.num_stages
    # p_i = p[l+1] + h sum_j m_ij f_y(Y_j)^T p_j with m_ij = b̃_j - ã_ij; for the
    # adjoint tableau m_ij = b_j a_ji / b_i, strictly upper triangular when the
    # forward tableau is explicit, so the stage costates follow by back
    # substitution, last stage first. Otherwise they solve a linear system,
    # here by fixed-point sweeps that contract like the forward's.
    m = [[costate.b[j] - costate.a[i][j] for j in range(s)] for i in range(s)]
    sweeps = (
        block.num_implicit_iterations
        if num_adjoint_iterations is None
        else int(num_adjoint_iterations)
    )
    kernel, bias, steps = _block_weights(block, dtype)
    trajectory, _ = _forward_states(block, y0, kernel, bias, steps)

    def body(p, y, w, beta, h):
        states, stages, slopes = _stages_and_slopes(block, y, w, beta, h)
        pull = lambda j, v: dense_pullback(v, slopes[j], w)[1]
        stage_costates, pulled = solve_stages(pull, [p] * s, h, m, sweeps)

        # Gradients with xi_i = h b_i p_i (eq. 3.20's substitution), eq. (3.19)
        # summed over the stages because u is the same in all of them (eq. 2.12);
        # dF/dh through y[l+1] = y + h sum b_i k_i and Y_i = y + h sum a_ij k_j.
        grad_w, grad_b, grad_h = 0.0, 0.0, 0.0
        for i in (i for i in range(s) if tableau.b[i] != 0.0):
            xi, _ = dense_pullback((h * tableau.b[i]) * stage_costates[i], slopes[i], w)
            grad_w = grad_w + ops.einsum("bi,bj->ij", states[i], xi)
            grad_b = grad_b + ops.sum(xi, axis=0)
            inner = tableau.b[i] * ops.sum(p * stages[i])
            increment = weighted_sum(None, 1.0, tableau.a[i], stages)
            if increment is not None:
                inner = inner + h * tableau.b[i] * ops.sum(pulled[i] * increment)
            grad_h = grad_h + inner
        p = weighted_sum(p, h, costate.b, pulled)
        return p, (grad_w, grad_b, grad_h, p)

    width = kernel.shape[-1]
    p_final = ops.cast(p_final, dtype)
    p0, (d_kernel, d_bias, d_steps, costates) = loop(
        body,
        p_final,
        (trajectory, kernel, bias, steps),
        reverse=True,
        output_shapes=[(width, width), (width,), (), tuple(ops.shape(p_final))],
    )
    costates = ops.concatenate([costates, ops.expand_dims(p_final, 0)], axis=0)
    return p0, (d_kernel, d_bias, d_steps), costates


def gradients(
    model: keras.Model,
    x,
    y,
    loss: Any = "sparse_categorical_crossentropy",
    *,
    return_input_gradient: bool = False,
    num_adjoint_iterations: int | None = None,
):
    """The gradient of the loss by the discrete adjoint (eqs. 3.20-3.26).

    The layers after the last ``RKBlock`` (the head) and the loss make
    F(y[L]); p[L] = grad F(y[L]). Each ``RKBlock`` is passed backwards by the
    partitioned Runge-Kutta recursion with the adjoint tableau of (3.23), which
    also gives its (K, b) gradients (eq. 3.19) and, for learned step sizes,
    those of its step parameters. Other layers (``Augment``) pass the costate
    on by their vector-Jacobian product.

    Args:
        model: a model whose layers form one chain, e.g. from ``keras_rk.build``.
            Its RK blocks must not return trajectories, and every tableau must
            have all weights b_i != 0 (otherwise no adjoint tableau exists).
        x: inputs, shape (batch, input_dim).
        y: targets for `loss`; for sparse categorical cross-entropy, class
            indices in [0, number of outputs), checked.
        loss: a Keras loss name, ``keras.losses.Loss`` or callable
            (y_true, y_pred); a per-sample result is averaged over the batch, as
            Keras's losses do. Default 'sparse_categorical_crossentropy'.
        return_input_gradient: also return dF/dx.
        num_adjoint_iterations: fixed-point sweeps for the stage costates of
            implicit tableaus; default, each block's ``num_implicit_iterations``.

    Returns:
        A list of tensors aligned with ``model.trainable_weights``; with
        ``return_input_gradient``, the pair (that list, dF/dx).
    """
    num_adjoint_iterations = sweep_count(num_adjoint_iterations, "num_adjoint_iterations")
    layers = model_chain(model)
    blocks = [i for i, layer in enumerate(layers) if isinstance(layer, RKBlock)]
    for index in blocks:
        if layers[index].return_trajectory:
            raise ValueError(
                f"RKBlock '{layers[index].name}' returns its trajectory; the adjoint "
                f"needs only y[L] downstream. Build it with return_trajectory=False."
            )
        layers[index].tableau.adjoint()  # fails early, with the reason, for b_i = 0
    y = checked_labels(y, loss, model)
    scalar_loss = loss_function(loss)
    dtype = layers[0].compute_dtype if layers else model.compute_dtype
    x = ops.convert_to_tensor(x, dtype=dtype)
    y = ops.convert_to_tensor(y)

    # Forward: the input of every layer up to the head.
    last = blocks[-1] if blocks else -1
    inputs = [x]
    for layer in layers[: last + 1]:
        value = inputs[-1]
        if isinstance(layer, RKBlock):
            kernel, bias, steps = _block_weights(layer, value.dtype)
            value = _forward_states(layer, value, kernel, bias, steps)[1]
        else:
            value = stateless_call(layer, *layer_values(layer), value)
        inputs.append(value)

    by_variable: dict[int, Any] = {}

    # p[L] = grad F(y[L]), F = loss of the head (all layers after the last block).
    head = layers[last + 1 :]
    head_trainable, head_fixed = zip(*[layer_values(layer) for layer in head]) if head else ((), ())
    sizes = [len(t) for t in head_trainable]

    def head_loss(*args):
        value, offset = args[-1], 0
        for layer, size, fixed in zip(head, sizes, head_fixed):
            value = stateless_call(layer, list(args[offset : offset + size]), fixed, value)
            offset += size
        return scalar_loss(y, value)

    flat = [t for ts in head_trainable for t in ts]
    grads = grad(head_loss, flat + [inputs[-1]])
    offset = 0
    for layer, size in zip(head, sizes):
        for variable, g in zip(layer.trainable_variables, grads[offset : offset + size]):
            by_variable[id(variable)] = g
        offset += size
    costate = grads[-1]

    # Backwards through the chain: RK blocks by the adjoint recursion.
    for index in reversed(range(last + 1)):
        layer, layer_input = layers[index], inputs[index]
        if isinstance(layer, RKBlock):
            costate, (g_kernel, g_bias, g_steps), _ = _block_adjoint(
                layer, layer_input, costate, num_adjoint_iterations=num_adjoint_iterations
            )
            found = {"kernel": g_kernel, "bias": g_bias}
            if layer.step_size_mode != "fixed":
                sizes_pullback = lambda t, layer=layer, g=g_steps: ops.sum(
                    ops.cast(layer.step_sizes(t), g.dtype) * g
                )
                parameters = detached(layer.step_parameters)
                found["step_parameters"] = grad(sizes_pullback, [parameters])[0]
            for variable in layer.trainable_variables:
                by_variable[id(variable)] = found[variable.name]
        else:
            layer_grads, costate = layer_pullback(layer, layer_input, costate)
            for variable, g in zip(layer.trainable_variables, layer_grads):
                by_variable[id(variable)] = g

    result = []
    for variable in model.trainable_weights:
        g = by_variable.get(id(variable))
        result.append(ops.zeros(variable.shape, dtype=variable.dtype) if g is None else g)
    if return_input_gradient:
        return result, costate
    return result


# ---------------------------------------------------------------------------
# Symplecticity made visible: the pair (tangent, costate) and p . delta y.


def costate_trajectory(
    block: RKBlock,
    x,
    p_final,
    *,
    costate_tableau: ButcherTableau | None = None,
    num_adjoint_iterations: int | None = None,
):
    """The costates p[0], ..., p[L] of `block` from p[L] = `p_final`.

    By default the costate is integrated with the adjoint tableau (Ã, b̃) of
    condition (3.23): this is the discrete adjoint, and p[l] is the gradient of
    <p_final, y[L]> with respect to y[l]. With ``costate_tableau`` another
    tableau of the same size takes its place, e.g. the block's own tableau: the
    costate equation p' = -f_y^T p discretised by the same method as the state
    ("optimise, then discretise"). For a symplectic tableau Ã = A, so both agree.

    Args:
        block: a built ``RKBlock``.
        x: the block's input y[0], shape (batch, width).
        p_final: p[L], shape (batch, width).
        costate_tableau: a ``ButcherTableau`` with as many stages; default the
            adjoint tableau.
        num_adjoint_iterations: fixed-point sweeps when the stage costates are
            coupled; default the block's ``num_implicit_iterations``.

    Returns:
        Shape (batch, L + 1, width), p[0] first.
    """
    num_adjoint_iterations = sweep_count(num_adjoint_iterations, "num_adjoint_iterations")
    x = ops.convert_to_tensor(x, dtype=block.compute_dtype)
    _, _, costates = _block_adjoint(
        block,
        x,
        ops.convert_to_tensor(p_final, dtype=x.dtype),
        costate_tableau=costate_tableau,
        num_adjoint_iterations=num_adjoint_iterations,
    )
    return ops.transpose(costates, (1, 0, 2))


def tangent_trajectory(block: RKBlock, x, dy0, *, num_iterations: int | None = None):
    """The variations delta y[0], ..., delta y[L] of the linearised forward pass.

    delta y[l+1] = delta y[l] + h sum_i b_i f_y(Y_i) delta Y_i with
    delta Y_i = delta y[l] + h sum_j a_ij f_y(Y_j) delta Y_j: the block's own
    tableau applied to the variational equation along the forward stages.

    Returns:
        Shape (batch, L + 1, width), delta y[0] = `dy0` first.
    """
    x = ops.convert_to_tensor(x, dtype=block.compute_dtype)
    dy0 = ops.convert_to_tensor(dy0, dtype=x.dtype)
    tableau = block.tableau
    sweeps = sweep_count(num_iterations, "num_iterations")
    sweeps = block.num_implicit_iterations if sweeps is None else sweeps
    kernel, bias, steps = _block_weights(block, x.dtype)
    trajectory, _ = _forward_states(block, x, kernel, bias, steps)

    def body(dy, y, w, beta, h):
        _, _, slopes = _stages_and_slopes(block, y, w, beta, h)
        push = lambda j, v: dense_pushforward(v, slopes[j], w)
        _, pushed = solve_stages(push, [dy] * tableau.num_stages, h, tableau.a, sweeps)
        dy = weighted_sum(dy, h, tableau.b, pushed)
        return dy, (dy,)

    _, (tangents,) = loop(
        body, dy0, (trajectory, kernel, bias, steps), output_shapes=[tuple(ops.shape(dy0))]
    )
    tangents = ops.concatenate([ops.expand_dims(dy0, 0), tangents], axis=0)
    return ops.transpose(tangents, (1, 0, 2))
