"""Training speed of RK4Net on images: width 900, depth 100, 784 inputs, 10 classes.

Prints images per second at each batch size on the current Keras backend and the
fraction of this machine's float32 matrix-multiply peak that reaches. The peak is
measured in the same process (a large numpy matmul and one on the backend); the
cost of one training sample is computed from the model's sizes.

    KERAS_BACKEND=jax python benchmarks/bench_images.py
    KERAS_BACKEND=jax python benchmarks/bench_images.py --batch-sizes 5 128 --jit-compile auto

Each batch size is timed with both gradients of ``RKBlock`` ('autodiff', the
backend differentiating the step loop, and 'adjoint', the hand-written reverse
sweep of ``keras_rk.adjoint_gradient``; or those of ``--gradients``) and with the
paper-style PyTorch loop, all in alternating turns (``--rounds``), so that every
ratio printed compares runs of the same minutes. The paper-style loop runs twice:
in a process of its own with glibc's malloc defaults, as the paper's code runs for
its users (the ratios against the targets are against this one), and in this
process, where it gets the malloc tuning that keras-rk restarts with. Until
2026-11-30 19:40 UTC only the second ran.

The paper's own PyTorch code trains 6.6 images/s at batch 5 and 42 images/s at
batch 128 on our 2-core CPU (see docs/images.md).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for paper_style

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def flops_per_sample(width=900, depth=100, num_stages=4, input_dim=784, num_classes=10):
    """Multiply-adds x 2 of one training sample, forward + backward (about 3x forward).

    Each of the L steps evaluates f(y) = tanh(K y + b) once per stage: one
    width x width matrix-vector product. The lift (784 x width) and classifier
    (width x 10) add a little; the backward pass costs two products per forward
    one (gradients of the state and of K). Elementwise work is not counted.
    """
    forward = 2 * (depth * num_stages * width * width + input_dim * width + width * num_classes)
    return 3 * forward


def bytes_per_step(width=900, depth=100, input_dim=784, num_classes=10):
    """The least memory traffic of one training step, whatever the batch size.

    The L stacked kernels (L x width^2 float32 values, 324 MB at 900 x 100) are
    far larger than the caches, so every step moves them at least: once read by
    the forward sweep, once by the backward sweep, the gradient written once, and
    Adam reads gradient, weight, m and v and writes weight, m and v: 10 passes.
    At small batches this, not arithmetic, bounds the speed.
    """
    weights = depth * width * (width + 1) + input_dim * width + width * num_classes + num_classes
    return 10 * 4 * weights


def memory_bandwidth(num_values=81_000_000, repeats=5, threads=None):
    """Best GB/s of numpy's ``c = a + b`` on float32 arrays of 324 MB (3 passes),
    split over `threads` threads (default: every core; numpy releases the GIL).
    One core alone does not saturate this machine's memory: 16.7 GB/s against
    23 GB/s with both (2026-11-29)."""
    from concurrent.futures import ThreadPoolExecutor

    threads = threads or os.cpu_count() or 1
    a = np.ones(num_values, dtype=np.float32)
    b = np.ones(num_values, dtype=np.float32)
    c = np.empty_like(a)
    bounds = np.linspace(0, num_values, threads + 1).astype(int)
    chunks = [slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]
    times = []
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(repeats):
            start = time.perf_counter()
            list(pool.map(lambda s: np.add(a[s], b[s], out=c[s]), chunks))
            times.append(time.perf_counter() - start)
    return 3 * 4 * num_values / min(times) / 1e9


def best_seconds(fn, repeats=5):
    """Best wall time of ``fn()`` over `repeats` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_peak(size=2048, repeats=5):
    """Best float32 GFLOP/s of an n x n matmul, by numpy and by the backend."""
    import keras

    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)

    def best(fn):
        return 2 * size**3 / best_seconds(fn, repeats) / 1e9

    numpy_peak = best(lambda: a @ b)
    ta, tb = keras.ops.convert_to_tensor(a), keras.ops.convert_to_tensor(b)
    backend_peak = best(lambda: keras.ops.convert_to_numpy(keras.ops.matmul(ta, tb)[0, 0]))
    return numpy_peak, backend_peak


