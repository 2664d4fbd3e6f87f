"""TensorFlow: the ``steps_per_execution`` training steps of one call as one XLA program.

Keras's TensorFlow trainer runs the steps of one execution in a ``tf.while_loop``
of the TensorFlow runtime that launches the XLA-compiled step once per batch; each
launch hands every variable (weights, both Adam moments) to XLA again. For the
paper's small networks that hand-over costs more than the step: RK4Net width 16,
batch 5, steps_per_execution 50, an epoch with validation took 0.23-0.26 s that way
against 0.20 s with this module at depth 100, and 0.10-0.11 against 0.063-0.069 s at
depth 1 (2026-11-29, medians of 10 epochs in one process, 2 CPU cores).

Here the batches of one execution are fetched first, stacked (consecutive batches of
equal shapes together: an uneven last batch gets its own program) and handed to one
``tf.function(jit_compile=True)`` whose ``tf.while_loop`` runs Keras's own
``train_step`` on each. The model, its optimizer, metrics and callbacks are Keras's:
the callbacks see the same batches and logs as with Keras's loop (once per
execution), and the weights after ``fit`` are the same up to floating-point
reassociation inside XLA.
"""

from __future__ import annotations

import keras


def applies(model) -> bool:
    """Whether `model` trains with ``train_function`` below: TensorFlow, XLA on,
    graph mode, more than one step per execution, no distribution strategy, and
    Keras's own ``train_step`` (a subclass that overrides it keeps Keras's loop)."""
    return (
        keras.backend.backend() == "tensorflow"
        and model.jit_compile is True
        and model.steps_per_execution > 1
        and graph_mode_without_strategy(model)
        and type(model).train_step is keras.Model.train_step
    )


def graph_mode_without_strategy(model) -> bool:
    """TensorFlow only: `model` does not run eagerly, and no ``tf.distribute`` strategy
    is its own or in scope."""
    import tensorflow as tf

    return (
        not model.run_eagerly
        and getattr(model, "_distribute_strategy", None) is None
        and not tf.distribute.has_strategy()
    )


def train_function(model):
    """The ``train_function`` of a model for which ``applies`` holds.

    Called with Keras's iterator over batches (a ``tf.data`` iterator, or a Python
    iterator from ``train_on_batch``), it trains on up to ``steps_per_execution``
    batches and returns the logs of the last; ``StopIteration`` when the iterator
    is empty, as Keras's own function does.
    """
    import tensorflow as tf

    @tf.function(jit_compile=True, reduce_retracing=True)
    def run_steps(batches):
        num_steps = tf.shape(tf.nest.flatten(batches)[0])[0]
        logs = model.train_step(_batch(batches, 0))

        def body(step, logs):
            return step + 1, model.train_step(_batch(batches, step))

        _, logs = tf.while_loop(lambda step, _: step < num_steps, body, (tf.constant(1), logs))
        return logs

    fetch = _in_graph_fetch(model.steps_per_execution)

    def function(iterator):
        logs = None
        for run in _runs(iterator, model.steps_per_execution, fetch):
            logs = run_steps(run)
        if logs is None:
            raise StopIteration
        return logs

    return function


def _runs(iterator, count: int, fetch):
    """Up to `count` batches from `iterator` as stacked runs of equal batch sizes.

    A ``tf.data`` iterator whose batches are tensors of known shapes but for the
    batch size is read in one graph call (``fetch``; read eagerly, one batch cost
    0.13 ms under cProfile, 2026-11-29); any other iterator batch by batch. An
    empty iterator (Keras reads one of unknown length until it is) gives no runs.
    """
    import tensorflow as tf

    spec = getattr(iterator, "element_spec", None)
    if spec is None or not all(
        isinstance(leaf, tf.TensorSpec)
        and leaf.shape.rank is not None
        and leaf.shape.rank >= 1
        and leaf.shape[1:].is_fully_defined()
        for leaf in tf.nest.flatten(spec)
    ):
        return [
            tf.nest.map_structure(_stack, *run) for run in _equal_shape_runs(_take(iterator, count))
        ]
    leaves, sizes = fetch(iterator)
    runs, start = [], 0
    for size, length in _equal_size_runs(sizes.numpy().tolist()):
        rows = slice(start, start + size * length)
        runs.append(
            tf.nest.pack_sequence_as(
                spec,
                [tf.reshape(leaf[rows], [length, size, *leaf.shape[1:]]) for leaf in leaves],
            )
        )
        start = rows.stop
    return runs


