"""The one compiled loop over the L steps of a network, forward or reverse.

``loop`` runs ``carry, outputs = body(carry, *per_step[l])`` for l = 0, ..., L-1
(or L-1, ..., 0) as one compiled loop, so the traced graph does not grow with L,
and stacks each step's outputs along a new leading axis of length L, in step
order. TensorFlow runs it as a ``while_loop`` with a fixed trip count
(``maximum_iterations``) that writes into preallocated buffers: XLA
(``jit_compile=True``) can differentiate that, unlike ``scan``/``fori_loop``,
whose gradient needs a growing tensor list. The other backends use ``scan``,
which JAX can differentiate and a ``while_loop`` it cannot.

Example:

>>> import numpy as np
>>> from keras import ops
>>> final, (states,) = loop(lambda y, k: (y + k, (y + k,)), ops.zeros((2,)),
...                         (np.ones((3, 2), "float32"),), output_shapes=[(2,)])
>>> np.asarray(states, dtype=float).tolist()
[[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]
>>> doubling = np.full((3,), 2.0, "float32")
>>> np.asarray(integrate(lambda y, k: y * k, ops.ones((1, 1)), (doubling,)), dtype=float).tolist()
[[8.0]]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
from keras import ops


def loop(
    body: Callable,
    carry,
    per_step: Sequence,
    *,
    reverse: bool = False,
    output_shapes: Sequence[tuple] = (),
):
    """``(final carry, outputs)`` of ``body`` over the L steps.

    Args:
        body: ``(carry, *xs) -> (carry, outputs)`` with ``xs`` the step's slices
            of `per_step` and ``outputs`` a tuple of tensors (may be empty).
        carry: a tensor.
        per_step: tensors whose leading axis has length L.
        reverse: run l = L-1 down to 0; outputs stay in step order.
        output_shapes: the shape of each of body's outputs (TensorFlow writes
            them into buffers allocated before the loop); outputs take the
            carry's dtype.

    Returns:
        The last carry and a tuple with one (L, *shape) tensor per output.
    """
    per_step = tuple(ops.convert_to_tensor(x) for x in per_step)
    num_steps = per_step[0].shape[0]
    if keras.backend.backend() == "tensorflow":
        return _while_loop(body, carry, per_step, num_steps, reverse, output_shapes)

    def scan_body(carry, xs):
        carry, outputs = body(carry, *xs)
        return carry, tuple(outputs)

    carry, outputs = ops.scan(scan_body, carry, per_step, length=num_steps, reverse=reverse)
    return carry, tuple(outputs) if outputs is not None else ()


def _while_loop(body, carry, per_step, num_steps, reverse, output_shapes):
    buffers = tuple(
        ops.zeros((num_steps,) + tuple(shape), dtype=carry.dtype) for shape in output_shapes
    )

    def loop_body(i, carry, buffers):
        index = num_steps - 1 - i if reverse else i
        carry, outputs = body(carry, *[ops.take(x, index, axis=0) for x in per_step])
        # scatter_update, not slice_update: TensorFlow lowers the latter to
        # XlaDynamicUpdateSlice, which has no gradient, so a differentiated output
        # (a trajectory) failed to train; XLA turns this scatter into the same update.
        buffers = tuple(
            ops.scatter_update(
                buffer,
                ops.reshape(index, (1, 1)),
                ops.expand_dims(ops.cast(output, buffer.dtype), 0),
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


def integrate(
    step: Callable,
    y0,
    per_step: Sequence,
    return_trajectory: bool = False,
    *,
    xla: bool = False,
):
    """Applies ``y <- step(y, *per_step[l])`` for l = 0, ..., L-1 with ``loop``.

    With ``xla``, TensorFlow compiles the loop with XLA while it traces a graph
    that is not already XLA-compiled (see ``use_xla_function``); the dense
    RKBlock asks for it, the convolutional one does not (oneDNN's convolutions
    outrun XLA's on a CPU).

    Returns:
        y[L], the shape of y0; or with ``return_trajectory`` all L + 1 states,
        shape (batch, L + 1, ...), y[0] first.
    """
    if xla and use_xla_function():
        run = lambda y0, *per_step: _integrate(step, y0, per_step, return_trajectory)
        return _with_xla_gradient(run)(*map(read_tensor, (y0, *per_step)))
    return _integrate(step, y0, per_step, return_trajectory)


def _integrate(step, y0, per_step, return_trajectory):
    y0 = ops.convert_to_tensor(y0)
    if not return_trajectory:
        y_final, _ = loop(lambda y, *xs: (step(y, *xs), ()), y0, per_step)
        return y_final

    def body(y, *xs):
        y_next = step(y, *xs)
        return y_next, (y_next,)

    _, (states,) = loop(body, y0, per_step, output_shapes=[tuple(ops.shape(y0))])
    trajectory = ops.concatenate([ops.expand_dims(y0, 0), states], axis=0)
    rank = len(trajectory.shape)
    return ops.transpose(trajectory, (1, 0) + tuple(range(2, rank)))


# TensorFlow without XLA runs the step loop as a graph-mode while loop, one small
# kernel launch per op and step: 7.9 s per epoch of the paper's RK4Net against
# 0.8 s with ``compile(jit_compile=True)`` (benchmarks/bench_points.py). Keras only
# compiles with XLA by default where there is a GPU, so a plain ``compile()`` on a
# CPU got the slow loop. When TensorFlow traces a graph that is not already being
# compiled with XLA (a Keras train/test/predict function), the loop is therefore
# compiled with XLA on its own; where this TensorFlow has no XLA, or in eager
# mode (where each call would compile anew), it stays as it was.


def use_xla_function() -> bool:
    """True on TensorFlow while tracing a graph outside an XLA context, with XLA built in."""
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    if tf.executing_eagerly() or not tf.test.is_built_with_xla():
        return False
    try:
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # a private module; without it, assume no enclosing XLA
        return True
    return not control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())


def read_tensor(x):
    """x as a tensor; on TensorFlow a variable is read (``ops.convert_to_tensor``
    returns it as it is), as ``tf.custom_gradient`` rejects a function that reads
    variables without a gradient for them."""
    x = ops.convert_to_tensor(x)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.convert_to_tensor(x)
    return x


def xla_function(fn: Callable) -> Callable:
    """``fn`` of tensors compiled with XLA as one TensorFlow function. Its gradient
    must not be taken by TensorFlow across that boundary (a while loop's gradient
    would need TensorLists to cross it); see ``_with_xla_gradient``."""
    import tensorflow as tf

    return tf.function(fn, jit_compile=True, autograph=False)


def _with_xla_gradient(fn: Callable) -> Callable:
    """``fn`` compiled with XLA, differentiated by a second XLA function that runs
    ``fn`` again under a gradient tape: the backward pass recomputes the forward
    one inside XLA, where its while loop can be differentiated."""
    import tensorflow as tf

    forward = xla_function(fn)

    def vjp(upstream, *args):
        with tf.GradientTape() as tape:
            tape.watch(args)
            output = fn(*args)
        return tape.gradient(
            output, args, output_gradients=upstream,
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )  # fmt: skip

    backward = xla_function(vjp)

    @tf.custom_gradient
    def compiled(*args):
        def gradient(upstream):
            return backward(upstream, *args)

        return forward(*args), gradient

    return compiled