# The baselines' keys among the trainers timed together: the paper-style loop in a
# process of its own (the one the ratios are of) and in this one.
PAPER = "paper-style"
PAPER_HERE = "paper-style, this process"


def keras_epochs(
    batch_size, *, width=900, depth=100, tableau="rk4", steps_per_execution=1,
    jit_compile="auto", seed=0, gradient="autodiff",
):  # fmt: skip
    """A function that trains one more epoch of keras-rk's ``fit`` (about 250 images)
    and returns how many images it saw; the model is built and compiled first."""
    import keras

    import keras_rk

    keras.utils.set_random_seed(seed)
    model = keras_rk.build(
        tableau, depth=depth, width=width, input_dim=784, num_classes=10, lift="random",
        gradient=gradient,
    )  # fmt: skip
    model.compile(
        optimizer="adam", loss="sparse_categorical_crossentropy",
        steps_per_execution=steps_per_execution, jit_compile=jit_compile,
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    # A short epoch (about 250 images), so that slow backends still finish one.
    num_batches = max(2 * steps_per_execution, int(np.ceil(250 / batch_size)))
    num_batches -= num_batches % steps_per_execution
    x = rng.random((num_batches * batch_size, 784), dtype=np.float32)
    y = rng.integers(0, 10, num_batches * batch_size)
    model.fit(x[: 2 * steps_per_execution * batch_size], y[: 2 * steps_per_execution * batch_size],
              batch_size=batch_size, epochs=1, verbose=0)  # fmt: skip

    def epoch():
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
        return len(x)

    return epoch


def paper_style_epochs(batch_size, *, width=900, depth=100, seed=0, threads=None):
    """The same training, RK4 only, as the paper's PyTorch code runs it (eager, one
    nn.Linear per layer; ``paper_style.py``), in this process, as a function that
    trains one more epoch and returns its number of images; None when torch is not
    installed. `threads` sets PyTorch's intra-op threads: on a busy 2-core machine
    its default two threads made this loop 13x slower (0.8 against 10.4 images/s at
    batch 5, 2026-11-29), which would flatter every ratio against it."""
    if importlib.util.find_spec("torch") is None:
        return None
    from paper_style import image_epochs

    return image_epochs(batch_size, width=width, depth=depth, seed=seed, threads=threads)


def malloc_defaults_environment(environ):
    """`environ` without glibc's tunables and keras-rk's restart marker: a process
    started with it runs malloc with glibc's defaults."""
    from keras_rk.allocator import RESTARTED_MARKER

    return {name: value for name, value in environ.items()
            if name not in ("GLIBC_TUNABLES", RESTARTED_MARKER)}  # fmt: skip


class PaperStyleProcess:
    """``paper_style_epochs`` in a process of its own that runs as the paper's code
    runs for its users: with glibc's malloc defaults, not the tuning keras-rk
    restarts this process with (huge pages, freed memory kept), which made the
    paper-style loop 15-25 % faster at batch 5 and 9-19 % at 128 (2026-11-30).
    Called, it trains one more epoch there and returns its number of images; the
    caller times the call, so the two processes take turns in the same minutes.
    ``close()`` ends the process."""

    def __init__(self, batch_size, *, width=900, depth=100, seed=0, threads=None):
        environment = malloc_defaults_environment(os.environ)
        command = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                   "paper_style.py"), "--serve", "--batch-size", str(batch_size), "--width",
                   str(width), "--depth", str(depth), "--seed", str(seed)]  # fmt: skip
        if threads:
            command += ["--threads", str(threads)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, env=environment)  # fmt: skip
        self._answer("ready")

    def _answer(self, expected):
        line = self.process.stdout.readline()
        if not line.startswith(expected):
            self.close()
            raise RuntimeError(f"paper_style.py --serve answered {line!r}, expected "
                               f"{expected!r} (exit status {self.process.returncode})")  # fmt: skip
        return line

    def __call__(self):
        self.process.stdin.write("epoch\n")
        self.process.stdin.flush()
        return int(self._answer("images ").split()[1])

    def close(self):
        with contextlib.suppress(BrokenPipeError):  # the process may have ended already
            self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


