"""Keras layers of augmented Runge-Kutta networks."""

from keras_rk.layers.augment import Augment
from keras_rk.layers.conv_rk_block import ConvRKBlock
from keras_rk.layers.rk_block import RKBlock
from keras_rk.layers.standard_block import StandardBlock

__all__ = ["Augment", "ConvRKBlock", "RKBlock", "StandardBlock"]