def _in_graph_fetch(count: int):
    """A ``tf.function`` that reads up to `count` batches of a ``tf.data`` iterator:
    (each leaf's batches concatenated along axis 0, the batch sizes)."""
    import tensorflow as tf

    @tf.function
    def fetch(iterator):
        specs = tf.nest.flatten(iterator.element_spec)
        arrays = [  # the element shape lets an empty array concatenate to (0, ...)
            tf.TensorArray(
                spec.dtype, size=0, dynamic_size=True, infer_shape=False, element_shape=spec.shape
            )
            for spec in specs
        ]
        sizes = tf.TensorArray(tf.int32, size=0, dynamic_size=True)

        def more(step, batch, arrays, sizes):
            return tf.logical_and(step < count, batch.has_value())

        def read(step, batch, arrays, sizes):
            leaves = tf.nest.flatten(batch.get_value())
            arrays = [array.write(step, leaf) for array, leaf in zip(arrays, leaves)]
            sizes = sizes.write(step, tf.shape(leaves[0])[0])
            # Never one batch past `count`: it would be lost to the next execution.
            batch = tf.cond(
                step + 1 < count, lambda: iterator.get_next_as_optional(), lambda: batch
            )
            return step + 1, batch, arrays, sizes

        _, _, arrays, sizes = tf.while_loop(
            more, read, (tf.constant(0), iterator.get_next_as_optional(), arrays, sizes)
        )
        return [array.concat() for array in arrays], sizes.stack()

    return fetch


def _equal_size_runs(sizes: list[int]) -> list[tuple[int, int]]:
    """(batch size, number of batches) of each run of equal consecutive `sizes`.

    >>> _equal_size_runs([5, 5, 5, 2])
    [(5, 3), (2, 1)]
    >>> _equal_size_runs([])
    []
    """
    runs: list[tuple[int, int]] = []
    for size in sizes:
        if runs and runs[-1][0] == size:
            runs[-1] = (size, runs[-1][1] + 1)
        else:
            runs.append((size, 1))
    return runs


def _take(iterator, count: int) -> list:
    """Up to `count` batches from `iterator`, TensorFlow Optionals read as None."""
    import tensorflow as tf

    batches = []
    for _ in range(count):
        try:
            batch = next(iterator)
        except (StopIteration, tf.errors.OutOfRangeError):
            break
        batches.append(
            tf.nest.map_structure(
                lambda leaf: (
                    (leaf.get_value() if leaf.has_value() else None)
                    if isinstance(leaf, tf.experimental.Optional)
                    else leaf
                ),
                batch,
            )
        )
    return batches


def _equal_shape_runs(batches: list) -> list[list]:
    """`batches` cut into runs of consecutive batches whose leaves have equal shapes.

    >>> import numpy as np
    >>> runs = _equal_shape_runs([(np.ones(5),), (np.ones(5),), (np.ones(2),)])
    >>> [len(run) for run in runs]
    [2, 1]
    """
    import tensorflow as tf

    def signature(batch):
        return [None if leaf is None else tuple(leaf.shape) for leaf in tf.nest.flatten(batch)]

    runs: list[list] = []
    for batch in batches:
        if runs and signature(runs[-1][0]) == signature(batch):
            runs[-1].append(batch)
        else:
            runs.append([batch])
    return runs


def _stack(*leaves):
    """One leaf of a run's batches, stacked along a new leading step axis."""
    import tensorflow as tf

    return None if leaves[0] is None else tf.stack(leaves)


def _batch(batches, step):
    """The `step`-th batch of a stacked run."""
    import tensorflow as tf

    return tf.nest.map_structure(lambda leaf: None if leaf is None else leaf[step], batches)
