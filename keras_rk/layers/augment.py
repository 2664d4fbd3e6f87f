"""Augment: lifts the input x in R^d into the feature space R^D, D >= d."""

from __future__ import annotations

import keras
from keras import ops

from keras_rk import _checks

LIFT_MODES = ("zeros", "random", "trainable")


@keras.saving.register_keras_serializable(package="keras_rk")
class Augment(keras.layers.Layer):
    """Feature space augmentation: x in R^d to x̂ in R^width.

    Modes:
        'zeros': x̂ = (x, 0, ..., 0), zero padding (eq. 2.3, Dupont et al.'s ANODE).
        'random': x̂ = x M with a frozen random M (d x width), U(±1/sqrt(d)); the
            lift the paper's public code uses for most of its studies.
        'trainable': the same M, trained with the rest of the network.

    Args:
        width: D, the width of the feature space, at least the input dimension d.
        mode: one of 'zeros', 'random', 'trainable'.
        seed: optional integer seed for M (modes 'random' and 'trainable');
            without it, M follows ``keras.utils.set_random_seed``.

    Input shape: (batch, d). Output shape: (batch, width).

    Example:

    >>> import keras
    >>> keras.ops.convert_to_numpy(Augment(4)(keras.ops.ones((1, 2)))).tolist()
    [[1.0, 1.0, 0.0, 0.0]]
    """

    def __init__(self, width: int, mode: str = "zeros", seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.width = _checks.positive_int(width, "width")
        self.mode = _checks.one_of(mode, "mode", LIFT_MODES)
        if seed is not None:
            _checks.non_negative_int(seed, "seed")
        self.seed = seed
        self.input_spec = keras.layers.InputSpec(ndim=2)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"Augment needs a known input dimension (last axis). Received: "
                f"input_shape={tuple(input_shape)}"
            )
        self.input_dim = int(input_dim)
        if self.input_dim > self.width:
            raise ValueError(
                f"`width` (={self.width}) must be at least the input dimension "
                f"(={self.input_dim}): augmentation adds dimensions, it does not "
                f"remove them. Received: width={self.width}, input_shape="
                f"{tuple(input_shape)}"
            )
        if self.mode != "zeros":
            limit = 1.0 / self.input_dim**0.5
            self.kernel = self.add_weight(
                name="kernel",
                shape=(self.input_dim, self.width),
                initializer=keras.initializers.RandomUniform(-limit, limit, seed=self.seed),
                trainable=self.mode == "trainable",
            )
        self.input_spec = keras.layers.InputSpec(ndim=2, axes={-1: self.input_dim})

    def call(self, inputs):
        if self.mode == "zeros":
            return ops.pad(inputs, ((0, 0), (0, self.width - self.input_dim)))
        return ops.matmul(inputs, self.kernel)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.width)

    def get_config(self):
        config = {"width": self.width, "mode": self.mode, "seed": self.seed}
        return {**super().get_config(), **config}
