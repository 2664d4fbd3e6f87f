"""keras_rk.environment: the provenance stored in every run record."""

import json
import subprocess

import keras
import numpy as np

import keras_rk
from keras_rk import environment


def test_describe_names_the_versions_and_the_machine():
    facts = environment.describe()
    assert facts["keras_rk"] == keras_rk.__version__
    assert facts["keras"] == keras.__version__
    assert facts["numpy"] == np.__version__
    backend = keras.backend.backend()
    assert facts["backend"] == backend and facts[f"{backend}_version"]
    assert facts["python"] and facts["cpu"] and isinstance(facts["devices"], list)
    assert json.loads(json.dumps(facts)) == facts  # it goes into a JSON record


def test_git_commit_from_a_checkout_and_none_elsewhere(tmp_path):
    commit = environment.git_commit()  # the tests run from a checkout
    assert commit is None or (len(commit) == 40 and int(commit, 16) >= 0)
    assert environment.git_commit(tmp_path) is None  # not a git checkout


def test_git_missing_is_not_an_error(monkeypatch):
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(subprocess, "run", no_git)
    assert environment.git_commit() is None


def test_an_installed_copy_inside_another_repository_has_no_commit(tmp_path):
    # A virtual environment inside some project's git tree: the package's files
    # are not tracked there, so that project's commit is not ours.
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    package = tmp_path / "venv" / "keras_rk"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    assert environment.git_commit(package) is None
