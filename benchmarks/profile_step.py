"""Where the time of one compiled training step goes, op by op and thread by thread.

``bench_step_parts.py`` times each part of a step alone; this traces a whole
training step, compiled by XLA as ``fit`` runs it, and prints what XLA's CPU
runtime did. On JAX the step is ``model.train_step`` jitted with its state
donated, traced with ``jax.profiler``; on TensorFlow it is ``train_on_batch``
(keras-rk compiles TensorFlow's steps with XLA), traced with
``tf.profiler.experimental``. It prints:

- one step's timeline: each loop (from its start to the next row) and every op
  of at least ``--min-ms`` that ran once, with the thread that ran it;
- how much of that step each of XLA's threads spent in named ops, and in its
  thread pool's tasks (which include the unnamed tasks of a product);
- the ops that took longest in it, summed over the threads.

    KERAS_BACKEND=jax python benchmarks/profile_step.py --batch-size 5
    KERAS_BACKEND=tensorflow python benchmarks/profile_step.py --batch-size 5

XLA names its ops only with ``--xla_cpu_enable_xprof_traceme=true``, which this
script adds to ``XLA_FLAGS`` before the backend starts (``ask_xla_for_op_names``).
Both profilers write the same ``XSpace`` protocol buffer, read here with
TensorFlow's module for it (TensorFlow is a keras-rk dependency).

What it showed (docs/results/speed/profile_step_{jax,tensorflow}.txt, 2026-11-30):
at batch 5 a step on either backend is the forward loop (33 ms), the reverse loop
(50-52), the kernel-gradient product (22 ms named, then 5 ms of its unnamed tasks)
and Keras's Adam (three fusions over the 324 MB arrays, 60 ms); at batch 128 the
product's unnamed tasks run 330 ms after its named event ends. The threads spend
24-72 % of a step in named ops but 93-98 % in their pool's tasks: the named ops run
one at a time, the threads are not idle.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import glob
import os
import tempfile
import time

import numpy as np

TRACEME_FLAG = "--xla_cpu_enable_xprof_traceme=true"

# XLA's per-op events sit on its thread-pool lines; events named so are its
# runtime's wrappers around them and zero-length markers, not ops.
NOT_OPS = ("ThunkExecutor::", "SlinkyThreadPool::", "ThreadpoolListener::", "end: ")

# The timeline's label for a span in which no named op ran.
NO_NAMED_OP = "(no named op: pool tasks, or idle)"


def ask_xla_for_op_names():
    """Adds ``TRACEME_FLAG`` to ``XLA_FLAGS``; it takes effect only if JAX or TensorFlow
    has not started XLA's CPU backend yet. Run as a script, not at import, so that a test
    importing this module leaves the environment as it was."""
    if TRACEME_FLAG not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + TRACEME_FLAG).strip()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def positive_int(text):
    """argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def non_negative_float(text):
    """argparse type: a number of at least 0."""
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def training_step(batch_size, width, depth, gradient, seed=0):
    """A function that runs one compiled training step of RK4Net on random 784-pixel
    images and waits for it: on JAX ``model.train_step`` jitted with the state
    donated, as Keras's JAX trainer compiles it; on TensorFlow ``train_on_batch``,
    which runs the XLA-compiled ``train_function`` that ``fit`` runs."""
    import keras

    import keras_rk

    keras.utils.set_random_seed(seed)
    model = keras_rk.build("rk4", depth=depth, width=width, input_dim=784, num_classes=10,
                           lift="random", gradient=gradient)  # fmt: skip
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(seed)
    x = rng.random((batch_size, 784), dtype=np.float32)
    y = rng.integers(0, 10, batch_size)
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)  # builds the optimizer
    if keras.backend.backend() == "tensorflow":
        return lambda: model.train_on_batch(x, y)  # returns NumPy logs: it waits
    import jax

    state = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in model.optimizer.variables],
        [v.value for v in model.metrics_variables],
    )
    step = jax.jit(model.train_step, donate_argnums=0)
    data = (jax.numpy.asarray(x), jax.numpy.asarray(y))

    def run():
        nonlocal state
        _, state = step(state, data)
        jax.block_until_ready(state)

    return run


