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
