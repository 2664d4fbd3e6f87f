import keras
import numpy as np
import pytest
from conftest import BACKEND, to_numpy

import keras_rk


def two_circles(num_samples, seed):
    """A small real problem: the inner disc |x| < 1 against the ring around it."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_samples, 2)).astype("float32") * 1.2
    y = (np.linalg.norm(x, axis=1) < 1.0).astype("int32")
    return x, y


def test_issue_example_builds_every_architecture():
    rk4 = keras_rk.build(tableau="rk4", depth=100, width=16, input_dim=2, num_classes=2)
    assert rk4.name == "rk4_net"
    assert rk4.output_shape == (None, 2)
    assert rk4.get_layer("rk_block").num_steps == 100
    standard = keras_rk.build(
        architecture="standard", depth=5, width=16, input_dim=2, num_classes=2
    )
    assert standard.name == "standard_net"
    assert isinstance(standard.get_layer("standard_block"), keras_rk.StandardBlock)
    euler = keras_rk.build(tableau="euler", depth=10)
    assert euler.get_layer("rk_block").tableau.name == "euler"
    # Parameters: per step width^2 + width, plus the head W (K x D) and mu.
    assert rk4.count_params() == 100 * (16 * 16 + 16) + 16 * 2 + 2


@pytest.mark.slow
def test_rk4net_learns_two_circles_with_fit():
    # Expected from runs on all three backends: 0.96-0.99 validation accuracy
    # after 8 epochs; a linear classifier cannot beat ~0.6 here, so 0.9 shows the
    # network learned the nonlinear boundary.
    keras.utils.set_random_seed(0)
    x, y = two_circles(600, seed=1)
    xv, yv = two_circles(600, seed=2)
    model = keras_rk.build(tableau="rk4", depth=10, width=4, input_dim=2, final_time=2.0)
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(x, y, batch_size=20, epochs=8, validation_data=(xv, yv), verbose=0)
    assert history.history["val_accuracy"][-1] > 0.9, history.history


def test_saved_and_reloaded_model_predicts_the_same(tmp_path):
    keras.utils.set_random_seed(1)
    x, y = two_circles(50, seed=3)
    model = keras_rk.build(tableau="gauss_legendre_2", depth=4, width=5, lift="random")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=10, epochs=1, verbose=0)
    path = tmp_path / "net.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert loaded.get_layer("augment").mode == "random"


@pytest.mark.skipif(BACKEND != "tensorflow", reason="XLA jit_compile is TensorFlow's option here")
def test_trains_under_xla_jit_compile():
    keras.utils.set_random_seed(2)
    x, y = two_circles(40, seed=4)
    model = keras_rk.build(tableau="rk4", depth=20, width=4)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=True)
    before = model.get_layer("rk_block").get_weights()[0].copy()
    history = model.fit(x, y, batch_size=10, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.allclose(model.get_layer("rk_block").get_weights()[0], before)


def test_compile_auto_uses_xla_where_the_backend_has_it_and_keeps_explicit_choices(tmp_path):
    # Expected: "auto" resolves to XLA on JAX (Keras) and TensorFlow (RKModel, also
    # on a CPU), eager on PyTorch; False, and run_eagerly, are kept; a reloaded
    # model is compiled again with the same choice.
    x, y = two_circles(20, seed=5)
    model = keras_rk.build(depth=3, width=4)
    assert isinstance(model, keras_rk.models.RKModel)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert model.jit_compile is (BACKEND != "torch")
    model.fit(x, y, batch_size=5, epochs=1, verbose=0)
    path = tmp_path / "net.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is keras_rk.models.RKModel and loaded.compiled
    assert loaded.jit_compile is model.jit_compile
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    explicit = keras_rk.build(depth=3, width=4)
    explicit.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=False)
    assert explicit.jit_compile is False
    eager = keras_rk.build(depth=3, width=4)
    eager.compile(optimizer="adam", loss="sparse_categorical_crossentropy", run_eagerly=True)
    assert eager.jit_compile is False


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(tableau="nope"), r"Unknown `tableau`.*Received: tableau='nope'"),
        (dict(depth=0), r"`depth`, expected a positive integer. Received: depth=0"),
        (dict(width=1, input_dim=2), r"`width` \(=1\) must be at least `input_dim` \(=2\)"),
        (dict(num_classes=1), r"`num_classes`, expected at least 2"),
        (dict(activation="nope"), r"Unknown `activation`"),
        (
            dict(architecture="resnet"),
            r"`architecture`, expected one of \['runge_kutta', 'standard'\]",
        ),
        (
            dict(architecture="standard", tableau="rk4"),
            r"`tableau` is only for architecture='runge_kutta'",
        ),
        (dict(architecture="standard", step_size=0.1), r"`step_size` is only for"),
        (dict(lift="pad"), r"`mode`, expected one of"),
        (dict(tableau=keras_rk.tableaus.RK4, step_size=0.1, final_time=1.0), r"not both"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        keras_rk.build(**kwargs)


def test_input_of_the_wrong_shape_is_rejected():
    model = keras_rk.build(depth=2, width=4, input_dim=2)
    with pytest.raises(ValueError, match=r"expected shape=\(None, 2\), found shape=\(1, 3\)"):
        model(np.ones((1, 3), dtype="float32"))


def test_every_registered_tableau_builds_and_runs():
    x = np.ones((2, 2), dtype="float32")
    for name in keras_rk.available_tableaus():
        out = to_numpy(keras_rk.build(tableau=name, depth=2, width=3)(x))
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_classifier_activation_none_gives_the_logits_of_the_softmax_model(tmp_path):
    keras.utils.set_random_seed(2)
    x, _ = two_circles(20, seed=4)
    probabilities = keras_rk.build(tableau="euler", depth=3, width=4, lift="random", lift_seed=0)
    logits = keras_rk.build(
        tableau="euler", depth=3, width=4, lift="random", lift_seed=0, classifier_activation=None
    )
    logits.set_weights(probabilities.get_weights())
    out = logits.predict(x, verbose=0)
    np.testing.assert_allclose(
        to_numpy(keras.ops.softmax(out)), probabilities.predict(x, verbose=0), rtol=1e-5, atol=1e-7
    )
    # Logits are not probabilities: rows do not sum to one.
    assert not np.allclose(out.sum(axis=1), 1.0)
    path = tmp_path / "logits.keras"
    logits.save(path)
    np.testing.assert_allclose(keras.saving.load_model(path).predict(x, verbose=0), out, rtol=1e-6)


def test_classifier_activation_is_checked():
    with pytest.raises(
        ValueError, match=r"`classifier_activation`.*Received: classifier_activation='softmx'"
    ):
        keras_rk.build(depth=2, width=4, classifier_activation="softmx")


@pytest.mark.slow
def test_mixed_bfloat16_predictions_agree_with_float32():
    # The head runs in float32 under a mixed policy (Keras's advice), so its output
    # is float32; a trained model's classes then agree with float32 on >= 99% of
    # points (measured 99.85-99.95% on all three backends; the rest is the bfloat16
    # arithmetic of the RK steps near the decision boundary).
    keras.utils.set_random_seed(0)
    x, y = two_circles(400, seed=1)
    xv, _ = two_circles(2000, seed=2)
    settings = dict(tableau="rk4", depth=20, width=8, lift="random", lift_seed=0, step_size=0.1)
    model = keras_rk.build(**settings)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=20, epochs=5, verbose=0)
    expected = model.predict(xv, verbose=0)
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        mixed = keras_rk.build(**settings)
        mixed.set_weights(model.get_weights())
        predicted = mixed.predict(xv, verbose=0)
    finally:
        keras.config.set_dtype_policy("float32")
    assert predicted.dtype == np.float32
    agreement = np.mean(predicted.argmax(axis=1) == expected.argmax(axis=1))
    assert agreement >= 0.99, agreement
