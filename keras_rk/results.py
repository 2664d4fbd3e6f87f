"""A study's results folder: one file per finished repetition, written atomically.

Layout of a folder::

    study.json            what was run (study name and settings); a rerun with other
                          settings is refused rather than mixed in
    runs/<run>.json       one finished repetition: its config, seed, settings and
                          backend, per-epoch metrics, final metrics and wall time
                          (the marker that it is done)
    runs/<run>.npz        its trained weights, for the figures
    partial/<run>/        the state of a repetition still training (weights, optimizer,
                          history after its last finished epoch; the evaluations
                          before training), so a rerun resumes it; removed once
                          runs/<run>.json is written
    rejected/<n>/         records (and their weights) found in runs/ that were not the
                          repetition they were loaded for; kept, never read again
    summary.csv, summary.md, report.md, *.png   made from the runs

Every file is written to a temporary file in the same folder and renamed over
its target (``os.replace``), so a run killed at any moment leaves either the old
file or the new one, never half of one. Finished results are never deleted: a
corrupt one is reported with its path, for a person to look at; one that is
readable but not what it is loaded for (``load_run``'s `verify`) is moved to
``rejected/`` and its repetition trained again.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


class ResultsError(RuntimeError):
    """A results folder cannot be used as asked (not writable, corrupt, mismatched)."""


def _current_umask() -> int:
    """The process's umask. Python can only read it by setting it, so it is set
    and restored at once; on Linux /proc answers without changing anything,
    which is safe beside other threads."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write) -> None:
    """Calls write(binary_file) on a temporary file beside `path`, then renames
    it to `path`, so readers never see a partly written file. The file gets the
    permissions ``open`` would give it (0o666 less the umask), not mkstemp's 0o600."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):  # not on Windows, where mkstemp's mode is moot
            os.fchmod(handle, 0o666 & ~_current_umask())
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        if os.path.exists(temporary):
            os.unlink(temporary)
        if isinstance(error, OSError):  # a full disk, a quota: say which file
            raise ResultsError(
                f"Cannot write {path} ({error}). The file as it was is kept; free some "
                f"space (or choose another folder with --out) and rerun to continue."
            ) from error
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda file: file.write(text.encode("utf-8")))


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ResultsError(
            f"The {what} {path} is corrupt or unreadable ({error}). Expected a JSON "
            f"file written by keras-rk. Nothing was changed: look at it, then delete "
            f"it (or move it away) to rerun it, or choose another folder with --out."
        ) from error


RUN_KEYS = ("run_id", "config", "seed", "history", "final", "seconds")
# What a record states about how it was made, checked against the repetition it
# is loaded for; records of versions before these were stored lack them.
MADE_WITH_KEYS = ("settings", "backend")


def _corrupt_record(path: Path, record: Any) -> str | None:
    """What is wrong with the form of a record read from `path`, or None."""
    if not isinstance(record, dict) or any(key not in record for key in RUN_KEYS):
        return f"expected a JSON object with keys {list(RUN_KEYS)}"
    for key in ("config", "history", "final"):
        if not isinstance(record[key], dict):
            return f"its `{key}` is {type(record[key]).__name__} {record[key]!r:.60}, not an object"
    for key, value in record["final"].items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"its `final.{key}` is {value!r:.60}, not a number"
    for key, values in record["history"].items():
        if not isinstance(values, list):
            return f"its `history.{key}` is {values!r:.60}, not a list"
    return None


class ResultsFolder:
    """The folder of one study. Creating it checks that it is writable and that
    any earlier run in it had the same study and settings.

    Args:
        path: the folder; created (with parents) when missing.
        study: the study's name.
        settings: a JSON-serialisable dict of everything that decides the numbers.
        upgrade: a function that turns the settings an older version wrote into
            today's form before they are compared (the file itself is kept as
            it is); default: compared as written.

    Example:

    >>> import tempfile
    >>> path = tempfile.mkdtemp()
    >>> folder = ResultsFolder(path, "depth", {"epochs": 2})
    >>> folder.save_run({"run_id": "a", "config": {}, "seed": 0, "history": {},
    ...                  "final": {}, "seconds": 1.0}, weights=None)
    >>> ResultsFolder(path, "depth", {"epochs": 2}).load_run("a")["seconds"]
    1.0
    >>> ResultsFolder(path, "depth", {"epochs": 3})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    keras_rk.results.ResultsError: ... holds a 'depth' run with other settings (epochs: 2 -> 3). ...
    """

    def __init__(
        self,
        path: str | os.PathLike,
        study: str,
        settings: dict[str, Any],
        upgrade: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ):
        self.path = Path(path)
        self.runs = self.path / "runs"
        try:
            self.runs.mkdir(parents=True, exist_ok=True)
            probe, probe_name = tempfile.mkstemp(dir=self.runs, prefix=".probe.")
            os.close(probe)
            os.unlink(probe_name)
        except OSError as error:
            raise ResultsError(
                f"The results folder {self.path} is not writable ({error}). Expected a "
                f"folder keras-rk can create and write to; choose another with --out."
            ) from error
        manifest = {"study": study, "settings": settings}
        manifest_path = self.path / "study.json"
        # True when an existing study.json had these settings: it then vouches for
        # records too old to state their own.
        self.vouched = manifest_path.exists()
        if manifest_path.exists():
            earlier = _read_json(manifest_path, "study file")
            if not isinstance(earlier, dict) or earlier.get("study") != study:
                raise ResultsError(
                    f"{self.path} holds the results of study "
                    f"{earlier.get('study') if isinstance(earlier, dict) else earlier!r}, "
                    f"not {study!r}. Choose another folder with --out."
                )
            old = earlier.get("settings", {})
            if not isinstance(old, dict):
                raise ResultsError(
                    f"The study file {manifest_path} is corrupt: its `settings` is "
                    f"{old!r:.60}, expected an object. Nothing was changed: look at it, "
                    f"then delete it (or move it away) to rerun, or choose another "
                    f"folder with --out."
                )
            if upgrade is not None and isinstance(old, dict):
                old = upgrade(old)
            changed = sorted(
                key for key in set(old) | set(settings) if old.get(key) != settings.get(key)
            )
            if changed:
                details = ", ".join(
                    f"{key}: {old.get(key)!r} -> {settings.get(key)!r}" for key in changed
                )
                raise ResultsError(
                    f"{self.path} holds a {study!r} run with other settings ({details}). "
                    f"Rerun with the same settings to resume it, or choose another "
                    f"folder with --out; nothing was changed."
                )
        else:
            atomic_write_text(manifest_path, json.dumps(manifest, indent=2) + "\n")

    def partial_path(self, run_id: str) -> Path:
        """Where the unfinished repetition `run_id` keeps its training state."""
        return self.path / "partial" / run_id

    def run_path(self, run_id: str) -> Path:
        return self.runs / f"{run_id}.json"

    def weights_path(self, run_id: str) -> Path:
        return self.runs / f"{run_id}.npz"

    def load_run(
        self,
        run_id: str,
        verify: Callable[[dict[str, Any]], list[str]] | None = None,
        report: Callable[[str], None] = print,
    ) -> dict[str, Any] | None:
        """The record of a finished repetition, or None when it has not finished.

        With `verify` (a function from a record to what in it differs from the
        repetition it is loaded for; empty when it matches), a record that
        differs, whose weights file is missing, or that does not state how it
        was made (settings, backend) in a folder whose study.json did not
        vouch for it, is not used: it is moved, with its weights, to
        ``rejected/``, a line naming it and what differs goes to `report`, and
        None is returned, so the repetition is trained again. A file that
        cannot be read raises ``ResultsError`` naming it."""
        path = self.run_path(run_id)
        if not path.exists():
            return None
        record = _read_json(path, "results file")
        problem = _corrupt_record(path, record)
        if problem is not None:
            raise ResultsError(
                f"The results file {path} is corrupt: {problem}. Nothing was changed: "
                f"delete it (or move it away) to rerun that repetition."
            )
        if verify is None:
            return record
        differences = verify(record)
        missing = [key for key in MADE_WITH_KEYS if key not in record]
        weights = self.weights_path(run_id)
        if not differences and not weights.exists():
            differences = [f"its weights file {weights} is missing"]
        elif not differences:
            self._check_weights(weights)
        if not differences and missing and self.vouched:
            report(
                f"{path} does not record its {' or '.join(missing)} (an older "
                f"version); used because {self.path / 'study.json'} has these settings"
            )
            return record
        if not differences and missing:
            differences = [f"it does not record its {' or '.join(missing)}"]
        if differences:
            moved = self._reject(run_id)
            report(
                f"{path} is not this repetition's ({'; '.join(differences)}); moved to "
                f"{moved}, training it again"
            )
            return None
        return record

    def _reject(self, run_id: str) -> Path:
        """Moves the record and weights of `run_id` to a new ``rejected/<n>/``
        (never overwriting an earlier one) and returns that folder."""
        rejected = self.path / "rejected"
        rejected.mkdir(exist_ok=True)
        number = 1 + max((int(p.name) for p in rejected.iterdir() if p.name.isdigit()), default=0)
        target = rejected / str(number)
        target.mkdir()
        for path in (self.weights_path(run_id), self.run_path(run_id)):
            if path.exists():
                os.replace(path, target / path.name)
        return target

    def _check_weights(self, path: Path) -> None:
        try:
            with np.load(path) as archive:
                archive.files  # noqa: B018 - reading the index is the check
        except (OSError, ValueError, EOFError) as error:
            raise ResultsError(
                f"The weights file {path} is corrupt ({type(error).__name__}: {error}). "
                f"Nothing was changed: delete it and its .json beside it to rerun that "
                f"repetition."
            ) from error

    def save_run(self, record: dict[str, Any], weights: list[np.ndarray] | None) -> None:
        """Writes the weights first and the record last: the record marks the
        repetition done, so a kill between the two only redoes this one."""
        run_id = record["run_id"]
        if weights is not None:
            arrays = {f"w{i:03d}": np.asarray(w) for i, w in enumerate(weights)}
            atomic_write(self.weights_path(run_id), lambda file: np.savez(file, **arrays))
        atomic_write_text(self.run_path(run_id), json.dumps(record, indent=1) + "\n")

    def load_weights(self, run_id: str) -> list[np.ndarray] | None:
        path = self.weights_path(run_id)
        if not path.exists():
            return None
        try:
            with np.load(path) as archive:
                return [archive[key] for key in sorted(archive.files)]
        except (OSError, ValueError, EOFError) as error:  # EOFError: a zero-byte file
            raise ResultsError(
                f"The weights file {path} is corrupt ({type(error).__name__}: {error}). "
                f"Nothing was changed: "
                f"delete it and its .json beside it to rerun that repetition."
            ) from error

    def write_text(self, name: str, text: str) -> Path:
        path = self.path / name
        atomic_write_text(path, text)
        return path
