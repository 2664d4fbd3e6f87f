"""Training that survives a kill at any moment and resumes to the same numbers.

``resumable_fit`` is ``model.fit`` with two additions:

- after every epoch, the whole training state (weights, optimizer variables, the
  epoch reached, the per-epoch metrics and the wall seconds trained so far, over
  every process: ``trained_seconds``) is written to one file,
  atomically (a temporary file, fsynced, then ``os.replace``), so a kill leaves either the
  previous state or the new one, never a mix;
- the batches of epoch e are a permutation drawn from ``(seed, e)``, not from a
  random stream that advances with training, so a run resumed at epoch e sees
  exactly the batches an uninterrupted run would have seen.

Callbacks that carry state across epochs (early stopping) derive from
``ResumableCallback`` (``keras_rk.callbacks``, re-exported here): they
rebuild that state from the saved history on resume, and may add arrays (best
weights) to the same atomic state file, so the file never pairs one epoch's
weights with another epoch's callback state.
A state written at an epoch where a callback stopped training is marked so: a
resumed run then trains no further and only runs the callbacks'
``on_train_begin`` / ``on_train_end`` (where Keras's ``EarlyStopping`` restores
its best weights).

Where the backend computes deterministically (JAX and PyTorch on the CPU here), a
resumed run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from pathlib import Path

import keras
import numpy as np

from keras_rk import _checks

# ResumableEarlyStopping is re-exported: it lived here before keras_rk.callbacks.
from keras_rk.callbacks import ResumableCallback, ResumableEarlyStopping  # noqa: F401
from keras_rk.results import atomic_write

STATE_FILE = "training_state.npz"


class EpochSeededBatches(keras.utils.PyDataset):
    """Batches of (x, y) in an order fixed by (seed, epoch).

    ``epoch`` is set by ``SetBatchEpoch`` at the start of each epoch, so the order
    does not depend on how many epochs this process has already run.
    """

    def __init__(self, x, y, batch_size: int, seed: int, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y = np.asarray(x), np.asarray(y)
        self.batch_size = batch_size
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.order = np.random.default_rng([self.seed, epoch]).permutation(len(self.x))

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.x[rows], self.y[rows]


class SetBatchEpoch(keras.callbacks.Callback):
    def __init__(self, batches: EpochSeededBatches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)


class AtomicBackup(keras.callbacks.Callback):
    """Writes the training state to ``backup_dir/training_state.npz`` after each
    epoch; it must run after every other callback of the epoch. The state's
    ``seconds`` are `seconds_before` (earlier processes) plus this ``fit``'s so far."""

    def __init__(
        self,
        backup_dir: Path,
        history: dict[str, list[float]],
        resumables: list,
        seconds_before: float = 0.0,
    ):
        super().__init__()
        self.backup_dir = backup_dir
        self.history = history
        self.resumables = resumables
        self.seconds_before = seconds_before
        self._began = time.perf_counter()

    def on_train_begin(self, logs=None):
        self._began = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(float(value))
        arrays = {i: callback.state_arrays() for i, callback in enumerate(self.resumables)}
        stopped = bool(getattr(self.model, "stop_training", False))
        seconds = self.seconds_before + time.perf_counter() - self._began
        save_state(self.backup_dir, self.model, epoch + 1, self.history, stopped, arrays, seconds)


@dataclasses.dataclass
class TrainingState:
    """What ``load_state`` restored besides the model's and optimizer's variables."""

    epoch: int = 0  # epochs done
    history: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    stopped: bool = False  # a callback stopped training at that epoch
    callback_arrays: dict[int, dict[str, np.ndarray]] = dataclasses.field(default_factory=dict)
    # Wall seconds of fit up to that epoch, over every process that trained it.
    seconds: float = 0.0


