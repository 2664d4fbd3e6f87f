"""keras-rk: augmented Runge-Kutta networks for Keras 3.

Giesecke & Kröner, "Classification with Runge-Kutta Networks and feature space
augmentation". This module only re-exports.
"""

from keras_rk.layers import Augment, ConvRKBlock, RKBlock, StandardBlock
from keras_rk.models import build
from keras_rk.registry import available_tableaus, get_tableau, register_tableau
from keras_rk.tableaus import ButcherTableau

__version__ = "0.1.0"


_LAZY_MODULES = (
    "adjoint",
    "callbacks",
    "cli",
    "datasets",
    "distribute",
    "experiments",
    "optimal_control",
    "plotting",
    "results",
    "studies",
    "training",
)


def __getattr__(name):  # submodules load on first use, so `import keras_rk` stays light
    if name in _LAZY_MODULES:
        import importlib

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
