"""Large buffers on transparent huge pages: a restart that makes XLA's CPU steps faster.

A training step of a wide network writes buffers of hundreds of megabytes (the
kernel gradient of RK4Net at width 900, depth 100 is 324 MB). With the kernel's
transparent huge pages in ``madvise`` mode (the common default) glibc's malloc
backs them with 4 KiB pages, and XLA's CPU kernels that write them (the
kernel-gradient product above all) run several times slower than on 2 MiB
pages. glibc >= 2.35 asks for huge pages when started with
``GLIBC_TUNABLES=glibc.malloc.hugetlb=1``; tunables are read only when a process
starts, so ``use_huge_pages()`` restarts the process with it, running the same
command line again. Measured on this project's 2-core CPU (JAX, RK4Net width 900,
depth 100, ``benchmarks/bench_images.py --seconds 30``, one after the other):
22.4 -> 33.2 images/s at batch 5 and 129.5 -> 139.9 at batch 128; TensorFlow, whose
allocator keeps its buffers, gained 3 % and 0.5 % (15-second runs).

``keras-rk``, ``examples/images.py`` and the benchmarks call it first thing. A
script of your own can do the same as its first statement, or be started with
the variable set. ``KERAS_RK_HUGE_PAGES=0`` turns the restart off.

>>> thp_mode("always [madvise] never")
'madvise'
>>> tunables_with_huge_pages("glibc.malloc.arena_max=2")
'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1'
>>> tunables_with_huge_pages("glibc.malloc.hugetlb=0") is None  # the user's own choice
True
"""

from __future__ import annotations

import os
import platform
import sys

THP_ENABLED_FILE = "/sys/kernel/mm/transparent_hugepage/enabled"
HUGETLB_TUNABLE = "glibc.malloc.hugetlb"
# glibc's first version with the glibc.malloc.hugetlb tunable.
MIN_GLIBC = (2, 35)
OPT_OUT = "KERAS_RK_HUGE_PAGES"
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


def tunables_with_huge_pages(current: str | None) -> str | None:
    """`current` GLIBC_TUNABLES with ``glibc.malloc.hugetlb=1`` added; None when
    it already sets that tunable (to any value: that is the user's choice)."""
    parts = [part for part in (current or "").split(":") if part]
    if any(part.split("=", 1)[0] == HUGETLB_TUNABLE for part in parts):
        return None
    return ":".join([*parts, f"{HUGETLB_TUNABLE}=1"])


def _glibc_version() -> tuple[int, ...] | None:
    library, version = platform.libc_ver()
    if library != "glibc":
        return None
    try:
        return tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return None


_THIS_MACHINE = object()


def restart_environment(
    environ=None, thp=_THIS_MACHINE, glibc=_THIS_MACHINE
) -> dict[str, str] | None:
    """The environment to restart with, or None when a restart would not help:
    the variable is already set (or ``KERAS_RK_HUGE_PAGES=0``), THP is not in
    'madvise' mode ('always' needs no asking, 'never' cannot be asked), glibc is
    missing (None) or older than 2.35. Defaults: this process's environment, THP
    mode and glibc version; the environment is the one keras_rk was imported in, so
    the restarted process starts as this one did.

    >>> restart_environment({}, thp="madvise", glibc=(2, 36))
    {'GLIBC_TUNABLES': 'glibc.malloc.hugetlb=1'}
    >>> restart_environment({}, thp="always", glibc=(2, 36)) is None
    True
    >>> restart_environment({"KERAS_RK_HUGE_PAGES": "0"}, thp="madvise", glibc=(2, 36)) is None
    True
    """
    environ = dict(_ENVIRONMENT_AT_IMPORT if environ is None else environ)
    thp = read_thp_mode() if thp is _THIS_MACHINE else thp
    glibc = _glibc_version() if glibc is _THIS_MACHINE else glibc
    turned_off = "0" in (environ.get(OPT_OUT), os.environ.get(OPT_OUT))
    if turned_off or thp != "madvise" or glibc is None or glibc < MIN_GLIBC:
        return None
    tunables = tunables_with_huge_pages(environ.get("GLIBC_TUNABLES"))
    if tunables is None:
        return None
    return {**environ, "GLIBC_TUNABLES": tunables}


def status() -> str:
    """What this process has, in a few words (the run records keep it)."""
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    asked = f"{HUGETLB_TUNABLE}=1" in tunables.split(":")
    return f"THP {read_thp_mode() or 'unknown'}; malloc {'asks' if asked else 'does not ask'}"


def use_huge_pages() -> None:
    """Restarts this process (same interpreter, same command line, same
    environment plus the tunable) when ``restart_environment`` says it helps;
    otherwise returns at once. Call it before anything else runs: the restart
    starts the program over. Interactive sessions and notebooks are never
    restarted.
    """
    if hasattr(sys, "ps1") or sys.flags.interactive or "ipykernel" in sys.modules:
        return
    environment = restart_environment()
    if environment is None or not sys.executable:  # an embedded interpreter
        return
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environment)
    except OSError:
        return  # not restartable here: go on without huge pages
