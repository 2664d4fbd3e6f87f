"""keras-rk: augmented Runge-Kutta networks for Keras 3.

Giesecke & Kröner, "Classification with Runge-Kutta Networks and feature space
augmentation". This module only re-exports.
"""

from keras_rk.registry import available_tableaus, get_tableau, register_tableau
from keras_rk.tableaus import ButcherTableau

__version__ = "0.1.0"


# The names that need Keras load on first use, so the command line can quiet
# TensorFlow's log before Keras imports it, and `keras-rk --help` stays fast.
_LAZY_NAMES = {
    "Augment": "layers",
    "ConvRKBlock": "layers",
    "RKBlock": "layers",
    "StandardBlock": "layers",
    "build": "models",
}

_LAZY_MODULES = (
    "activations",
    "adjoint",
    "callbacks",
    "cli",
    "datasets",
    "distribute",
    "environment",
    "experiments",
    "layers",
    "listing",
    "models",
    "optimal_control",
    "plotting",
    "results",
    "studies",
    "training",
)


def __getattr__(name):  # submodules load on first use, so `import keras_rk` stays light
    import importlib

    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(f"keras_rk.{_LAZY_NAMES[name]}"), name)
    if name in _LAZY_MODULES:
        return importlib.import_module(f"keras_rk.{name}")
    raise AttributeError(f"module 'keras_rk' has no attribute {name!r}")


__all__ = [
    "Augment",
    "ButcherTableau",
    "ConvRKBlock",
    "RKBlock",
    "StandardBlock",
    "available_tableaus",
    "build",
    "get_tableau",
    "register_tableau",
]


def __dir__():
    return sorted({*globals(), *_LAZY_NAMES, *_LAZY_MODULES})
