"""ConvRKBlock: L Runge-Kutta steps of y' = act(conv(y, K) + b) on images."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_rk import _checks
from keras_rk.layers._stacked import StackedStepsBlock, per_step_initializer
from keras_rk.layers.rk_block import resolve_step_size, resolve_tableau
from keras_rk.loop import integrate
from keras_rk.rk import conv_runge_kutta_step


@keras.saving.register_keras_serializable(package="keras_rk")
class ConvRKBlock(StackedStepsBlock):
    """A convolutional Runge-Kutta network: L steps on an image-valued state.

    The state is an image batch with C channels. Step l applies the tableau with
    f(u[l], y) = act(conv(y, K[l]) + b[l]), a stride-1 'same' convolution with C
    filters, so every stage keeps the image's shape (section 4.5 of the paper).
    Augmentation adds channels (Dupont et al.'s ANODE, the paper's second
    option): with `channels` larger than the input's, the input is padded with
    zero channels before the first step. The kernels of all steps are stacked,
    shape (L, kh, kw, C, C), and the steps run in one compiled loop.

    Args:
        tableau: a registered name (see ``keras_rk.available_tableaus()``), a
            ``keras_rk.ButcherTableau``, or its config dict.
        num_steps: L, the number of steps, a positive integer.
        kernel_size: an odd positive integer or a pair of them (kh, kw).
        channels: C, the channels of the state; at least the input's channels,
            which are padded with zeros up to C. Default: the input's channels.
        activation: a Keras activation name or callable.
        step_size: h. Give this or `final_time`, not both; default h = 0.05.
        final_time: T, so that h = T / num_steps.
        num_implicit_iterations: fixed-point sweeps for implicit tableaus.
        kernel_initializer: for each step's K; default U(±1/sqrt(kh kw C)),
            PyTorch's default for ``nn.Conv2d``. Applied to each step separately.
        bias_initializer: for each step's b; the same default.
        return_trajectory: when True, the output is every state y[0], ..., y[L].

    Input shape: (batch, H, W, C_in). Output shape: (batch, H, W, C), or
    (batch, num_steps + 1, H, W, C) with ``return_trajectory``.

    Example:

    >>> import keras
    >>> block = ConvRKBlock("rk4", num_steps=4, channels=3)
    >>> tuple(block(keras.ops.ones((2, 8, 8, 1))).shape)
    (2, 8, 8, 3)

    Reference: Giesecke & Kröner, "Classification with Runge-Kutta Networks and
    feature space augmentation", eq. (2.12) and section 4.5.
    """

    state_rank = 4

    def __init__(
        self,
        tableau: Any = "rk4",
        num_steps: int = 10,
        kernel_size: int | tuple[int, int] = 3,
        channels: int | None = None,
        activation: Any = "tanh",
        step_size: float | None = None,
        final_time: float | None = None,
        num_implicit_iterations: int = 8,
        kernel_initializer: Any = None,
        bias_initializer: Any = None,
        return_trajectory: bool = False,
        **kwargs,
    ):
        super().__init__(
            num_steps=num_steps,
            activation=activation,
            return_trajectory=return_trajectory,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            **kwargs,
        )
        self.tableau = resolve_tableau(tableau)
        self.kernel_size = _kernel_size(kernel_size)
        self.channels = None if channels is None else _checks.positive_int(channels, "channels")
        self.step_size_arg = step_size
        self.final_time = final_time
        self.step_size = resolve_step_size(step_size, final_time, self.num_steps)
        self.num_implicit_iterations = _checks.num_iterations(
            num_implicit_iterations, "num_implicit_iterations"
        )

    def build(self, input_shape):
        input_channels = input_shape[-1]
        if input_channels is None:
            raise ValueError(
                f"ConvRKBlock needs a known number of input channels (last axis). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.input_channels = int(input_channels)
        if self.channels is None:
            self.channels = self.input_channels
        if self.channels < self.input_channels:
            raise ValueError(
                f"`channels` (={self.channels}) must be at least the input's channels "
                f"(={self.input_channels}): augmentation adds channels, it does not "
                f"remove them. Received: channels={self.channels}, input_shape="
                f"{tuple(input_shape)}"
            )
        kh, kw = self.kernel_size
        # The fan-in of one step's convolution is kh * kw * C, as in nn.Conv2d.
        self._add_step_weights(
            (kh, kw, self.channels, self.channels),
            self.channels,
            bias_initializer=_bias_initializer(
                self.bias_initializer, self.num_steps, kh * kw * self.channels
            ),
        )
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: self.input_channels})

    def call(self, inputs):
        y0 = inputs
        if self.channels > self.input_channels:
            y0 = ops.pad(inputs, ((0, 0), (0, 0), (0, 0), (0, self.channels - self.input_channels)))
        tableau, activation = self.tableau, self.activation
        step_size, iterations = self.step_size, self.num_implicit_iterations

        def step(y, kernel, bias):
            return conv_runge_kutta_step(
                y, kernel, bias, step_size, tableau, activation, iterations
            )

        return integrate(step, y0, (self.kernel, self.bias), self.return_trajectory)

    def _state_shape(self, input_shape):
        channels = self.channels if self.channels is not None else input_shape[-1]
        return (*input_shape[:-1], channels)

    def get_config(self):
        config = {
            "tableau": self.tableau.to_config(),
            "kernel_size": self.kernel_size,
            "channels": self.channels,
            "step_size": self.step_size_arg,
            "final_time": self.final_time,
            "num_implicit_iterations": self.num_implicit_iterations,
        }
        return {**super().get_config(), **config}


def _kernel_size(value: Any) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    valid = len(pair) == 2 and all(
        isinstance(k, int) and not isinstance(k, bool) and k > 0 and k % 2 == 1 for k in pair
    )
    if not valid:
        raise ValueError(
            f"Received an invalid value for `kernel_size`, expected an odd positive "
            f"integer or a pair of them (odd, so that 'same' padding is symmetric). "
            f"Received: kernel_size={value!r}"
        )
    return pair


def _bias_initializer(initializer, num_steps, fan_in):
    """Per-step bias; the default U(±1/sqrt(fan_in)) needs the convolution's
    fan-in kh * kw * C, which a bias shape (C,) alone does not show."""
    per_step = per_step_initializer(initializer, num_steps)
    config = initializer.get_config() if hasattr(initializer, "get_config") else {}
    if type(initializer) is keras.initializers.VarianceScaling and config.get("mode") == "fan_in":

        def initialize(shape, dtype=None):
            return per_step((shape[0], fan_in, shape[1]), dtype=dtype)[:, 0, :]

        return initialize
    return per_step
