"""Learning rates that fall after given epochs ("step decay").

A study's ``learning_rate_drops`` is a list of ``[epoch, rate]`` pairs: after
``epoch`` epochs the rate becomes ``rate``. ``LearningRateDrops`` applies them
as a callback that sets the optimizer's rate at the start of every epoch from
the epoch's index alone, so a run resumed after a kill continues at the rate it
had, and a saved training state is the same with drops as without.

>>> drops = learning_rate_drops([[4, 1e-4], [10, 1e-5]], "drops")
>>> [learning_rate_after(done, 1e-3, drops) for done in (0, 3, 4, 9, 10, 30)]
[0.001, 0.001, 0.0001, 0.0001, 1e-05, 1e-05]
"""

from __future__ import annotations

from typing import Any

import keras

from keras_rk import _checks


def learning_rate_drops(value: Any, name: str) -> list[list]:
    """`value` checked as ``[[epoch, rate], ...]``: whole epochs >= 1 in
    increasing order, positive rates; returned as lists (as JSON gives them back).

    >>> learning_rate_drops([(4, 1e-4)], "drops")
    [[4, 0.0001]]
    >>> learning_rate_drops([[4, 1e-4], [2, 1e-5]], "drops")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: ... `drops`, expected its epochs in increasing order. Received: ...
    """
    if not isinstance(value, (list, tuple)):
        raise ValueError(
            f"Received an invalid value for `{name}`, expected a list of [epoch, rate] "
            f"pairs. Received: {name}={value!r}"
        )
    drops = []
    for index, pair in enumerate(value):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(
                f"Received an invalid value for `{name}[{index}]`, expected an [epoch, "
                f"rate] pair. Received: {name}[{index}]={pair!r}"
            )
        epoch = _checks.positive_int(pair[0], f"{name}[{index}][0] (an epoch)")
        rate = _checks.positive_float(pair[1], f"{name}[{index}][1] (a learning rate)")
        drops.append([epoch, rate])
    epochs = [epoch for epoch, _ in drops]
    if epochs != sorted(set(epochs)):
        raise ValueError(
            f"Received an invalid value for `{name}`, expected its epochs in increasing "
            f"order. Received: {name}={drops!r}"
        )
    return drops


def learning_rate_after(epochs_done: int, learning_rate: float, drops: list[list]) -> float:
    """The rate of the epoch after `epochs_done` epochs: `learning_rate` until the
    first drop's epoch is done, then the rate of the last drop passed."""
    rate = learning_rate
    for epoch, drop_rate in drops:
        if epochs_done >= epoch:
            rate = drop_rate
    return rate


class LearningRateDrops(keras.callbacks.Callback):
    """Sets Adam's (any optimizer's) rate at the start of every epoch from
    `learning_rate` and the checked `drops`.

    The rate depends only on the epoch's index, which ``fit`` counts from
    ``initial_epoch``: a resumed run gets the rate it had. Unlike Keras's
    ``LearningRateScheduler`` it adds nothing to the epoch's logs, so the per-epoch
    history that ``keras_rk.training.resumable_fit`` saves keeps one set of metrics
    whether a run had drops or not.

    >>> import numpy as np, keras_rk
    >>> model = keras_rk.build(tableau="euler", depth=2, width=3)
    >>> model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    >>> x, y = np.ones((8, 2), "float32"), np.zeros(8, "int32")
    >>> drops = LearningRateDrops(1e-2, [[2, 1e-3]])
    >>> _ = model.fit(x, y, epochs=3, verbose=0, callbacks=[drops])
    >>> round(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)), 6)
    0.001
    """

    def __init__(self, learning_rate: float, drops: list[list]):
        super().__init__()
        self.learning_rate = _checks.positive_float(learning_rate, "learning_rate")
        self.drops = learning_rate_drops(drops, "drops")

    def on_epoch_begin(self, epoch, logs=None):
        self.model.optimizer.learning_rate = learning_rate_after(
            epoch, self.learning_rate, self.drops
        )
