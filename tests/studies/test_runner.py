"""keras_rk.studies.runner: whole studies, resumable, into a results folder."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_rk import studies
from keras_rk.results import ResultsError
from keras_rk.studies import claims, runner

TINY = dict(quick=True, seeds=1, epochs=1, num_train=20, num_val=20)
FILES = {
    "width": ["classification_donut_2d.png", "classification_squares.png"],
    "depth": ["accuracy_by_depth.png", "layers.png"],
    "activation": ["history.png", "prediction.png"],
    "comparison": ["classification_donut_2d_6c.png", "history_squares_3d_4c.png"],
    "variability": ["repetitions.png", "history.png"],
}
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("study", list(FILES))
def test_each_study_quick_writes_its_files(study, tmp_path):
    settings = dict(TINY, seeds=2) if study == "variability" else TINY
    result = studies.run_study(study, tmp_path, progress=lambda line: None, **settings)
    names = {p.name for p in tmp_path.iterdir()}
    expected = {"study.json", "runs", "summary.csv", "summary.md", "report.md", "datasets.png"}
    assert expected | set(FILES[study]) <= names
    cells = studies.get_study(study).make_cells(
        {**studies.STUDIES[study].options, **studies.STUDIES[study].quick_options}
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
    studies.run_study("depth", tmp_path, figures=False, progress=lines.append, **TINY)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "runs").iterdir()}
    lines.clear()
    studies.run_study("depth", tmp_path, figures=False, progress=lines.append, **TINY)
    assert all("done before, skipped" in line for line in lines[:-1])
    assert before == {p.name: p.stat().st_mtime_ns for p in (tmp_path / "runs").iterdir()}


def test_rerun_with_other_settings_is_refused(tmp_path):
    studies.run_study("depth", tmp_path, figures=False, progress=lambda _: None, **TINY)
    with pytest.raises(ResultsError, match=r"other settings \(epochs: 1 -> 2\)"):
        studies.run_study(
            "depth", tmp_path, figures=False, progress=lambda _: None, **{**TINY, "epochs": 2}
        )


def test_corrupt_results_file_stops_with_a_clear_error(tmp_path):
    studies.run_study("depth", tmp_path, figures=False, progress=lambda _: None, **TINY)
    victim = sorted((tmp_path / "runs").glob("*.json"))[0]
    victim.write_text("{ truncated")
    others = {p: p.read_bytes() for p in (tmp_path / "runs").iterdir()}
    with pytest.raises(ResultsError, match=r"is corrupt or unreadable .*delete it"):
        studies.run_study("depth", tmp_path, figures=False, progress=lambda _: None, **TINY)
    assert {p: p.read_bytes() for p in (tmp_path / "runs").iterdir()} == others


def test_bad_dataset_name_in_options(tmp_path):
    with pytest.raises(
        ValueError,
        match=r"`datasets`, expected .*'mnist', 'fashion_mnist'\]\. Received: datasets=\['donut_9d'\]",
    ):
        studies.run_study(
            "comparison", tmp_path, progress=lambda _: None,
            options={"datasets": ["donut_9d"]}, **TINY,
        )  # fmt: skip


def test_kill_midway_then_resume(tmp_path):
    # A separate process runs the study; it is killed (SIGKILL, no cleanup) as
    # soon as the first repetition is on disk. The rerun must keep every file
    # already written and only train the rest.
    out = tmp_path / "out"
    command = [sys.executable, "-m", "keras_rk.cli", "run", "depth", "--quick", "--no-figures",
               "--out", str(out), "--epochs", "2", "--num-train", "40", "--num-val", "20"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
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
    result = studies.run_study(
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
    studies.run_study("variability", tmp_path, figures=False, progress=lambda _: None, **TINY)
    lines = []
    result = studies.run_study(
        "variability", tmp_path, figures=False, progress=lines.append, **{**TINY, "seeds": 2}
    )
    assert len(result["records"]) == 2
    assert "done before, skipped" in lines[0] and "seed 1: started" in lines[1]
    assert "seed 1: val accuracy" in lines[2]


def test_summarize_runs_once_per_study_run(tmp_path, monkeypatch):
    calls = []
    summarize = runner.summarize

    def counted(*args, **kwargs):
        calls.append(args[0])
        return summarize(*args, **kwargs)

    monkeypatch.setattr(runner, "summarize", counted)
    result = studies.run_study("depth", tmp_path, progress=lambda _: None, **TINY)
    assert calls == ["depth"]
    assert (tmp_path / "accuracy_by_depth.png") in result["files"]


def test_old_study_file_with_early_stop_is_resumed_not_refused(tmp_path):
    # A folder written before `early_stop` (bool) and `early_stopping` (str)
    # became one setting: its study.json is read in today's form and kept as
    # it was written.
    studies.run_study("depth", tmp_path, figures=False, progress=lambda _: None,
                      **TINY, early_stopping="none")  # fmt: skip
    manifest = tmp_path / "study.json"
    old = json.loads(manifest.read_text())
    old["settings"]["early_stop"] = False
    old["settings"]["early_stopping"] = "paper"
    manifest.write_text(json.dumps(old))
    lines = []
    studies.run_study("depth", tmp_path, figures=False, progress=lines.append,
                      **TINY, early_stopping="none")  # fmt: skip
    assert all("done before, skipped" in line for line in lines[:-1])
    assert json.loads(manifest.read_text()) == old
    with pytest.raises(ResultsError, match=r"early_stopping: 'none' -> 'paper'"):
        studies.run_study("depth", tmp_path, figures=False, progress=lambda _: None, **TINY)


RESUME_SCRIPT = """
import sys, time
from keras_rk import studies, training

