"""Every public entry point fed wrong types, shapes, non-finite values, empty
arrays, unknown names and malicious plugins: a clear error or warning that names
the argument, never a crash deep inside a backend, never a half-written file.

The number of cases is counted in the README (`pytest tests/test_bad_input.py -q`)."""

import json
import zipfile
from importlib.metadata import EntryPoint

import keras
import numpy as np
import pytest

import keras_rk
from keras_rk import registry
from keras_rk.training import STATE_FILE, resumable_fit

HEUN = dict(a=[[0, 0], [1, 0]], b=[0.5, 0.5], c=[0, 1], name="heun", order=2)


PLUGIN_RETURNING_A_STRING = "rk4"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(tableau=3), r"Unknown `tableau`.*Received: tableau=3"),
        (dict(tableau=""), r"Unknown `tableau`"),
        (dict(depth="10"), r"`depth`, expected a positive integer. Received: depth='10'"),
        (dict(depth=True), r"`depth`, expected a positive integer"),
        (dict(depth=-3), r"`depth`, expected a positive integer"),
        (dict(width=16.0), r"`width`, expected a positive integer. Received: width=16.0"),
        (dict(input_dim=None), r"`input_dim`, expected a positive integer"),
        (dict(num_classes="2"), r"`num_classes`, expected a positive integer"),
        (dict(activation=3), r"Unknown `activation`"),
        (dict(activation=None, architecture="bogus"), r"`architecture`, expected one of"),
        (dict(step_size=0), r"`step_size`, expected a positive finite number"),
        (dict(step_size=float("inf")), r"`step_size`, expected a positive finite number"),
        (dict(final_time="1"), r"`final_time`, expected a positive number"),
        (dict(lift=None), r"`mode`, expected one of"),
        (dict(lift_seed="x"), r"`lift_seed`, expected a non-negative integer"),
        (dict(num_implicit_iterations=1.5), r"`num_implicit_iterations`"),
        (
            dict(step_size=1000, step_size_mode="learned"),
            r"`step_size`, expected a number in \(0, 700.0\] .*Received: step_size=1000.0",
        ),
        (dict(depth=10**6), r"`depth`, expected an integer in \[1, 10000\] .*MAX_NUM_STEPS"),
        (dict(num_implicit_iterations=10**5), r"in \[0, 100\] .*num_implicit_iterations=100000"),
    ],
)
def test_build(kwargs, message):
    with pytest.raises(ValueError, match=message):
        keras_rk.build(**kwargs)


@pytest.mark.parametrize(
    "override, message",
    [
        (dict(a=None), r"`a` must be a square matrix"),
        (dict(a=[[0, 0], [1, 0], [0, 0]]), r"`a` must be square"),
        (dict(a=[[0, 0], [float("inf"), 0]], c=[0, 1]), r"`a\[1\]\[0\]` must be finite"),
        (dict(b="ab"), r"`b\[0\]` must be a real number"),
        (dict(b=[]), r"`b` must have one entry per stage"),
        (dict(c=[0, float("nan")]), r"`c\[1\]` must be finite"),
        (dict(name=None), r"`name` must be a non-empty string"),
        (dict(order="2"), r"`order` must be a positive integer"),
    ],
)
def test_tableau_construction(override, message):
    with pytest.raises(ValueError, match=message):
        keras_rk.ButcherTableau(**{**HEUN, **override})


@pytest.mark.parametrize("name", [None, 42, "RK4", "rk 4"])
def test_registry_unknown_names(name):
    with pytest.raises(ValueError, match=r"Unknown `tableau`.*one of \["):
        keras_rk.get_tableau(name)


