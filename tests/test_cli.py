import json
import subprocess
import sys

import pytest

from keras_rk import cli


def test_list(capsys):
    import re

    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for study in ("width", "depth", "activation", "comparison", "variability", "augmentation",
                  "images"):  # fmt: skip
        assert study in out
    # rk4: 4 stages, claimed and verified order 4, explicit, not symplectic.
    assert re.search(r"^  rk4 +4 +4 +4 +explicit +no$", out, re.M), out
    assert re.search(r"^  gauss_legendre_2 +2 +4 +4 +implicit +yes$", out, re.M), out
    assert "Point sets (--datasets):" in out and "Image sets" in out
    assert re.search(r"^  donut_3d_6c +dim 3, 6 classes$", out, re.M), out
    assert re.search(r"^  fashion_mnist +28x28 = 784 pixels, 10 classes$", out, re.M), out


def test_version_prints_the_package_version(capsys):
    import keras_rk

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == keras_rk.__version__ + "\n"


def test_run_help_shows_each_studys_defaults(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    out = capsys.readouterr().out
    assert "defaults per study" in out
    assert "  variability:\n    seeds=4, epochs=40, batch_size=5," in out
    assert "datasets=['donut_2d_6c'], depth=100, width=16" in out
    assert "--quick: seeds=2, epochs=2, num_train=40, num_val=40, depth=3, width=4" in out


def test_help_shows_no_tensorflow_log():
    # TensorFlow 2.21 writes its start-up lines before absl's logging exists, so
    # TF_CPP_MIN_LOG_LEVEL alone does not stop them; the command filters them.
    import os

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["KERAS_BACKEND"] = "tensorflow"  # the backend whose import logs
    done = subprocess.run([sys.executable, "-m", "keras_rk.cli", "--help"], env=env,
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert "usage: keras-rk" in done.stdout
    for line in (done.stdout + done.stderr).splitlines():
        assert not line.startswith(("I0000", "W0000", "E0000", "WARNING: All log")), line
        assert "oneDNN" not in line and "cuda" not in line.lower(), line


def test_a_study_run_shows_no_tensorflow_log(tmp_path):
    # On JAX and PyTorch, Keras imports TensorFlow inside fit, after Keras itself
    # (and on JAX, importing Keras sets TF_CPP_MIN_LOG_LEVEL=1): the command must
    # still print none of TensorFlow's start-up lines while a study trains.
    import os

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    argv = ["run", "variability", "--quick", "--no-figures", "--seeds", "1", "--epochs", "1",
            "--num-train", "10", "--num-val", "10", "--out", str(tmp_path / "out")]  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "keras_rk.cli", *argv], env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ETA" in done.stdout
    for line in (done.stdout + done.stderr).splitlines():
        assert not line.startswith(("I0000", "W0000", "WARNING: All log")), line
        assert "oneDNN" not in line, line


def test_run_quick_prints_progress_per_repetition(tmp_path, capsys):
    code = cli.main(["run", "activation", "--quick", "--out", str(tmp_path), "--seeds", "1",
                     "--epochs", "1", "--activations", "relu", "--no-figures"])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "[1/1] RK4Net L=3 width=4 relu on donut_1d, seed 0: val accuracy" in out
    assert (tmp_path / "summary.md").exists() and not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize(
    "argv, match",
    [
        (["run", "nope"], r"Unknown study `name`, expected one of \['width'"),
        (["run", "depth", "--seeds", "0"], r"`seeds`, expected a positive integer"),
        (["run", "depth", "--quick", "--out", "FILE/x"], r"is not writable"),
        (["run", "depth", "--step-size", "0.1", "--final-time", "1"], r"exactly one of"),
    ],
)
def test_errors_exit_2_with_a_message(argv, match, capsys, tmp_path):
    (tmp_path / "FILE").write_text("")
    argv = [a.replace("FILE", str(tmp_path / "FILE")) for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "keras-rk: error:" in err
    assert pytest.importorskip("re").search(match, err), err


def test_option_of_another_study_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "depth", "--widths", "2,3"])
    assert exit_info.value.code == 2
    assert "takes none of ['--widths']" in capsys.readouterr().err


