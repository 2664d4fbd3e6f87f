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

from keras_rk.results import ResultsFolder
from keras_rk.studies.catalogue import Settings, resolve, upgrade_settings
from keras_rk.studies.claims import (
    DEFAULT_TIMEOUT,
    holder,
    process_start_time,
    report_turn,
    try_claim,
)
from keras_rk.studies.figures import study_figures
from keras_rk.studies.jobs import train_claimed
from keras_rk.studies.progress import StudyClock
from keras_rk.studies.repetition import record_differences
from keras_rk.studies.reports import summarize, write_tables
from keras_rk.studies.validation import check_study
from keras_rk.studies.workers import run_workers


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
    verbose: int = 0,
    num_workers: int = 1,
    claim_timeout: float = DEFAULT_TIMEOUT,
    report: bool = True,
    **overrides,
) -> dict[str, Any]:
    """Runs (or resumes) a study into the folder `out`, then writes its tables,
    figures and report. Returns ``{"records": ..., "summary": ..., "files": ...}``.

    `overrides` are fields of ``Settings`` (None means 'not given'); `options`
    the study's own lists (depths, widths, ...). `data_dir` is where the image
    studies look for MNIST / Fashion-MNIST first (see
    ``keras_rk.datasets.load_images``); it is not one of the settings, so a
    rerun may find the same data elsewhere. `verbose` is Keras's fit verbosity.

    Several processes, here or on other machines, may run the same study into
    the same folder at once: each trains the repetitions it claims
    (``keras_rk.studies.claims``), takes over those whose claim went stale
    (`claim_timeout` seconds without a heartbeat, or a dead process on this
    host) and waits for the rest; the first to find every record writes the
    report. `num_workers` > 1 starts that many worker processes here
    (``keras_rk.studies.workers``) and writes the report when they are done;
    `report=False` returns once the records are on disk (``summary`` None)."""
    study, settings, opts = resolve(name, quick, options, **overrides)
    check_study(study, settings, opts, data_dir)  # before the folder: a refused run writes nothing
    cells = study.make_cells(opts)
    folder = results_folder(out, name, settings, opts)
    jobs = [(cell, seed) for cell in cells for seed in range(settings.seeds)]
    records: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    began = time.time()
    if num_workers > 1:
        run_workers(num_workers, dict(name=name, out=str(out), quick=quick, options=options,
                                  data_dir=None if data_dir is None else str(data_dir),
                                  report=False, verbose=verbose, claim_timeout=claim_timeout,
                                  **overrides), progress)  # fmt: skip
    clock = StudyClock(len(jobs), started)

    def load_verified(run_id, cell, seed, head):
        """The record on disk if it is this repetition's; a mismatch is reported and moved aside."""
        return folder.load_run(
            run_id,
            verify=lambda found: record_differences(found, cell, seed, settings),
            report=lambda line: progress(f"{head}: {line}"),
        )

    waiting: set[str] = set()  # repetitions seen claimed by another live process
    while len(records) < len(jobs):
        for index, (cell, seed) in enumerate(jobs, 1):
            run_id = cell.run_id(seed)
            if run_id in records:
                continue
            head = f"[{index}/{len(jobs)}] {cell.label}, seed {seed}"
            record = load_verified(run_id, cell, seed, head)
            partial = folder.partial_path(run_id)
            trained = False
            if record is not None:
                by = "by another process" if run_id in waiting else "before"
                progress(f"{head}: done {by}, skipped")
                # The state of a process killed between writing the record and this.
                shutil.rmtree(partial, ignore_errors=True)
            elif (claim := try_claim(folder.path, run_id, claim_timeout)) is None:
                if run_id not in waiting:
                    waiting.add(run_id)
                    progress(f"{head}: claimed by {holder(folder.path, run_id)}")
                continue
            else:
                try:
                    # Finished by another process between the look above and the claim.
                    record = load_verified(run_id, cell, seed, head)
                    if record is None:
                        record = train_claimed(head, cell, seed, settings, folder, claim,
                                               data_dir, verbose, progress)  # fmt: skip
                        clock.trained(record["seconds"])
                        trained = True
                    # Only once the record is on disk; also after a kill between the two.
                    shutil.rmtree(partial, ignore_errors=True)
                finally:
                    claim.release(done=record is not None)
            records[run_id] = record
            if trained:
                done = sum(folder.run_path(c.run_id(s)).exists() for c, s in jobs)
                progress(clock.line(done))
        if len(records) < len(jobs):  # the rest are being trained by other processes
            time.sleep(min(0.5, claim_timeout / 10))
    if not report:
        return {"records": records, "summary": None, "files": []}
    # Since this process started, not since this call: a process that started with
    # another but reached this point after that one wrote the report (slow to import
    # on a loaded machine) shares its run and does not write the report again.
    since = min(began, process_start_time())
    with report_turn(folder.path, list(records), since, claim_timeout) as write:
        summary = summarize(name, cells, settings.seeds, records)
        if not write:
            progress("report: written by another process from the same repetitions")
            return {"records": records, "summary": summary, "files": []}
        files = write_tables(
            folder, name, study, settings, opts, summary, time.perf_counter() - started,
            quick=quick, records=records,
        )  # fmt: skip
        if figures:
            files += study_figures(name, folder, cells, settings, records, summary)
            progress(f"figures: {', '.join(p.name for p in files if p.suffix == '.png')}")
    progress(f"results in {folder.path}")
    return {"records": records, "summary": summary, "files": files}
