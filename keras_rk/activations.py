"""Resolving the activation σ of f(u, y) = σ(K y + b) (eqs. 2.1, 2.5)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

# The paper's eq. (2.1) calls the sigmoid "logit"; accept its name too.
_ALIASES = {"logit": "sigmoid"}


def get_activation(identifier: Any) -> Callable:
    """A Keras activation from a name ('tanh', 'relu', 'softplus', 'sigmoid' or
    any Keras activation), a serialised config, or a callable."""
    if isinstance(identifier, str):
        identifier = _ALIASES.get(identifier, identifier)
    if identifier is None:
        identifier = "linear"
    try:
        activation = keras.activations.get(identifier)
    except (ValueError, TypeError):
        activation = None
    if activation is None or not callable(activation):
        raise ValueError(
            f"Unknown `activation`: expected the name of a Keras activation such as "
            f"'tanh', 'relu', 'softplus' or 'sigmoid' (the paper's eq. 2.1), or a "
            f"callable. Received: activation={identifier!r}"
        )
    return activation


def serialize_activation(activation: Callable) -> Any:
    return keras.activations.serialize(activation)


# act'(z) written through a = act(z), so a backward pass that kept only the
# stage outputs k = act(z) needs no pre-activations (softplus'(z) = sigmoid(z)
# = 1 - exp(-softplus(z)); relu'(z) = [z > 0] = [a > 0]).
_DERIVATIVES_FROM_OUTPUT = {
    "tanh": lambda a: 1.0 - a * a,
    "sigmoid": lambda a: a * (1.0 - a),
    "relu": lambda a: keras.ops.cast(a > 0, a.dtype),
    "softplus": lambda a: -keras.ops.expm1(-a),
    "linear": lambda a: keras.ops.ones_like(a),
}


def activation_name(activation: Callable) -> str:
    """The Keras name of a built-in activation, else the callable's own name
    (a lambda cannot be serialised; its name is enough for a message)."""
    try:
        name = serialize_activation(activation)
    except Exception:
        name = None
    return name if isinstance(name, str) else getattr(activation, "__name__", repr(activation))


def derivative_from_output(activation: Callable) -> Callable | None:
    """act' as a function of act's output, for the activations where that is
    exact; None for any other activation."""
    return _DERIVATIVES_FROM_OUTPUT.get(activation_name(activation))


def activations_with_output_derivative() -> list[str]:
    return sorted(_DERIVATIVES_FROM_OUTPUT)


def derivative(activation: Callable, output, inputs: Callable):
    """act'(z), elementwise, for output = act(z) and ``inputs()`` = z.

    The one place the library forms act': from the output where that is exact
    (the activations above, which the compiled adjoint needs), else by the
    backend's autodiff of sum(act(z)) at z = ``inputs()`` (any elementwise
    activation; z is computed only then)."""
    from_output = derivative_from_output(activation)
    if from_output is not None:
        return from_output(output)
    from keras_rk._autodiff import grad

    return grad(lambda t: keras.ops.sum(activation(t)), [inputs()])[0]
