import json
import os
import stat

import numpy as np
import pytest

from keras_rk.results import ResultsError, ResultsFolder, atomic_write_text

RECORD = {"run_id": "a-seed0", "config": {}, "seed": 0, "history": {}, "final": {}, "seconds": 1.0}


def test_save_and_load_round_trip(tmp_path):
    folder = ResultsFolder(tmp_path / "out", "depth", {"epochs": 2})
    assert folder.load_run("a-seed0") is None
    folder.save_run(RECORD, [np.ones((2, 2)), np.zeros(3)])
    assert folder.load_run("a-seed0") == RECORD
    weights = folder.load_weights("a-seed0")
    np.testing.assert_array_equal(weights[0], np.ones((2, 2)))
    # no temporary files are left behind
    assert sorted(p.name for p in (tmp_path / "out" / "runs").iterdir()) == [
        "a-seed0.json",
        "a-seed0.npz",
    ]


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "x.txt"
    atomic_write_text(path, "old")

    def explode(file):
        file.write(b"half")
        raise RuntimeError("killed")

    from keras_rk.results import atomic_write

    with pytest.raises(RuntimeError):
        atomic_write(path, explode)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_corrupt_run_file_is_reported_and_kept(tmp_path):
    folder = ResultsFolder(tmp_path, "depth", {})
    folder.run_path("a-seed0").write_text('{"run_id": "a-se')
    with pytest.raises(ResultsError, match=r"a-seed0\.json is corrupt .*Nothing was changed"):
        folder.load_run("a-seed0")
    assert folder.run_path("a-seed0").read_text() == '{"run_id": "a-se'


def test_run_file_missing_keys_is_corrupt(tmp_path):
    folder = ResultsFolder(tmp_path, "depth", {})
    folder.run_path("a-seed0").write_text(json.dumps({"run_id": "a-seed0"}))
    with pytest.raises(ResultsError, match=r"corrupt: expected a JSON object with keys"):
        folder.load_run("a-seed0")


def test_other_settings_are_refused(tmp_path):
    ResultsFolder(tmp_path, "depth", {"epochs": 2})
    with pytest.raises(ResultsError, match=r"other settings \(epochs: 2 -> 3\)"):
        ResultsFolder(tmp_path, "depth", {"epochs": 3})
    with pytest.raises(ResultsError, match=r"holds the results of study 'depth', not 'width'"):
        ResultsFolder(tmp_path, "width", {"epochs": 2})


def test_corrupt_study_file(tmp_path):
    (tmp_path / "study.json").write_text("not json")
    with pytest.raises(ResultsError, match=r"study file .*study\.json is corrupt"):
        ResultsFolder(tmp_path, "depth", {})
    assert (tmp_path / "study.json").read_text() == "not json"


def test_not_writable_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    with pytest.raises(ResultsError, match=r"is not writable .*choose another with --out"):
        ResultsFolder(blocker / "out", "depth", {})


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX permissions")
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_get_the_permissions_of_the_umask(tmp_path, umask, mode):
    # mkstemp alone makes 0o600 files, which other users of a shared results
    # folder could not read; every file a folder writes must follow the umask.
    old = os.umask(umask)
    try:
        folder = ResultsFolder(tmp_path / "out", "depth", {"epochs": 2})
        folder.save_run(RECORD, [np.ones(2)])
        folder.write_text("report.md", "text")
    finally:
        os.umask(old)
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert {p.name for p in written} == {"study.json", "a-seed0.json", "a-seed0.npz", "report.md"}
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == mode, path


# --- Verifying what is read from disk against what it is loaded for ------------

MADE = {**RECORD, "settings": {"epochs": 2}, "backend": "jax"}


def differs_in_epochs(record):
    epochs = record.get("settings", {}).get("epochs")
    return [] if epochs in (None, 2) else [f"settings: epochs {epochs} -> 2"]