@contextlib.contextmanager
def tracing(trace_dir):
    """The backend's profiler, writing its trace under `trace_dir` while inside."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        start, stop = (lambda: tf.profiler.experimental.start(trace_dir),
                       tf.profiler.experimental.stop)  # fmt: skip
    else:
        import jax

        start, stop = (lambda: jax.profiler.start_trace(trace_dir), jax.profiler.stop_trace)
    start()
    try:
        yield
    finally:
        stop()


def read_events(trace_dir):
    """[(thread, start ps, duration ps, name)] of XLA's thread-pool lines, by start:
    the Eigen thread pool's, named ``XLAEigen/...`` by JAX, ``tf_numa_.._Eigen/...``
    by TensorFlow."""
    try:
        from tensorflow.tsl.profiler.protobuf import xplane_pb2
    except ImportError as error:  # the module has moved between TensorFlow releases
        raise ImportError(
            "profile_step.py reads the profiler's trace with TensorFlow's "
            "tensorflow.tsl.profiler.protobuf.xplane_pb2, which this TensorFlow lacks"
        ) from error

    paths = glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True)
    if not paths:
        raise FileNotFoundError(f"the profiler wrote no *.xplane.pb under {trace_dir!r}")
    space = xplane_pb2.XSpace()
    with open(paths[0], "rb") as file:
        space.ParseFromString(file.read())
    events = []
    for plane in space.planes:
        names = plane.event_metadata
        for line in plane.lines:
            if "Eigen" not in line.name:
                continue
            for event in line.events:
                start = line.timestamp_ns * 1000 + event.offset_ps
                events.append((line.name, start, event.duration_ps, names[event.metadata_id].name))
    return sorted(events, key=lambda event: event[1])


def timeline(events, start, end, min_ms):
    """Rows [at ms, lasts ms, thread, op] of one step: its loops, the ops of at
    least `min_ms` that ran once (an op that ran more than once is a loop body's),
    and the spans of at least `min_ms` outside the loops in which no named op ran
    on any thread (thread ``""``, op ``NO_NAMED_OP``). A loop's own event covers
    only its launch; it lasts until the next row. An op's event ends when the
    thread that started it is done: a product's tasks on the other threads of
    Eigen's pool have no name and may run on after it, in such a span."""
    runs = collections.Counter(name for _, _, _, name in events)
    rows, covered, last_end = [], [], start
    for thread, at, duration, name in events:
        if not start <= at < end or name.startswith(NOT_OPS):
            continue
        if name.startswith("while") or (runs[name] == 1 and duration >= min_ms * 1e9):
            rows.append([(at - start) / 1e9, duration / 1e9, thread, name])
        # A span before a loop body's op is inside its loop (a product's tasks there).
        ran_once = name.startswith("while") or runs[name] == 1
        if ran_once and at - last_end >= min_ms * 1e9:
            covered.append([(last_end - start) / 1e9, (at - last_end) / 1e9, "", NO_NAMED_OP])
        last_end = max(last_end, at + duration)
    if end - last_end >= min_ms * 1e9:
        covered.append([(last_end - start) / 1e9, (end - last_end) / 1e9, "", NO_NAMED_OP])
    rows = sorted(rows + covered, key=lambda row: row[0])
    for row, following in zip(rows, rows[1:] + [None]):
        if row[3].startswith("while"):
            row[1] = (following[0] if following else (end - start) / 1e9) - row[0]
    return rows


def pool_task_time(events, start, end):
    """Per thread, the time between ``start`` and ``end`` it spent in tasks of its
    thread pool (from each ``ThreadpoolListener::StartRegion`` marker to the next
    ``StopRegion``): named ops, the unnamed tasks of products, and waits inside
    a task."""
    spent, opened = collections.Counter(), {}
    for thread, at, _, name in events:
        if name == "ThreadpoolListener::StartRegion":
            opened[thread] = at
        elif name == "ThreadpoolListener::StopRegion" and thread in opened:
            began = max(opened.pop(thread), start)
            if min(at, end) > began:
                spent[thread] += min(at, end) - began
    return spent


def profile(batch_size=5, width=900, depth=100, gradient="auto", steps=5, min_ms=0.5, top=15):
    """Times `steps` compiled steps, then traces one and prints its timeline, each
    thread's share of it in named ops and in pool tasks, and its longest ops;
    returns them (times in ms, shares as fractions)."""
    run = training_step(batch_size, width, depth, gradient)
    for _ in range(2):  # compile, then one warm step
        run()
    walls = []
    for _ in range(steps):  # untraced: the step's own speed
        began = time.perf_counter()
        run()
        walls.append(time.perf_counter() - began)
    # The profiler's first traced steps run slower; trace two, then one, and read that.
    for traced in (2, 1):
        with tempfile.TemporaryDirectory() as trace_dir:
            with tracing(trace_dir):
                for _ in range(traced):
                    began = time.perf_counter()
                    run()
                    traced_wall = time.perf_counter() - began
            events = read_events(trace_dir)
    print(f"RK4Net width {width} depth {depth}, batch {batch_size}, gradient={gradient!r}: "
          f"{np.median(walls) * 1e3:.1f} ms a step (median of {steps}); "
          f"the traced one below {traced_wall * 1e3:.1f} ms")  # fmt: skip
    ops = [event for event in events if not event[3].startswith(NOT_OPS)]
    if not ops:
        print(f"no XLA op events: the backend started before {TRACEME_FLAG} was set")
        return {
            "step_ms": float(np.median(walls)) * 1e3,
            "rows": [],
            "busy": {},
            "tasks": {},
            "top": [],
        }
    first, end = ops[0][1], max(at + duration for _, at, duration, _ in ops)
    rows = timeline(ops, first, end, min_ms)
    print(f"the traced step's timeline (loops, and other ops of at least {min_ms} ms):")
    for at, lasts, thread, name in rows:
        print(f"  {at:8.2f} ms  lasts {lasts:7.2f} ms  {thread[-8:]:>8}  {name[:70]}")
    busy = _outermost(ops)
    tasks = pool_task_time(events, first, end)
    print("XLA's threads over the traced step: in named ops, and in thread-pool tasks")
    for thread in sorted(set(busy) | set(tasks)):
        print(f"  {thread[-8:]:>8}  {busy[thread] / (end - first):6.0%}  "
              f"{tasks[thread] / (end - first):6.0%}")  # fmt: skip
    totals = collections.Counter()
    for _, _, duration, name in ops:
        totals[name] += duration / 1e9
    print(f"the {top} longest ops of the traced step, ms, over all threads:")
    for name, ms in totals.most_common(top):
        print(f"  {ms:8.2f}  {name[:80]}")
    busy = {thread: time_busy / (end - first) for thread, time_busy in busy.items()}
    tasks = {thread: time_spent / (end - first) for thread, time_spent in tasks.items()}
    return {"step_ms": float(np.median(walls)) * 1e3, "rows": rows, "busy": busy,
            "tasks": tasks, "top": totals.most_common(top)}  # fmt: skip


def _outermost(events):
    """Per thread, the summed duration of its outermost events (time it was busy)."""
    busy, reach = collections.Counter(), {}
    for thread, at, duration, _ in events:
        covered = reach.get(thread, -1)
        if at >= covered:
            busy[thread] += duration
            reach[thread] = at + duration
        elif at + duration > covered:
            busy[thread] += at + duration - covered
            reach[thread] = at + duration
    return busy


if __name__ == "__main__":
    ask_xla_for_op_names()
    from keras_rk.allocator import tune_allocator

    tune_allocator()  # restarts with malloc tuned for large buffers, as keras-rk does
    import keras

    if keras.backend.backend() not in ("jax", "tensorflow"):
        raise SystemExit(
            f"run with KERAS_BACKEND=jax or tensorflow (XLA compiles their steps); "
            f"KERAS_BACKEND is {keras.backend.backend()!r}"
        )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=positive_int, default=5)
    parser.add_argument("--width", type=positive_int, default=900)
    parser.add_argument("--depth", type=positive_int, default=100)
    parser.add_argument("--gradient", default="auto", choices=["auto", "autodiff", "adjoint"])
    parser.add_argument("--steps", type=positive_int, default=5)
    parser.add_argument("--min-ms", type=non_negative_float, default=0.5)
    parser.add_argument("--top", type=positive_int, default=15)
    profile(**vars(parser.parse_args()))