@pytest.mark.parametrize(
    "value, message",
    [
        ("keras_rk_evil_plugin:T", r"failed to load with RuntimeError: plugin exploded"),
        (
            f"{__name__}:PLUGIN_RETURNING_A_STRING",
            r"must name a keras_rk.ButcherTableau, but names a str",
        ),
        ("keras_rk_no_such_module:T", r"failed to load with ModuleNotFoundError"),
        (f"{__name__}:no_such_attribute", r"failed to load with AttributeError"),
    ],
)
def test_malicious_plugins_warn_and_are_skipped(value, message, tmp_path, monkeypatch):
    # A module whose import raises, importable only in this test.
    (tmp_path / "keras_rk_evil_plugin.py").write_text(
        "raise RuntimeError('plugin exploded on import')\n"
    )
    monkeypatch.syspath_prepend(tmp_path)
    entry_point = EntryPoint(name="evil", value=value, group=registry.ENTRY_POINT_GROUP)
    with pytest.warns(RuntimeWarning, match=message):
        found = registry.load_entry_points([entry_point])
    assert "evil" not in found and "rk4" in found


@pytest.mark.parametrize(
    "layer, kwargs, message",
    [
        (keras_rk.RKBlock, dict(num_steps=0), r"`num_steps`"),
        (keras_rk.RKBlock, dict(tableau={"a": [[0]]}), r"tableau config needs the keys"),
        (keras_rk.RKBlock, dict(tableau=object()), r"Unknown `tableau`"),
        (keras_rk.StandardBlock, dict(num_steps="3"), r"`num_steps`"),
        (keras_rk.Augment, dict(width=-1), r"`width`"),
        (keras_rk.Augment, dict(width=3, mode=0), r"`mode`"),
        (keras_rk.RKBlock, dict(num_steps=10_001), r"\[1, 10000\].*Received: num_steps=10001"),
        (keras_rk.StandardBlock, dict(num_steps=10**9), r"Received: num_steps=1000000000"),
        (keras_rk.ConvRKBlock, dict(num_steps=10**5), r"Received: num_steps=100000"),
        (keras_rk.RKBlock, dict(num_implicit_iterations=101), r"\[0, 100\].*h \* Lip\(f\)"),
        (keras_rk.ConvRKBlock, dict(num_implicit_iterations=10**5), r"MAX_ITERATIONS"),
    ],
)
def test_layer_arguments(layer, kwargs, message):
    if layer is keras_rk.RKBlock:
        kwargs = {"num_steps": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        layer(**kwargs)


def edited_model_file(tmp_path, **changes):
    """A saved model whose RKBlock config is edited on disk (unzip, edit, rezip)."""
    path = tmp_path / "model.keras"
    keras_rk.build(depth=2, width=4).save(path)
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(files["config.json"])
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "RKBlock":
            layer["config"].update(changes)
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(num_steps=10**6), r"`num_steps`, expected an integer in \[1, 10000\]"),
        (dict(num_implicit_iterations=10**5), r"`num_implicit_iterations`, expected an integer"),
    ],
)
def test_a_model_file_with_a_costly_config_fails_before_building(tmp_path, changes, message):
    # Unchecked, 10^4 steps took 96 s and 1.1 GB to fail on the weights' shapes,
    # and 10^5 sweeps loaded and then ran `predict` for minutes. Keras wraps the
    # error of the layer's __init__ in a TypeError that ends with it.
    path = edited_model_file(tmp_path, **changes)
    ((name, value),) = changes.items()
    with pytest.raises((TypeError, ValueError), match=message + rf".*Received: {name}={value}"):
        keras.saving.load_model(path)


@pytest.mark.parametrize(
    "x, message",
    [
        (np.ones((1, 3), "float32"), r"expected shape=\(None, 2\), found shape=\(1, 3\)"),
        (np.ones((2,), "float32"), r"[Ee]xpected shape.*\(None, 2\)"),
        (np.ones((1, 2, 2), "float32"), r"[Ee]xpected shape.*\(None, 2\)"),
    ],
)
def test_model_inputs_of_the_wrong_shape(x, message):
    model = keras_rk.build(depth=2, width=4)
    with pytest.raises(ValueError, match=message):
        model(x)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(y=np.array([5, -1])), r"`y`, expected integer class labels in \[0, 2\)\. .*y\[0\]=5"),
        (dict(y=np.array([0.0, 2.0])), r"Received: y\[1\]=2.0"),
        (dict(num_adjoint_iterations=-1), r"`num_adjoint_iterations`, expected a non-negative"),
        (dict(num_adjoint_iterations=10**5), r"`num_adjoint_iterations`, .*\[0, 100\]"),
    ],
)
def test_optimal_control_gradients(kwargs, message):
    # Labels out of range used to give finite, wrong gradients; a negative
    # sweep count acted as 0.
    from keras_rk import optimal_control

    kwargs = {"y": np.array([0, 1]), **kwargs}
    with pytest.raises(ValueError, match=message):
        optimal_control.gradients(keras_rk.build(depth=2, width=4), np.ones((2, 2)), **kwargs)


