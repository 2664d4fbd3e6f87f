"""StandardBlock: L plain layers y <- act(K y + b), the paper's StandardNet."""

from __future__ import annotations

import keras

from keras_rk.layers._stacked import StackedStepsBlock
from keras_rk.loop import integrate
from keras_rk.rk import standard_step


@keras.saving.register_keras_serializable(package="keras_rk")
class StandardBlock(StackedStepsBlock):
    """L feed-forward layers of constant width, y[l+1] = act(K[l] y[l] + b[l]).

    The paper's StandardNet (eq. 2.6), the baseline that RK networks beat at depth.

    Args:
        num_steps: L, the number of layers, a positive integer.
        activation: a Keras activation name or callable; the paper uses 'tanh',
            'relu', 'softplus' and 'sigmoid'.
        return_trajectory: when True, the output is every layer's state.
        kernel_initializer: for each layer's K; default U(±1/sqrt(width)), as in
            the paper's code. Applied to each layer separately.
        bias_initializer: for each layer's b; the same default.

    Input shape: (batch, width). Output shape: (batch, width), or
    (batch, num_steps + 1, width) with ``return_trajectory``.

    Example:

    >>> import keras
    >>> block = StandardBlock(num_steps=5)
    >>> tuple(block(keras.ops.ones((3, 4))).shape)
    (3, 4)
    """

    def call(self, inputs):
        activation = self.activation

        def step(y, kernel, bias):
            return standard_step(y, kernel, bias, activation)

        return integrate(step, inputs, (self.kernel, self.bias), self.return_trajectory)
