"""Where a result came from: the versions and the machine a run used.

``describe()`` is stored in every run record (``environment``) and shown in a
study's report, so numbers can be traced to the software and hardware that
made them. Everything in it is cheap to find; what cannot be found is left out
(the git commit outside a checkout, the devices of a backend not in use), never
an error.

>>> facts = describe()
>>> sorted(k for k in facts if k in ("keras_rk", "keras", "numpy", "python", "backend"))
['backend', 'keras', 'keras_rk', 'numpy', 'python']
"""

from __future__ import annotations

import copy
import functools
import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

# The library each Keras backend runs on, by its distribution name.
BACKEND_LIBRARIES = {"jax": "jax", "tensorflow": "tensorflow", "torch": "torch"}


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else what ``platform`` says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def devices(backend: str) -> list[str]:
    """The accelerators (or CPU) the backend computes on, asked only of a backend
    already imported (Keras has imported it), so asking costs nothing new."""
    try:
        if backend == "jax" and "jax" in sys.modules:
            import jax

            return [f"{d.platform}:{getattr(d, 'device_kind', d)}" for d in jax.devices()]
        if backend == "torch" and "torch" in sys.modules:
            import torch

            if torch.cuda.is_available():
                count = torch.cuda.device_count()
                return [f"cuda:{torch.cuda.get_device_name(i)}" for i in range(count)]
            return ["cpu"]
        if backend == "tensorflow" and "tensorflow" in sys.modules:
            import tensorflow as tf

            return [d.name for d in tf.config.list_logical_devices()]
    except Exception:  # a broken driver must not stop a run from being recorded
        return []
    return []


def git_commit(directory: str | Path | None = None) -> str | None:
    """The commit checked out where keras_rk's own files are, when they are in a
    git checkout; None when they are not or git is not installed."""
    directory = Path(directory or Path(__file__).parent)

    def git(*arguments):
        return subprocess.run(
            ["git", "-C", str(directory), *arguments], capture_output=True, text=True, timeout=5
        )

    try:
        # An installed copy can sit in some other repository's tree (a virtual
        # environment inside a project): only files git tracks are from a checkout.
        if git("ls-files", "--error-unmatch", "__init__.py").returncode != 0:
            return None
        result = git("rev-parse", "HEAD")
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and len(commit) == 40 else None


@functools.cache
def _describe(backend: str) -> dict[str, Any]:
    import keras_rk
    from keras_rk import allocator

    facts: dict[str, Any] = {
        "keras_rk": keras_rk.__version__,
        "keras": _version("keras"),
        "backend": backend,
        f"{backend}_version": _version(BACKEND_LIBRARIES.get(backend, backend)),
        "numpy": _version("numpy"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "devices": devices(backend),
        "allocator": allocator.status(),
    }
    commit = git_commit()
    if commit is not None:
        facts["git_commit"] = commit
    return facts


def describe() -> dict[str, Any]:
    """A JSON-serialisable dict: keras_rk, keras, the backend and its library's
    version, numpy, python, platform, cpu, devices, allocator (whether malloc puts
    large buffers on huge pages and keeps freed memory: a speed fact,
    ``keras_rk.allocator``) and, from a checkout, git_commit."""
    import keras

    return copy.deepcopy(_describe(keras.backend.backend()))
