"""keras-rk: augmented Runge-Kutta networks for Keras 3.

Giesecke & Kröner, "Classification with Runge-Kutta Networks and feature space
augmentation". This module only re-exports.
"""

# Before Keras: allocator keeps the environment as it was, for a restart (Keras and
# TensorFlow set variables of their own when imported).
from keras_rk import allocator  # noqa: F401
from keras_rk._quiet_import import import_keras

# Keras first, without TensorFlow's C++ start-up lines unless TF_CPP_MIN_LOG_LEVEL
# asks for them; then the layers, which registers them for `keras.saving.load_model`
# as soon as `keras_rk` is imported.
import_keras()

from keras_rk.layers import Augment, ConvRKBlock, RKBlock, StandardBlock  # noqa: E402
from keras_rk.models import build  # noqa: E402
from keras_rk.registry import available_tableaus, get_tableau, register_tableau  # noqa: E402
from keras_rk.tableaus import ButcherTableau  # noqa: E402

__version__ = "0.1.0"

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
    "schedules",
    "studies",
    "training",
)


def __getattr__(name):  # submodules load on first use, so `import keras_rk` stays light
    import importlib

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
    return sorted({*globals(), *_LAZY_MODULES})
