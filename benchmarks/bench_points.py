"""Training speed of RK4Net on a 2-D point set, per Keras backend, against a
PyTorch eager loop written the way the paper's public code is and against the
same network hand-written in pure JAX.

The paper's setting: RK4Net width 16, 1,500 training and 1,500 validation points,
batch size 5, Adam, h = 0.05, and, as the studies do (``keras_rk.experiments``),
the accuracy metric and one validation pass over the whole validation set (in one
batch) after every epoch. Each row is timed as one ``fit`` of 1 + `epochs`
epochs: 'first epoch' includes tracing and compiling, 'steady' is the mean of the
following epochs (from one epoch's end to the next, validation included).

Rows (every row runs in the same invocation, one subprocess per backend, since
Keras fixes the backend per process):

- 'pytorch eager (paper style)': the baseline, ``paper_style.py``; its validation
  pass is one forward of the 1,500 points.
- 'jax hand-written': stacked weights, ``lax.scan`` over the steps, one jitted
  training step (gradient by autodiff, Adam written out), validation in one batch;
  what JAX itself does without Keras.
- 'keras-rk <backend>, <variant>': ``keras_rk.build`` and ``model.compile`` with
  the studies' arguments; 'compile()' is the defaults a user writes (gradient
  'auto', jit_compile 'auto'); other variants change one thing.

    python benchmarks/bench_points.py                      # the paper's depth, ~8 min
    python benchmarks/bench_points.py --backends jax --depths 10 100 1000
    python benchmarks/bench_points.py --quick              # a smoke run

The machine is shared: a ratio is only meaningful between rows of one run.
``--torch-threads`` sets PyTorch's intra-op threads in every PyTorch row (the
baseline included): on a busy 2-core machine each multithreaded small op waits for
a descheduled thread, which slows every PyTorch row several times.
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
STEPS_PER_EXECUTION = 50  # the studies' default (keras_rk.experiments.Settings)
BACKENDS = ("jax", "tensorflow", "torch")

# (name, build kwargs, compile kwargs) per backend; the first is the default row.
VARIANTS = {
    "jax": [
        ("compile()", {}, {}),
        ("gradient='autodiff'", {"gradient": "autodiff"}, {}),
    ],
    "tensorflow": [
        ("compile()", {}, {}),  # XLA for the whole step, one program per execution (RKModel)
        ("compile(jit_compile=False)", {}, {"jit_compile": False}),  # graph, XLA loop
    ],
    "torch": [
        ("compile()", {}, {}),
        ("gradient='autodiff'", {"gradient": "autodiff"}, {}),
    ],
}


def make_points(num_points: int, seed: int = 0):
    """donut_2D of the paper's public code: |x| < 1 is class 0, then scaled and noised."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_points, 2))
    y = (np.linalg.norm(x, axis=1) >= 1.0).astype("int32")
    x = 1.2 * x + rng.normal(scale=0.2, size=x.shape)
    return x.astype("float32"), y


def _row(backend, variant, depth, epoch_seconds):
    first, steady = epoch_seconds[0], epoch_seconds[1:]
    row = {
        "backend": backend,
        "variant": variant,
        "depth": depth,
        "first": first,
        "steady": sum(steady) / len(steady),
        "best": min(steady),
    }
    print(json.dumps(row), flush=True)
    return row


def keras_worker(backend: str, depths: list[int], epochs: int, variants: list[str]):
    """Runs in a subprocess with KERAS_BACKEND set; prints one JSON line per row."""
    import keras

    import keras_rk

    x, y = make_points(NUM_POINTS, seed=0)
    x_val, y_val = make_points(NUM_POINTS, seed=1)
    for name, build_kwargs, compile_kwargs in VARIANTS[backend]:
        if name not in variants:
            continue
        for depth in depths:
            keras.utils.set_random_seed(0)
            model = keras_rk.build(
                "rk4", depth=depth, width=WIDTH, step_size=STEP_SIZE, lift="random", **build_kwargs
            )
            model.compile(
                optimizer=keras.optimizers.Adam(1e-3),
                loss="sparse_categorical_crossentropy",
                metrics=["accuracy"],
                # Keras's PyTorch trainer accepts only 1 (as in the studies).
                steps_per_execution=1 if backend == "torch" else STEPS_PER_EXECUTION,
                **compile_kwargs,
            )
            ends: list[float] = []
            timer = keras.callbacks.LambdaCallback(
                on_epoch_end=lambda epoch, logs, ends=ends: ends.append(time.perf_counter())
            )
            start = time.perf_counter()
            model.fit(
                x, y, batch_size=BATCH_SIZE, epochs=1 + epochs, verbose=0, shuffle=True,
                validation_data=(x_val, y_val), validation_batch_size=NUM_POINTS,
                callbacks=[timer],
            )  # fmt: skip
            seconds = [b - a for a, b in zip([start, *ends], ends)]
            _row(f"keras-rk {backend}", name, depth, seconds)


