"""keras-rk: augmented Runge-Kutta networks for Keras 3.

Giesecke & Kröner, "Classification with Runge-Kutta Networks and feature space
augmentation". This module only re-exports.
"""

from keras_rk.layers import Augment, ConvRKBlock, RKBlock, StandardBlock
from keras_rk.models import build
from keras_rk.registry import available_tableaus, get_tableau, register_tableau
from keras_rk.tableaus import ButcherTableau

__version__ = "0.1.0"

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
