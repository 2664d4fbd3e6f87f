"""Data-parallel training through Keras's own distribution machinery.

On JAX this is ``keras.distribution.DataParallel`` (multi-host after
``keras.distribution.initialize()``); on TensorFlow a ``tf.distribute``
``MirroredStrategy`` (``MultiWorkerMirroredStrategy`` across hosts, configured by
``TF_CONFIG``). Build, compile and fit the model inside the context::

    with keras_rk.distribute.data_parallel():
        model = keras_rk.build(tableau="rk4", depth=100)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=64)

Each step splits the global batch across devices and averages the gradients, so
the result equals single-device training with the same global batch, up to the
order of floating-point sums. The global batch must be divisible by the number
of devices.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras


@contextlib.contextmanager
def data_parallel(devices: list[str] | None = None, multi_worker: bool = False) -> Iterator:
    """A context in which models are built, compiled and trained data-parallel.

    Args:
        devices: device names (JAX: as in ``keras.distribution.list_devices()``,
            TensorFlow: e.g. ``["/cpu:0", "/cpu:1"]``); default every local device.
        multi_worker: span several hosts. JAX: calls
            ``keras.distribution.initialize()`` first (reads the coordinator address,
            process count and id from the environment); TensorFlow: uses
            ``MultiWorkerMirroredStrategy``, configured by ``TF_CONFIG``.

    Yields:
        The ``keras.distribution.DataParallel`` (JAX) or the ``tf.distribute``
        strategy (TensorFlow).

    Raises:
        NotImplementedError: on the PyTorch backend, where Keras has no
            distribution support; use ``torchrun`` with your own loop instead.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        if multi_worker:
            keras.distribution.initialize()
        distribution = keras.distribution.DataParallel(
            devices=devices or keras.distribution.list_devices()
        )
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(distribution)
        try:
            yield distribution
        finally:
            keras.distribution.set_distribution(previous)
    elif backend == "tensorflow":
        import tensorflow as tf

        if multi_worker:
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        else:
            strategy = tf.distribute.MirroredStrategy(devices)
        with strategy.scope():
            yield strategy
    else:
        raise NotImplementedError(
            f"Data-parallel training needs the 'jax' or 'tensorflow' Keras backend; "
            f"Keras has no distribution support for the '{backend}' backend. Received: "
            f"KERAS_BACKEND={backend!r}"
        )
