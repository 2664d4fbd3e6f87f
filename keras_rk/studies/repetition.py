"""One repetition of a study: seeded data, a seeded network, resumable training.

Each (cell, seed) is trained with ``keras_rk.training.resumable_fit`` (Adam,
sparse cross-entropy, the early stop of the settings) and described by a
record: the dict that ``keras_rk.results.ResultsFolder.save_run`` writes.

>>> cell = Cell("spiral", "rk4", depth=2, width=4)
>>> settings = Settings(epochs=1, num_train=10, num_val=10, steps_per_execution=2)
>>> record, model = train_repetition(cell, 0, settings)
>>> record["run_id"], record["epochs_run"], len(record["history"]["val_loss"])
('spiral-rk4-L2-w4-tanh-seed0', 1, 2)
>>> sorted(record["final"])
['train_accuracy', 'train_loss', 'val_accuracy', 'val_loss']
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from keras_rk import _checks
from keras_rk.callbacks import early_stopping_callbacks
from keras_rk.datasets import IMAGE_SETS, load_images, load_points
from keras_rk.environment import describe
from keras_rk.results import ResultsError, _read_json, atomic_write_text
from keras_rk.schedules import LearningRateDrops
from keras_rk.studies.catalogue import Cell, Settings, build_arguments, upgrade_settings

INITIAL_FILE = "initial.json"


def build_model(cell: Cell, settings: Settings):
    """The uncompiled network of `cell` (``keras_rk.build``) with the step size,
    lift and gradient of `settings`."""
    import keras_rk

    common = dict(
        depth=cell.depth,
        width=cell.width,
        input_dim=cell.input_dim,
        num_classes=cell.num_classes,
        activation=cell.activation,
        lift=cell.lift or settings.lift,
    )
    arguments = build_arguments(cell.architecture)
    if arguments["architecture"] == "standard":
        return keras_rk.build(**arguments, **common)
    return keras_rk.build(
        **arguments,
        step_size=settings.step_size,
        final_time=settings.final_time,
        gradient=settings.gradient,
        **common,
    )


def load_data(cell: Cell, settings: Settings, seed: int, data_dir=None):
    """``((x, y), (x_val, y_val))`` of a repetition: a point set drawn from `seed`,
    or `num_train` training and `num_val` test images chosen by `seed`."""
    if cell.dataset in IMAGE_SETS:
        return load_images(
            cell.dataset,
            data_dir=data_dir,
            num_train=settings.num_train,
            num_test=settings.num_val,
            seed=seed,
        )
    return load_points(
        cell.dataset, num_train=settings.num_train, num_val=settings.num_val, seed=seed
    )


def _changes(recorded: Any, wanted: dict[str, Any], unchecked: tuple[str, ...] = ()) -> str:
    """'key recorded -> wanted, ...' over the keys of either dict; '' when equal."""
    recorded = recorded if isinstance(recorded, dict) else {}
    keys = sorted((set(recorded) | set(wanted)) - set(unchecked))
    return ", ".join(
        f"{k} {recorded.get(k)!r} -> {wanted.get(k)!r}"
        for k in keys
        if recorded.get(k) != wanted.get(k)
    )


def record_differences(
    record: dict[str, Any], cell: Cell, seed: int, settings: Settings, backend: str | None = None
) -> list[str]:
    """How `record` differs from the repetition (`cell`, `seed`) under `settings`
    on `backend` (default: Keras's): its run id, config, seed, settings (older
    forms upgraded; the number of seeds is not one of them) and backend, each
    as 'what: recorded -> expected'. Fields the record lacks are not compared.

    >>> cell = Cell("spiral", "rk4", depth=2, width=4)
    >>> record = {"run_id": cell.run_id(0), "config": dataclasses.asdict(cell), "seed": 0,
    ...           "settings": Settings(epochs=2).to_dict(), "backend": "jax"}
    >>> record_differences(record, cell, 0, Settings(epochs=3, seeds=1), "jax")
    ['settings: epochs 2 -> 3']
    """
    if backend is None:
        import keras

        backend = keras.backend.backend()
    differences = []
    expected = {"run_id": cell.run_id(seed), "seed": seed, "backend": backend}
    for key, value in expected.items():
        if key in record and record[key] != value:
            differences.append(f"{key}: {record[key]!r} -> {value!r}")
    config = _changes(record.get("config"), dataclasses.asdict(cell))
    if config:
        differences.append(f"config: {config}")
    if "settings" in record:
        recorded = record["settings"]
        recorded = upgrade_settings(recorded) if isinstance(recorded, dict) else recorded
        changed = _changes(recorded, settings.to_dict(), unchecked=("seeds",))
        if changed:
            differences.append(f"settings: {changed}")
    return differences


def learning_rate_drops(settings: Settings) -> list:
    """The callback that applies the drops of `settings` (none without drops)."""
    if not settings.learning_rate_drops:
        return []
    return [LearningRateDrops(settings.learning_rate, settings.learning_rate_drops)]


def early_stopping(settings: Settings, initial_val_loss: float) -> list:
    """The early-stopping callbacks of `settings` (none for 'none')."""
    return early_stopping_callbacks(
        settings.early_stopping,
        initial_val_loss,
        tol=settings.tol,
        patience=settings.patience,
        restore_best_weights=settings.restore_best_weights,
    )


def read_initial(path: Path) -> tuple[tuple[float, float], tuple[float, float]]:
    """The (loss, accuracy) on the training and validation sets before training,
    as kept in `path`; a file that is not that raises ``ResultsError`` naming it."""
    initial = _read_json(path, "evaluation before training")
    pairs = [initial.get(key) if isinstance(initial, dict) else None for key in ("train", "val")]
    if not all(
        isinstance(pair, list) and len(pair) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair)
        for pair in pairs
    ):  # fmt: skip
        raise ResultsError(
            f"The evaluation before training {path} is corrupt: expected "
            f'{{"train": [loss, accuracy], "val": [loss, accuracy]}}; received {initial!r:.80}. '
            f"Move its folder away to start that repetition from scratch."
        )
    return tuple(pairs[0]), tuple(pairs[1])


def train_repetition(
    cell: Cell,
    seed: int,
    settings: Settings,
    callbacks: list | None = None,
    backup_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    verbose: int = 0,
) -> tuple[dict[str, Any], Any]:
    """Trains one repetition; returns its record and the trained model.

    The record's ``history`` has one entry per epoch, the first being before
    training: train ``loss``/``accuracy`` are Keras's running means over the
    epoch (the first and last are on the whole training set), ``val_*`` are on
    the whole validation set. ``final`` is measured on the whole sets after
    training.

    With `backup_dir`, the state after every epoch (and the evaluations before
    training) is kept there, and a call after a kill resumes from it; the caller
    removes the folder once the record is saved. Without it, a temporary folder
    is used. `data_dir` is where ``load_images`` looks first (images only).
    `verbose` is Keras's ``fit`` verbosity (0 silent, 1 a progress bar, 2 a line
    per epoch).
    """
    if backup_dir is None:
        with tempfile.TemporaryDirectory(prefix="keras-rk-") as temporary:
            return train_repetition(cell, seed, settings, callbacks, temporary, data_dir, verbose)

    import keras

    from keras_rk.training import resumable_fit, trained_seconds

    start = time.perf_counter()
    backup_dir = Path(backup_dir)
    # Training seconds of earlier processes that were killed (or stopped) mid-run.
    earlier_seconds = trained_seconds(backup_dir)
    keras.utils.set_random_seed(seed)
    (x, y), (x_val, y_val) = load_data(cell, settings, seed, data_dir)
    # Before the first evaluation: on JAX an out-of-range label gives a finite,
    # wrong loss instead of an error, and that loss would be kept in initial.json.
    y = _checks.class_labels(y, f"the training labels of {cell.dataset}", cell.num_classes)
    y_val = _checks.class_labels(
        y_val, f"the validation labels of {cell.dataset}", cell.num_classes
    )
    model = build_model(cell, settings)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=settings.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        # Keras's PyTorch trainer accepts only 1; it changes speed, not numbers.
        steps_per_execution=1
        if keras.backend.backend() == "torch"
        else settings.steps_per_execution,
    )

    def evaluate(inputs, labels):
        loss, accuracy = model.evaluate(inputs, labels, batch_size=len(inputs), verbose=0)
        return float(loss), float(accuracy)

    # Measured once, before any epoch's state can exist, and kept beside it.
    initial_path = backup_dir / INITIAL_FILE
    if initial_path.exists():
        initial_train, initial_val = read_initial(initial_path)
    else:
        initial_train, initial_val = evaluate(x, y), evaluate(x_val, y_val)
        backup_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            initial_path, json.dumps({"train": initial_train, "val": initial_val}) + "\n"
        )
    history = resumable_fit(
        model,
        x,
        y,
        backup_dir=backup_dir,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        seed=seed,
        validation_data=(x_val, y_val),
        validation_batch_size=len(x_val),
        callbacks=[
            *(callbacks or []),
            *early_stopping(settings, initial_val[0]),
            *learning_rate_drops(settings),
        ],
        verbose=verbose,
    )
    final_train, final_val = evaluate(x, y), evaluate(x_val, y_val)
    history = {
        "loss": [initial_train[0], *history["loss"]],
        "accuracy": [initial_train[1], *history["accuracy"]],
        "val_loss": [initial_val[0], *history["val_loss"]],
        "val_accuracy": [initial_val[1], *history["val_accuracy"]],
    }
    record = {
        "run_id": cell.run_id(seed),
        "config": dataclasses.asdict(cell),
        "seed": seed,
        "settings": settings.to_dict(),
        "backend": keras.backend.backend(),
        "epochs_run": len(history["loss"]) - 1,
        "history": history,
        "final": {
            "train_loss": final_train[0],
            "train_accuracy": final_train[1],
            "val_loss": final_val[0],
            "val_accuracy": final_val[1],
        },
        "seconds": earlier_seconds + time.perf_counter() - start,
        "environment": describe(),
    }
    return record, model
