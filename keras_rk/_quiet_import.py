"""Imports Keras without TensorFlow's C++ start-up log on the command line.

TensorFlow 2.21 writes its start-up lines (oneDNN, CUDA drivers, CPU features)
to file descriptor 2 before absl's logging is set up, so TF_CPP_MIN_LOG_LEVEL
no longer stops them. ``import_keras()`` imports Keras with descriptor 2
captured and passes on every line that is not such a log line, so an error or
warning of Python's still reaches the user. With TF_CPP_MIN_LOG_LEVEL set
below 3 (a user asking for the log), nothing is filtered.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

# The user's own setting, read before Keras is imported: on the JAX backend,
# importing Keras sets TF_CPP_MIN_LOG_LEVEL=1 itself.
_USER_LOG_LEVEL = os.environ.get("TF_CPP_MIN_LOG_LEVEL")

_LOG_LINE = re.compile(
    r"^(?:[IWE]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] "
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|To enable the following instructions: )"
)


def is_tensorflow_log(line: str) -> bool:
    """Whether `line` is one of TensorFlow's C++ log lines (not a fatal one).

    >>> is_tensorflow_log("I0000 00:00:1795.371970   30800 port.cc:153] oneDNN custom ...")
    True
    >>> is_tensorflow_log("Traceback (most recent call last):")
    False
    """
    return bool(_LOG_LINE.match(line))


def import_keras():
    """``import keras``, quietly where the user has not asked for TensorFlow's log."""
    return import_quietly("keras")


def import_quietly(name: str):
    """Imports module `name` with TensorFlow's C++ start-up lines filtered out of
    descriptor 2, where the user has not asked for them (TF_CPP_MIN_LOG_LEVEL)."""
    import importlib

    if name in sys.modules or _USER_LOG_LEVEL not in (None, "3"):
        return importlib.import_module(name)
    # Lines logged after start-up (XLA's "service initialized" at the first
    # compile) follow the level TensorFlow reads at import: INFO and WARNING off,
    # errors kept, unless the user chose a level (as Keras does on JAX, with 1).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:  # unlinked at once: never seen by a user
        os.dup2(captured.fileno(), 2)
        try:
            module = importlib.import_module(name)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace")
            sys.stderr.write("".join(
                line for line in text.splitlines(keepends=True) if not is_tensorflow_log(line)
            ))  # fmt: skip
            sys.stderr.flush()
    return module
