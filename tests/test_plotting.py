import keras
import numpy as np
import pytest

import keras_rk
from keras_rk import plotting

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def trained():
    model = keras_rk.build("rk4", depth=3, width=4, input_dim=2, num_classes=3, lift="random")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 2)).astype("float32")
    y = rng.integers(0, 3, 30).astype("int32")
    return model, x, y


@pytest.mark.parametrize("architecture", ["runge_kutta", "standard"])
def test_trajectories_come_from_the_model(architecture):
    model = keras_rk.build(
        "rk4" if architecture == "runge_kutta" else None,
        depth=3, width=4, architecture=architecture, lift="random",
    )  # fmt: skip
    x = np.random.default_rng(0).normal(size=(5, 2)).astype("float32")
    trajectories = plotting.feature_trajectories(model, x)
    assert trajectories.shape == (5, 4, 4)
    # the last state is what the classifier sees (tolerance: float32 round-off)
    np.testing.assert_allclose(trajectories[:, -1], plotting.output_features(model, x), atol=1e-5)
    lift = model.get_layer("augment")
    np.testing.assert_allclose(trajectories[:, 0], keras.ops.convert_to_numpy(lift(x)), atol=1e-6)


def test_trajectory_recorder_during_fit(trained):
    model, x, y = trained
    model.compile("adam", "sparse_categorical_crossentropy")
    recorder = plotting.TrajectoryRecorder(x[:4], every=1)
    model.fit(x, y, epochs=2, batch_size=10, verbose=0, callbacks=[recorder])
    assert sorted(recorder.trajectories) == [1, 2]
    assert recorder.trajectories[2].shape == (4, 4, 4)


def test_every_figure_writes_a_png(trained, tmp_path):
    model, x, y = trained
    x3 = np.random.default_rng(1).normal(size=(30, 3)).astype("float32")
    files = [
        plotting.plot_datasets({"a": (x, y), "b": (x3, y)}, tmp_path / "sets.png"),
        plotting.plot_classification({"rk4": (model, x, y)}, tmp_path / "traj.png"),
        plotting.plot_classification({"rk4": (model, x, y)}, tmp_path / "pca.png", kind="pca"),
        plotting.plot_layers({"rk4": (model, x, y)}, tmp_path / "layers.png", num_panels=3),
        plotting.plot_repetitions([(model, x, y)] * 2, tmp_path / "reps.png"),
        plotting.plot_history(
            {
                "rk4": [
                    {
                        "accuracy": [0.5, 0.7],
                        "loss": [0.7, 0.5],
                        "val_accuracy": [0.5, 0.6],
                        "val_loss": [0.7, 0.6],
                    }
                ]
                * 2
            },
            tmp_path / "history.png",
        ),  # fmt: skip
    ]
    for path in files:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_prediction_needs_plane_inputs(trained):
    model = keras_rk.build("euler", depth=2, width=4, input_dim=3)
    with pytest.raises(ValueError, match=r"needs 2-D inputs\. Received: inputs of dimension 3"):
        plotting.plot_prediction(model, np.zeros((4, 3)), np.zeros(4, int))


def test_model_without_a_block_is_refused():
    import keras

    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    with pytest.raises(ValueError, match=r"exactly one RKBlock or StandardBlock.*with 0"):
        plotting.feature_trajectories(model, np.zeros((1, 2)))


def test_plotting_imports_nothing_from_the_studies():
    # Figure primitives only: the studies' figures are built on them in
    # keras_rk.studies.figures, never the other way round (function-level
    # imports included).
    import ast
    from pathlib import Path

    tree = ast.parse(Path(plotting.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}  # fmt: skip
    imported |= {node.module for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}  # fmt: skip
    assert not {m for m in imported if m.startswith(("keras_rk.studies", "keras_rk.experiments"))}
    assert not hasattr(plotting, "study_figures")
