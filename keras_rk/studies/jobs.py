"""One claimed repetition of a study run: announce it, train it, save its record.

``keras_rk.studies.runner.run_study`` calls ``train_claimed`` for each
repetition this process holds the claim of (``keras_rk.studies.claims``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from keras_rk.datasets import IMAGE_SETS
from keras_rk.results import ResultsFolder
from keras_rk.studies.catalogue import Cell, Settings
from keras_rk.studies.claims import Claim
from keras_rk.studies.repetition import train_repetition
from keras_rk.training import STATE_FILE


def train_claimed(
    head: str,
    cell: Cell,
    seed: int,
    settings: Settings,
    folder: ResultsFolder,
    claim: Claim,
    data_dir: str | Path | None,
    verbose: int,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Trains (or resumes) repetition (`cell`, `seed`) and saves its record and
    weights in `folder`; `head` starts each line it writes. Image repetitions
    write a line per epoch (``EpochLog``) unless Keras's own `verbose` output
    is on."""
    run_id = cell.run_id(seed)
    partial = folder.partial_path(run_id)
    if claim.took_over is not None:
        owner = claim.took_over
        progress(
            f"{head}: taking over the stale claim of {owner.get('host', '?')} "
            f"pid {owner.get('pid', '?')}"
        )
    if (partial / STATE_FILE).exists():
        progress(f"{head}: resuming an interrupted run")
    progress(f"{head}: started")
    callbacks = []
    if cell.dataset in IMAGE_SETS and not verbose:
        from keras_rk.callbacks import EpochLog

        callbacks.append(EpochLog(progress, prefix=f"{head}: "))
    record, model = train_repetition(
        cell, seed, settings, callbacks=callbacks, backup_dir=partial, data_dir=data_dir,
        verbose=verbose,
    )  # fmt: skip
    folder.save_run(record, model.get_weights())
    final = record["final"]
    progress(
        f"{head}: val accuracy {100 * final['val_accuracy']:.2f}%, "
        f"val cost {final['val_loss']:.4f} ({record['epochs_run']} epochs, "
        f"{record['seconds']:.1f} s)"
    )
    return record
