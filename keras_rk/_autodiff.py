"""Gradients of small pieces by the backend's own autodiff, and plain tensors.

Only for small pieces that are not Runge-Kutta steps (an activation, a head and
its loss, a layer before an RK block); the loops over steps have their own
hand-written adjoints (``keras_rk.adjoint_gradient``, ``keras_rk.optimal_control``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
from keras import ops


def grad(fn: Callable, args: Sequence) -> list:
    """The gradient of the scalar fn(*args) with respect to every argument; an
    argument fn does not depend on gets zeros."""
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
        f"keras_rk.optimal_control supports the backends 'jax', 'tensorflow' and "
        f"'torch'. Received: backend={backend!r}"
    )


def detached(variable):
    """A plain tensor (no autodiff history) holding a variable's value."""
    tensor = ops.convert_to_tensor(variable)
    return tensor.detach() if hasattr(tensor, "detach") else tensor


def layer_values(layer):
    """Plain tensors of the layer's (trainable, non-trainable) variables."""
    return (
        [detached(v) for v in layer.trainable_variables],
        [detached(v) for v in layer.non_trainable_variables],
    )


def stateless_call(layer, trainable, non_trainable, inputs):
    outputs, _ = layer.stateless_call(trainable, non_trainable, inputs)
    return outputs


def layer_pullback(layer, inputs, cotangent):
    """Gradients of <layer(inputs), cotangent> for the layer's trainable weights
    and its input, by the backend's autodiff (a small, non-RK layer)."""
    trainable, non_trainable = layer_values(layer)
    count = len(trainable)

    def inner(*args):
        out = stateless_call(layer, list(args[:count]), non_trainable, args[count])
        return ops.sum(out * cotangent)

    grads = grad(inner, trainable + [inputs])
    return grads[:count], grads[count]