def save_state(
    backup_dir: Path,
    model: keras.Model,
    epoch: int,
    history: dict,
    stopped: bool = False,
    callback_arrays: dict[int, dict[str, np.ndarray]] | None = None,
    seconds: float = 0.0,
) -> None:
    arrays = {f"weight_{i}": np.asarray(v) for i, v in enumerate(model.weights)}
    optimizer = model.optimizer
    arrays.update({f"optimizer_{i}": np.asarray(v) for i, v in enumerate(optimizer.variables)})
    for index, named in (callback_arrays or {}).items():
        arrays.update({f"callback{index}_{name}": value for name, value in named.items()})
    meta = {
        "epoch": epoch,
        "history": history,
        "stopped": stopped,
        "seconds": seconds,
        "num_weights": len(model.weights),
        "num_optimizer_variables": len(optimizer.variables),
        "backend": keras.backend.backend(),
    }
    backup_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(
        backup_dir / STATE_FILE,
        lambda file: np.savez(file, meta=np.array(json.dumps(meta)), **arrays),
    )


def _history_problem(meta) -> str | None:
    """What makes a state's epoch and per-epoch history inconsistent, or None.

    A state is written after an epoch ends, so it has at least one epoch and one
    history entry per epoch for every metric."""
    epoch, history = meta.get("epoch"), meta.get("history")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
        return f"its epoch is {epoch!r}, expected a positive integer"
    if not isinstance(history, dict) or not history:
        return f"its history is {history!r:.60}, expected the metrics of {epoch} epochs"
    for name, values in history.items():
        if not isinstance(values, list) or len(values) != epoch:
            count = len(values) if isinstance(values, list) else type(values).__name__
            return f"it is at epoch {epoch} but its history of {name!r} has {count} entries"
    seconds = meta.get("seconds", 0.0)  # states written before it was stored have none
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, (int, float))
        or not math.isfinite(seconds)
        or seconds < 0
    ):
        return f"its seconds are {seconds!r:.40}, expected a non-negative number"
    return None


def _unreadable(path: Path, error: Exception) -> ValueError:
    return ValueError(
        f"The training state {path} cannot be read ({type(error).__name__}: {error}). "
        f"Move it away to start this training from scratch."
    )


def _read_meta(path: Path) -> dict:
    """The state file's meta (epoch, history, seconds, ...), checked for consistency."""
    try:
        with np.load(path) as data:
            meta = json.loads(str(data["meta"]))
        if not isinstance(meta, dict):
            raise TypeError(f"its meta is {type(meta).__name__}, expected a JSON object")
    except Exception as error:
        raise _unreadable(path, error) from None
    problem = _history_problem(meta)
    if problem is not None:
        raise ValueError(
            f"The training state {path} disagrees with itself: {problem}. A resumed run "
            f"would record the wrong number of epochs; move the file away to start "
            f"this training from scratch."
        )
    return meta


def load_state(backup_dir: Path, model: keras.Model) -> TrainingState:
    """Restores weights and optimizer state; returns the rest of the saved state."""
    path = backup_dir / STATE_FILE
    if not path.exists():
        return TrainingState()
    meta = _read_meta(path)
    try:
        with np.load(path) as data:
            weights = [data[f"weight_{i}"] for i in range(meta["num_weights"])]
            optimizer_values = [
                data[f"optimizer_{i}"] for i in range(meta["num_optimizer_variables"])
            ]
            callback_arrays: dict[int, dict[str, np.ndarray]] = {}
            for key in data.files:
                if key.startswith("callback"):
                    index, name = key[len("callback") :].split("_", 1)
                    callback_arrays.setdefault(int(index), {})[name] = data[key]
    except Exception as error:
        raise _unreadable(path, error) from None
    backend = keras.backend.backend()
    if meta.get("backend", backend) != backend:  # files from before it was stored pass
        raise ValueError(
            f"The training state {path} was written with the {meta['backend']} backend, "
            f"but this run uses {backend}; resumed, it would not give the numbers of an "
            f"uninterrupted run. Set KERAS_BACKEND={meta['backend']}, or move the file "
            f"away to start this training from scratch."
        )
    saved_shapes = [tuple(w.shape) for w in weights]
    model_shapes = [tuple(v.shape) for v in model.weights]
    if saved_shapes != model_shapes:
        raise ValueError(
            f"The training state {path} holds weights of shapes {saved_shapes}, but the "
            f"model's are {model_shapes}: it was written by a different model. Use "
            f"another `backup_dir`, or move the file away."
        )
    model.set_weights(weights)
    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    for variable, value in zip(optimizer.variables, optimizer_values, strict=True):
        variable.assign(value)
    return TrainingState(
        meta["epoch"],
        meta["history"],
        bool(meta.get("stopped", False)),
        callback_arrays,
        float(meta.get("seconds", 0.0)),
    )