def check_rounds(rounds):
    """Raises ValueError naming `rounds` unless it is a positive integer."""
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"`rounds` must be a positive integer. Received: rounds={rounds!r}")


def timed_alternately(epochs, seconds, rounds=1):
    """Images per second of each trainer in `epochs` ({name: epoch function}).

    Each gets `seconds` in all, in `rounds` turns taken one after another (A, B,
    A, B, ...), each turn whole epochs until its share of the time has passed. This
    machine's speed moves within minutes (memory-bound work ran 1.7x slower from
    one set of runs to the next, 2026-11-30), so trainers compared in a ratio
    should share the same minutes: with one round each would have its own.
    """
    check_rounds(rounds)
    done = dict.fromkeys(epochs, 0)
    spent = dict.fromkeys(epochs, 0.0)
    for _ in range(rounds):
        for name, epoch in epochs.items():
            start = time.perf_counter()
            while True:
                done[name] += epoch()
                elapsed = time.perf_counter() - start
                if elapsed >= seconds / rounds:
                    break
            spent[name] += elapsed
    return {name: done[name] / spent[name] for name in epochs}


def images_per_second(batch_size, *, seconds=10.0, **settings):
    """Training throughput of keras-rk alone (``keras_epochs``' settings): compiles
    with a short fit, then times whole epochs until ``seconds`` have passed."""
    epoch = keras_epochs(batch_size, **settings)
    return timed_alternately({"keras": epoch}, seconds)["keras"]


def paper_style_images_per_second(batch_size, *, seconds=10.0, **settings):
    """Throughput of the paper-style PyTorch loop alone; None without torch."""
    epoch = paper_style_epochs(batch_size, **settings)
    return None if epoch is None else timed_alternately({"paper": epoch}, seconds)["paper"]


