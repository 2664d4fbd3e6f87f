"""Claims: which process trains which repetition, when several share a folder.

Processes on one machine (``keras-rk run --jobs N``) or on many (a Slurm array, a
Kubernetes indexed Job) that run the same study into the same results folder
split it by claiming one repetition at a time::

    claims/<run>@<g>  generation g of the claim on <run>; the highest generation
                      is the one that counts. It holds its process's host, pid
                      and start time; its mtime is the process's heartbeat

A claim is made with ``os.open(O_CREAT | O_EXCL)``, which only one process can
win, also on NFS (v3 and later): generation 0 when there is none, else the next
generation after a stale one, so of several processes taking over a stale claim
exactly one wins, and no file that another process holds is ever moved or
deleted. While the repetition trains, a thread touches the claim every
``timeout / 10`` seconds. A claim is *stale* when it has not been touched for
`timeout` seconds, or at once when it was made on this host by a process that no
longer exists. The winner of a take-over deletes the older generations; the
repetition then resumes from its state in ``partial/<run>/``. A claim is deleted
once its repetition's record is written, and made stale at once (mtime 0) when
its process gives it up without one.

>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> claim = try_claim(folder, "depth-rk4-seed0", timeout=60)
>>> claim is not None, try_claim(folder, "depth-rk4-seed0", timeout=60)
(True, None)
>>> claim.release(done=False)
>>> try_claim(folder, "depth-rk4-seed0", timeout=60).took_over["pid"] == os.getpid()
True
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from keras_rk.results import atomic_write_text

CLAIMS = "claims"
# How long a repetition's claim lives without a heartbeat (``--claim-timeout``).
DEFAULT_TIMEOUT = 300.0
HOST = socket.gethostname()
_IMPORTED_AT = time.time()  # process_start_time() where /proc is not there


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


def generations(folder: str | os.PathLike, name: str) -> list[int]:
    """The generations of the claims on `name` now in `folder`/claims/, sorted."""
    prefix = f"{name}@"
    try:
        entries = os.listdir(claims_path(folder))
    except FileNotFoundError:
        return []
    found = []
    for entry in entries:
        if entry.startswith(prefix) and entry[len(prefix) :].isdigit():
            found.append(int(entry[len(prefix) :]))
    return sorted(found)


def holder(folder: str | os.PathLike, name: str) -> str:
    """'host pid N, heartbeat 12 s ago': who holds the claim on `name`."""
    found = generations(folder, name)
    if not found:
        return "nobody (released)"
    path = claims_path(folder) / f"{name}@{found[-1]}"
    owner = read_claim(path)
    try:
        age = f"{time.time() - path.stat().st_mtime:.0f} s ago"
    except FileNotFoundError:
        age = "gone"
    return f"{owner.get('host', '?')} pid {owner.get('pid', '?')}, heartbeat {age}"


class Claim:
    """A claim this process holds; a thread keeps it fresh until ``release``.

    Args:
        path: the claim file, already created by this process.
        descriptor: its open file descriptor; the heartbeat touches the file
            through it.
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

    def release(self, done: bool = True) -> None:
        """Stops the heartbeat; deletes the claim when its work is `done` (its
        record written), else leaves it stale for the next process to take."""
        self._stop.set()
        self._thread.join()
        try:
            if done:
                os.unlink(self.path)
            else:
                os.utime(self.descriptor, (0, 0))
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


def try_claim(folder: str | os.PathLike, name: str, timeout: float = DEFAULT_TIMEOUT):
    """A ``Claim`` on `name` in `folder`/claims/, or None when a live process
    holds it (or another process won it first). A stale claim is taken over
    (``Claim.took_over`` is then its owner)."""
    if timeout <= 0:
        raise ValueError(
            f"Received an invalid value for `timeout`, expected a positive number of "
            f"seconds. Received: timeout={timeout!r}"
        )
    directory = claims_path(folder)
    directory.mkdir(parents=True, exist_ok=True)
    found = generations(folder, name)
    took_over = None
    if found:
        latest = directory / f"{name}@{found[-1]}"
        if not is_stale(latest, timeout):
            return None
        took_over = read_claim(latest)
    generation = found[-1] + 1 if found else 0
    descriptor = _create(directory / f"{name}@{generation}")
    if descriptor is None:  # another process won this generation
        return None
    if generations(folder, name)[-1] > generation:
        # We looked before a claim, its take-over and the removal of the claim we
        # just remade: the newer generation holds it.
        os.close(descriptor)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(directory / f"{name}@{generation}")
        return None
    for older in found:  # stale, and no longer the latest: nobody reads them
        with contextlib.suppress(FileNotFoundError):
            os.unlink(directory / f"{name}@{older}")
    return Claim(directory / f"{name}@{generation}", descriptor, timeout, took_over)


REPORT = "report"  # the claim of the process writing the tables and figures
REPORT_DONE = "report.done"  # which repetitions the last report was made from, and when


def process_start_time() -> float:
    """When this process was started, in ``time.time()`` seconds: from ``/proc`` on
    Linux, where an ``execve`` (``keras_rk.allocator``'s restart) keeps it; elsewhere
    when this module was imported. ``/proc/stat`` gives the boot time in whole
    seconds, so the value may be up to a second early."""
    try:
        with open("/proc/self/stat") as file:
            fields = file.read().rsplit(")", 1)[1].split()  # after the command's name
        with open("/proc/stat") as file:
            boot = next(int(line.split()[1]) for line in file if line.startswith("btime "))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime
    except (OSError, ValueError, IndexError, StopIteration):
        return _IMPORTED_AT


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
    repetitions after `since` (this process's start, ``process_start_time()``),
    so of the processes sharing one study run only the first to finish writes
    it; a later rerun, or a later call in the process that wrote it, writes it
    again. Reports are written atomically either way.
    """
    while (claim := try_claim(folder, REPORT, timeout)) is None:
        time.sleep(poll)
    done = claims_path(folder) / REPORT_DONE
    try:
        earlier = read_claim(done)
        by_another = (earlier.get("host"), earlier.get("pid")) != (HOST, os.getpid())
        write = not (
            by_another
            and earlier.get("runs") == sorted(run_ids)
            and earlier.get("time", 0) >= since
        )
        yield write
        if write:
            record = {"runs": sorted(run_ids), "time": time.time(), "host": HOST}
            atomic_write_text(done, json.dumps({**record, "pid": os.getpid()}) + "\n")
    finally:
        claim.release()
