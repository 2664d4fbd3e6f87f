import keras
import numpy as np
import pytest
from helpers import Interrupt, InterruptAt

import keras_rk
from keras_rk.schedules import LearningRateDrops, learning_rate_after, learning_rate_drops
from keras_rk.training import resumable_fit


class RateLog(keras.callbacks.Callback):
    """The optimizer's rate at each epoch's first step, and the weights after each epoch."""

    def on_train_begin(self, logs=None):
        self.rates, self.weights = [], []

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            self.rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def fit(backup_dir, drops, epochs=4, extra=()):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2)).astype("float32")
    y = (x[:, 0] * x[:, 1] > 0).astype("int32")
    model = keras_rk.build(tableau="rk4", depth=2, width=3)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    log = RateLog()
    callbacks = [*extra, LearningRateDrops(0.05, drops), log] if drops else [*extra, log]
    history = resumable_fit(model, x, y, backup_dir=backup_dir, epochs=epochs, batch_size=10,
                            seed=1, callbacks=callbacks)  # fmt: skip
    return model, history, log


def test_each_epoch_trains_at_its_rate(tmp_path):
    _, _, log = fit(tmp_path / "a", [[1, 0.005], [3, 1e-12]])
    assert log.rates == pytest.approx([0.05, 0.005, 0.005, 1e-12])
    # The rate reaches the compiled step: at 1e-12 the weights stop moving.
    for before, after in zip(log.weights[2], log.weights[3], strict=True):
        np.testing.assert_allclose(after, before, atol=1e-9)
    assert any(not np.allclose(a, b) for a, b in zip(log.weights[0], log.weights[1], strict=True))


def test_a_resumed_run_continues_at_its_rate_and_ends_where_an_unbroken_one_does(tmp_path):
    drops = [[2, 0.005]]
    reference, history, _ = fit(tmp_path / "a", drops)
    with pytest.raises(Interrupt):
        fit(tmp_path / "b", drops, extra=[InterruptAt(3)])
    resumed, resumed_history, log = fit(tmp_path / "b", drops)
    assert log.rates == pytest.approx([0.005])  # only epoch 4 ran in this process
    assert resumed_history.keys() == history.keys() == {"loss"}  # the drops log nothing
    assert resumed_history["loss"] == pytest.approx(history["loss"], rel=1e-5)
    for a, b in zip(reference.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)
    constant, _, _ = fit(tmp_path / "c", [])
    assert any(
        not np.allclose(a, b) for a, b in zip(reference.get_weights(), constant.get_weights())
    )


def test_rate_after_a_number_of_epochs():
    drops = [[2, 1e-4], [5, 1e-5]]
    assert [learning_rate_after(n, 1e-3, drops) for n in range(7)] == [
        1e-3, 1e-3, 1e-4, 1e-4, 1e-4, 1e-5, 1e-5
    ]  # fmt: skip
    assert learning_rate_after(10, 1e-3, []) == 1e-3


@pytest.mark.parametrize("drops", [[[2, 1e-4, 3]], [["two", 1e-4]], [[2, float("nan")]], None])
def test_drops_that_are_not_epoch_rate_pairs_are_refused(drops):
    with pytest.raises(ValueError, match=r"`drops"):
        learning_rate_drops(drops, "drops")
    with pytest.raises(ValueError, match=r"`drops"):
        LearningRateDrops(1e-3, drops)
