"""keras_rk.studies.repetition: one (cell, seed), built, loaded and trained."""

import keras
import numpy as np
import pytest

from keras_rk.studies import catalogue, repetition
from keras_rk.studies.catalogue import Cell, Settings

SMALL = dict(epochs=1, num_train=20, num_val=20, steps_per_execution=4)


def test_same_seed_same_numbers(tmp_path):
    cell = Cell("spiral", "rk4", 2, 4)
    settings = Settings(epochs=1, num_train=20, num_val=20, steps_per_execution=4)
    first, _ = repetition.train_repetition(cell, 7, settings)
    again, _ = repetition.train_repetition(cell, 7, settings)
    assert first["history"].keys() == again["history"].keys()
    for key, values in first["history"].items():
        assert values == pytest.approx(again["history"][key], rel=1e-5), key


@pytest.mark.parametrize("architecture, block", [("standard", "standard_block"),
                                                 ("euler", "rk_block"), ("rk4", "rk_block")])  # fmt: skip
def test_each_architecture_name_builds_its_network(architecture, block):
    model = repetition.build_model(Cell("donut_3d_6c", architecture, 2, 4), Settings())
    assert model.output_shape == (None, 6) and model.input_shape == (None, 3)
    assert block in [layer.name for layer in model.layers]
    if architecture != "standard":
        assert model.get_layer("rk_block").get_config()["gradient"] == "autodiff"


def test_without_early_stopping_every_epoch_is_trained():
    # The costs rise from epoch to epoch only by chance here; with 'none' no
    # callback may stop the run, so it trains all 12 epochs.
    settings = Settings(**{**SMALL, "epochs": 12}, early_stopping="none")
    assert repetition.early_stopping(settings, 1.0) == []
    record, _ = repetition.train_repetition(Cell("spiral", "rk4", 1, 2), 0, settings)
    assert record["epochs_run"] == 12 and record["settings"]["early_stopping"] == "none"


def test_image_repetition_with_the_identity_lift(image_data_dir):
    _, settings, options = catalogue.resolve("augmentation", quick=True, epochs=1, seeds=1)
    narrow = catalogue.get_study("augmentation").make_cells(options)[0]
    (x, y), (x_val, _) = repetition.load_data(narrow, settings, 0, image_data_dir)
    assert x.shape == (40, 784) and x_val.shape == (40, 784) and y.max() < 10
    record, model = repetition.train_repetition(narrow, 0, settings, data_dir=image_data_dir)
    assert record["run_id"] == "mnist-rk4-L2-w784-zeros-tanh-seed0"
    lifted = keras.Model(model.inputs, model.get_layer("augment").output).predict(x, verbose=0)
    np.testing.assert_allclose(lifted, x, rtol=1e-6)


def test_the_record_carries_its_environment():
    from keras_rk.environment import describe

    settings = Settings(epochs=1, num_train=10, num_val=10, steps_per_execution=2)
    record, _ = repetition.train_repetition(Cell("spiral", "rk4", 1, 2), 0, settings)
    assert record["environment"] == describe()
