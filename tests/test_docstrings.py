"""Every docstring example (>>> lines) of the core modules runs, on every backend."""

import doctest
import importlib

import pytest

MODULES = [
    "keras_rk._quiet_import",
    "keras_rk.activations",
    "keras_rk.adjoint_gradient",
    "keras_rk.datasets.images",
    "keras_rk.environment",
    "keras_rk.layers.augment",
    "keras_rk.layers.conv_rk_block",
    "keras_rk.layers.rk_block",
    "keras_rk.layers.standard_block",
    "keras_rk.listing",
    "keras_rk.loop",
    "keras_rk.models",
    "keras_rk.optimal_control",
    "keras_rk.rk",
    "keras_rk.studies.reports",
    "keras_rk.studies.validation",
    "keras_rk.tableaus",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
