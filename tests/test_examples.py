"""Each example and the image benchmark run with --quick."""

import importlib.util
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import keras
import pytest

from keras_rk.datasets import images

ROOT = Path(__file__).resolve().parents[1]
needs_fashion = pytest.mark.skipif(
    not images.DEBIAN_DIRS["fashion_mnist"].is_dir(),
    reason="Fashion-MNIST files not installed (apt-get install dataset-fashion-mnist)",
)


def load(relative):
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@needs_fashion
def test_images_example_quick(tmp_path):
    summary = load("examples/images.py").main(
        quick=True, verbose=0, figures_dir=tmp_path, output=tmp_path / "summary.json"
    )
    assert set(summary) == {"standard", "euler", "rk4"}
    for row in summary.values():
        assert 0.0 <= row["val_accuracy"]["mean"] <= 1.0
    names = {p.name for p in tmp_path.iterdir()}
    assert {"fashion_mnist_samples.png", "fashion_mnist_features_pca.png",
            "fashion_mnist_curves.png", "summary.json"} <= names  # fmt: skip


@needs_fashion
def test_conv_example_quick():
    metrics = load("examples/fashion_mnist_conv.py").main(quick=True, verbose=0)
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["epochs"] == 1


@needs_fashion
def test_conv_example_quick_with_two_stages():
    metrics = load("examples/fashion_mnist_conv.py").main(quick=True, channels=[16, 32], verbose=0)
    assert 0.0 <= metrics["test_accuracy"] <= 1.0


def test_conv_example_stages_augment_then_halve_the_resolution():
    example = load("examples/fashion_mnist_conv.py")
    model = example.build_conv_network("euler", 1, [2, 4], 3, 0.5, "tanh")
    blocks = [layer for layer in model.layers if layer.name.startswith("conv_rk_block_")]
    assert [tuple(block.output.shape[1:]) for block in blocks] == [(28, 28, 2), (14, 14, 4)]
    assert tuple(model.output.shape) == (None, 10)
    with pytest.raises(ValueError, match=r"must not decrease.*channels=\[4, 2\]"):
        example.build_conv_network("euler", 1, [4, 2], 3, 0.5, "tanh")
    with pytest.raises(ValueError, match=r"positive int.*channels=\[\]"):
        example.build_conv_network("euler", 1, [], 3, 0.5, "tanh")
    with pytest.raises(ValueError, match=r"dropout=1.0"):
        example.build_conv_network("euler", 1, [2], 3, 0.5, "tanh", dropout=1.0)
    assert "dropout" in [layer.name for layer in
                         example.build_conv_network("euler", 1, 2, 3, 0.5, "tanh", 0.5).layers]  # fmt: skip


def test_conv_example_plateau_schedule_lowers_the_rate_and_checks_its_arguments():
    example = load("examples/fashion_mnist_conv.py")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    schedule = example._plateau_schedule(patience=1, factor=0.5)
    schedule.set_model(model)
    schedule.on_train_begin()
    for epoch, val_loss in enumerate([1.0, 0.9, 0.95]):  # no progress in the last epoch
        schedule.on_epoch_end(epoch, {"val_loss": val_loss})
    rate = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    assert rate == pytest.approx(5e-4)
    with pytest.raises(ValueError, match=r"reduce_lr_patience=0"):
        example._plateau_schedule(patience=0, factor=0.5)
    with pytest.raises(ValueError, match=r"reduce_lr_factor=1.0"):
        example._plateau_schedule(patience=2, factor=1.0)


@needs_fashion
def test_conv_example_quick_with_a_plateau_schedule():
    example = load("examples/fashion_mnist_conv.py")
    metrics = example.main(
        quick=True, reduce_lr_patience=1, reduce_lr_factor=0.5, learning_rate=2e-3, verbose=0
    )
    assert metrics["final_learning_rate"] == pytest.approx(2e-3)  # one epoch: no plateau yet
    # main hands its arguments to the schedule (checked before the data load):
    with pytest.raises(ValueError, match=r"reduce_lr_factor=1.5"):
        example.main(quick=True, reduce_lr_patience=1, reduce_lr_factor=1.5, verbose=0)


def test_benchmark_quick():
    result = load("benchmarks/bench_images.py").main(quick=True)
    assert result["peak_gflops"] > 0 and result["rows"][0]["images_per_second"] > 0
    paper = [row for row in result["rows"] if row["gradient"] == "paper-style pytorch"]
    if importlib.util.find_spec("torch") is not None:  # timed in its own process and here
        (row,) = paper
        assert row["images_per_second"] > 0 and row["in_this_process"] > 0
        assert row["roofline_ratio"] > 0
    else:
        assert paper == []


