import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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


@pytest.mark.parametrize("study", experiments.available_studies())
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
    with pytest.raises(ValueError, match=r"Unknown point data set `name`"):
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
