"""keras_rk._array_datasets: on TensorFlow, small NumPy arrays reach a compiled model's
fit as tf.data datasets with Keras's batches; everything else reaches Keras as it came."""

import keras
import numpy as np
import pytest
from conftest import BACKEND

import keras_rk
from keras_rk import _array_datasets

tensorflow_only = pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow's fit")


def compiled(steps_per_execution=4):
    keras.utils.set_random_seed(0)
    model = keras_rk.build(depth=2, width=4, lift="random", lift_seed=1)
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution if BACKEND != "torch" else 1,
    )
    return model


def points(num_samples, seed=0, dtype="float64"):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_samples, 2)).astype(dtype)
    return x, (np.linalg.norm(x, axis=1) < 1.0).astype("int32")


def epoch(dataset):
    return [tuple(np.asarray(leaf) for leaf in batch) for batch in dataset]


@tensorflow_only
def test_training_arrays_become_keras_batches_reshuffled_each_epoch():
    x, y = points(23)
    weights = np.linspace(0.5, 1.5, 23)
    arguments = {"x": x, "y": y, "sample_weight": weights, "batch_size": 5}
    replaced = _array_datasets.fit_arguments(compiled(), arguments)
    assert (replaced["y"], replaced["sample_weight"], replaced["batch_size"]) == (None,) * 3
    assert replaced["shuffle"] is False  # the dataset shuffles
    first, second = epoch(replaced["x"]), epoch(replaced["x"])
    assert [len(batch[0]) for batch in first] == [5, 5, 5, 5, 3]
    assert {leaf.dtype.name for leaf in first[0]} == {"float32", "int32"}  # floats as floatx
    rows = np.concatenate([batch[0] for batch in first])
    assert not np.array_equal(rows, x.astype("float32"))  # shuffled
    order = [int(np.flatnonzero((x.astype("float32") == row).all(axis=1))[0]) for row in rows]
    assert sorted(order) == list(range(23))  # every sample once
    labels, sample_weights = (np.concatenate([batch[i] for batch in first]) for i in (1, 2))
    np.testing.assert_array_equal(labels, y[order])
    np.testing.assert_allclose(sample_weights, weights[order].astype("float32"))
    assert not np.array_equal(rows, np.concatenate([batch[0] for batch in second]))


@tensorflow_only
def test_unshuffled_training_and_validation_arrays_keep_their_order():
    x, y = points(12, dtype="float32")
    x_val, y_val = points(7, seed=1)
    arguments = {
        "x": x, "y": y, "shuffle": False, "batch_size": 5,
        "validation_data": (x_val, y_val), "validation_batch_size": 3,
    }  # fmt: skip
    replaced = _array_datasets.fit_arguments(compiled(), arguments)
    np.testing.assert_array_equal(np.concatenate([b[0] for b in epoch(replaced["x"])]), x)
    validation = epoch(replaced["validation_data"])
    assert [len(batch[0]) for batch in validation] == [3, 3, 1]
    assert replaced["validation_batch_size"] is None
    np.testing.assert_array_equal(np.concatenate([b[1] for b in validation]), y_val)


@pytest.mark.parametrize(
    "change",
    [
        {"class_weight": {0: 1.0, 1: 2.0}},
        {"validation_split": 0.25},
        {"steps_per_epoch": 2},
        {"shuffle": "batch"},
        {"y": np.zeros(11, "int32")},  # not x's length: Keras explains
        {"x": [[0.0, 1.0]] * 12},  # not a NumPy array
        {"x": np.array([["a", "b"]] * 12)},  # not numbers
        {"batch_size": 0},
    ],
    ids=lambda change: next(iter(change)),
)
def test_arguments_only_keras_handles_reach_it_unchanged(change):
    x, y = points(12)
    arguments = {"x": x, "y": y, "batch_size": 4, **change}
    assert _array_datasets.fit_arguments(compiled(), arguments) is arguments


def test_large_arrays_and_other_backends_keep_keras_pipeline(monkeypatch):
    x, y = points(12)
    arguments = {"x": x, "y": y, "batch_size": 4}
    for steps_per_execution in (1, 4):
        replaced = _array_datasets.fit_arguments(compiled(steps_per_execution), arguments)
        assert (replaced is arguments) is (BACKEND != "tensorflow")
    monkeypatch.setattr(_array_datasets, "MAX_BYTES", x.nbytes + y.nbytes - 1)
    assert _array_datasets.fit_arguments(compiled(), arguments) is arguments
    monkeypatch.undo()
    monkeypatch.setattr(_array_datasets, "MAX_SAMPLES", len(x) - 1)
    assert _array_datasets.fit_arguments(compiled(), arguments) is arguments
    monkeypatch.undo()
    eager = compiled()
    eager.compile(optimizer="adam", loss="sparse_categorical_crossentropy", run_eagerly=True)
    assert _array_datasets.fit_arguments(eager, arguments) is arguments


def test_fit_learns_and_takes_keras_positional_arguments():
    # RKModel.fit takes fit's arguments as keras.Model.fit does (here batch_size and
    # epochs by position) and trains the disc task on any backend.
    x, y = points(200, dtype="float32")
    x_val, y_val = points(100, seed=1, dtype="float32")
    model = compiled()
    model.optimizer.learning_rate.assign(0.05)
    keras.utils.set_random_seed(1)
    history = model.fit(x, y, 10, 30, verbose=0, validation_data=(x_val, y_val))
    assert len(history.history["loss"]) == 30
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]
    assert history.history["val_accuracy"][-1] >= 0.8  # the larger class is 61 %
