"""keras_rk._xla_steps: on TensorFlow an execution's steps run as one XLA program and
train exactly as Keras's own loop does; elsewhere Keras's loop is used unchanged."""

import keras
import numpy as np
import pytest
from conftest import BACKEND

import keras_rk
from keras_rk import _xla_steps


def data(num_samples, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_samples, 2)).astype("float32")
    y = (np.linalg.norm(x, axis=1) < 1.0).astype("int32")
    return x, y, rng.uniform(0.5, 1.5, size=num_samples).astype("float32")


def twins(steps_per_execution=4, **compile_kwargs):
    """An RKModel and a plain functional keras.Model with the same layers' weights
    (PyTorch: one step per execution, the only value Keras's PyTorch trainer takes)."""
    if BACKEND == "torch":
        steps_per_execution = 1
    keras.utils.set_random_seed(0)
    ours = keras_rk.build(depth=3, width=4, lift="random", lift_seed=1)
    keras.utils.set_random_seed(0)
    plain = keras_rk.build(depth=3, width=4, lift="random", lift_seed=1)
    plain = keras.Model(plain.inputs, plain.outputs)
    plain.set_weights(ours.get_weights())
    for model in (ours, plain):
        model.compile(
            optimizer=keras.optimizers.Adam(0.01),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            steps_per_execution=steps_per_execution,
            **{"jit_compile": BACKEND != "torch", **compile_kwargs},
        )
    return ours, plain


def assert_same_training(ours, plain, history_ours, history_plain):
    assert history_ours.history.keys() == history_plain.history.keys()
    for key in history_plain.history:
        np.testing.assert_allclose(history_ours.history[key], history_plain.history[key], rtol=1e-5)
    for mine, theirs in zip(ours.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)


def test_fit_trains_as_keras_loop_does_with_an_uneven_last_batch_and_sample_weights():
    # 23 samples in batches of 5: per epoch one execution of 4 batches, then one of
    # 1 batch of 3; sample weights and validation as a user passes them.
    x, y, weights = data(23)
    x_val, y_val, _ = data(11, seed=1)
    ours, plain = twins()
    batches_seen = {id(ours): [], id(plain): []}

    def fit(model):
        keras.utils.set_random_seed(5)  # the same shuffles
        counter = keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs: batches_seen[id(model)].append(batch)
        )
        # On TensorFlow RKModel shuffles small arrays with tf.data, in another order
        # than Keras's (tests/test_array_datasets.py), so there both keep the order.
        return model.fit(
            x, y, sample_weight=weights, batch_size=5, epochs=3, verbose=0,
            shuffle=BACKEND != "tensorflow", validation_data=(x_val, y_val), callbacks=[counter],
        )  # fmt: skip

    history_ours, history_plain = fit(ours), fit(plain)
    assert_same_training(ours, plain, history_ours, history_plain)
    assert batches_seen[id(ours)] == batches_seen[id(plain)]
    assert len(batches_seen[id(ours)]) == 3 * (2 if BACKEND != "torch" else 5)
    if BACKEND == "tensorflow":
        assert _xla_steps.applies(ours)
        assert ours.train_function.__qualname__.startswith("train_function")


def test_stop_training_from_a_callback_stops_after_the_same_execution():
    x, y, _ = data(40)
    ours, plain = twins()

    class StopAfterFirstExecution(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.model.stop_training = True

    histories = []
    for model in (ours, plain):
        keras.utils.set_random_seed(5)
        histories.append(
            model.fit(
                x,
                y,
                batch_size=5,
                epochs=2,
                verbose=0,
                shuffle=False,
                callbacks=[StopAfterFirstExecution()],
            )  # fmt: skip
        )
    assert len(histories[0].history["loss"]) == 1
    assert_same_training(ours, plain, *histories)


def test_a_dataset_and_train_on_batch_train_as_keras_loop_does():
    x, y, _ = data(17)
    ours, plain = twins(steps_per_execution=3)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        # Batches 4, 4, 4, 4, 1: the second execution (4 and 1) is two programs.
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
        histories = [model.fit(dataset, epochs=2, verbose=0) for model in (ours, plain)]
        assert_same_training(ours, plain, *histories)
    logs = [model.train_on_batch(x[:6], y[:6], return_dict=True) for model in (ours, plain)]
    np.testing.assert_allclose(logs[0]["loss"], logs[1]["loss"], rtol=1e-5)
    for mine, theirs in zip(ours.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="a tf.data input")
def test_a_dataset_of_unknown_length_trains_as_keras_loop_does():
    # Keras then calls the train function until it raises StopIteration: the last
    # call finds the iterator empty (17 samples in batches of 4 and 3 steps per
    # execution: executions of 3 and 2 batches, then an empty one).
    import tensorflow as tf

    x, y, _ = data(17)
    ours, plain = twins(steps_per_execution=3)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).filter(lambda *_: True).batch(4)
    assert dataset.cardinality() == tf.data.UNKNOWN_CARDINALITY
    histories = [model.fit(dataset, epochs=2, verbose=0) for model in (ours, plain)]
    assert_same_training(ours, plain, *histories)


def test_applies_only_on_tensorflow_with_xla_and_several_steps_per_execution():
    ours, _ = twins()
    assert _xla_steps.applies(ours) is (BACKEND == "tensorflow")
    one_step, _ = twins(steps_per_execution=1)
    assert not _xla_steps.applies(one_step)
    eager, _ = twins(run_eagerly=True)
    assert not _xla_steps.applies(eager)

    class OwnStep(keras_rk.models.RKModel):
        def train_step(self, batch):
            return super().train_step(batch)

    own = OwnStep(ours.inputs, ours.outputs)
    own.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        steps_per_execution=4 if BACKEND != "torch" else 1,
    )
    assert not _xla_steps.applies(own)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow's jit_compile=False")
def test_graph_mode_keeps_keras_loop():
    ours, plain = twins(jit_compile=False)
    assert not _xla_steps.applies(ours)
    x, y, _ = data(12)
    # Unshuffled: RKModel shuffles small arrays with tf.data, in another order than Keras's.
    histories = [
        model.fit(x, y, batch_size=5, epochs=1, verbose=0, shuffle=False) for model in (ours, plain)
    ]
    assert_same_training(ours, plain, *histories)
