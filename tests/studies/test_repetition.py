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


def made_record(cell, seed, settings, backend="jax"):
    import dataclasses

    return {"run_id": cell.run_id(seed), "config": dataclasses.asdict(cell), "seed": seed,
            "settings": settings.to_dict(), "backend": backend}  # fmt: skip


def test_record_differences_names_each_field_that_differs():
    cell, settings = Cell("spiral", "rk4", 3, 4), Settings(epochs=2)
    record = made_record(cell, 0, settings)
    assert repetition.record_differences(record, cell, 0, Settings(epochs=2, seeds=9), "jax") == []
    # a record copied over another's: L=3's file standing for L=1
    other = Cell("spiral", "rk4", 1, 4)
    assert repetition.record_differences(record, other, 0, settings, "jax") == [
        "run_id: 'spiral-rk4-L3-w4-tanh-seed0' -> 'spiral-rk4-L1-w4-tanh-seed0'",
        "config: depth 3 -> 1",
    ]
    assert repetition.record_differences(record, cell, 0, Settings(epochs=3), "torch") == [
        "backend: 'jax' -> 'torch'",
        "settings: epochs 2 -> 3",
    ]


def test_the_committed_table6_records_match_the_settings_they_were_made_with():
    import json
    from pathlib import Path

    runs = Path(__file__).resolve().parents[2] / "docs/results/images/table6_fashion/runs"
    _, settings, _ = catalogue.resolve("images", epochs=10)  # their early_stop is upgraded
    for path in sorted(runs.glob("*.json")):
        record = json.loads(path.read_text())
        cell = Cell(**record["config"])
        assert repetition.record_differences(record, cell, record["seed"], settings, "jax") == []


def test_a_corrupt_initial_evaluation_is_an_error_naming_it(tmp_path):
    from keras_rk.results import ResultsError

    (tmp_path / repetition.INITIAL_FILE).write_text("")
    with pytest.raises(ResultsError, match=r"initial\.json is corrupt or unreadable"):
        repetition.train_repetition(
            Cell("spiral", "rk4", 2, 4), 0, Settings(**SMALL), backup_dir=tmp_path
        )
    (tmp_path / repetition.INITIAL_FILE).write_text('{"train": [0.1], "val": null}')
    with pytest.raises(ResultsError, match=r"initial\.json is corrupt: expected"):
        repetition.train_repetition(
            Cell("spiral", "rk4", 2, 4), 0, Settings(**SMALL), backup_dir=tmp_path
        )


def test_labels_outside_the_classes_are_refused_before_the_first_evaluation(tmp_path, monkeypatch):
    cell = Cell("spiral", "rk4", 2, 4)  # two classes
    (x, y), validation = repetition.load_data(cell, Settings(**SMALL), 0)
    y = y.copy()
    y[3] = 5  # on JAX, evaluated it gives a finite, wrong loss instead of an error
    monkeypatch.setattr(repetition, "load_data", lambda *a: ((x, y), validation))
    with pytest.raises(ValueError, match=r"the training labels of spiral.*\[3\]=5"):
        repetition.train_repetition(cell, 0, Settings(**SMALL), backup_dir=tmp_path)
    assert not (tmp_path / repetition.INITIAL_FILE).exists()  # no wrong loss kept