def test_help_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "keras_rk.cli", "run", "--help"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "--quick" in out and "--final-time" in out


def test_run_with_distribute_data_parallel(tmp_path, capsys):
    import keras

    argv = ["run", "activation", "--quick", "--out", str(tmp_path), "--seeds", "1",
            "--epochs", "1", "--activations", "tanh", "--no-figures",
            "--distribute", "data_parallel"]  # fmt: skip
    code = cli.main(argv)
    if keras.backend.backend() == "torch":
        assert code == 2
        assert "needs the 'jax' or 'tensorflow' Keras backend" in capsys.readouterr().err
        assert not (tmp_path / "summary.md").exists()
    else:
        # One local device here: the same study, run through Keras's distribution API.
        assert code == 0, capsys.readouterr().err
        assert (tmp_path / "summary.md").exists()


def test_run_images_quick_with_data_dir(tmp_path, capsys, image_data_dir):
    argv = ["run", "images", "--quick", "--out", str(tmp_path / "out"), "--seeds", "1",
            "--epochs", "2", "--datasets", "fashion_mnist", "--architectures", "rk4",
            "--patience", "1", "--restore-best-weights", "--data-dir", str(image_data_dir)]  # fmt: skip
    assert cli.main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "[1/1] RK4Net L=2 width=800 tanh on fashion_mnist, seed 0: val accuracy" in out
    assert (tmp_path / "out" / "history_fashion_mnist.png").exists()
    settings = json.loads((tmp_path / "out" / "study.json").read_text())["settings"]
    assert (settings["patience"], settings["restore_best_weights"]) == (1, True)


def test_run_images_without_data_exits_2(tmp_path, capsys):
    argv = ["run", "augmentation", "--quick", "--out", str(tmp_path / "out"),
            "--data-dir", str(tmp_path / "nothing-here")]  # fmt: skip
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "keras-rk: error: Could not load 'mnist'" in err and "nothing-here" in err


def test_unknown_image_data_set_is_the_clear_error(tmp_path, capsys):
    argv = ["run", "images", "--quick", "--out", str(tmp_path), "--datasets", "cifar10"]
    assert cli.main(argv) == 2
    assert "invalid value for `datasets`" in capsys.readouterr().err


# Each setting a user can get wrong, refused before the results folder exists.
BAD_SETTINGS = [
    ["comparison", "--architectures", "rk5"],
    ["comparison", "--datasets", "donut_9d"],
    ["comparison", "--depth", "0"],
    ["comparison", "--standard-depth", "-1"],
    ["activation", "--activations", "tanhh"],
    ["activation", "--activations", "elu", "--gradient", "adjoint"],
    ["comparison", "--architectures", "backward_euler", "--gradient", "adjoint"],
    ["width", "--widths", "0,3"],
    ["width", "--widths", "1,3"],  # narrower than the 2-d inputs
    ["width", "--widths", ","],
    ["width", "--widths", "a"],
    ["depth", "--depths", "0"],
    ["depth", "--width", "0"],
    ["depth", "--lift", "sideways"],
    ["depth", "--gradient", "numeric"],
    ["depth", "--early-stopping", "sometimes"],
    ["depth", "--patience", "-1"],
    ["depth", "--tol", "0"],
    ["depth", "--seeds", "0"],
    ["depth", "--epochs", "0"],
    ["depth", "--batch-size", "0"],
    ["depth", "--learning-rate", "-1"],
    ["depth", "--learning-rate-drops", "4-1e-4"],
    ["depth", "--step-size", "0"],
    ["depth", "--final-time", "-2"],
    ["depth", "--num-train", "0"],
    ["depth", "--steps-per-execution", "0"],
    ["images", "--data-dir", "NOWHERE"],
]


