"""glibc malloc settings that make XLA's CPU training steps faster: a restart.

A training step of a wide network allocates buffers of hundreds of megabytes
(the kernel gradient of RK4Net at width 900, depth 100 alone is 324 MB), and
XLA's CPU runtime allocates a step's buffers anew every step. glibc's malloc
defaults add two costs to them, and tunables remove both:

- **Huge pages** (``glibc.malloc.hugetlb=1``; glibc >= 2.35, the kernel's
  transparent huge pages in ``madvise`` mode, the common default). Without it
  the buffers sit on 4 KiB pages, and XLA's kernels that write them (the
  kernel-gradient product above all) run several times slower than on 2 MiB
  pages. ``KERAS_RK_HUGE_PAGES=0`` leaves it out.
- **Keeping freed memory** (``glibc.malloc.mmap_max=0``, ``arena_max=1``,
  ``trim_threshold=2**40``; any glibc with tunables, >= 2.26). By default a
  chunk above 32 MiB is a fresh ``mmap`` given back to the kernel when freed,
  so every step page-faults its buffers again and the kernel zeroes them
  (~650 faults a step at batch 5, ~10,000 at batch 128, even on huge pages).
  With these, large chunks come from the heap of one arena shared by all
  threads (a thread's own arena would still ``mmap`` them), which is never
  trimmed: a freed buffer stays with the process for the next step, which
  then runs without a page fault. The price is that a process keeps its peak
  memory until it exits. Only for the JAX and PyTorch backends: TensorFlow's
  own allocator keeps its buffers already, and one shared arena slowed its
  batch-5 steps (42.5 and 36.9 images/s without, 33.5 with).
  ``KERAS_RK_KEEP_MEMORY=0`` leaves it out.

Tunables are read only when a process starts, so ``tune_allocator()`` restarts
the process with them, running the same command line again. Measured on this
project's 2-core CPU (JAX, RK4Net width 900, depth 100, ``fit`` steps): huge
pages took ``benchmarks/bench_images.py --seconds 30`` from 22.4 to 33.2
images/s at batch 5 and from 129.5 to 139.9 at batch 128; keeping freed memory
on top took JAX from 28.9-33.6 to 39.5-39.9 images/s at batch 5 and from
140.4-142.1 to 157.0-159.1 at batch 128 (two alternating pairs of 20-second runs,
2026-11-30) and Keras on PyTorch from 9.7-11.0 to 16.2-17.6 at batch 5.

``keras-rk``, ``examples/images.py`` and the benchmarks call it first thing. A
script of your own can do the same as its first statement, or be started with
the variable set.

>>> thp_mode("always [madvise] never")
'madvise'
>>> tunables_with("glibc.malloc.arena_max=2", HUGE_PAGES)
'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1'
>>> tunables_with("glibc.malloc.hugetlb=0", HUGE_PAGES) is None  # the user's own choice
True
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

THP_ENABLED_FILE = "/sys/kernel/mm/transparent_hugepage/enabled"

# Each group of tunables is added whole, and only when the user set none of it.
HUGE_PAGES = {"glibc.malloc.hugetlb": "1"}
KEEP_MEMORY = {
    "glibc.malloc.mmap_max": "0",  # large chunks from the heap, not mmap
    "glibc.malloc.arena_max": "1",  # one heap: a thread's arena mmaps large chunks anyway
    "glibc.malloc.trim_threshold": str(2**40),  # the heap is never given back
}
# glibc's first versions with the tunables of each group.
MIN_GLIBC_HUGE_PAGES = (2, 35)
MIN_GLIBC_TUNABLES = (2, 26)
KEEP_MEMORY_BACKENDS = ("jax", "torch")
HUGE_PAGES_OPT_OUT = "KERAS_RK_HUGE_PAGES"
KEEP_MEMORY_OPT_OUT = "KERAS_RK_KEEP_MEMORY"
# Set by the restart to the process id, which ``execve`` keeps: a process restarts at most
# once even if something dropped GLIBC_TUNABLES on the way, while a child process (another
# id) still decides for itself.
RESTARTED_MARKER = "KERAS_RK_RESTARTED_PID"
# The environment when keras_rk was imported (this module is imported before Keras):
# importing Keras and TensorFlow sets TF_CPP_MIN_LOG_LEVEL, which a restarted process
# would take for the user's own choice (and show TensorFlow's start-up log).
_ENVIRONMENT_AT_IMPORT = dict(os.environ)


def thp_mode(enabled_text: str) -> str | None:
    """The bracketed choice of the kernel's THP ``enabled`` file ('always',
    'madvise' or 'never'), None when the text names none."""
    for word in enabled_text.split():
        if word.startswith("[") and word.endswith("]"):
            return word[1:-1]
    return None


def read_thp_mode(path: str = THP_ENABLED_FILE) -> str | None:
    """This machine's THP mode; None without the file (not Linux, no THP)."""
    try:
        with open(path, encoding="ascii", errors="replace") as enabled:
            return thp_mode(enabled.read())
    except OSError:
        return None


def parse_tunables(text: str | None) -> dict[str, str]:
    """GLIBC_TUNABLES as {name: value}.

    >>> parse_tunables("glibc.malloc.hugetlb=1:glibc.malloc.mmap_max=0")
    {'glibc.malloc.hugetlb': '1', 'glibc.malloc.mmap_max': '0'}
    """
    pairs = (part.split("=", 1) for part in (text or "").split(":") if part)
    return {pair[0]: pair[1] if len(pair) == 2 else "" for pair in pairs}


def tunables_with(current: str | None, group: dict[str, str]) -> str | None:
    """`current` GLIBC_TUNABLES with `group` added; None when it already sets any
    tunable of the group (to any value: that is the user's choice)."""
    if set(parse_tunables(current)) & set(group):
        return None
    parts = [part for part in (current or "").split(":") if part]
    return ":".join([*parts, *(f"{name}={value}" for name, value in group.items())])