def test_step_parts_benchmark_small():
    if keras.backend.backend() != "jax":
        pytest.skip("the parts are compiled with jax.jit")
    result = load("benchmarks/bench_step_parts.py").main(width=800, depth=2, repeats=1, seconds=0.2)
    parts = result["keras_jax_ms"]
    assert set(parts) == {"forward sweep", "forward + adjoint gradient",
                          "kernel-gradient product", "Adam and the rest of the step"}  # fmt: skip
    assert 0 < parts["forward sweep"] and 0 < result["step_ms"]
    assert result.get("bound_ms", 1.0) > 0


def test_profile_timeline_lists_loops_ops_that_ran_once_and_unnamed_spans():
    module = load("benchmarks/profile_step.py")
    ms = 10**9  # the trace's picoseconds per millisecond
    events = [("a", 0, 1, "while.3"), ("a", ms // 10, 2 * ms, "ynn_fusion"),
              ("b", 21 * ms // 10, 29 * ms // 10, "ynn_fusion"), ("a", 5 * ms, 5 * ms, "dot_general.2"),
              ("a", 12 * ms, 3 * ms, "ThunkExecutor::Execute"), ("b", 12 * ms, ms // 10, "small_fusion"),
              ("b", 121 * ms // 10, 4 * ms, "adam_fusion")]  # fmt: skip
    rows = module.timeline(sorted(events, key=lambda e: e[1]), 0, 161 * ms // 10, min_ms=0.5)
    # the loop lasts until the next row; a loop body's op (ran twice), a short op and
    # the runtime's wrapper are left out; 10-12 ms no named op ran (a product's tasks)
    assert rows == [[0.0, 5.0, "a", "while.3"], [5.0, 5.0, "a", "dot_general.2"],
                    [10.0, 2.0, "", module.NO_NAMED_OP], [12.1, 4.0, "b", "adam_fusion"]]  # fmt: skip


def test_profile_pool_task_time_pairs_region_markers_within_the_step():
    pool_task_time = load("benchmarks/profile_step.py").pool_task_time
    start, stop = "ThreadpoolListener::StartRegion", "ThreadpoolListener::StopRegion"
    events = [("a", 0, 0, start), ("a", 4, 0, stop), ("b", 5, 0, start), ("a", 6, 0, start),
              ("b", 7, 0, "ThreadpoolListener::Record"), ("b", 9, 0, stop), ("a", 30, 0, stop)]  # fmt: skip
    # the step is 2..20: thread a's first task counts from 2, its second until 20
    assert pool_task_time(events, 2, 20) == {"a": 2 + 14, "b": 4}


def test_profile_busy_time_counts_nested_events_once():
    outermost = load("benchmarks/profile_step.py")._outermost
    events = [("a", 0, 10, "x"), ("a", 2, 3, "nested"), ("a", 8, 6, "overlaps"),
              ("b", 0, 4, "y"), ("a", 20, 1, "later")]  # fmt: skip
    assert outermost(events) == {"a": 14 + 1, "b": 4}


def test_profile_step_leaves_the_environment_alone_on_import(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    module = load("benchmarks/profile_step.py")
    assert "XLA_FLAGS" not in os.environ  # only the script asks for op names
    module.ask_xla_for_op_names()
    assert os.environ["XLA_FLAGS"] == module.TRACEME_FLAG


def test_profile_step_refuses_bad_arguments_by_name():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/profile_step.py"), "--steps", "0"],
        capture_output=True, text=True, env={**os.environ, "KERAS_BACKEND": "jax"}, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--steps" in result.stderr and "expected a positive integer, got '0'" in result.stderr


def test_profile_step_traces_a_small_step(tmp_path):
    if keras.backend.backend() not in ("jax", "tensorflow"):
        pytest.skip("the step is traced with jax.profiler or TensorFlow's profiler")
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend()}
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/profile_step.py"), "--width", "800", "--depth",
         "2", "--batch-size", "4", "--steps", "2", "--min-ms", "0"],
        capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "the traced step's timeline" in result.stdout
    assert " while" in result.stdout  # the compiled step loops were seen, by name
    assert "in thread-pool tasks" in result.stdout


def test_profile_step_refuses_a_backend_without_xla_steps():
    if importlib.util.find_spec("torch") is None:
        pytest.skip("Keras's torch backend needs PyTorch")
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/profile_step.py")],
        capture_output=True, text=True, env={**os.environ, "KERAS_BACKEND": "torch"}, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1
    assert "KERAS_BACKEND is 'torch'" in result.stderr


def test_gpu_script_runs_its_quick_sizes_on_any_machine(tmp_path):
    if keras.backend.backend() != "jax":
        pytest.skip("benchmarks/gpu.sh runs the JAX backend")
    out = tmp_path / "out"
    env = {**os.environ, "GPU_BENCH_QUICK": "1", "OUT": str(out),
           "GPU_BENCH_WHEELS": str(tmp_path / "no-wheels"),  # this Python's Keras
           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}  # fmt: skip
    result = subprocess.run(["bash", str(ROOT / "benchmarks/gpu.sh")], capture_output=True,
                            text=True, env=env, timeout=900)  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    summary = (out / "summary.txt").read_text()
    assert "images: batch 5, gradient adjoint:" in summary
    assert "points: keras-rk jax, compile()" in summary
    written = {path.name for path in out.iterdir()}
    assert {"devices.txt", "bench_images.txt", "bench_points.txt", "summary.txt"} <= written


def test_paper_style_baseline_process_starts_with_malloc_defaults():
    environment = load("benchmarks/bench_images.py").malloc_defaults_environment(
        {
            "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1",
            "KERAS_RK_RESTARTED_PID": "12",
            "KERAS_BACKEND": "jax",
        }
    )
    assert environment == {"KERAS_BACKEND": "jax"}


def test_paper_style_serves_one_epoch_per_request():
    if importlib.util.find_spec("torch") is None:
        pytest.skip("the paper-style loop is PyTorch")
    serve = load("benchmarks/paper_style.py").serve
    answers = io.StringIO()
    serve(io.StringIO("epoch\nepoch\n"), answers, batch_size=50, width=8, depth=2)
    assert answers.getvalue().splitlines() == ["ready", "images 250", "images 250"]
    with pytest.raises(ValueError, match="reads lines 'epoch'; got 'stop\\\\n'"):
        serve(io.StringIO("stop\n"), io.StringIO(), batch_size=50, width=8, depth=2)


def test_paper_style_process_trains_in_its_own_process():
    if importlib.util.find_spec("torch") is None:
        pytest.skip("the paper-style loop is PyTorch")
    process = load("benchmarks/bench_images.py").PaperStyleProcess(50, width=8, depth=2)
    try:
        assert process() == 250 and process() == 250
        assert process.process.pid != os.getpid()
    finally:
        process.close()
    assert process.process.returncode == 0


def test_benchmark_trainers_take_turns():
    timed_alternately = load("benchmarks/bench_images.py").timed_alternately
    calls = []

    def trainer(name, images):
        def epoch():
            calls.append(name)
            time.sleep(0.005)
            return images

        return epoch

    speeds = timed_alternately({"a": trainer("a", 10), "b": trainer("b", 20)}, 0.02, rounds=2)
    turns = [name for i, name in enumerate(calls) if i == 0 or calls[i - 1] != name]
    assert turns == ["a", "b", "a", "b"]  # each trainer's share, in alternating turns
    # images over seconds spent, and each epoch sleeps at least 5 ms
    assert 0 < speeds["a"] <= 10 / 0.005 and 0 < speeds["b"] <= 20 / 0.005
    with pytest.raises(ValueError, match=r"rounds=0"):
        timed_alternately({"a": trainer("a", 10)}, 0.01, rounds=0)
    # main refuses it before building any model
    with pytest.raises(ValueError, match=r"rounds=0"):
        load("benchmarks/bench_images.py").main(quick=True, rounds=0)


def test_flops_per_sample_of_the_paper_network():
    # 3 x 2 x (100 x 4 x 900^2 + 784 x 900 + 900 x 10) = 1.948e9: the issue's
    # "about 1.9 GFLOP" per training sample.
    flops = load("benchmarks/bench_images.py").flops_per_sample()
    assert flops == pytest.approx(1.948e9, rel=1e-3)


def test_bytes_per_step_counts_ten_passes_over_the_weights():
    # 81.8 M float32 weights at width 900, depth 100: 3.27 GB per training step.
    traffic = load("benchmarks/bench_images.py").bytes_per_step()
    weights = 100 * 900 * 901 + 784 * 900 + 900 * 10 + 10
    assert traffic == 40 * weights and 3.2e9 < traffic < 3.3e9


# Point-classification examples: each main(quick=True, seed=...) returns metrics.
POINT_EXAMPLES = ["quickstart", "spiral_depth", "donut_width", "compare_networks"]


@pytest.mark.parametrize("name", POINT_EXAMPLES)
def test_point_example_runs_quick_and_returns_metrics(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    metrics = load(f"examples/{name}.py").main(quick=True, seed=1)
    assert metrics and all(0.0 <= value for value in metrics.values())
    assert any(key.endswith("val_accuracy") for key in metrics)


def test_images_example_takes_the_flags_and_defaults_of_the_cli():
    example = load("examples/images.py")
    defaults = example._parse([])
    # Nothing given: every setting is the images study's default, as for keras-rk run.
    assert all(defaults[key] is None for key in ("seeds", "epochs", "gradient", "patience"))
    assert defaults["restore_best_weights"] is None and defaults["dataset"] == "fashion_mnist"
    given = example._parse(["--seeds", "2", "--restore-best-weights", "--gradient", "autodiff",
                            "--no-early-stop", "--dataset", "mnist", "--width", "784"])  # fmt: skip
    assert (given["seeds"], given["restore_best_weights"], given["gradient"]) == (
        2,
        True,
        "autodiff",
    )
    assert (given["early_stopping"], given["dataset"], given["width"]) == ("none", "mnist", 784)
    with pytest.raises(SystemExit):
        example._parse(["--datasets", "mnist"])