@pytest.mark.parametrize("bad", BAD_SETTINGS, ids=lambda argv: " ".join(argv))
def test_a_refused_setting_writes_nothing(bad, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["run", bad[0], "--quick", "--out", str(out),
            *[a.replace("NOWHERE", str(tmp_path / "nowhere")) for a in bad[1:]]]  # fmt: skip
    try:
        code = cli.main(argv)
    except SystemExit as exit_info:  # argparse's own refusals
        code = exit_info.code
    assert code == 2
    assert not out.exists(), sorted(p.name for p in out.rglob("*"))
    err = capsys.readouterr().err
    if bad[0] == "images":  # the not-found message lists every place it looked
        assert "Could not load 'mnist'" in err and "nowhere" in err, err
        return
    # One line that names the argument and the value received.
    line = err.strip().splitlines()[-1]
    assert "error:" in line, err
    flag = next(a for a in reversed(bad) if a.startswith("--"))[2:]
    assert flag in line or flag.replace("-", "_") in line, line
    assert all(part in line for part in bad[-1].split(",")), line


@pytest.mark.parametrize(
    "drops, match",
    [
        ("2:1e-4", r"before the last \(2\).*learning_rate_drops=\[\[2, 0.0001\]\]"),
        ("0:1e-4", r"`learning_rate_drops\[0\]\[0\] \(an epoch\)`.*=0$"),
    ],
)
def test_learning_rate_drops_outside_the_run_are_refused(drops, match, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["run", "depth", "--quick", "--out", str(out), "--learning-rate-drops", drops]
    assert cli.main(argv) == 2
    assert pytest.importorskip("re").search(match, capsys.readouterr().err.strip())
    assert not out.exists()


def test_a_study_with_learning_rate_drops_records_and_reports_them(tmp_path, capsys):
    argv = ["run", "depth", "--quick", "--out", str(tmp_path), "--seeds", "1", "--depths", "1",
            "--architectures", "rk4", "--epochs", "3", "--learning-rate-drops", "1:1e-4,2:1e-5",
            "--no-figures"]  # fmt: skip
    assert cli.main(argv) == 0, capsys.readouterr().err
    record = json.loads(next((tmp_path / "runs").glob("*.json")).read_text())
    assert record["settings"]["learning_rate_drops"] == [[1, 1e-4], [2, 1e-5]]
    assert record["epochs_run"] == 3
    report = (tmp_path / "report.md").read_text()
    assert "Adam with learning rate 0.001, 0.0001 after epoch 1, 1e-05 after epoch 2" in report
    assert cli.main(argv) == 0  # the same command resumes: nothing is trained again
    assert "done before, skipped" in capsys.readouterr().out


def test_the_corrected_command_runs_after_a_refused_one(tmp_path, capsys):
    # The case: a typo used to leave study.json behind, and the corrected
    # command was then refused as "a 'comparison' run with other settings".
    out = str(tmp_path / "out")
    common = ["run", "comparison", "--quick", "--out", out, "--datasets", "donut_2d_6c",
              "--seeds", "1", "--epochs", "1", "--num-train", "10", "--num-val", "10",
              "--no-figures"]  # fmt: skip
    assert cli.main([*common, "--architectures", "rk5"]) == 2
    assert "architectures=['rk5']" in capsys.readouterr().err
    assert cli.main([*common, "--architectures", "rk4"]) == 0, capsys.readouterr().err
    assert (tmp_path / "out" / "summary.md").exists()


def test_importing_keras_rk_registers_its_layers_for_load_model(tmp_path):
    # A fresh process that saves a model, and another that only imports keras and
    # keras_rk before load_model: the layers must be registered by the import alone.
    path = tmp_path / "net.keras"
    save = f"import keras_rk\nkeras_rk.build(depth=2, width=4).save({str(path)!r})"
    subprocess.run([sys.executable, "-c", save], capture_output=True, text=True, check=True)
    load = (
        f"import keras, keras_rk\nmodel = keras.saving.load_model({str(path)!r})\n"
        "print(type(model.get_layer('rk_block')).__name__)"
    )
    done = subprocess.run([sys.executable, "-c", load], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip().endswith("RKBlock"), done.stderr[-2000:]


def test_run_all_runs_every_study_into_its_folder(tmp_path, monkeypatch, capsys):
    from keras_rk import studies

    calls = []

    def fake_run_study(name, out, **kwargs):
        calls.append((name, out, kwargs["quick"], kwargs["num_workers"]))
        if name == "images":
            raise ValueError("no data")  # one study failing does not stop the others

    monkeypatch.setattr(studies, "run_study", fake_run_study)
    code = cli.main(["run", "all", "--quick", "--out", str(tmp_path), "--jobs", "2"])
    assert code == 2 and "did not finish: ['images']" in capsys.readouterr().err
    assert calls == [(name, f"{tmp_path}/{name}", True, 2) for name in studies.available_studies()]


def test_run_all_refuses_study_options(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "all", "--depths", "1,3"])
    assert "run all takes no study options (['--depths'])" in capsys.readouterr().err


def test_run_passes_jobs_claim_timeout_and_verbose(tmp_path, monkeypatch):
    from keras_rk import studies

    seen = {}
    monkeypatch.setattr(studies, "run_study", lambda name, out, **kwargs: seen.update(kwargs))
    argv = ["run", "depth", "--jobs", "3", "--claim-timeout", "30", "--verbose"]
    assert cli.main(argv) == 0
    assert (seen["num_workers"], seen["claim_timeout"], seen["verbose"]) == (3, 30.0, 1)
    assert cli.main(["run", "depth"]) == 0
    assert (seen["num_workers"], seen["verbose"]) == (1, 0)


def error_lines(err):
    """stderr less the note on non-JAX backends; an error is one line, no traceback."""
    assert "Traceback" not in err
    return [line for line in err.splitlines() if not line.startswith("note: Keras backend")]


def test_errors_read_from_disk_exit_2_with_one_line_naming_the_file(tmp_path, capsys):
    argv = ["run", "depth", "--quick", "--out", str(tmp_path), "--seeds", "1", "--epochs", "1",
            "--depths", "1", "--architectures", "rk4", "--no-figures"]  # fmt: skip
    assert cli.main(argv) == 0
    [record] = (tmp_path / "runs").glob("*.json")
    record.write_text(json.dumps({**json.loads(record.read_text()), "final": [0.5]}))
    capsys.readouterr()
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    [line] = error_lines(err)
    assert line.startswith(f"keras-rk: error: The results file {record} is corrupt")


def test_a_full_disk_exits_2_with_one_line_naming_the_file(tmp_path, capsys, monkeypatch):
    import errno
    import os

    def full(descriptor):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    argv = ["run", "depth", "--quick", "--out", str(tmp_path), "--seeds", "1", "--epochs", "1",
            "--depths", "1", "--architectures", "rk4", "--no-figures"]  # fmt: skip
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    [line] = error_lines(err)
    assert line.startswith(f"keras-rk: error: Cannot write {tmp_path / 'study.json'} ([Errno 28]")


def test_a_corrupt_study_file_exits_2_without_a_traceback(tmp_path):
    (tmp_path / "study.json").write_text(json.dumps({"study": "depth", "settings": None}))
    done = subprocess.run(
        [sys.executable, "-m", "keras_rk.cli", "run", "depth", "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.startswith("keras-rk")]
    assert lines == [
        f"keras-rk: error: The study file {tmp_path / 'study.json'} is corrupt: its `settings` "
        f"is None, expected an object. Nothing was changed: look at it, then delete it (or "
        f"move it away) to rerun, or choose another folder with --out."
    ]
    assert "Traceback" not in done.stderr
