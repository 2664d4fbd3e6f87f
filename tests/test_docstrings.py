"""Every docstring example (>>> lines) in keras_rk runs, on every backend.

The modules are found by walking the package, so a new module's examples are
tested without being listed here; none may be skipped with ``+SKIP``.
"""

import doctest
import importlib
import pkgutil

import pytest

import keras_rk

MODULES = sorted(info.name for info in pkgutil.walk_packages(keras_rk.__path__, prefix="keras_rk."))


def test_every_module_is_found():
    assert {"keras_rk.rk", "keras_rk.studies.runner", "keras_rk.datasets.images"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes files writes them here
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder()
    tests = [test for test in finder.find(module) if test.examples]
    skipped = [
        f"{test.name} line {example.lineno}"
        for test in tests
        for example in test.examples
        if example.options.get(doctest.SKIP)
    ]
    assert not skipped, f"docstring examples marked +SKIP in {name}: {skipped}"
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
