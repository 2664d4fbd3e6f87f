"""What ``keras_rk.optimal_control.gradients`` reads from its arguments: the model's
chain of layers, the loss as a scalar function, the sweep counts and the labels,
each checked through public Keras API with an error naming the argument."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_rk import _checks


def model_chain(model: keras.Model) -> list:
    """The layers of `model` in order, checked through public Keras API to form a
    single chain: each layer's input is the previous layer's output."""
    layers = list(model.layers)
    if isinstance(model, keras.Sequential):
        return [layer for layer in layers if not isinstance(layer, keras.layers.InputLayer)]
    chain, previous = [], None
    for layer in layers:
        if isinstance(layer, keras.layers.InputLayer):
            connected = previous is None
            previous = layer.output
        else:
            try:
                connected = previous is not None and layer.input is previous
                previous = layer.output
            except (AttributeError, ValueError):  # never called, or called twice
                connected = False
            chain.append(layer)
        if not connected:
            break
    outputs = list(getattr(model, "outputs", None) or [])
    if not connected or len(outputs) != 1 or outputs[0] is not previous:
        raise ValueError(
            f"keras_rk.optimal_control.gradients needs a model whose layers form one "
            f"chain (one input, each layer called once on the previous layer's "
            f"output, one output), such as keras_rk.build makes (Augment -> RKBlock "
            f"-> Dense). Received: model '{model.name}' with layers "
            f"{[layer.name for layer in layers]}"
        )
    return chain


def loss_function(loss: Any) -> Callable:
    if isinstance(loss, str):
        loss = keras.losses.get(loss)
    if not callable(loss):
        raise ValueError(
            f"`loss` must be a Keras loss name, a keras.losses.Loss or a callable "
            f"(y_true, y_pred) -> loss. Received: loss={loss!r}"
        )

    def scalar_loss(y_true, y_pred):
        value = loss(y_true, y_pred)
        return ops.mean(value) if len(value.shape) else value

    return scalar_loss


def sweep_count(value: Any, name: str) -> int | None:
    """None (each block's own num_implicit_iterations) or a checked count: a
    negative one used to act silently as 0."""
    return None if value is None else _checks.num_iterations(value, name)


def checked_labels(y, loss: Any, model: keras.Model):
    """`y` checked as class indices when `loss` takes them (sparse categorical
    cross-entropy): out-of-range labels otherwise give finite, wrong gradients."""
    sparse = loss in (
        "sparse_categorical_crossentropy",
        keras.losses.sparse_categorical_crossentropy,
    )
    ignore_class = None
    if isinstance(loss, keras.losses.SparseCategoricalCrossentropy):
        sparse, ignore_class = True, loss.get_config().get("ignore_class")
    if not sparse:
        return y
    labels = np.asarray(ops.convert_to_numpy(y))
    if ignore_class is not None:
        labels = np.where(labels == ignore_class, 0, labels)
    _checks.class_labels(labels, "y", max(2, int(model.output_shape[-1])))
    return y
