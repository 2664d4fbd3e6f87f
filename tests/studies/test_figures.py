"""keras_rk.studies.figures: each study's figures from a finished results folder."""

import ast
from pathlib import Path

import pytest

from keras_rk import studies
from keras_rk.studies import figures

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")

PACKAGE = Path(studies.__file__).parent
TINY = dict(quick=True, seeds=1, epochs=1, num_train=20, num_val=20)


def imported_modules(path):
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_only_the_figures_module_imports_plotting():
    # Function-level imports included: data flows studies -> figures -> plotting.
    users = {p.name for p in PACKAGE.glob("*.py") if "keras_rk.plotting" in imported_modules(p)}
    assert users == {"figures.py"}


def test_figures_of_a_finished_folder(tmp_path):
    result = studies.run_study("depth", tmp_path, figures=False, progress=lambda _: None, **TINY)
    _, settings, options = studies.resolve("depth", **TINY)
    cells = studies.get_study("depth").make_cells(options)
    folder = studies.results_folder(tmp_path, "depth", settings, options)
    files = figures.study_figures("depth", folder, cells, settings, result["records"],
                                  result["summary"])  # fmt: skip
    assert [p.name for p in files] == ["datasets.png", "accuracy_by_depth.png", "layers.png"]
    assert all(p.stat().st_size > 0 for p in files)


def test_figures_refuse_to_draw_without_the_trained_weights(tmp_path):
    from keras_rk.results import ResultsError

    result = studies.run_study("depth", tmp_path, figures=False, progress=lambda _: None, **TINY)
    _, settings, options = studies.resolve("depth", **TINY)
    cells = studies.get_study("depth").make_cells(options)
    folder = studies.results_folder(tmp_path, "depth", settings, options)
    [weights] = (tmp_path / "runs").glob("*-rk4-L3-*.npz")  # the depth drawn in layers.png
    weights.unlink()
    with pytest.raises(ResultsError, match=rf"weights file {weights} is missing"):
        figures.study_figures("depth", folder, cells, settings, result["records"],
                              result["summary"])  # fmt: skip
    assert not (tmp_path / "layers.png").exists()
