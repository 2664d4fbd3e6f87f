"""Worker processes for ``run_study(..., jobs=N)`` (``keras-rk run STUDY --jobs N``).

Each worker is a fresh Python process (``python -m keras_rk.studies``, whose
``__main__`` calls ``run_study``; this module only starts them)
that runs the same study into the same folder, without reports, so the workers
split it by the claims of ``keras_rk.studies.claims``, exactly as processes on
several machines do. Each gets ``cores // N`` threads (at least one), set in its
environment before it imports any backend:

- JAX: ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=K``
  (XLA's CPU client then runs an op on one thread; K is read by its Eigen pool);
- TensorFlow: ``TF_NUM_INTRAOP_THREADS=K``, ``TF_NUM_INTEROP_THREADS=1``;
- PyTorch: ``OMP_NUM_THREADS=K`` and ``torch.set_num_threads(K)`` in the worker.

Their lines are passed on to the caller's `progress`, each after ``wK:``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

THREADS = "KERAS_RK_THREADS"


def worker_environment(threads: int, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a worker with `threads` compute threads.

    >>> env = worker_environment(2, {"XLA_FLAGS": "--xla_dump_to=/tmp/x"})
    >>> env["XLA_FLAGS"].split()
    ['--xla_dump_to=/tmp/x', '--xla_cpu_multi_thread_eigen=false', 'intra_op_parallelism_threads=2']
    >>> env["OMP_NUM_THREADS"], env["TF_NUM_INTRAOP_THREADS"]
    ('2', '2')
    """
    env = dict(os.environ if environ is None else environ)
    xla = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=" + str(threads)
    env["XLA_FLAGS"] = f"{env['XLA_FLAGS']} {xla}" if env.get("XLA_FLAGS") else xla
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", THREADS):
        env[name] = str(threads)
    env["TF_NUM_INTEROP_THREADS"] = "1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def run_workers(
    num_workers: int, arguments: dict[str, Any], progress: Callable[[str], None]
) -> None:
    """Runs `num_workers` workers on ``run_study(**arguments)`` and waits for
    them all. Raises RuntimeError naming those that failed (the repetitions
    they held stay claimed until their claims go stale, or are resumed by the
    caller at once: their pid is dead)."""
    threads = max(1, (os.cpu_count() or 1) // num_workers)
    env = worker_environment(threads)
    payload = json.dumps(arguments)
    lock = threading.Lock()
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "keras_rk.studies", payload],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        for _ in range(num_workers)
    ]

    def forward(index: int, process: subprocess.Popen) -> None:
        with process.stdout:
            for line in process.stdout:
                with lock:
                    progress(f"w{index}: {line.rstrip()}")

    readers = [
        threading.Thread(target=forward, args=(i, p), daemon=True) for i, p in enumerate(processes)
    ]
    for reader in readers:
        reader.start()
    codes = [process.wait() for process in processes]
    for reader in readers:
        reader.join()
    failed = [f"w{i} (exit {code})" for i, code in enumerate(codes) if code != 0]
    if failed:
        raise RuntimeError(
            f"Worker processes failed: {', '.join(failed)}; their output is above. The "
            f"repetitions they finished are kept; rerun the same command to resume."
        )


def set_torch_threads() -> None:
    """In a worker: PyTorch's thread count, which it reads from no variable."""
    threads = int(os.environ.get(THREADS, "0"))
    if threads and os.environ.get("KERAS_BACKEND") == "torch":
        import torch

        torch.set_num_threads(threads)
