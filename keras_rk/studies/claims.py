"""Claims: which process trains which repetition, when several share a folder.

Processes on one machine (``keras-rk run --jobs N``) or on many (a Slurm array, a
Kubernetes indexed Job) that run the same study into the same results folder
split it by claiming one repetition at a time::

    claims/<run>      held by the process training <run>: its host, pid and start
                      time; its mtime is the process's heartbeat

A claim is made with ``os.open(O_CREAT | O_EXCL)``, which only one process can
win, also on NFS (v3 and later). While the repetition trains, a thread touches
the claim every ``timeout / 10`` seconds. The claim is *stale*, and may be taken
over, when it has not been touched for `timeout` seconds, or at once when it was
made on this host by a process that no longer exists. A take-over first renames
the stale claim to a name unique to the taker (of several takers only one rename
succeeds), checks it moved the very file it judged stale, and then claims afresh
with ``O_EXCL``. The repetition then resumes from its state in ``partial/<run>/``.

>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> claim = try_claim(folder, "depth-rk4-seed0", timeout=60)
>>> claim is not None, try_claim(folder, "depth-rk4-seed0", timeout=60)
(True, None)
>>> claim.release()
>>> try_claim(folder, "depth-rk4-seed0", timeout=60).release()
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from keras_rk.results import atomic_write_text

CLAIMS = "claims"
# How long a repetition's claim lives without a heartbeat (``--claim-timeout``).
DEFAULT_TIMEOUT = 300.0
HOST = socket.gethostname()


def claims_path(folder: str | os.PathLike) -> Path:
    return Path(folder) / CLAIMS


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:  # no /proc (macOS): kill(0) is the answer
        return True


def read_claim(path: Path) -> dict[str, Any]:
    """The owner written in a claim; {} when it is empty or half written (its
    owner was killed between creating and writing it)."""
    try:
        owner = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return owner if isinstance(owner, dict) else {}


def is_stale(path: Path, timeout: float, now: float | None = None) -> bool:
    """Whether the claim at `path` may be taken over (see the module docstring)."""
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return False
    if (now if now is not None else time.time()) - mtime > timeout:
        return True
    owner = read_claim(path)
    pid = owner.get("pid")
    return owner.get("host") == HOST and isinstance(pid, int) and not pid_alive(pid)


def describe(path: Path) -> str:
    """'host pid N, 12 s ago' for a progress line."""
    owner = read_claim(path)
    try:
        age = f"{time.time() - path.stat().st_mtime:.0f} s ago"
    except FileNotFoundError:
        age = "released"
    return f"{owner.get('host', '?')} pid {owner.get('pid', '?')}, heartbeat {age}"


class Claim:
    """A claim this process holds; a thread keeps it fresh until ``release``.

    Args:
        path: the claim file, already created by this process.
        descriptor: its open file descriptor; the heartbeat touches the file
            through it, so it never refreshes a claim another process made.
        timeout: the stale timeout; the heartbeat runs every ``timeout / 10`` s.
        took_over: the owner of the stale claim this one replaced, or None.
    """

    def __init__(self, path: Path, descriptor: int, timeout: float, took_over=None):
        self.path, self.descriptor, self.took_over = path, descriptor, took_over
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, args=(max(timeout / 10, 0.05),), daemon=True
        )
        self._thread.start()

    def _beat(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                os.utime(self.descriptor)
            except OSError:  # the folder went away; the owner finds out when it writes
                return

    def release(self) -> None:
        """Stops the heartbeat and deletes the claim (if it is still this one)."""
        self._stop.set()
        self._thread.join()
        try:
            if os.stat(self.path).st_ino == os.fstat(self.descriptor).st_ino:
                os.unlink(self.path)
        except FileNotFoundError:
            pass
        finally:
            os.close(self.descriptor)


def _create(path: Path) -> int | None:
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return None
    owner = {"host": HOST, "pid": os.getpid(), "started": time.time()}
    os.write(descriptor, (json.dumps(owner) + "\n").encode("utf-8"))
    os.fsync(descriptor)
    return descriptor


def _take_over(path: Path, timeout: float) -> dict[str, Any] | None:
    """Moves the stale claim at `path` out of the way; returns its owner, or
    None when it was not stale or another process moved it first."""
    try:
        seen = path.stat()
    except FileNotFoundError:
        return {}  # released meanwhile: free to claim
    if not is_stale(path, timeout):
        return None
    owner = read_claim(path)
    tombstone = path.with_name(f".{path.name}.stale.{HOST}.{os.getpid()}.{uuid.uuid4().hex}")
    try:
        os.rename(path, tombstone)
    except FileNotFoundError:
        return None  # another taker was first
    if os.stat(tombstone).st_ino != seen.st_ino:
        # Between our look and our rename another taker replaced the stale claim
        # with its fresh one, and we moved that: put it back where it was.
        try:
            os.link(tombstone, path)
        except FileExistsError:
            pass
        os.unlink(tombstone)
        return None
    os.unlink(tombstone)
    return owner


def try_claim(folder: str | os.PathLike, name: str, timeout: float = DEFAULT_TIMEOUT):
    """A ``Claim`` on `name` in `folder`/claims/, or None when a live process
    holds it. A stale claim is taken over (``Claim.took_over`` says whose)."""
    if timeout <= 0:
        raise ValueError(
            f"Received an invalid value for `timeout`, expected a positive number of "
            f"seconds. Received: timeout={timeout!r}"
        )
    directory = claims_path(folder)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    descriptor = _create(path)
    took_over = None
    if descriptor is None:
        took_over = _take_over(path, timeout)
        if took_over is None:
            return None
        descriptor = _create(path)
        if descriptor is None:  # another process claimed it first after the take-over
            return None
    return Claim(path, descriptor, timeout, took_over or None)


REPORT = "report"  # the claim of the process writing the tables and figures
REPORT_DONE = "report.done"  # which repetitions the last report was made from, and when


@contextlib.contextmanager
def report_turn(
    folder: str | os.PathLike,
    run_ids: list[str],
    since: float,
    timeout: float = DEFAULT_TIMEOUT,
    poll: float = 0.5,
):
    """Waits for the report claim and yields whether this process should write
    the report of `run_ids`: False when another process wrote it from the same
    repetitions after `since` (this process's start, ``time.time()``), so of
    the processes sharing one study run only the first to finish writes it; a
    later rerun writes it again. Reports are written atomically either way.
    """
    while (claim := try_claim(folder, REPORT, timeout)) is None:
        time.sleep(poll)
    done = claims_path(folder) / REPORT_DONE
    try:
        earlier = read_claim(done)
        write = not (earlier.get("runs") == sorted(run_ids) and earlier.get("time", 0) >= since)
        yield write
        if write:
            record = {"runs": sorted(run_ids), "time": time.time(), "host": HOST}
            atomic_write_text(done, json.dumps({**record, "pid": os.getpid()}) + "\n")
    finally:
        claim.release()