out, delay = sys.argv[1], float(sys.argv[2])
save_state = training.save_state

def slow_save_state(*args, **kwargs):
    save_state(*args, **kwargs)
    time.sleep(delay)  # a window in which the test kills this process mid-repetition

training.save_state = slow_save_state
studies.run_study(
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
    env = {**os.environ, "PYTHONPATH": str(ROOT),
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
    # As if the killed process had trained 1,000 s: the resumed record must add them.
    for state in states:
        with np.load(state) as data:
            arrays = {key: data[key] for key in data.files}
        meta = {**json.loads(str(arrays.pop("meta"))), "seconds": 1000.0}
        np.savez(state, meta=np.array(json.dumps(meta)), **arrays)
    resumed_ids = {state.parent.name for state in states}

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
        # The record's wall time counts the killed process's training too.
        assert (b["seconds"] > 1000.0) is (b["run_id"] in resumed_ids), name
        assert a["seconds"] < 1000.0
        for part in ("history", "final"):
            assert a[part].keys() == b[part].keys()
            for key in a[part]:
                if keras.backend.backend() == "tensorflow":
                    # TensorFlow may order float32 reductions differently between
                    # processes (its thread pool), so equal up to rounding.
                    assert b[part][key] == pytest.approx(a[part][key], rel=1e-4), key
                else:  # JAX and PyTorch on the CPU: bit for bit
                    assert b[part][key] == a[part][key], (name, part, key)


def test_images_quick_runs_end_to_end(tmp_path, image_data_dir):
    out = tmp_path / "out"
    lines = []
    result = studies.run_study("images", out, quick=True, progress=lines.append,
                                   data_dir=image_data_dir, seeds=1, epochs=1)  # fmt: skip
    assert len(result["records"]) == 6  # 2 data sets x (StandardNet, EulerNet, RK4Net)
    record = result["records"]["fashion_mnist-rk4-L2-w800-tanh-seed0"]
    assert record["settings"]["early_stopping"] == "patience"
    assert len(record["history"]["val_loss"]) == 2
    assert {"history_mnist.png", "history_fashion_mnist.png"} <= {p.name for p in out.iterdir()}
    assert "data_dir" not in json.loads((out / "study.json").read_text())["settings"]
    assert not list((out / "partial").iterdir())
    head = "[1/6] StandardNet L=2 width=800 tanh on mnist, seed 0"
    assert lines[0] == f"{head}: started"
    assert lines[1].startswith(f"{head}: epoch 1/1: loss ")  # EpochLog: a line per epoch
    assert lines[2].startswith(f"{head}: val accuracy")


def test_augmentation_quick_runs_end_to_end(tmp_path, image_data_dir):
    result = studies.run_study("augmentation", tmp_path, quick=True, figures=False,
                                   progress=lambda _: None, data_dir=image_data_dir,
                                   seeds=1, epochs=1)  # fmt: skip
    assert sorted(result["records"]) == [
        "mnist-rk4-L2-w784-zeros-tanh-seed0",  # not augmented: the identity lift
        "mnist-rk4-L2-w800-tanh-seed0",  # augmented: the study's frozen random lift
    ]
    _, settings, options = studies.resolve("augmentation", quick=True)
    model = studies.build_model(studies.get_study("augmentation").make_cells(options)[0], settings)
    x = np.random.default_rng(0).random((3, 784)).astype("float32")
    np.testing.assert_allclose(keras.Model(model.inputs, model.get_layer("augment").output)
                               .predict(x, verbose=0), x, rtol=1e-6)  # fmt: skip


def test_image_study_without_data_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no IDX files in .*empty"):
        studies.run_study("images", tmp_path / "out", quick=True, progress=lambda _: None,
                              data_dir=tmp_path / "empty", seeds=1, epochs=1)  # fmt: skip


ONE = dict(quick=True, seeds=1, epochs=1, num_train=10, num_val=10)  # one repetition


def test_progress_lines_say_started_and_eta(tmp_path):
    lines = []
    studies.run_study("variability", tmp_path, figures=False, progress=lines.append, **ONE)
    head = "[1/1] RK4Net L=3 width=4 tanh on donut_2d_6c, seed 0"
    assert lines[0] == f"{head}: started"
    assert lines[1].startswith(f"{head}: val accuracy")
    assert lines[2].startswith("progress 1/1 repetitions, ") and lines[2].endswith("ETA 0 s")
    assert not list((tmp_path / "claims").glob("*-seed0@*"))  # released


def test_stale_claim_is_taken_over_and_trained(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    claim = tmp_path / "claims" / "donut_2d_6c-rk4-L3-w4-tanh-seed0@0"
    claim.parent.mkdir()
    claim.write_text(json.dumps({"host": claims.HOST, "pid": dead.pid, "started": 0}))
    lines = []
    result = studies.run_study("variability", tmp_path, figures=False, progress=lines.append, **ONE)
    assert f"taking over the stale claim of {claims.HOST} pid {dead.pid}" in lines[0]
    assert lines[1].endswith(": started") and len(result["records"]) == 1


def test_live_claim_is_waited_for(tmp_path):
    # Another live process (here: a claim this test holds for 2 s) is training
    # the repetition: the study waits for it instead of training it too.
    held = claims.try_claim(tmp_path, "donut_2d_6c-rk4-L3-w4-tanh-seed0", timeout=60)
    threading.Timer(2.0, held.release).start()
    lines = []
    studies.run_study("variability", tmp_path, figures=False, progress=lines.append, **ONE)
    assert f"claimed by {claims.HOST} pid {os.getpid()}" in lines[0]
    assert lines[1].endswith(": started")  # trained once released without a record


def test_num_workers_2_split_the_repetitions(tmp_path):
    lines = []
    result = studies.run_study("variability", tmp_path, progress=lines.append,
                               num_workers=2, **{**ONE, "seeds": 2})  # fmt: skip
    trained = [line for line in lines if ": val accuracy" in line]
    assert len(trained) == 2 and len(result["records"]) == 2
    assert all(line.startswith(("w0: ", "w1: ")) for line in trained)
    assert (tmp_path / "summary.csv").exists() and (tmp_path / "repetitions.png").exists()


def test_two_processes_on_one_folder_train_each_repetition_once(tmp_path):
    # The same command started twice at once, as on two machines sharing the
    # folder: together they train each repetition once, to the records of one
    # process alone.
    import keras

    def command(out):
        return [sys.executable, "-m", "keras_rk.cli", "run", "variability", "--quick",
                "--seeds", "4", "--epochs", "1", "--num-train", "20", "--num-val", "20",
                "--no-figures", "--out", str(out)]  # fmt: skip

    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    shared, alone = tmp_path / "shared", tmp_path / "alone"
    pair = [subprocess.Popen(command(shared), env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
    outputs = [p.communicate() for p in pair]
    assert all(p.returncode == 0 for p in pair), [err[-2000:] for _, err in outputs]
    single = subprocess.run(command(alone), env=env, capture_output=True, text=True)
    assert single.returncode == 0, single.stderr[-2000:]
    trained = [line for out, _ in outputs for line in out.splitlines() if ": val accuracy" in line]
    assert sorted(line.split(": ")[0][-1] for line in trained) == ["0", "1", "2", "3"]  # seeds
    # One writes the report; the other finds it written from the same repetitions.
    assert sorted("results in" in out for out, _ in outputs) == [False, True]
    assert sorted("report: written by another process" in out for out, _ in outputs) == [
        False,
        True,
    ]
    for seed in range(4):
        name = f"donut_2d_6c-rk4-L3-w4-tanh-seed{seed}.json"
        a = json.loads((alone / "runs" / name).read_text())
        b = json.loads((shared / "runs" / name).read_text())
        for part in ("history", "final"):
            for key in a[part]:
                if keras.backend.backend() == "jax":
                    assert b[part][key] == a[part][key], (name, part, key)
                else:
                    assert b[part][key] == pytest.approx(a[part][key], rel=1e-6), (name, key)


def test_a_record_copied_over_another_is_reported_and_retrained(tmp_path):
    first = studies.run_study("depth", tmp_path, figures=False, progress=lambda _: None, **TINY)
    runs = tmp_path / "runs"
    [one] = runs.glob("*-rk4-L1-*.json")
    [three] = runs.glob("*-rk4-L3-*.json")
    one.write_bytes(three.read_bytes())  # cp runs/...-L3-...json runs/...-L1-...json
    lines = []
    again = studies.run_study("depth", tmp_path, figures=False, progress=lines.append, **TINY)
    [line] = [line for line in lines if "not this repetition's" in line]
    assert str(one) in line and "config: depth 3 -> 1" in line and "training it again" in line
    run_id = one.stem
    assert again["records"][run_id]["config"]["depth"] == 1
    assert again["records"][run_id]["final"] == pytest.approx(
        first["records"][run_id]["final"], rel=1e-4
    )
    assert (tmp_path / "rejected" / "1" / one.name).exists()  # kept for a person


def test_without_study_json_other_epochs_retrain_rather_than_relabel(tmp_path):
    studies.run_study("depth", tmp_path, figures=False, progress=lambda _: None, **TINY)
    (tmp_path / "study.json").unlink()
    lines = []
    result = studies.run_study(
        "depth", tmp_path, figures=False, progress=lines.append, **{**TINY, "epochs": 2}
    )
    reported = [line for line in lines if "settings: epochs 1 -> 2" in line]
    assert len(reported) == len(result["records"]) == 4
    for record in result["records"].values():
        assert record["settings"]["epochs"] == 2
        assert len(record["history"]["loss"]) == 1 + record["epochs_run"]


def test_a_missing_weights_file_is_reported_and_retrained(tmp_path):
    studies.run_study("depth", tmp_path, figures=False, progress=lambda _: None, **TINY)
    [weights] = (tmp_path / "runs").glob("*-rk4-L1-*.npz")
    weights.unlink()
    lines = []
    studies.run_study("depth", tmp_path, figures=False, progress=lines.append, **TINY)
    assert any(f"its weights file {weights} is missing" in line for line in lines)
    assert weights.exists()


def test_a_record_of_another_backend_is_retrained(tmp_path):
    studies.run_study("depth", tmp_path, figures=False, progress=lambda _: None, **TINY)
    [path] = (tmp_path / "runs").glob("*-rk4-L1-*.json")
    record = json.loads(path.read_text())
    record["backend"] = "other"
    path.write_text(json.dumps(record))
    lines = []
    result = studies.run_study("depth", tmp_path, figures=False, progress=lines.append, **TINY)
    assert any(f"backend: 'other' -> '{keras.backend.backend()}'" in line for line in lines)
    assert result["records"][path.stem]["backend"] == keras.backend.backend()