def compiled_model():
    model = keras_rk.build(depth=2, width=4)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


@pytest.mark.parametrize(
    "x, y, message",
    [
        (np.zeros((0, 2)), np.zeros(0, int), r"`x` must have shape .* at least one sample"),
        (np.ones(4), np.zeros(4, int), r"`x` must have shape .*Received: x.shape=\(4,\)"),
        (np.array([[np.nan, 1.0]]), np.zeros(1, int), r"`x` must be finite, but 1 entries"),
        (np.array([[np.inf, 1.0]]), np.zeros(1, int), r"`x` must be finite"),
        ([["a", "b"]], np.zeros(1, int), r"`x` must be a numeric array"),
        (np.ones((3, 2)), np.zeros(2, int), r"`y` must hold one integer class label per row"),
        (np.ones((3, 2)), np.zeros(3), r"y.dtype=float64"),
    ],
)
def test_resumable_fit_arrays(tmp_path, x, y, message):
    with pytest.raises(ValueError, match=message):
        resumable_fit(compiled_model(), x, y, backup_dir=tmp_path, epochs=1, batch_size=2, seed=0)
    assert not (tmp_path / STATE_FILE).exists()  # nothing half-written


def test_resumable_fit_needs_a_compiled_model(tmp_path):
    with pytest.raises(ValueError, match=r"`model` must be compiled"):
        resumable_fit(
            keras_rk.build(depth=2, width=4),
            np.ones((2, 2)),
            np.zeros(2, int),
            backup_dir=tmp_path,
            epochs=1,
            batch_size=2,
            seed=0,
        )


# Data sets and loaders: unknown names, impossible combinations, wrong sizes.
@pytest.mark.parametrize(
    "call, message",
    [
        (lambda d: d.load_points("nope"), r"nope"),
        (lambda d: d.donut(dim=0, num_classes=2), r"dim"),
        (lambda d: d.squares(dim=2, num_classes=3), r"num_classes"),
        (lambda d: d.spiral(num_train=-1), r"num_train"),
        (lambda d: d.load_images("cifar10"), r"cifar10"),
        (lambda d: d.load_images("mnist", num_train=0), r"num_train"),
    ],
)
def test_datasets(call, message):
    from keras_rk import datasets

    with pytest.raises(ValueError, match=message):
        call(datasets)


def test_image_loader_with_a_corrupt_file_names_it(tmp_path):
    from keras_rk.datasets import CorruptDataError, read_idx

    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00\x00\x05")  # header cut short
    with pytest.raises(CorruptDataError, match="train-images-idx3-ubyte"):
        read_idx(path)


# The command line: unknown names and bad values exit 2 with one clear line and
# write nothing.
@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "nope"], r"Unknown study"),
        (["run", "depth", "--quick", "--seeds", "-1"], r"`seeds`"),
        (["run", "depth", "--quick", "--epochs", "0"], r"`epochs`"),
        (["run", "comparison", "--quick", "--datasets", "nope"], r"nope"),
    ],
)
def test_command_line(argv, message, tmp_path, capsys):
    from keras_rk import cli

    out = tmp_path / "out"
    assert cli.main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "keras-rk: error:" in err and __import__("re").search(message, err), err
    assert not out.exists() or not any(out.rglob("*.json"))