def _glibc_version() -> tuple[int, ...] | None:
    library, version = platform.libc_ver()
    if library != "glibc":
        return None
    try:
        return tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return None


def configured_backend(environ) -> str:
    """The Keras backend a process started with `environ` will use, read as Keras
    reads it but without importing it: ``KERAS_BACKEND``, else the ``backend`` of
    ``keras.json`` in ``$KERAS_HOME`` or ``~/.keras``, else 'tensorflow'.

    >>> configured_backend({"KERAS_BACKEND": "jax"})
    'jax'
    """
    if environ.get("KERAS_BACKEND"):
        return environ["KERAS_BACKEND"]
    user_home = environ.get("HOME") or os.path.expanduser("~")
    home = environ.get("KERAS_HOME") or os.path.join(user_home, ".keras")
    try:
        config = json.loads((Path(home) / "keras.json").read_text(encoding="utf-8"))
        backend = config.get("backend") if isinstance(config, dict) else None
    except (OSError, ValueError):
        backend = None
    return backend if isinstance(backend, str) and backend else "tensorflow"


def helpful_groups(
    environ, thp: str | None, glibc: tuple[int, ...] | None, backend: str | None = None
) -> list[dict]:
    """The tunable groups that would help here: huge pages with THP in 'madvise'
    mode ('always' needs no asking, 'never' cannot be asked) and glibc >= 2.35;
    keeping freed memory with glibc >= 2.26 on the JAX and PyTorch backends
    (`backend`; default: ``configured_backend(environ)``). A group whose
    ``KERAS_RK_...=0`` is set is left out.

    >>> [list(group) for group in helpful_groups({}, "always", (2, 36), "jax")]
    [['glibc.malloc.mmap_max', 'glibc.malloc.arena_max', 'glibc.malloc.trim_threshold']]
    >>> helpful_groups({}, "always", (2, 36), "tensorflow")
    []
    """
    if glibc is None:  # musl, macOS, Windows
        return []
    backend = configured_backend(environ) if backend is None else backend
    groups = []
    asks = thp == "madvise" and glibc >= MIN_GLIBC_HUGE_PAGES
    if environ.get(HUGE_PAGES_OPT_OUT) != "0" and asks:
        groups.append(HUGE_PAGES)
    if (
        environ.get(KEEP_MEMORY_OPT_OUT) != "0"
        and glibc >= MIN_GLIBC_TUNABLES
        and backend in KEEP_MEMORY_BACKENDS
    ):
        groups.append(KEEP_MEMORY)
    return groups


_THIS_MACHINE = object()


def restart_environment(
    environ=None, thp=_THIS_MACHINE, glibc=_THIS_MACHINE
) -> dict[str, str] | None:
    """The environment to restart with, or None when a restart would add nothing:
    no group helps here (``helpful_groups``), or GLIBC_TUNABLES already has
    every group that does (or the user's own value for one of its tunables).
    Defaults: this process's environment, THP mode and glibc version; the
    environment is the one keras_rk was imported in, so the restarted process
    starts as this one did, but an opt-out set since counts.

    >>> jax = {"KERAS_BACKEND": "jax"}
    >>> restart_environment(jax, thp="madvise", glibc=(2, 36))["GLIBC_TUNABLES"].split(":")[:2]
    ['glibc.malloc.hugetlb=1', 'glibc.malloc.mmap_max=0']
    >>> restart_environment(jax, thp="always", glibc=(2, 24)) is None  # nothing to add
    True
    """
    environ = dict(_ENVIRONMENT_AT_IMPORT if environ is None else environ)
    for opt_out in (HUGE_PAGES_OPT_OUT, KEEP_MEMORY_OPT_OUT):
        if os.environ.get(opt_out) == "0":
            environ[opt_out] = "0"
    thp = read_thp_mode() if thp is _THIS_MACHINE else thp
    glibc = _glibc_version() if glibc is _THIS_MACHINE else glibc
    tunables, added = environ.get("GLIBC_TUNABLES"), False
    for group in helpful_groups(environ, thp, glibc):
        extended = tunables_with(tunables, group)
        if extended is not None:
            tunables, added = extended, True
    if not added:
        return None
    return {**environ, "GLIBC_TUNABLES": tunables}


def status() -> str:
    """What this process's malloc does, in a few words (the run records keep it)."""
    tunables = parse_tunables(os.environ.get("GLIBC_TUNABLES"))
    huge = all(tunables.get(name) == value for name, value in HUGE_PAGES.items())
    keeps = all(tunables.get(name) == value for name, value in KEEP_MEMORY.items())
    return (
        f"THP {read_thp_mode() or 'unknown'}; malloc "
        f"{'asks' if huge else 'does not ask'} for huge pages, "
        f"{'keeps' if keeps else 'returns'} freed memory"
    )


def tune_allocator() -> None:
    """Restarts this process (same interpreter, same command line, same
    environment plus the tunables) when ``restart_environment`` says it helps;
    otherwise returns at once. Call it before anything else runs: the restart
    starts the program over. Interactive sessions and notebooks are never
    restarted, and a process that was restarted by it is not restarted again.
    """
    if hasattr(sys, "ps1") or sys.flags.interactive or "ipykernel" in sys.modules:
        return
    if os.environ.get(RESTARTED_MARKER) == str(os.getpid()):
        return
    environment = restart_environment()
    if environment is None or not sys.executable:  # an embedded interpreter
        return
    environment[RESTARTED_MARKER] = str(os.getpid())
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environment)
    except OSError:
        return  # not restartable here: go on with malloc's defaults
