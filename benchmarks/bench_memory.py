"""Peak memory and time per training step of an RK4Net, with and without remat.

Each configuration runs in its own subprocess (the backend is fixed per process
and ru_maxrss is a per-process high-water mark). A watchdog thread in the child
ends it when its resident memory passes --cap-gib, so a measurement never takes
the machine's memory from anyone else; such a run is reported as "over cap".

    python benchmarks/bench_memory.py                       # jax, depth 100 and 1000
    python benchmarks/bench_memory.py --backends jax tensorflow torch --quick

Printed per configuration: peak resident memory of the process, the part of it
that the training step added on top of the built model (peak - baseline), and
the median wall time of a training step (Adam, sparse categorical
cross-entropy; the first, compiling step is not timed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, os, resource, sys, threading, time
cap_kib = int(float(os.environ["BENCH_CAP_GIB"]) * 1024 * 1024)
page_kib = os.sysconf("SC_PAGE_SIZE") // 1024

def watchdog():
    while True:
        with open("/proc/self/statm") as f:
            rss_kib = int(f.read().split()[1]) * page_kib
        if rss_kib > cap_kib:
            print(json.dumps({"over_cap": True}), flush=True)
            os._exit(3)
        time.sleep(0.05)

threading.Thread(target=watchdog, daemon=True).start()
import numpy as np
import keras
import keras_rk
cfg = json.loads(sys.argv[1])
keras.utils.set_random_seed(0)
model = keras_rk.build("rk4", depth=cfg["depth"], width=cfg["width"], input_dim=2,
                       num_classes=10, remat=cfg["remat"])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
rng = np.random.default_rng(0)
x = rng.normal(size=(cfg["batch"], 2)).astype("float32")
y = rng.integers(0, 10, size=cfg["batch"])
model.predict_on_batch(x)
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
times = []
for _ in range(cfg["steps"] + 1):
    start = time.perf_counter()
    loss = model.train_on_batch(x, y)
    times.append(time.perf_counter() - start)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"baseline_kib": baseline, "peak_kib": peak,
                  "step_s": float(np.median(times[1:])), "loss": float(loss)}), flush=True)
"""


def measure(backend: str, depth: int, width: int, batch: int, remat: bool, steps: int, cap: float):
    env = dict(os.environ, KERAS_BACKEND=backend, BENCH_CAP_GIB=str(cap), TF_CPP_MIN_LOG_LEVEL="3")
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    cfg = dict(depth=depth, width=width, batch=batch, remat=remat, steps=steps)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(cfg)], env=env, capture_output=True, text=True
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"error": proc.stderr.strip()[-400:]}
    return {"backend": backend, **cfg, **result}


def main(
    backends=("jax",),
    configs=((100, 900), (100, 300), (1000, 300)),
    batch: int = 128,
    steps: int = 3,
    cap_gib: float = 8.0,
):
    """Runs every (backend, (depth, width), remat) and returns the rows."""
    rows = []
    print(
        f"{'backend':<11}{'depth':>6}{'width':>6}{'batch':>6}{'remat':>7}"
        f"{'peak MiB':>10}{'step MiB':>10}{'s/step':>9}",
        flush=True,
    )
    for backend in backends:
        for depth, width in configs:
            for remat in (False, True):
                row = measure(backend, depth, width, batch, remat, steps, cap_gib)
                rows.append(row)
                if "peak_kib" in row:
                    peak = row["peak_kib"] / 1024
                    added = (row["peak_kib"] - row["baseline_kib"]) / 1024
                    print(
                        f"{backend:<11}{depth:>6}{width:>6}{batch:>6}{str(remat):>7}"
                        f"{peak:>10.0f}{added:>10.0f}{row['step_s']:>9.2f}",
                        flush=True,
                    )
                else:
                    why = "over cap" if row.get("over_cap") else row.get("error", "?")
                    print(
                        f"{backend:<11}{depth:>6}{width:>6}{batch:>6}{str(remat):>7}  {why}",
                        flush=True,
                    )
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["jax"])
    parser.add_argument(
        "--configs",
        nargs="+",
        default=["100x900", "100x300", "1000x300"],
        help="depth x width pairs, e.g. 1000x300",
    )
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--cap-gib", type=float, default=8.0)
    parser.add_argument("--quick", action="store_true", help="depth 10 and 100 at width 32")
    args = parser.parse_args()
    configs = [tuple(int(v) for v in c.split("x")) for c in args.configs]
    if args.quick:
        configs, args.batch, args.steps = [(10, 32), (100, 32)], 32, 2
    main(tuple(args.backends), tuple(configs), args.batch, args.steps, args.cap_gib)