def test_a_record_that_differs_is_reported_moved_aside_and_not_used(tmp_path):
    folder = ResultsFolder(tmp_path, "depth", {"epochs": 2})
    folder.save_run({**MADE, "settings": {"epochs": 3}}, [np.ones(2)])
    lines = []
    assert folder.load_run("a-seed0", verify=differs_in_epochs, report=lines.append) is None
    [line] = lines
    assert str(folder.run_path("a-seed0")) in line and "settings: epochs 3 -> 2" in line
    # kept for a person to look at, out of the way of the retrained one
    moved = tmp_path / "rejected" / "1"
    assert sorted(p.name for p in moved.iterdir()) == ["a-seed0.json", "a-seed0.npz"]
    assert not list(folder.runs.iterdir())
    folder.save_run({**MADE, "settings": {"epochs": 4}}, None)
    folder.load_run("a-seed0", verify=differs_in_epochs, report=lines.append)
    assert (tmp_path / "rejected" / "2" / "a-seed0.json").exists()  # never overwritten


def test_a_matching_record_is_used(tmp_path):
    folder = ResultsFolder(tmp_path, "depth", {"epochs": 2})
    folder.save_run(MADE, [np.ones(2)])
    lines = []
    assert folder.load_run("a-seed0", verify=differs_in_epochs, report=lines.append) == MADE
    assert lines == []


def test_a_record_without_its_weights_is_reported_and_not_used(tmp_path):
    folder = ResultsFolder(tmp_path, "depth", {"epochs": 2})
    folder.save_run(MADE, None)
    lines = []
    assert folder.load_run("a-seed0", verify=differs_in_epochs, report=lines.append) is None
    assert f"its weights file {folder.weights_path('a-seed0')} is missing" in lines[0]


def test_older_records_are_used_only_where_study_json_vouches_for_them(tmp_path):
    # RECORD states neither settings nor backend, as records of older versions.
    ResultsFolder(tmp_path, "depth", {"epochs": 2}).save_run(RECORD, [np.ones(2)])
    lines = []
    vouched = ResultsFolder(tmp_path, "depth", {"epochs": 2})  # study.json found, same settings
    assert vouched.load_run("a-seed0", verify=differs_in_epochs, report=lines.append) == RECORD
    assert "does not record its settings or backend" in lines[0] and "used because" in lines[0]
    (tmp_path / "study.json").unlink()
    lines.clear()
    unvouched = ResultsFolder(tmp_path, "depth", {"epochs": 2})
    assert unvouched.load_run("a-seed0", verify=differs_in_epochs, report=lines.append) is None
    assert "does not record its settings or backend" in lines[0] and "training it" in lines[0]


@pytest.mark.parametrize(
    "final, match",
    [([1.0], r"its `final` is list \[1\.0\], not an object"),
     ({"val_loss": "x"}, r"its `final\.val_loss` is 'x', not a number")],
)  # fmt: skip
def test_a_record_whose_final_is_not_numbers_is_corrupt_by_path(tmp_path, final, match):
    folder = ResultsFolder(tmp_path, "depth", {})
    folder.run_path("a-seed0").write_text(json.dumps({**RECORD, "final": final}))
    with pytest.raises(ResultsError, match=rf"a-seed0\.json is corrupt: {match}"):
        folder.load_run("a-seed0")


def test_a_zero_byte_weights_file_is_corrupt_by_path(tmp_path):
    folder = ResultsFolder(tmp_path, "depth", {"epochs": 2})
    folder.save_run(MADE, None)
    folder.weights_path("a-seed0").write_bytes(b"")
    with pytest.raises(ResultsError, match=r"weights file .*a-seed0\.npz is corrupt \(EOFError"):
        folder.load_weights("a-seed0")
    with pytest.raises(ResultsError, match=r"weights file .*a-seed0\.npz is corrupt \(EOFError"):
        folder.load_run("a-seed0", verify=differs_in_epochs)


def test_study_file_with_settings_null_is_corrupt_by_path(tmp_path):
    (tmp_path / "study.json").write_text(json.dumps({"study": "depth", "settings": None}))
    with pytest.raises(
        ResultsError, match=r"study file .*study\.json is corrupt: its `settings` is None"
    ):
        ResultsFolder(tmp_path, "depth", {"epochs": 2})


def test_a_full_disk_is_an_error_naming_the_file(tmp_path, monkeypatch):
    import errno
    import os

    folder = ResultsFolder(tmp_path, "depth", {})

    def full(descriptor):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(ResultsError, match=r"Cannot write .*a-seed0\.json \(\[Errno 28\]"):
        folder.save_run(RECORD, None)
    assert sorted(p.name for p in folder.runs.iterdir()) == []  # no temporary left
