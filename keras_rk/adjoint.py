"""The discrete adjoint of a Runge-Kutta network: backpropagation as an RK scheme.

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
recursion itself, step by step from l = L-1 down to 0, with ``keras.ops``; the
backend's automatic differentiation is used only for the small pieces that are
not RK steps: the elementwise derivative act'(z), the head and loss (which give
p[L]), layers before the RK block (which take p[0] to the input gradient), and
the map from step-size parameters to step sizes. See docs/adjoint.md for the
derivation in the library's row-vector convention and why this equals
backpropagation.

Row-vector convention (as in ``keras_rk.integrate``): a state is a row y of
shape (batch, width), f(y) = act(y @ kernel + bias) with kernel = K^T, so
f_y(Y)^T p is ``(p * act'(z)) @ kernel^T`` and f_u(Y)^T p is the pair
(Y^T (p * act'(z)), sum over the batch of p * act'(z)), with z = Y @ kernel + bias.

Activations must act elementwise (tanh, relu, softplus, sigmoid, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
from keras import ops

from keras_rk.integrate import _weighted_sum, runge_kutta_stages, runge_kutta_step
from keras_rk.layers.rk_block import RKBlock
from keras_rk.tableaus import ButcherTableau

__all__ = ["costate_trajectory", "gradients", "tangent_trajectory"]


# ---------------------------------------------------------------------------
# The one backend-specific piece: the gradient of a small scalar function.


def _grad(fn: Callable, args: Sequence) -> list:
    """The gradient of the scalar fn(*args) with respect to every argument, by the
    backend's automatic differentiation. Only for small pieces (a head, a loss,
    an activation, a layer before the block), never for the loop over steps."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return list(jax.grad(fn, argnums=tuple(range(len(args))))(*args))
    if backend == "tensorflow":
        import tensorflow as tf

        args = [tf.convert_to_tensor(a) for a in args]
        with tf.GradientTape() as tape:
            for a in args:
                tape.watch(a)
            value = fn(*args)
        grads = tape.gradient(value, args, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return [tf.convert_to_tensor(g) for g in grads]
    if backend == "torch":
        import torch

        leaves = [a.detach().clone().requires_grad_(True) for a in args]
        with torch.enable_grad():
            value = fn(*leaves)
            grads = torch.autograd.grad(value, leaves, allow_unused=True)
        return [
            torch.zeros_like(leaf) if g is None else g.detach() for leaf, g in zip(leaves, grads)
        ]
    raise NotImplementedError(
        f"keras_rk.adjoint supports the backends 'jax', 'tensorflow' and 'torch'. "
        f"Received: backend={backend!r}"
    )


def _value(variable):
    """A plain tensor (no autodiff history) holding a variable's value."""
    tensor = ops.convert_to_tensor(variable)
    return tensor.detach() if hasattr(tensor, "detach") else tensor


def _activation_derivative(activation: Callable, z):
    """act'(z) for an elementwise activation: the gradient of sum(act(z))."""
    return _grad(lambda t: ops.sum(activation(t)), [z])[0]


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
    kernel = ops.cast(_value(block.kernel), dtype)
    bias = ops.cast(_value(block.bias), dtype)
    if block.step_size_mode == "fixed":
        steps = ops.full((block.num_steps,), block.step_size, dtype=dtype)
    else:
        steps = ops.cast(block.step_sizes(_value(block.step_parameters)), dtype)
    return kernel, bias, steps


def _forward_states(block: RKBlock, y0, kernel, bias, steps) -> list:
    """y[0], ..., y[L], each (batch, width), by the block's own step.

    A Python loop rather than ``integrate``'s compiled loop: the adjoint pass is
    a Python loop too, and an eager ``scan`` would be compiled anew on every call.
    """
    tableau, activation = block.tableau, block.activation
    iterations = block.num_implicit_iterations
    states = [y0]
    for layer in range(block.num_steps):
        states.append(
            runge_kutta_step(
                states[-1],
                kernel[layer],
                bias[layer],
                steps[layer],
                tableau,
                activation,
                iterations,
            )
        )
    return states


def _block_adjoint(
    block: RKBlock,
    y0,
    p_final,
    *,
    costate_tableau: ButcherTableau | None = None,
    num_adjoint_iterations: int | None = None,
    keep_costates: bool = False,
):
    """The adjoint recursion (3.20)-(3.26) through one RKBlock.

    Returns p[0], the gradients (d kernel (L, D, D), d bias (L, D), d h (L,)) and,
    with ``keep_costates``, the list p[0], ..., p[L].
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
    upper = all(m[i][j] == 0.0 for i in range(s) for j in range(i + 1))
    sweeps = (
        block.num_implicit_iterations
        if num_adjoint_iterations is None
        else int(num_adjoint_iterations)
    )

    kernel, bias, steps = _block_weights(block, dtype)
    trajectory = _forward_states(block, y0, kernel, bias, steps)
    activation, iterations = block.activation, block.num_implicit_iterations

    p = ops.cast(p_final, dtype)
    costates = [p]
    d_kernel, d_bias, d_steps = [], [], []
    for layer in reversed(range(block.num_steps)):
        y = trajectory[layer]
        w, beta, h = kernel[layer], bias[layer], steps[layer]
        states, stages = runge_kutta_stages(y, w, beta, h, tableau, activation, iterations)
        slopes = [
            _activation_derivative(activation, ops.einsum("bi,ij->bj", state, w) + beta)
            for state in states
        ]

        def pull(v, j, slopes=slopes, w=w):
            """f_y(Y_j)^T v in the row-vector convention: (v * act'(z_j)) @ kernel^T."""
            return ops.einsum("bj,ij->bi", v * slopes[j], w)

        def stage_sum(i, pulled, m=m, h=h, p=p):
            total = p
            for j in range(s):
                if m[i][j] != 0.0 and pulled[j] is not None:
                    total = total + h * m[i][j] * pulled[j]
            return total

        if upper:
            stage_costates = [None] * s
            pulled = [None] * s
            for i in reversed(range(s)):
                stage_costates[i] = stage_sum(i, pulled)
                pulled[i] = pull(stage_costates[i], i)
        else:
            stage_costates = [p] * s
            pulled = [pull(p, j) for j in range(s)]
            for _ in range(sweeps):
                stage_costates = [stage_sum(i, pulled) for i in range(s)]
                pulled = [pull(stage_costates[j], j) for j in range(s)]

        # Gradients with xi_i = h b_i p_i (eq. 3.20's substitution), eq. (3.19)
        # summed over the stages because u is the same in all of them (eq. 2.12).
        grad_w, grad_b, grad_h = None, None, None
        for i in range(s):
            if tableau.b[i] == 0.0:
                continue
            xi = (h * tableau.b[i]) * (stage_costates[i] * slopes[i])
            gw = ops.einsum("bi,bj->ij", states[i], xi)
            gb = ops.sum(xi, axis=0)
            # dF/dh: through y[l+1] = y + h sum b_i k_i and Y_i = y + h sum a_ij k_j.
            inner = tableau.b[i] * ops.sum(p * stages[i])
            increment = None
            for j in range(s):
                if tableau.a[i][j] != 0.0:
                    term = tableau.a[i][j] * stages[j]
                    increment = term if increment is None else increment + term
            if increment is not None:
                inner = inner + h * tableau.b[i] * ops.sum(pulled[i] * increment)
            grad_w = gw if grad_w is None else grad_w + gw
            grad_b = gb if grad_b is None else grad_b + gb
            grad_h = inner if grad_h is None else grad_h + inner
        d_kernel.append(grad_w)
        d_bias.append(grad_b)
        d_steps.append(grad_h)

        p = _weighted_sum(p, h, costate.b, pulled)
        if keep_costates:
            costates.append(p)

    grads = (
        ops.stack(d_kernel[::-1]),
        ops.stack(d_bias[::-1]),
        ops.stack(d_steps[::-1]),
    )
    return p, grads, costates[::-1] if keep_costates else None


# ---------------------------------------------------------------------------
# Models: a chain of layers with RK blocks in it.


def _chain(model: keras.Model) -> list:
    """The layers of `model` in order, checked to form a single chain."""
    layers = list(model.layers)
    if isinstance(model, keras.Sequential):
        return layers
    previous = None
    chain = []
    for layer in layers:
        nodes = layer._inbound_nodes
        parents = [node.operation for node in nodes[0].parent_nodes] if nodes else []
        if len(nodes) != 1 or (previous is not None and parents != [previous]):
            raise ValueError(
                f"keras_rk.adjoint.gradients needs a model whose layers form one chain "
                f"(each layer called once, on the previous layer's output), such as "
                f"keras_rk.build makes. Layer '{layer.name}' breaks the chain."
            )
        previous = layer
        if not isinstance(layer, keras.layers.InputLayer):
            chain.append(layer)
    return chain


def _loss_function(loss: Any) -> Callable:
    if isinstance(loss, str):
        loss = keras.losses.get(loss)
    if not callable(loss):
        raise ValueError(
            f"`loss` must be a Keras loss name, a keras.losses.Loss or a callable "
            f"(y_true, y_pred) -> loss. Received: loss={loss!r}"
        )

    def scalar_loss(y_true, y_pred):
        value = loss(y_true, y_pred)
        return ops.mean(value) if len(value.shape) else value

    return scalar_loss


def _call(layer, trainable, non_trainable, inputs):
    outputs, _ = layer.stateless_call(trainable, non_trainable, inputs)
    return outputs


def _pullback(layer, inputs, cotangent):
    """Gradients of <layer(inputs), cotangent> for the layer's trainable weights
    and its input, by the backend's autodiff (a small, non-RK layer)."""
    trainable = [_value(v) for v in layer.trainable_variables]
    non_trainable = [_value(v) for v in layer.non_trainable_variables]
    count = len(trainable)

    def inner(*args):
        out = _call(layer, list(args[:count]), non_trainable, args[count])
        return ops.sum(out * cotangent)

    grads = _grad(inner, trainable + [inputs])
    return grads[:count], grads[count]


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
        y: targets for `loss`.
        loss: a Keras loss name, ``keras.losses.Loss`` or callable
            (y_true, y_pred); a per-sample result is averaged over the batch, as
            Keras's losses do. Default 'sparse_categorical_crossentropy'.
        return_input_gradient: also return dF/dx.
        num_adjoint_iterations: fixed-point sweeps for the stage costates of
            implicit tableaus; default, each block's ``num_implicit_iterations``.

    Returns:
        A list of tensors aligned with ``model.trainable_weights``; with
        ``return_input_gradient``, the pair (that list, dF/dx).

    Example:

    >>> model = keras_rk.build("rk4", depth=3, width=4)
    >>> grads = gradients(model, np.ones((2, 2)), np.array([0, 1]))
    >>> len(grads) == len(model.trainable_weights)
    True
    """
    layers = _chain(model)
    blocks = [i for i, layer in enumerate(layers) if isinstance(layer, RKBlock)]
    for index in blocks:
        if layers[index].return_trajectory:
            raise ValueError(
                f"RKBlock '{layers[index].name}' returns its trajectory; the adjoint "
                f"needs only y[L] downstream. Build it with return_trajectory=False."
            )
        layers[index].tableau.adjoint()  # fails early, with the reason, for b_i = 0
    scalar_loss = _loss_function(loss)
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
            value = _forward_states(layer, value, kernel, bias, steps)[-1]
        else:
            trainable = [_value(v) for v in layer.trainable_variables]
            non_trainable = [_value(v) for v in layer.non_trainable_variables]
            value = _call(layer, trainable, non_trainable, value)
        inputs.append(value)

    by_variable: dict[int, Any] = {}

    # p[L] = grad F(y[L]), F = loss of the head (all layers after the last block).
    head = layers[last + 1 :]
    head_trainable = [[_value(v) for v in layer.trainable_variables] for layer in head]
    head_fixed = [[_value(v) for v in layer.non_trainable_variables] for layer in head]
    sizes = [len(t) for t in head_trainable]

    def head_loss(*args):
        value, offset = args[-1], 0
        for layer, size, fixed in zip(head, sizes, head_fixed):
            value = _call(layer, list(args[offset : offset + size]), fixed, value)
            offset += size
        return scalar_loss(y, value)

    flat = [t for ts in head_trainable for t in ts]
    grads = _grad(head_loss, flat + [inputs[-1]])
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
                parameters = _value(layer.step_parameters)
                found["step_parameters"] = _grad(
                    lambda t, layer=layer, g=g_steps: ops.sum(
                        ops.cast(layer.step_sizes(t), g.dtype) * g
                    ),
                    [parameters],
                )[0]
            for variable in layer.trainable_variables:
                by_variable[id(variable)] = found[variable.name]
        else:
            layer_grads, costate = _pullback(layer, layer_input, costate)
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
    x = ops.convert_to_tensor(x, dtype=block.compute_dtype)
    _, _, costates = _block_adjoint(
        block,
        x,
        ops.convert_to_tensor(p_final, dtype=x.dtype),
        costate_tableau=costate_tableau,
        num_adjoint_iterations=num_adjoint_iterations,
        keep_costates=True,
    )
    return ops.stack(costates, axis=1)


def tangent_trajectory(block: RKBlock, x, dy0, *, num_iterations: int | None = None):
    """The variations delta y[0], ..., delta y[L] of the linearised forward pass.

    delta y[l+1] = delta y[l] + h sum_i b_i f_y(Y_i) delta Y_i with
    delta Y_i = delta y[l] + h sum_j a_ij f_y(Y_j) delta Y_j: the block's own
    tableau applied to the variational equation along the forward stages.

    Returns:
        Shape (batch, L + 1, width), delta y[0] = `dy0` first.
    """
    x = ops.convert_to_tensor(x, dtype=block.compute_dtype)
    dy = ops.convert_to_tensor(dy0, dtype=x.dtype)
    tableau, activation = block.tableau, block.activation
    iterations = block.num_implicit_iterations
    sweeps = iterations if num_iterations is None else int(num_iterations)
    s = tableau.num_stages
    kernel, bias, steps = _block_weights(block, x.dtype)
    trajectory = _forward_states(block, x, kernel, bias, steps)
    tangents = [dy]
    for layer in range(block.num_steps):
        w, beta, h = kernel[layer], bias[layer], steps[layer]
        states, _ = runge_kutta_stages(
            trajectory[layer], w, beta, h, tableau, activation, iterations
        )
        slopes = [
            _activation_derivative(activation, ops.einsum("bi,ij->bj", st, w) + beta)
            for st in states
        ]

        def push(v, j, slopes=slopes, w=w):
            """f_y(Y_j) v in the row-vector convention: (v @ kernel) * act'(z_j)."""
            return ops.einsum("bi,ij->bj", v, w) * slopes[j]

        def stage(i, pushed, h=h, dy=dy):
            total = dy
            for j in range(s):
                if tableau.a[i][j] != 0.0 and pushed[j] is not None:
                    total = total + h * tableau.a[i][j] * pushed[j]
            return total

        pushed = [None] * s
        if tableau.is_explicit:
            for i in range(s):
                pushed[i] = push(stage(i, pushed), i)
        else:
            pushed = [push(dy, j) for j in range(s)]
            for _ in range(sweeps):
                pushed = [push(stage(i, pushed), i) for i in range(s)]
        dy = _weighted_sum(dy, h, tableau.b, pushed)
        tangents.append(dy)
    return ops.stack(tangents, axis=1)
