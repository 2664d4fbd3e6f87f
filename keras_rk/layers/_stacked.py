"""What RKBlock and StandardBlock share: one (K, b) per layer, stacked."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from keras_rk import _checks
from keras_rk.activations import get_activation, serialize_activation


def default_initializer() -> keras.initializers.Initializer:
    """U(-1/sqrt(width), 1/sqrt(width)), PyTorch's default for ``nn.Linear``,
    which the paper's public code uses for K and b."""
    return keras.initializers.VarianceScaling(
        scale=1.0 / 3.0, mode="fan_in", distribution="uniform"
    )


def per_step_initializer(initializer: keras.initializers.Initializer, num_steps: int):
    """Initialises a stacked (num_steps, ...) weight one step at a time.

    Calling a Keras initializer on the stacked shape would count the steps into
    its fan-in (Glorot on (L, D, D) sees fan_in = L * D). A Keras random
    initializer with an integer seed returns the same values on every call, so
    each step gets its own seed, seed + step; the result is still reproducible.

    The steps are written into one host array, not joined by ``ops.stack``: on
    JAX a stack of L tensors compiles an XLA program with L operands, whose
    compile time grows about quadratically in L.
    """

    def initialize(shape, dtype=None):
        seed = getattr(initializer, "seed", None)
        stacked = None
        for step in range(num_steps):
            step_initializer = initializer
            if isinstance(seed, int) and not isinstance(seed, bool):
                config = initializer.get_config()
                config["seed"] = seed + step
                step_initializer = type(initializer).from_config(config)
            value = ops.convert_to_numpy(step_initializer(tuple(shape[1:]), dtype=dtype))
            if stacked is None:
                stacked = np.empty((num_steps, *value.shape), dtype=value.dtype)
            stacked[step] = value
        return ops.convert_to_tensor(stacked, dtype=dtype)

    return initialize


class StackedStepsBlock(keras.layers.Layer):
    """Abstract: L steps y <- step(y; K_l, b_l), with one (K_l, b_l) per step, stacked.

    This base checks and stores the shared arguments (``num_steps``,
    ``activation``, ``return_trajectory``, the initializers), adds the stacked
    weights ``kernel`` (L, *kernel shape) and ``bias`` (L, width), gives the
    output shape (with or without the trajectory) and the shared config.
    ``build`` makes dense weights (L, width, width) for a state (batch, width); a
    subclass with another state (``ConvRKBlock``) sets ``state_rank``, builds its
    weights through ``_add_step_weights`` and gives the state's shape in
    ``_state_shape``. Subclasses write ``call``, usually as
    ``keras_rk.loop.integrate(step, inputs, (self.kernel, self.bias), ...)``, and
    add their own arguments to ``get_config``. Not for direct use.
    """

    # The rank of the state (batch first): 2 for (batch, width).
    state_rank = 2

    def __init__(
        self,
        num_steps: int,
        activation: Any = "tanh",
        return_trajectory: bool = False,
        kernel_initializer: Any = None,
        bias_initializer: Any = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_steps = _checks.num_steps(num_steps)
        self.activation = get_activation(activation)
        if not isinstance(return_trajectory, bool):
            raise ValueError(
                f"Received an invalid value for `return_trajectory`, expected True "
                f"or False. Received: return_trajectory={return_trajectory!r}"
            )
        self.return_trajectory = return_trajectory
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer if kernel_initializer is not None else default_initializer()
        )
        self.bias_initializer = keras.initializers.get(
            bias_initializer if bias_initializer is not None else default_initializer()
        )
        self.input_spec = keras.layers.InputSpec(ndim=self.state_rank)

    def build(self, input_shape):
        width = input_shape[-1]
        if width is None:
            raise ValueError(
                f"{type(self).__name__} needs a known state width (last axis of its "
                f"input). Received: input_shape={tuple(input_shape)}"
            )
        self.width = int(width)
        self._add_step_weights((self.width, self.width), self.width)
        self.input_spec = keras.layers.InputSpec(ndim=2, axes={-1: self.width})

    def _add_step_weights(self, kernel_shape, width, bias_initializer=None):
        """The stacked weights: ``kernel`` (L, *kernel_shape), ``bias`` (L, width),
        each step initialised on its own (``per_step_initializer``)."""
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.num_steps, *kernel_shape),
            initializer=per_step_initializer(self.kernel_initializer, self.num_steps),
        )
        self.bias = self.add_weight(
            name="bias",
            shape=(self.num_steps, width),
            initializer=bias_initializer
            or per_step_initializer(self.bias_initializer, self.num_steps),
        )

    def compute_output_shape(self, input_shape):
        output_shape = self._state_shape(tuple(input_shape))
        if self.return_trajectory:
            return (output_shape[0], self.num_steps + 1, *output_shape[1:])
        return output_shape

    def _state_shape(self, input_shape):
        """The shape of y[l] for an input of `input_shape`."""
        return input_shape

    def get_config(self):
        config = {
            "num_steps": self.num_steps,
            "activation": serialize_activation(self.activation),
            "return_trajectory": self.return_trajectory,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
        return {**super().get_config(), **config}
