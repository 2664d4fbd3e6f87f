import importlib.util
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))


def load(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_quick_and_returns_metrics(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    metrics = load(path).main(quick=True, seed=1)
    assert metrics and all(0.0 <= value for value in metrics.values())
    assert any(key.endswith("val_accuracy") for key in metrics)
