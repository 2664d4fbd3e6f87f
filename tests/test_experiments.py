import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_rk import experiments
from keras_rk.results import ResultsError

TINY = dict(quick=True, seeds=1, epochs=1, num_train=20, num_val=20)
FILES = {
    "width": ["classification_donut_2d.png", "classification_squares.png"],
    "depth": ["accuracy_by_depth.png", "layers.png"],
    "activation": ["history.png", "prediction.png"],
    "comparison": ["classification_donut_2d_6c.png", "history_squares_3d_4c.png"],
    "variability": ["repetitions.png", "history.png"],
}


@pytest.mark.parametrize("study", list(FILES))
def test_each_study_quick_writes_its_files(study, tmp_path):
    settings = dict(TINY, seeds=2) if study == "variability" else TINY
    result = experiments.run_study(study, tmp_path, progress=lambda line: None, **settings)
    names = {p.name for p in tmp_path.iterdir()}
    expected = {"study.json", "runs", "summary.csv", "summary.md", "report.md", "datasets.png"}
    assert expected | set(FILES[study]) <= names
    cells = experiments.get_study(study).make_cells(
        {**experiments.STUDIES[study].options, **experiments.STUDIES[study].quick_options}
    )
    assert len(result["records"]) == len(cells) * settings["seeds"]
    assert len(list((tmp_path / "runs").glob("*.json"))) == len(result["records"])
    assert not list((tmp_path / "partial").iterdir())  # training states removed when done
    csv = (tmp_path / "summary.csv").read_text().splitlines()
    assert csv[0].startswith("dataset,architecture,depth,width,activation")
    assert len(csv) == 1 + len(cells)
    assert "± " in (tmp_path / "summary.md").read_text()
    record = next(iter(result["records"].values()))
    # one history entry before training and one per epoch
    assert len(record["history"]["val_accuracy"]) == 1 + record["epochs_run"]


def test_rerun_skips_finished_repetitions(tmp_path):
    lines = []
    experiments.run_study("depth", tmp_path, figures=False, progress=lines.append, **TINY)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "runs").iterdir()}
    lines.clear()
    experiments.run_study("depth", tmp_path, figures=False, progress=lines.append, **TINY)
    assert all("done before, skipped" in line for line in lines[:-1])
    assert before == {p.name: p.stat().st_mtime_ns for p in (tmp_path / "runs").iterdir()}


def test_same_seed_same_numbers(tmp_path):
    cell = experiments.Cell("spiral", "rk4", 2, 4)
    settings = experiments.Settings(epochs=1, num_train=20, num_val=20, steps_per_execution=4)
    first, _ = experiments.train_repetition(cell, 7, settings)
    again, _ = experiments.train_repetition(cell, 7, settings)
    assert first["history"].keys() == again["history"].keys()
    for key, values in first["history"].items():
        assert values == pytest.approx(again["history"][key], rel=1e-5), key


def test_rerun_with_other_settings_is_refused(tmp_path):
    experiments.run_study("depth", tmp_path, figures=False, progress=lambda _: None, **TINY)
    with pytest.raises(ResultsError, match=r"other settings \(epochs: 1 -> 2\)"):
        experiments.run_study(
            "depth", tmp_path, figures=False, progress=lambda _: None, **{**TINY, "epochs": 2}
        )