def trained_seconds(backup_dir: str | os.PathLike) -> float:
    """Wall seconds that ``resumable_fit`` has trained in `backup_dir` so far, over
    every process (a killed one up to its last finished epoch); 0 without a state.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     trained_seconds(folder)
    0.0
    """
    path = Path(backup_dir) / STATE_FILE
    if not path.exists():
        return 0.0
    return float(_read_meta(path).get("seconds", 0.0))


def check_training_arrays(x, y) -> tuple[np.ndarray, np.ndarray]:
    """x as a non-empty, finite float matrix and y as integer labels, one per row."""
    try:
        x = np.asarray(x, dtype="float32")
    except (TypeError, ValueError):
        raise ValueError(
            f"`x` must be a numeric array of shape (num_samples, input_dim). "
            f"Received: x of type {type(x).__name__}"
        ) from None
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(
            f"`x` must have shape (num_samples, input_dim) with at least one sample. "
            f"Received: x.shape={x.shape}"
        )
    if not np.all(np.isfinite(x)):
        bad = int(np.sum(~np.isfinite(x)))
        raise ValueError(f"`x` must be finite, but {bad} entries are NaN or infinite.")
    y = np.asarray(y)
    if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"`y` must hold one integer class label per row of `x`, shape "
            f"({x.shape[0]},). Received: y.shape={y.shape}, y.dtype={y.dtype}"
        )
    return x, y


def resumable_fit(
    model: keras.Model,
    x,
    y,
    *,
    backup_dir: str | os.PathLike,
    epochs: int,
    batch_size: int,
    seed: int,
    validation_data=None,
    validation_batch_size: int | None = None,
    callbacks=(),
    verbose: int = 0,
) -> dict[str, list[float]]:
    """``model.fit`` that resumes from ``backup_dir`` where a killed run stopped.

    The model must be compiled (its ``steps_per_execution`` is used as it is).
    `epochs` is the number of epochs the run reaches in all, at least 1. Labels
    `y` and those of `validation_data` must be class indices in
    [0, number of model outputs). A state file written under another Keras
    backend is refused.
    Callbacks that are ``ResumableCallback`` get the restored history first.
    Returns the per-epoch metrics of all epochs, those of earlier, killed runs
    included (Keras's ``History`` of this call would hold only the epochs run in
    this process).
    """
    x, y = check_training_arrays(x, y)
    epochs = _checks.positive_int(epochs, "epochs")  # Keras's fit returns {} for 0
    backup_dir = Path(backup_dir)
    if getattr(model, "optimizer", None) is None:
        raise ValueError("`model` must be compiled before `resumable_fit`.")
    # One forward pass builds the model and gives the number of classes (a
    # single sigmoid unit has two).
    num_classes = max(2, int(keras.ops.shape(model(x[:1]))[-1]))
    y = _checks.class_labels(y, "y", num_classes)
    if isinstance(validation_data, (tuple, list)) and len(validation_data) >= 2:
        x_val, y_val, *rest = validation_data
        y_val = _checks.class_labels(y_val, "validation_data[1]", num_classes)
        validation_data = (x_val, y_val, *rest)
    state = load_state(backup_dir, model)
    history = state.history
    resumables = [c for c in callbacks if isinstance(c, ResumableCallback)]
    if state.epoch > 0:
        for index, callback in enumerate(resumables):
            callback.resume(history, state.callback_arrays.get(index, {}))
    if state.epoch >= epochs or state.stopped:
        if not resumables:
            return history
        # No epoch left: fit runs only on_train_begin and on_train_end, where a
        # restored EarlyStopping puts back its best weights.
        epochs = state.epoch
    batches = EpochSeededBatches(x, y, batch_size, seed)
    model.fit(
        batches,
        epochs=epochs,
        initial_epoch=state.epoch,
        shuffle=False,  # the order is EpochSeededBatches's; Keras's would use a global RNG
        validation_data=validation_data,
        validation_batch_size=validation_batch_size,
        callbacks=[
            SetBatchEpoch(batches),
            *callbacks,
            AtomicBackup(backup_dir, history, resumables, state.seconds),
        ],
        verbose=verbose,
    )
    return history
