"""The step math of a convolutional Runge-Kutta network, over ``keras.ops``.

The state ``y`` is an image batch (batch, H, W, C); a step's weights are a
``kernel`` (kh, kw, C, C) and a ``bias`` (C,). The vector field is
f(u, y) = act(conv(y, K) + b) with 'same' padding and stride 1, so f(y) has the
shape of y and the Runge-Kutta update of eq. (2.12) applies unchanged; only the
product K y of ``keras_rk.integrate`` becomes a convolution.
"""

from __future__ import annotations

from keras import ops

from keras_rk.integrate import Activation, _weighted_sum, tableau_stages
from keras_rk.tableaus import ButcherTableau


def conv_vector_field(y, kernel, bias, activation: Activation):
    """f(u, y) = act(conv(y, K) + b), channels last, 'same' padding."""
    return activation(ops.conv(y, kernel, strides=1, padding="same") + bias)


def conv_runge_kutta_step(
    y,
    kernel,
    bias,
    step_size,
    tableau: ButcherTableau,
    activation: Activation,
    num_implicit_iterations: int,
):
    """One step of eq. (2.12) on an image state, the same (K, b) in every stage.

    The stages follow ``keras_rk.integrate.runge_kutta_step``: explicit tableaus
    in order, implicit ones by ``num_implicit_iterations`` fixed-point sweeps.
    """
    y = ops.convert_to_tensor(y)
    field = lambda state: conv_vector_field(state, kernel, bias, activation)
    _, stages = tableau_stages(field, y, step_size, tableau, num_implicit_iterations)
    return _weighted_sum(y, step_size, tableau.b, stages)
