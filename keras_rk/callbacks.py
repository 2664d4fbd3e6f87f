"""Callbacks whose state survives a kill, and the paper's early-stopping rule.

``keras_rk.training.resumable_fit`` writes the training state after every
epoch. A callback that carries state across epochs derives from
``ResumableCallback``: it rebuilds that state from the saved per-epoch history
on resume, and may add arrays (best weights) to the same atomic state file, so
the file never pairs one epoch's weights with another epoch's callback state.

``early_stopping_callbacks`` turns one setting (``EARLY_STOPPING_RULES``) into
the callbacks of a study's repetition. ``EpochLog`` writes one line per epoch,
for runs whose epochs take minutes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import keras
import numpy as np

# 'paper': the public code's rule (``PaperEarlyStopping``); 'patience': Keras's
# EarlyStopping on val_loss; 'none': every epoch is trained.
EARLY_STOPPING_RULES = ("paper", "patience", "none")


class ResumableCallback:
    """A mixin for a Keras callback whose state must survive a kill.

    ``resumable_fit`` calls ``resume(history, arrays)`` before training when it
    restores a saved state: `history` holds the per-epoch metrics of the epochs
    already done, `arrays` what ``state_arrays`` returned when that state was
    written. Apply the state in ``on_train_begin`` (after Keras's own reset).
    """

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {}

    def resume(self, history: dict[str, list[float]], arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError


class ResumableEarlyStopping(ResumableCallback, keras.callbacks.EarlyStopping):
    """``keras.callbacks.EarlyStopping`` that resumes where a killed run was.

    On resume its counters (``wait``, ``best``, ``best_epoch``,
    ``stopped_epoch``) are rebuilt by replaying the saved per-epoch values of
    ``monitor`` through Keras's own rule; with ``restore_best_weights`` its best
    weights are saved in the state file and restored. Takes the arguments of
    ``keras.callbacks.EarlyStopping``.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._resumed: tuple[list[float], list[np.ndarray] | None] | None = None

    def state_arrays(self) -> dict[str, np.ndarray]:
        if not self.restore_best_weights or self.best_weights is None:
            return {}
        return {f"best_{i:04d}": np.asarray(w) for i, w in enumerate(self.best_weights)}

    def resume(self, history, arrays) -> None:
        best = [arrays[key] for key in sorted(arrays)] if arrays else None
        self._resumed = (list(history.get(self.monitor, [])), best)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self._resumed is None:
            return
        values, best_weights = self._resumed
        self._resumed = None
        if self.monitor_op is None:
            self._set_monitor_op()
        # Keras's on_epoch_end without its side effects on the model.
        for epoch, current in enumerate(values):
            if epoch < self.start_from_epoch:
                continue
            if self.restore_best_weights and self.best_weights is None:
                self.best_weights, self.best_epoch = [], epoch
            self.wait += 1
            if self._is_improvement(current, self.best):
                self.best, self.best_epoch = current, epoch
                if self.baseline is None or self._is_improvement(current, self.baseline):
                    self.wait = 0
                continue
            if self.wait >= self.patience and epoch > 0:
                self.stopped_epoch = epoch
        if self.restore_best_weights:
            self.best_weights = best_weights


def paper_should_stop(costs: list[float], epoch: int, tol: float) -> bool:
    """The public code's stop: after epoch 10, when the mean validation cost of
    the last five epochs exceeds that of the five before by more than `tol`.
    `costs` starts with the cost before training.

    >>> paper_should_stop([1.0] * 6 + [2.0] * 6, epoch=11, tol=0.05)
    True
    >>> paper_should_stop([1.0] * 12, epoch=11, tol=0.05)
    False
    """
    return epoch >= 10 and bool(np.mean(costs[-5:]) - np.mean(costs[-10:-5]) > tol)


class PaperEarlyStopping(ResumableCallback, keras.callbacks.Callback):
    """The paper's early stop (``paper_should_stop``) as a resumable callback.

    On resume its list of costs is rebuilt from the saved history, so a resumed
    run stops at the same epoch as an uninterrupted one.

    Args:
        tol: the tolerance; 0.05 for the point studies, 0.1 for images.
        initial_val_loss: the validation cost before training.
    """

    def __init__(self, tol: float, initial_val_loss: float):
        super().__init__()
        self.tol, self.initial_val_loss = tol, initial_val_loss
        self.costs = [initial_val_loss]

    def resume(self, history, arrays):
        self.costs = [self.initial_val_loss, *history.get("val_loss", [])]

    def on_epoch_end(self, epoch, logs=None):
        self.costs.append(float((logs or {}).get("val_loss", math.nan)))
        if paper_should_stop(self.costs, epoch, self.tol):
            self.model.stop_training = True


def early_stopping_callbacks(
    rule: str,
    initial_val_loss: float,
    tol: float = 0.05,
    patience: int = 5,
    restore_best_weights: bool = False,
) -> list:
    """The callbacks of one of ``EARLY_STOPPING_RULES``: 'paper' (with `tol`),
    'patience' (Keras's EarlyStopping on val_loss with `patience` and
    `restore_best_weights`) or 'none' (no callback).

    >>> [type(c).__name__ for c in early_stopping_callbacks("paper", 0.7)]
    ['PaperEarlyStopping']
    >>> early_stopping_callbacks("none", 0.7)
    []
    """
    if rule not in EARLY_STOPPING_RULES:
        raise ValueError(
            f"Received an invalid value for `rule`, expected one of "
            f"{list(EARLY_STOPPING_RULES)}. Received: rule={rule!r}"
        )
    if rule == "none":
        return []
    if rule == "paper":
        return [PaperEarlyStopping(tol, initial_val_loss)]
    return [
        ResumableEarlyStopping(
            monitor="val_loss", patience=patience, restore_best_weights=restore_best_weights
        )
    ]


class EpochLog(keras.callbacks.Callback):
    """Writes one line per finished epoch with its metrics and wall time.

    Args:
        write: called with each line; default ``print``.
        prefix: put before each line, e.g. the repetition's name.

    Example:

    >>> log = EpochLog(prefix="RK4Net: ")
    >>> log.set_params({"epochs": 40})
    >>> log.on_epoch_begin(2)
    >>> logs = {"accuracy": 0.7, "loss": 0.81, "val_accuracy": 0.78, "val_loss": 0.92}
    >>> log.on_epoch_end(2, logs)  # doctest: +ELLIPSIS
    RK4Net: epoch 3/40: loss 0.81, accuracy 0.7, val_loss 0.92, val_accuracy 0.78 (... s)
    """

    def __init__(self, write: Callable[[str], None] = print, prefix: str = ""):
        super().__init__()
        self.write, self.prefix = write, prefix
        self._began = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._began = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._began
        logs = logs or {}
        # Training before validation, the loss first in each, as the paper's tables.
        keys = sorted(logs, key=lambda k: (k.startswith("val_"), not k.endswith("loss"), k))
        metrics = ", ".join(f"{key} {float(logs[key]):.4g}" for key in keys)
        # `epoch` counts from 0 and from the first epoch of a killed run, as Keras's does.
        self.write(
            f"{self.prefix}epoch {epoch + 1}/{self.params.get('epochs', '?')}: "
            f"{metrics} ({seconds:.1f} s)"
        )