def jax_handwritten_worker(depths: list[int], epochs: int):
    """RK4Net in plain JAX: the speed JAX allows without Keras, timed like the rows
    above (an epoch is a shuffled pass of jitted steps, then one validation batch)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    x, y = make_points(NUM_POINTS, seed=0)
    x_val, y_val = make_points(NUM_POINTS, seed=1)
    h = STEP_SIZE

    def forward(params, lift, inputs):
        def step(state, weights):
            kernel, bias = weights
            field = lambda s: jnp.tanh(s @ kernel + bias)
            k1 = field(state)
            k2 = field(state + h / 2 * k1)
            k3 = field(state + h / 2 * k2)
            k4 = field(state + h * k3)
            return state + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4), None

        final, _ = jax.lax.scan(step, inputs @ lift, (params["kernel"], params["bias"]))
        return final @ params["head"] + params["head_bias"]

    def cross_entropy(logits, labels):
        log_p = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=1))

    @jax.jit
    def train_step(params, moments, lift, inputs, labels):
        m, v, t = moments
        grads = jax.grad(lambda p: cross_entropy(forward(p, lift, inputs), labels))(params)
        t = t + 1
        m = jax.tree.map(lambda m, g: 0.9 * m + 0.1 * g, m, grads)
        v = jax.tree.map(lambda v, g: 0.999 * v + 0.001 * g * g, v, grads)
        rate = 1e-3 * jnp.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        params = jax.tree.map(lambda p, m, v: p - rate * m / (jnp.sqrt(v) + 1e-7), params, m, v)
        return params, (m, v, t)

    @jax.jit
    def validate(params, lift, inputs, labels):
        logits = forward(params, lift, inputs)
        return cross_entropy(logits, labels), jnp.mean(jnp.argmax(logits, axis=1) == labels)

    for depth in depths:
        rng = np.random.default_rng(0)
        bound = 1 / np.sqrt(WIDTH)

        def uniform(*shape, rng=rng, bound=bound):
            return jnp.asarray(rng.uniform(-bound, bound, shape), jnp.float32)

        params = {
            "kernel": uniform(depth, WIDTH, WIDTH),
            "bias": uniform(depth, WIDTH),
            "head": uniform(WIDTH, 2),
            "head_bias": jnp.zeros((2,), jnp.float32),
        }
        lift = jnp.asarray(rng.uniform(-1, 1, (2, WIDTH)) / np.sqrt(2), jnp.float32)
        zeros = jax.tree.map(jnp.zeros_like, params)
        moments = (zeros, zeros, jnp.zeros((), jnp.float32))
        seconds = []
        for _ in range(1 + epochs):
            start = time.perf_counter()
            order = rng.permutation(NUM_POINTS)
            for i in range(0, NUM_POINTS, BATCH_SIZE):
                rows = order[i : i + BATCH_SIZE]
                params, moments = train_step(params, moments, lift, x[rows], y[rows])
            loss, accuracy = validate(params, lift, x_val, y_val)
            float(loss), float(accuracy)
            seconds.append(time.perf_counter() - start)
        _row("jax hand-written", "lax.scan, jit step", depth, seconds)


def torch_baseline_worker(depths: list[int], epochs: int):
    """A PyTorch eager loop in the style of the paper's code: one nn.Linear per layer,
    the same layer in all four RK4 stages, a DataLoader with batch size 5."""
    import torch
    from paper_style import adam, rk4_net, train_epoch

    torch.manual_seed(0)
    x, y = make_points(NUM_POINTS, seed=0)
    x_val, _ = make_points(NUM_POINTS, seed=1)
    x_val = torch.tensor(x_val)
    data = torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y, dtype=torch.long))
    loader = torch.utils.data.DataLoader(data, batch_size=BATCH_SIZE, shuffle=True)
    for depth in depths:
        model = rk4_net(depth, WIDTH, 2, 2, STEP_SIZE)
        optimizer = adam(model)
        seconds = []
        for _ in range(1 + epochs):
            train = train_epoch(model, optimizer, loader)
            start = time.perf_counter()
            with torch.no_grad():
                model(x_val)
            seconds.append(train + time.perf_counter() - start)
        _row("pytorch eager (paper style)", "paper_style.py", depth, seconds)


def run_worker(args: list[str], backend: str | None, torch_threads: int | None) -> list[dict]:
    env = dict(os.environ)
    if backend:
        env["KERAS_BACKEND"] = backend
    if torch_threads:
        env["KERAS_RK_BENCH_TORCH_THREADS"] = str(torch_threads)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    out = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True)
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0:
        print(f"worker {args} failed:\n{out.stderr[-3000:]}", file=sys.stderr)
    return rows


def print_table(rows: list[dict]) -> None:
    def find(backend, depth):
        return next((r for r in rows if r["backend"] == backend and r["depth"] == depth), None)

    print(
        f"RK4Net width {WIDTH}, {NUM_POINTS} points, batch {BATCH_SIZE}, Adam, validation "
        f"every epoch; seconds per epoch"
    )
    print(
        "| what | depth | first epoch | steady epoch | best epoch | speed-up vs paper-style "
        "PyTorch | time vs hand-written JAX |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        paper = find("pytorch eager (paper style)", row["depth"])
        handwritten = find("jax hand-written", row["depth"])
        speedup = f"{paper['steady'] / row['steady']:.2f}x" if paper else ""
        relative = f"{row['steady'] / handwritten['steady']:.2f}x" if handwritten else ""
        print(
            f"| {row['backend']}, {row['variant']} | {row['depth']} | {row['first']:.2f} "
            f"| {row['steady']:.3f} | {row['best']:.3f} | {speedup} | {relative} |"
        )


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument(
        "--variants",
        nargs="+",
        help="keras-rk rows to run, by name (default: all); e.g. 'compile()'",
    )
    parser.add_argument("--depths", nargs="+", type=int, default=[100])
    parser.add_argument(
        "--torch-max-depth",
        type=int,
        default=100,
        help="skip deeper runs on the torch backend and the baseline",
    )
    parser.add_argument("--epochs", type=int, default=3, help="steady epochs to average")
    parser.add_argument("--torch-threads", type=int, help="PyTorch intra-op threads")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--no-handwritten", action="store_true")
    parser.add_argument("--quick", action="store_true", help="depth 4, one steady epoch")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    threads = os.environ.get("KERAS_RK_BENCH_TORCH_THREADS")
    if args.worker and threads and (args.worker in ("baseline", "torch")):
        import torch

        torch.set_num_threads(int(threads))
    if args.worker == "baseline":
        torch_baseline_worker(args.depths, args.epochs)
        return []
    if args.worker == "handwritten":
        jax_handwritten_worker(args.depths, args.epochs)
        return []
    if args.worker:
        keras_worker(args.worker, args.depths, args.epochs, args.variants)
        return []
    if args.quick:
        args.depths, args.epochs = [4], 1

    common = ["--epochs", str(args.epochs)]
    torch_depths = [str(d) for d in args.depths if d <= args.torch_max_depth]
    rows = []
    if not args.no_baseline and torch_depths:
        rows += run_worker(
            ["--worker", "baseline", "--depths", *torch_depths, *common], None, args.torch_threads
        )
    if not args.no_handwritten:
        depths = [str(d) for d in args.depths]
        rows += run_worker(["--worker", "handwritten", "--depths", *depths, *common], "jax", None)
    for backend in args.backends:
        depths = torch_depths if backend == "torch" else [str(d) for d in args.depths]
        names = [name for name, _, _ in VARIANTS[backend]]
        variants = [v for v in names if args.variants is None or v in args.variants]
        if not depths or not variants:
            continue
        rows += run_worker(
            ["--worker", backend, "--depths", *depths, "--variants", *variants, *common],
            backend,
            args.torch_threads,
        )
    print_table(rows)
    return rows


if __name__ == "__main__":
    main()