def main(batch_sizes=(5, 128), width=900, depth=100, tableau="rk4", seconds=10.0,
         steps_per_execution=1, jit_compile="auto", gradients=("autodiff", "adjoint"),
         baseline=True, quick=False, torch_threads=None, rounds=5):  # fmt: skip
    """Returns {'peak_gflops': ..., 'rows': [{batch_size, gradient, images_per_second, ...}]}.

    At each batch size every gradient and the paper-style loop get `seconds`, in
    `rounds` alternating turns (``timed_alternately``)."""
    import keras

    import keras_rk

    check_rounds(rounds)  # before minutes of building and compiling
    if quick:
        width, depth, seconds, batch_sizes, rounds = 800, 2, 0.5, (5,), 1
    num_stages = keras_rk.get_tableau(tableau).num_stages
    cost = flops_per_sample(width, depth, num_stages)
    numpy_peak, backend_peak = matmul_peak(512 if quick else 2048)
    peak = max(numpy_peak, backend_peak)
    backend = keras.backend.backend()
    print(f"backend {backend}; float32 matmul peak: numpy {numpy_peak:.1f} GFLOP/s, "
          f"{backend} {backend_peak:.1f} GFLOP/s")  # fmt: skip
    print(f"{tableau} net width {width} depth {depth}: {cost / 1e9:.3f} GFLOP per training sample")
    print(f"allocator: {keras_rk.allocator.status()} (keras_rk.allocator)")
    bandwidth = memory_bandwidth(8_000_000 if quick else 81_000_000)
    traffic = bytes_per_step(width, depth)
    print(f"memory bandwidth (numpy c = a + b, all cores): {bandwidth:.1f} GB/s; "
          f"a training step moves at least {traffic / 1e9:.2f} GB, so at most "
          f"{bandwidth * 1e9 / traffic:.2f} steps/s at any batch size")  # fmt: skip
    print(f"each row below: {seconds:g} s of training in {rounds} turns, alternating with the "
          f"other rows of its batch size")  # fmt: skip
    print(f"{'batch':>6} {'gradient':>9} {'images/s':>9} {'GFLOP/s':>8} {'of peak':>8}")
    rows = []
    for batch_size in batch_sizes:
        settings = dict(width=width, depth=depth, tableau=tableau, jit_compile=jit_compile,
                        steps_per_execution=steps_per_execution)  # fmt: skip
        epochs = {gradient: keras_epochs(batch_size, gradient=gradient, **settings)
                  for gradient in gradients}  # fmt: skip
        own_process = None
        if baseline and tableau == "rk4":
            paper_here = paper_style_epochs(
                batch_size, width=width, depth=depth, threads=torch_threads
            )
            if paper_here is not None:
                own_process = PaperStyleProcess(
                    batch_size, width=width, depth=depth, threads=torch_threads
                )
                epochs[PAPER], epochs[PAPER_HERE] = own_process, paper_here
        try:
            speeds = timed_alternately(epochs, seconds, rounds)
        finally:
            if own_process is not None:
                own_process.close()
        paper, paper_here = speeds.pop(PAPER, None), speeds.pop(PAPER_HERE, None)
        for gradient, speed in speeds.items():
            gflops = speed * cost / 1e9
            rows.append({"batch_size": batch_size, "gradient": gradient,
                         "images_per_second": speed, "gflops": gflops,
                         "fraction_of_peak": gflops / peak})  # fmt: skip
            print(f"{batch_size:6d} {gradient:>9} {speed:9.1f} {gflops:8.1f} {gflops / peak:8.0%}",
                  flush=True)  # fmt: skip
        for other in ("adjoint", "auto"):
            if other in speeds and "autodiff" in speeds:
                ratio = speeds[other] / speeds["autodiff"]
                print(f"{batch_size:6d} {other} / autodiff: {ratio:.2f}x", flush=True)
        if paper is not None:
            best = max(speeds.values())
            rows.append({"batch_size": batch_size, "gradient": "paper-style pytorch",
                         "images_per_second": paper, "in_this_process": paper_here})  # fmt: skip
            print(f"{batch_size:6d} paper-style PyTorch eager, own process (glibc's malloc "
                  f"defaults): {paper:.1f} images/s; fastest here / it: {best / paper:.2f}x\n"
                  f"{batch_size:6d} paper-style PyTorch eager, this process (keras-rk's malloc "
                  f"tuning): {paper_here:.1f} images/s; fastest here / it: "
                  f"{best / paper_here:.2f}x", flush=True)  # fmt: skip
        del epochs  # free this batch size's models before the next one's
        bound = min(batch_size * bandwidth * 1e9 / traffic, peak * 1e9 / cost)
        print(f"{batch_size:6d} roofline (memory and matmul peak): {bound:.1f} images/s",
              flush=True)  # fmt: skip
        if paper is not None:
            # No implementation can beat the paper-style loop by more than this here.
            rows[-1]["roofline_ratio"] = bound / paper
            print(f"{batch_size:6d} roofline / paper-style: {bound / paper:.2f}x, the most "
                  f"any implementation could reach on this machine now", flush=True)  # fmt: skip
    return {"backend": backend, "peak_gflops": peak, "gflop_per_sample": cost / 1e9,
            "bandwidth_gbs": bandwidth, "gb_per_step": traffic / 1e9, "rows": rows}  # fmt: skip


if __name__ == "__main__":
    from keras_rk.allocator import tune_allocator

    tune_allocator()  # restarts with malloc tuned for large buffers, as keras-rk does
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[5, 128])
    parser.add_argument("--width", type=int, default=900)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--tableau", default="rk4")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--steps-per-execution", type=int, default=1)
    parser.add_argument(
        "--jit-compile",
        default="auto",
        type=lambda s: {"true": True, "false": False}.get(s.lower(), s),
    )
    parser.add_argument(
        "--gradients",
        nargs="+",
        default=["autodiff", "adjoint"],
        choices=["auto", "autodiff", "adjoint"],
    )
    parser.add_argument(
        "--no-baseline", dest="baseline", action="store_false",
        help="skip the paper-style PyTorch loop (timed in its own process and in this one)",
    )  # fmt: skip
    parser.add_argument("--torch-threads", type=int, help="PyTorch threads of the baseline")
    parser.add_argument(
        "--rounds", type=int, default=5,
        help="turns each trainer gets, alternating, within its --seconds (1: one after another)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true")
    args = vars(parser.parse_args())
    args["batch_sizes"] = tuple(args["batch_sizes"])
    args["gradients"] = tuple(args["gradients"])
    main(**args)
