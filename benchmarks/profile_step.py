"""Where the time of one compiled training step goes, op by op and thread by thread (JAX).

``bench_step_parts.py`` times each part of a step alone; this traces whole steps
of ``model.train_step`` (compiled and with its state donated, as ``fit`` runs it)
with ``jax.profiler`` and prints what XLA's CPU runtime did:

- one step's timeline: each loop (from its start to the next row) and every op
  of at least ``--min-ms`` that ran once, with the thread that ran it;
- how busy each of XLA's threads was during that step;
- the ops that took longest in it, summed over the threads.

    KERAS_BACKEND=jax python benchmarks/profile_step.py --batch-size 5

XLA names its ops only with ``--xla_cpu_enable_xprof_traceme=true``, which this
script adds to ``XLA_FLAGS`` before JAX starts (``ask_xla_for_op_names``). The
trace is read with TensorFlow's protocol buffer of the profiler's ``XSpace`` (TensorFlow is a
keras-rk dependency). On 2026-11-30 at batch 5 it showed the forward loop (52 ms),
the reverse loop (53 ms), the kernel-gradient product (22 ms, on one of the two
threads) and Keras's Adam (three fusions over the 324 MB arrays, 62 ms)
(docs/results/speed/profile_step_jax.txt).
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import tempfile
import time

import numpy as np

TRACEME_FLAG = "--xla_cpu_enable_xprof_traceme=true"

# XLA's per-op events sit on its thread-pool lines; events named so are its
# runtime's wrappers around them and zero-length markers, not ops.
NOT_OPS = ("ThunkExecutor::", "SlinkyThreadPool::", "ThreadpoolListener::", "end: ")


def ask_xla_for_op_names():
    """Adds ``TRACEME_FLAG`` to ``XLA_FLAGS``; it takes effect only if JAX has not
    started its CPU backend yet. Run as a script, not at import, so that a test
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


def compiled_step(batch_size, width, depth, gradient, seed=0):
    """(step, state, data): ``model.train_step`` jitted with the state donated, as
    Keras's JAX trainer compiles it, for RK4Net on random 784-pixel images."""
    import jax
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
    state = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in model.optimizer.variables],
        [v.value for v in model.metrics_variables],
    )
    step = jax.jit(model.train_step, donate_argnums=0)
    return step, state, (jax.numpy.asarray(x), jax.numpy.asarray(y))


def read_events(trace_dir):
    """[(thread, start ps, duration ps, name)] of XLA's thread-pool lines, by start."""
    try:
        from tensorflow.tsl.profiler.protobuf import xplane_pb2
    except ImportError as error:  # the module has moved between TensorFlow releases
        raise ImportError(
            "profile_step.py reads jax.profiler's trace with TensorFlow's "
            "tensorflow.tsl.profiler.protobuf.xplane_pb2, which this TensorFlow lacks"
        ) from error

    paths = glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True)
    if not paths:
        raise FileNotFoundError(f"jax.profiler wrote no *.xplane.pb under {trace_dir!r}")
    space = xplane_pb2.XSpace()
    with open(paths[0], "rb") as file:
        space.ParseFromString(file.read())
    events = []
    for plane in space.planes:
        names = plane.event_metadata
        for line in plane.lines:
            if "XLAEigen" not in line.name:
                continue
            for event in line.events:
                start = line.timestamp_ns * 1000 + event.offset_ps
                events.append((line.name, start, event.duration_ps, names[event.metadata_id].name))
    return sorted(events, key=lambda event: event[1])


