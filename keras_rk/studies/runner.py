"""Runs a whole study into a results folder, resumably, then writes its reports.

A rerun skips the repetitions already on disk and resumes an interrupted one
from its last finished epoch (its state is kept in ``OUT/partial/<run>/`` until
its record is written), to the same numbers where the backend is deterministic.

The JAX backend is much faster for these small networks (KERAS_BACKEND=jax).

>>> import tempfile
>>> out = tempfile.mkdtemp()
>>> result = run_study("variability", out, quick=True, figures=False, progress=lambda _: None,
...                    seeds=1, epochs=1, num_train=10, num_val=10)
>>> list(result["records"]), [p.name for p in result["files"]]
(['donut_2d_6c-rk4-L3-w4-tanh-seed0'], ['summary.csv', 'summary.md', 'report.md'])
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from keras_rk.datasets import IMAGE_SETS, available_datasets, available_point_sets
from keras_rk.results import ResultsFolder
from keras_rk.studies.catalogue import Settings, resolve, upgrade_settings
from keras_rk.studies.figures import study_figures
from keras_rk.studies.repetition import record_differences, train_repetition
from keras_rk.studies.reports import summarize, write_tables
from keras_rk.training import STATE_FILE


def results_folder(out: str | Path, name: str, settings: Settings, options: dict) -> ResultsFolder:
    """The results folder of study `name` with these settings and options; an
    existing one must hold the same study and settings (older forms upgraded)."""
    # The number of seeds is left out of the folder's settings: a rerun with more
    # seeds adds repetitions to the same study, one with fewer summarises fewer.
    recorded = {k: v for k, v in settings.to_dict().items() if k != "seeds"}
    return ResultsFolder(out, name, {**recorded, "options": options}, upgrade=upgrade_settings)


def run_study(
    name: str,
    out: str,
    quick: bool = False,
    options: dict[str, Any] | None = None,
    figures: bool = True,
    progress: Callable[[str], None] = print,
    data_dir: str | Path | None = None,
    **overrides,
) -> dict[str, Any]:
    """Runs (or resumes) a study into the folder `out`, then writes its tables,
    figures and report. Returns ``{"records": ..., "summary": ..., "files": ...}``.

    `overrides` are fields of ``Settings`` (None means 'not given'); `options`
    the study's own lists (depths, widths, ...). `data_dir` is where the image
    studies look for MNIST / Fashion-MNIST first (see
    ``keras_rk.datasets.load_images``); it is not one of the settings, so a
    rerun may find the same data elsewhere."""
    study, settings, opts = resolve(name, quick, options, **overrides)
    cells = study.make_cells(opts)
    unknown = sorted({cell.dataset for cell in cells} - set(available_datasets()))
    if unknown:  # before the results folder is created: a bad name writes nothing
        raise ValueError(
            f"Unknown data set `name` in `datasets`, expected a point set "
            f"{available_point_sets()} or an image set {list(IMAGE_SETS)}. "
            f"Received: name={unknown[0]!r}"
        )
    folder = results_folder(out, name, settings, opts)
    jobs = [(cell, seed) for cell in cells for seed in range(settings.seeds)]
    records: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    for index, (cell, seed) in enumerate(jobs, 1):
        run_id = cell.run_id(seed)
        head = f"[{index}/{len(jobs)}] {cell.label}, seed {seed}"
        record = folder.load_run(
            run_id,
            verify=lambda found: record_differences(found, cell, seed, settings),  # noqa: B023
            report=lambda line: progress(f"{head}: {line}"),  # noqa: B023
        )
        partial = folder.partial_path(run_id)
        if record is not None:
            progress(f"{head}: done before, skipped")
        else:
            if (partial / STATE_FILE).exists():
                progress(f"{head}: resuming an interrupted run")
            record, model = train_repetition(
                cell, seed, settings, backup_dir=partial, data_dir=data_dir
            )
            folder.save_run(record, model.get_weights())
            final = record["final"]
            progress(
                f"{head}: val accuracy {100 * final['val_accuracy']:.2f}%, "
                f"val cost {final['val_loss']:.4f} ({record['epochs_run']} epochs, "
                f"{record['seconds']:.1f} s)"
            )
        # Only once the record is on disk; also after a kill between the two.
        shutil.rmtree(partial, ignore_errors=True)
        records[run_id] = record
    summary = summarize(name, cells, settings.seeds, records)
    files = write_tables(
        folder, name, study, settings, opts, summary, time.perf_counter() - started
    )
    if figures:
        files += study_figures(name, folder, cells, settings, records, summary)
        progress(f"figures: {', '.join(p.name for p in files if p.suffix == '.png')}")
    progress(f"results in {folder.path}")
    return {"records": records, "summary": summary, "files": files}
