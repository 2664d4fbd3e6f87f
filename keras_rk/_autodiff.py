"""The gradient of a small scalar function by the backend's own autodiff.

Only for small pieces that are not Runge-Kutta steps (an activation, a head and
its loss, a layer before an RK block); the loops over steps have their own
hand-written adjoints (``keras_rk.adjoint_gradient``, ``keras_rk.optimal_control``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras


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