def timeline(events, start, end, min_ms):
    """Rows [at ms, lasts ms, thread, op] of one step: its loops, and the ops of at
    least `min_ms` that ran once (an op that ran more than once is a loop body's).
    A loop's own event covers only its launch; it lasts until the next row."""
    runs = collections.Counter(name for _, _, _, name in events)
    rows = []
    for thread, at, duration, name in events:
        if not start <= at < end or name.startswith(NOT_OPS):
            continue
        if name.startswith("while") or (runs[name] == 1 and duration >= min_ms * 1e9):
            rows.append([(at - start) / 1e9, duration / 1e9, thread, name])
    for row, following in zip(rows, rows[1:] + [None]):
        if row[3].startswith("while"):
            row[1] = (following[0] if following else (end - start) / 1e9) - row[0]
    return rows


def profile(batch_size=5, width=900, depth=100, gradient="auto", steps=5, min_ms=0.5, top=15):
    """Times `steps` compiled steps, then traces one and prints its timeline, how busy
    each thread was and its longest ops; returns them (times in ms)."""
    import jax

    step, state, data = compiled_step(batch_size, width, depth, gradient)
    for _ in range(2):  # compile, then one warm step
        _, state = step(state, data)
        jax.block_until_ready(state)
    walls = []
    for _ in range(steps):  # untraced: the step's own speed
        began = time.perf_counter()
        _, state = step(state, data)
        jax.block_until_ready(state)
        walls.append(time.perf_counter() - began)
    # The profiler's first traced steps run slower; trace two, read the second.
    for traced in (2, 1):
        with tempfile.TemporaryDirectory() as trace_dir:
            jax.profiler.start_trace(trace_dir)
            for _ in range(traced):
                began = time.perf_counter()
                _, state = step(state, data)
                jax.block_until_ready(state)
                traced_wall = time.perf_counter() - began
            jax.profiler.stop_trace()
            events = read_events(trace_dir)
    print(f"RK4Net width {width} depth {depth}, batch {batch_size}, gradient={gradient!r}: "
          f"{np.median(walls) * 1e3:.1f} ms a step (median of {steps}); "
          f"the traced one below {traced_wall * 1e3:.1f} ms")  # fmt: skip
    ops = [event for event in events if not event[3].startswith(NOT_OPS)]
    if not ops:
        print(f"no XLA op events: JAX started before {TRACEME_FLAG} was set")
        return {"step_ms": float(np.median(walls)) * 1e3, "rows": [], "busy": {}, "top": []}
    first, end = ops[0][1], max(at + duration for _, at, duration, _ in ops)
    rows = timeline(ops, first, end, min_ms)
    print(f"the traced step's timeline (loops, and other ops of at least {min_ms} ms):")
    for at, lasts, thread, name in rows:
        print(f"  {at:8.2f} ms  lasts {lasts:7.2f} ms  {thread[-8:]:>8}  {name[:70]}")
    busy = _outermost(events)
    print("XLA's threads, busy over the traced step:")
    for thread in sorted(busy):
        print(f"  {thread[-8:]:>8}  {busy[thread] / (end - first):6.0%}")
    totals = collections.Counter()
    for _, _, duration, name in ops:
        totals[name] += duration / 1e9
    print(f"the {top} longest ops of the traced step, ms, over all threads:")
    for name, ms in totals.most_common(top):
        print(f"  {ms:8.2f}  {name[:80]}")
    busy = {thread: time_busy / (end - first) for thread, time_busy in busy.items()}
    return {"step_ms": float(np.median(walls)) * 1e3, "rows": rows, "busy": busy,
            "top": totals.most_common(top)}  # fmt: skip


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

    if keras.backend.backend() != "jax":
        raise SystemExit("run with KERAS_BACKEND=jax: the step is traced with jax.profiler")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=positive_int, default=5)
    parser.add_argument("--width", type=positive_int, default=900)
    parser.add_argument("--depth", type=positive_int, default=100)
    parser.add_argument("--gradient", default="auto", choices=["auto", "autodiff", "adjoint"])
    parser.add_argument("--steps", type=positive_int, default=5)
    parser.add_argument("--min-ms", type=non_negative_float, default=0.5)
    parser.add_argument("--top", type=positive_int, default=15)
    profile(**vars(parser.parse_args()))