def test_corrupt_results_file_stops_with_a_clear_error(tmp_path):
    experiments.run_study("depth", tmp_path, figures=False, progress=lambda _: None, **TINY)
    victim = sorted((tmp_path / "runs").glob("*.json"))[0]
    victim.write_text("{ truncated")
    others = {p: p.read_bytes() for p in (tmp_path / "runs").iterdir()}
    with pytest.raises(ResultsError, match=r"is corrupt or unreadable .*delete it"):
        experiments.run_study("depth", tmp_path, figures=False, progress=lambda _: None, **TINY)
    assert {p: p.read_bytes() for p in (tmp_path / "runs").iterdir()} == others


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "deep"}, r"Unknown study `name`, expected one of \['width', 'depth'"),
        ({"name": "depth", "seeds": 0}, r"`seeds`, expected a positive integer"),
        ({"name": "depth", "lift": "ones"}, r"`lift`, expected one of"),
        ({"name": "depth", "options": {"widths": [2]}}, r"takes no option `widths`"),
        ({"name": "depth", "options": {"datasets": ["x"]}}, r"takes no option `datasets`"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        experiments.resolve(**kwargs)


def test_bad_dataset_name_in_options(tmp_path):
    with pytest.raises(ValueError, match=r"Unknown data set `name` .*'mnist', 'fashion_mnist'"):
        experiments.run_study(
            "comparison", tmp_path, progress=lambda _: None,
            options={"datasets": ["donut_9d"]}, **TINY,
        )  # fmt: skip


def test_paper_defaults():
    _, settings, options = experiments.resolve("depth")
    assert (settings.batch_size, settings.learning_rate, settings.epochs) == (5, 1e-3, 40)
    assert (settings.step_size, settings.lift, settings.seeds) == (0.05, "random", 4)
    assert options["depths"] == [1, 3, 5, 10, 20, 40, 100]
    _, settings, _ = experiments.resolve("width")
    assert (settings.lift, settings.epochs) == ("zeros", 80)
    _, settings, _ = experiments.resolve("depth", final_time=1.0)
    assert (settings.step_size, settings.final_time) == (None, 1.0)


def test_kill_midway_then_resume(tmp_path):
    # A separate process runs the study; it is killed (SIGKILL, no cleanup) as
    # soon as the first repetition is on disk. The rerun must keep every file
    # already written and only train the rest.
    out = tmp_path / "out"
    command = [sys.executable, "-m", "keras_rk.cli", "run", "depth", "--quick", "--no-figures",
               "--out", str(out), "--epochs", "2", "--num-train", "40", "--num-val", "20"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    runs = out / "runs"
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if runs.exists() and list(runs.glob("*.json")):
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = {p.name: p.read_bytes() for p in runs.glob("*.json")}
    assert finished, "the first repetition never appeared"
    for name, content in finished.items():
        assert json.loads(content)["run_id"] == name[: -len(".json")]

    lines = []
    result = experiments.run_study(
        "depth", out, quick=True, figures=False, progress=lines.append,
        epochs=2, num_train=40, num_val=20,
    )  # fmt: skip
    total = len(result["records"])
    assert total == 8 > len(finished)
    assert sum("done before, skipped" in line for line in lines) == len(finished)
    for name, content in finished.items():
        assert (runs / name).read_bytes() == content
    assert len(list(runs.glob("*.json"))) == total
    assert not list(runs.glob(".*.tmp"))


def test_more_seeds_add_to_the_same_folder(tmp_path):
    experiments.run_study("variability", tmp_path, figures=False, progress=lambda _: None, **TINY)
    lines = []
    result = experiments.run_study(
        "variability", tmp_path, figures=False, progress=lines.append, **{**TINY, "seeds": 2}
    )
    assert len(result["records"]) == 2
    assert "done before, skipped" in lines[0] and "val accuracy" in lines[1]


# ---------------------------------------------------------------- a repetition resumes

RESUME_SCRIPT = """
import sys, time
from keras_rk import experiments, training

out, delay = sys.argv[1], float(sys.argv[2])
save_state = training.save_state

def slow_save_state(*args, **kwargs):
    save_state(*args, **kwargs)
    time.sleep(delay)  # a window in which the test kills this process mid-repetition

training.save_state = slow_save_state
experiments.run_study(
    "depth", out, quick=True, figures=False, progress=print,
    options={"architectures": ["rk4"], "depths": [3]},
    epochs=12, num_train=40, num_val=20,
)
"""


def test_killed_repetition_resumes_to_the_same_record(tmp_path):
    # A study is SIGKILLed after the first repetition's state of at least one
    # epoch is on disk but before its record is; the rerun resumes that
    # repetition and every record equals that of an uninterrupted run (12
    # epochs, so the paper's early stop, which looks from epoch 10 on at the
    # costs of earlier epochs, runs on a cost list rebuilt from the saved history).
    import keras

    script = tmp_path / "study.py"
    script.write_text(RESUME_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
           "TF_CPP_MIN_LOG_LEVEL": "3"}  # fmt: skip

    def run(out, delay):
        return subprocess.Popen([sys.executable, str(script), str(out), str(delay)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip

    killed_out = tmp_path / "killed"
    process = run(killed_out, 2.0)
    partial = killed_out / "partial"
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if list(partial.glob("*/training_state.npz")):
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate()
    states = list(partial.glob("*/training_state.npz"))
    assert states, f"no training state appeared; stderr: {stderr[-2000:]}"
    assert not list((killed_out / "runs").glob("*.json")), "killed too late"

    resumed = run(killed_out, 0.0)
    stdout, stderr = resumed.communicate()
    assert resumed.returncode == 0, stderr[-2000:]
    assert "seed 0: resuming an interrupted run" in stdout
    assert not list(partial.iterdir())

    reference = run(tmp_path / "reference", 0.0)
    _, stderr = reference.communicate()
    assert reference.returncode == 0, stderr[-2000:]

    names = sorted(p.name for p in (tmp_path / "reference" / "runs").glob("*.json"))
    assert names == sorted(p.name for p in (killed_out / "runs").glob("*.json"))
    assert len(names) == 2
    for name in names:
        a = json.loads((tmp_path / "reference" / "runs" / name).read_text())
        b = json.loads((killed_out / "runs" / name).read_text())
        assert a["epochs_run"] == b["epochs_run"]
        for part in ("history", "final"):
            assert a[part].keys() == b[part].keys()
            for key in a[part]:
                if keras.backend.backend() == "tensorflow":
                    # TensorFlow may order float32 reductions differently between
                    # processes (its thread pool), so equal up to rounding.
                    assert b[part][key] == pytest.approx(a[part][key], rel=1e-4), key
                else:  # JAX and PyTorch on the CPU: bit for bit
                    assert b[part][key] == a[part][key], (name, part, key)


# ---------------------------------------------------------------- image studies


def test_images_quick_runs_end_to_end(tmp_path, image_data_dir):
    out = tmp_path / "out"
    lines = []
    result = experiments.run_study("images", out, quick=True, progress=lines.append,
                                   data_dir=image_data_dir, seeds=1, epochs=1)  # fmt: skip
    assert len(result["records"]) == 6  # 2 data sets x (StandardNet, EulerNet, RK4Net)
    record = result["records"]["fashion_mnist-rk4-L2-w800-tanh-seed0"]
    assert record["settings"]["early_stopping"] == "patience"
    assert len(record["history"]["val_loss"]) == 2
    assert {"history_mnist.png", "history_fashion_mnist.png"} <= {p.name for p in out.iterdir()}
    assert "data_dir" not in json.loads((out / "study.json").read_text())["settings"]
    assert not list((out / "partial").iterdir())
    assert "StandardNet L=2 width=800 tanh on mnist, seed 0: val accuracy" in lines[0]


def test_augmentation_quick_runs_end_to_end(tmp_path, image_data_dir):
    result = experiments.run_study("augmentation", tmp_path, quick=True, figures=False,
                                   progress=lambda _: None, data_dir=image_data_dir,
                                   seeds=1, epochs=1)  # fmt: skip
    assert sorted(result["records"]) == [
        "mnist-rk4-L2-w784-zeros-tanh-seed0",  # not augmented: the identity lift
        "mnist-rk4-L2-w800-tanh-seed0",  # augmented: the study's frozen random lift
    ]
    _, settings, options = experiments.resolve("augmentation", quick=True)
    model = experiments.build_model(experiments._augmentation_cells(options)[0], settings)
    x = np.random.default_rng(0).random((3, 784)).astype("float32")
    np.testing.assert_allclose(keras.Model(model.inputs, model.get_layer("augment").output)
                               .predict(x, verbose=0), x, rtol=1e-6)  # fmt: skip


def test_image_studies_match_the_paper_design():
    _, settings, options = experiments.resolve("images")
    cells = experiments.get_study("images").make_cells(options)
    assert {(c.dataset, c.architecture, c.depth, c.width) for c in cells} == {
        (d, a, 5 if a == "standard" else 100, 900)
        for d in ("mnist", "fashion_mnist")
        for a in ("standard", "euler", "rk4")
    }
    assert (settings.num_train, settings.num_val, settings.seeds) == (1500, 1500, 4)
    assert (settings.early_stopping, settings.patience, settings.lift) == ("patience", 5, "random")
    values = {(c.dataset, c.architecture): experiments.paper_values("images", c) for c in cells}
    assert values["fashion_mnist", "standard"] == {"val_accuracy": 61.23, "val_cost": 11.41}
    assert values["fashion_mnist", "rk4"] == {"val_accuracy": 79.13, "val_cost": 8.24}
    assert values["mnist", "euler"] == {"val_accuracy": 90.98, "val_cost": 5.71}
    _, _, options = experiments.resolve("augmentation")
    narrow, wide = experiments.get_study("augmentation").make_cells(options)
    assert (narrow.width, narrow.lift, wide.width, wide.lift) == (784, "zeros", 900, None)
    assert experiments.paper_values("augmentation", narrow) == {
        "train_accuracy": 97.70, "val_accuracy": 87.27, "train_cost": 0.78, "val_cost": 7.71}  # fmt: skip
    assert experiments.paper_values("augmentation", wide)["val_accuracy"] == 90.40


def test_image_study_without_data_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no IDX files in .*empty"):
        experiments.run_study("images", tmp_path / "out", quick=True, progress=lambda _: None,
                              data_dir=tmp_path / "empty", seeds=1, epochs=1)  # fmt: skip
