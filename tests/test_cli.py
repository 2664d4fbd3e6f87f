import json
import subprocess
import sys

import pytest

from keras_rk import cli


def test_list(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for study in ("width", "depth", "activation", "comparison", "variability", "augmentation",
                  "images"):  # fmt: skip
        assert study in out


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
    assert "Unknown data set `name` in `datasets`" in capsys.readouterr().err


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
