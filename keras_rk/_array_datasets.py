"""TensorFlow: small in-memory arrays reach ``fit`` as a ``tf.data`` pipeline without
functions, so that an epoch does not pay for restarting Keras's input pipeline.

Keras's TensorFlow trainer turns NumPy arrays into a ``tf.data`` pipeline of three
traced functions (the epoch's permutation, its batches of indices, the gather) and
creates a new iterator over it twice per training epoch and twice per validation pass
(Keras 3.15's ``EpochIterator`` makes one when an epoch starts and one when it ends).
Every new iterator instantiates those functions again: 7.2 ms each, 29 ms per epoch,
where the whole epoch of the paper's point network (RK4Net width 16, depth 1, batch 5)
takes 0.016 s on JAX (2026-11-29, 2 CPU cores, nothing else running). The pipeline
here, ``from_tensor_slices(...).shuffle(n).batch(b)``, starts in about 0.5 ms.

At one step per execution the restart is not the only cost: epochs of RK4Net at width
900, depth 100, batch 5 (250 images, Keras's default XLA step) took 6.2, 8.0-8.5 or
10.25 s through Keras's pipeline, as if stalled 2 s at a time; from this dataset with
``tf.data``'s autotuning off (it has no parallel stage to tune) the stalls were rarer
(2026-11-30, 2 CPU cores, nothing else running; their cause was not found).

It is used for compiled models on TensorFlow outside a distribution strategy, and only
for what Keras itself would slice from arrays: numeric NumPy ``x``
and ``y`` (and 1-D ``sample_weight``) of equal length, at most ``MAX_SAMPLES`` rows and
``MAX_BYTES`` together, with
``shuffle`` True or False and no ``class_weight``, ``validation_split`` or
``steps_per_epoch``. Anything else reaches Keras unchanged. The batches are Keras's
(same sizes, an uneven last batch, floats cast to ``keras.config.floatx()``); the order
of a shuffled epoch comes from ``tf.data``'s shuffle, seeded like Keras's by
``keras.utils.set_random_seed``, so it differs from Keras's order for the same seed.
"""

from __future__ import annotations

import keras
import numpy as np

from keras_rk import _xla_steps

MAX_SAMPLES = 4096
"""Longer arrays keep Keras's pipeline: ``tf.data``'s shuffle moves every sample through
its buffer one by one, and a whole shuffled epoch in batches of 32 took as long as
Keras's gathers at 6,000-10,000 samples and twice as long at 20,000 (2026-11-29); by
then an epoch is long enough that restarting Keras's pipeline costs little."""

MAX_BYTES = 32 * 2**20
"""Arrays above this (together) keep Keras's pipeline: ``from_tensor_slices`` copies
them once and the shuffle buffer once more."""

DEFAULT_BATCH_SIZE = 32  # Keras's, for fit(batch_size=None)


def fit_arguments(model, arguments: dict) -> dict:
    """`arguments` of ``keras.Model.fit`` (all of them, by name) with small NumPy
    training and validation arrays replaced by ``tf.data`` datasets where this
    module applies; otherwise `arguments` itself.

    >>> from keras_rk import build
    >>> model = build(depth=1, width=4)
    >>> model.compile(optimizer="adam", loss="mse", steps_per_execution=2)
    >>> arguments = {"x": np.zeros((6, 2)), "y": np.zeros(6, "int32"), "batch_size": 4}
    >>> replaced = fit_arguments(model, arguments)
    >>> replaced is arguments or int(replaced["x"].cardinality()) == 2  # batches of 4 and 2
    True
    """
    if not _applies_to_model(model) or not _plain_training_arguments(arguments):
        return arguments
    training = _arrays(arguments.get("x"), arguments.get("y"), arguments.get("sample_weight"))
    if training is None:
        return arguments
    batch_size = arguments.get("batch_size") or DEFAULT_BATCH_SIZE
    replaced = dict(
        arguments,
        x=_dataset(training, batch_size, shuffle=bool(arguments.get("shuffle", True))),
        y=None,
        sample_weight=None,
        batch_size=None,
        shuffle=False,  # the dataset shuffles; Keras warns about shuffle with a dataset
    )
    validation = _validation_arrays(arguments.get("validation_data"))
    if validation is not None and arguments.get("validation_steps") is None:
        replaced["validation_data"] = _dataset(
            validation, arguments.get("validation_batch_size") or batch_size, shuffle=False
        )
        replaced["validation_batch_size"] = None
    return replaced


def _applies_to_model(model) -> bool:
    return (
        keras.backend.backend() == "tensorflow"
        and getattr(model, "compiled", False)
        and _xla_steps.graph_mode_without_strategy(model)
    )


def _plain_training_arguments(arguments: dict) -> bool:
    """No argument that only Keras's own array pipeline handles."""
    batch_size = arguments.get("batch_size")
    return (
        arguments.get("class_weight") is None
        and not arguments.get("validation_split")
        and arguments.get("steps_per_epoch") is None
        and arguments.get("shuffle", True) in (True, False)
        and (batch_size is None or (isinstance(batch_size, int) and batch_size > 0))
    )


def _arrays(x, y, sample_weight) -> tuple | None:
    """(x, y[, sample_weight]) as Keras would batch them, or None where they are not
    NumPy arrays of one length (Keras then checks them and explains)."""
    arrays = (x, y) if sample_weight is None else (x, y, sample_weight)
    if not all(
        isinstance(array, np.ndarray) and array.ndim >= 1 and array.dtype.kind in "biuf"
        for array in arrays
    ):
        return None
    if len({len(array) for array in arrays}) != 1 or not 0 < len(x) <= MAX_SAMPLES:
        return None
    if sample_weight is not None and sample_weight.ndim != 1:
        return None
    if sum(array.nbytes for array in arrays) > MAX_BYTES:
        return None
    return tuple(_floats_as_floatx(array) for array in arrays)


def _validation_arrays(validation_data) -> tuple | None:
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        return None
    x, y, *sample_weight = validation_data
    return _arrays(x, y, sample_weight[0] if sample_weight else None)


def _floats_as_floatx(array: np.ndarray) -> np.ndarray:
    """Keras's array adapter casts every float array to floatx; so does this."""
    floatx = keras.config.floatx()
    if np.issubdtype(array.dtype, np.floating) and array.dtype != np.dtype(floatx):
        return array.astype(floatx)
    return array


def _dataset(arrays: tuple, batch_size: int, shuffle: bool):
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(arrays)
    if shuffle:
        dataset = dataset.shuffle(len(arrays[0]), reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    options = tf.data.Options()
    # As Keras does for arrays: no graph rewrite (and so no serialisation of the
    # captured arrays) each time an iterator starts.
    options.experimental_optimization.apply_default_optimizations = False
    # No parallel stage to tune here, and epochs stalled less often without the tuner
    # on 2 cores: width 900, batch 5, 250 images, 7 epochs each (2026-11-30): 6.2-10.2 s
    # per epoch (mean 8.3) with it, 6.2-8.1 s (mean 6.7) without.
    options.autotune.enabled = False
    return dataset.with_options(options)
