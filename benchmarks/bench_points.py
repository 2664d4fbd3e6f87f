"""Training speed of RK4Net on a 2-D point set, per Keras backend, against a
plain PyTorch eager loop written the way the paper's public code is.

The paper's setting: RK4Net width 16, 1,500 two-dimensional points, batch size 5,
Adam, h = 0.05. For each backend and depth the script prints the seconds to the
first finished epoch (tracing and compiling included), the steady seconds per
epoch (mean of the following epochs), and their difference, the one-off compile
overhead. The PyTorch baseline runs in the same invocation, so the speed-up
column compares numbers measured side by side on the same machine state.

Each backend runs in its own subprocess (Keras fixes the backend per process):

    python benchmarks/bench_points.py                      # everything, ~5 min
    python benchmarks/bench_points.py --backends jax --depths 10 100 1000
    python benchmarks/bench_points.py --quick              # a smoke run

TensorFlow is compiled with XLA (``jit_compile=True``): without it, the step
loop runs as a graph-mode while loop at about 10 s per epoch here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for paper_style

NUM_POINTS = 1500
WIDTH = 16
BATCH_SIZE = 5
STEP_SIZE = 0.05
BACKENDS = ("jax", "tensorflow", "torch")


def make_points(num_points: int, seed: int = 0):
    """donut_2D of the paper's public code: |x| < 1 is class 0, then scaled and noised."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_points, 2))
    y = (np.linalg.norm(x, axis=1) >= 1.0).astype("int32")
    x = 1.2 * x + rng.normal(scale=0.2, size=x.shape)
    return x.astype("float32"), y


def keras_worker(backend: str, depths: list[int], epochs: int, steps_per_execution: int):
    """Runs in a subprocess with KERAS_BACKEND set; prints one JSON line per depth."""
    import keras

    import keras_rk

    x, y = make_points(NUM_POINTS)
    for depth in depths:
        keras.utils.set_random_seed(0)
        model = keras_rk.build(tableau="rk4", depth=depth, width=WIDTH, step_size=STEP_SIZE)
        model.compile(
            optimizer="adam",
            loss="sparse_categorical_crossentropy",
            steps_per_execution=1 if backend == "torch" else steps_per_execution,
            jit_compile=True if backend == "tensorflow" else "auto",
        )
        start = time.perf_counter()
        model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, verbose=0, shuffle=True)
        first = time.perf_counter() - start
        start = time.perf_counter()
        model.fit(x, y, batch_size=BATCH_SIZE, epochs=epochs, verbose=0, shuffle=True)
        steady = (time.perf_counter() - start) / epochs
        print(json.dumps({"backend": backend, "depth": depth, "first": first, "steady": steady}))
        sys.stdout.flush()


def torch_baseline_worker(depths: list[int], epochs: int):
    """A PyTorch eager loop in the style of the paper's code: one nn.Linear per layer,
    the same layer in all four RK4 stages, a DataLoader with batch size 5."""
    import torch
    from paper_style import adam, rk4_net, train_epoch

    torch.manual_seed(0)
    x, y = make_points(NUM_POINTS)
    data = torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y, dtype=torch.long))
    loader = torch.utils.data.DataLoader(data, batch_size=BATCH_SIZE, shuffle=True)
    for depth in depths:
        model = rk4_net(depth, WIDTH, 2, 2, STEP_SIZE)
        optimizer = adam(model)
        times = [train_epoch(model, optimizer, loader) for _ in range(epochs)]
        print(
            json.dumps(
                {
                    "backend": "pytorch eager (paper style)",
                    "depth": depth,
                    "first": times[0],
                    "steady": sum(times) / len(times),
                }
            )
        )
        sys.stdout.flush()


def run_worker(args: list[str], backend: str | None) -> list[dict]:
    env = dict(os.environ)
    if backend:
        env["KERAS_BACKEND"] = backend
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    out = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True)
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0:
        print(f"worker {args} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--depths", nargs="+", type=int, default=[10, 100, 1000])
    parser.add_argument(
        "--torch-max-depth",
        type=int,
        default=100,
        help="skip deeper runs on the torch backend (about 5 minutes per epoch at 1000)",
    )
    parser.add_argument("--epochs", type=int, default=2, help="steady epochs to average")
    parser.add_argument("--steps-per-execution", type=int, default=50)
    parser.add_argument("--baseline-depth", type=int, default=100)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--quick", action="store_true", help="depth 10, one backend")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker == "baseline":
        torch_baseline_worker(args.depths, args.epochs)
        return []
    if args.worker:
        keras_worker(args.worker, args.depths, args.epochs, args.steps_per_execution)
        return []
    if args.quick:
        args.backends, args.depths, args.epochs, args.baseline_depth = ["jax"], [10], 1, 10

    rows = []
    for backend in args.backends:
        depths = [d for d in args.depths if backend != "torch" or d <= args.torch_max_depth]
        rows += run_worker(
            [
                "--worker",
                backend,
                "--depths",
                *map(str, depths),
                "--epochs",
                str(args.epochs),
                "--steps-per-execution",
                str(args.steps_per_execution),
            ],
            backend,
        )
    baseline = None
    if not args.no_baseline:
        base_rows = run_worker(
            ["--worker", "baseline", "--depths", str(args.baseline_depth), "--epochs", "1"], None
        )
        rows += base_rows
        baseline = base_rows[0]["steady"] if base_rows else None

    print(f"RK4Net width {WIDTH}, {NUM_POINTS} points, batch {BATCH_SIZE}, Adam; seconds")
    print(
        "| backend | depth | first epoch | steady epoch | compile overhead "
        "| speed-up vs PyTorch eager |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        speedup = ""
        if baseline and row["depth"] == args.baseline_depth:
            speedup = f"{baseline / row['steady']:.1f}x"
        print(
            f"| {row['backend']} | {row['depth']} | {row['first']:.2f} | {row['steady']:.3f} "
            f"| {row['first'] - row['steady']:.2f} | {speedup} |"
        )
    return rows


if __name__ == "__main__":
    main()
