"""keras_rk.callbacks: the resumable callbacks and the paper's early-stopping rule.
Their use inside ``resumable_fit`` is tested in test_training.py."""

import keras
import numpy as np
import pytest

import keras_rk
from keras_rk import callbacks
from keras_rk.callbacks import (
    EARLY_STOPPING_RULES,
    PaperEarlyStopping,
    ResumableEarlyStopping,
    early_stopping_callbacks,
    paper_should_stop,
)


def small_model():
    model = keras_rk.build(tableau="euler", depth=2, width=3)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def test_training_still_exports_the_resumable_callbacks():
    from keras_rk import training

    assert training.ResumableCallback is callbacks.ResumableCallback
    assert training.ResumableEarlyStopping is callbacks.ResumableEarlyStopping


def test_resumed_early_stopping_has_the_state_of_an_uninterrupted_one():
    # Feeds the same validation costs to one EarlyStopping epoch by epoch and, for
    # every prefix, to one rebuilt from that prefix: wait, best, best_epoch,
    # stopped_epoch and the best weights must agree, and so must the stop.
    values = [1.0, 0.8, 0.9, 0.7, 0.75, 0.76, 0.8, 0.9, 0.95]
    model = small_model()
    model(np.zeros((1, 2), "float32"))

    def epoch_weights(epoch):  # weights that tell which epoch they are from
        return [np.full(w.shape, epoch, w.dtype) for w in model.get_weights()]

    def state(callback):
        weights = callback.best_weights
        tag = None if weights is None else float(np.asarray(weights[0]).flat[0])
        return (callback.wait, callback.best, callback.best_epoch, callback.stopped_epoch, tag)

    def run(callback, start):
        model.stop_training = False
        for epoch in range(start, len(values)):
            model.set_weights(epoch_weights(epoch))
            callback.on_epoch_end(epoch, {"val_loss": values[epoch]})
            if model.stop_training:
                return epoch
        return None

    kwargs = dict(monitor="val_loss", patience=2, restore_best_weights=True)
    reference = ResumableEarlyStopping(**kwargs)
    reference.set_model(model)
    reference.on_train_begin()
    states, arrays = [state(reference)], [{}]
    for epoch, value in enumerate(values):
        model.set_weights(epoch_weights(epoch))
        reference.on_epoch_end(epoch, {"val_loss": value})
        states.append(state(reference))
        arrays.append(reference.state_arrays())
        if model.stop_training:
            break
    stop = epoch
    assert stop == 5  # best at epoch 3, two epochs without improvement

    for done in range(1, stop + 1):
        resumed = ResumableEarlyStopping(**kwargs)
        resumed.set_model(model)
        resumed.resume({"val_loss": values[:done]}, arrays[done])
        resumed.on_train_begin()
        assert state(resumed) == states[done], done
        assert run(resumed, done) == stop, done


def test_paper_rule_waits_for_epoch_ten_then_compares_two_windows_of_five():
    # costs[0] is before training; epoch e (0-based) appends costs[e + 1].
    rising = [1.0] * 6 + [1.1] * 6
    assert not paper_should_stop(rising[:11], epoch=9, tol=0.05)  # too early
    assert paper_should_stop(rising, epoch=10, tol=0.05)  # 1.1 - 1.02 > 0.05
    assert not paper_should_stop(rising, epoch=10, tol=0.1)  # 0.08 is within tol
    assert not paper_should_stop([1.0] * 12, epoch=10, tol=0.0)


def test_paper_early_stopping_stops_and_resumes_to_the_same_epoch():
    values = [0.9, 0.8, 0.7, 0.7, 0.7, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4]

    def run(callback, start):
        model = small_model()
        callback.set_model(model)
        for epoch in range(start, len(values)):
            callback.on_epoch_end(epoch, {"val_loss": values[epoch]})
            if model.stop_training:
                return epoch
        return None

    stop = run(PaperEarlyStopping(0.05, initial_val_loss=1.0), 0)
    assert stop == 10
    for done in range(1, stop + 1):
        resumed = PaperEarlyStopping(0.05, initial_val_loss=1.0)
        resumed.resume({"val_loss": values[:done]}, {})
        assert run(resumed, done) == stop, done


@pytest.mark.parametrize("rule", EARLY_STOPPING_RULES)
def test_each_rule_gives_its_callbacks(rule):
    made = early_stopping_callbacks(rule, 0.5, tol=0.1, patience=3, restore_best_weights=True)
    expected = {"paper": [PaperEarlyStopping], "patience": [ResumableEarlyStopping], "none": []}
    assert [type(c) for c in made] == expected[rule]
    if rule == "paper":
        assert (made[0].tol, made[0].costs) == (0.1, [0.5])
    if rule == "patience":
        assert (made[0].patience, made[0].restore_best_weights) == (3, True)


def test_unknown_rule_lists_the_rules():
    with pytest.raises(
        ValueError, match=r"`rule`, expected one of \['paper', 'patience', 'none'\]"
    ):
        early_stopping_callbacks("sometimes", 0.5)


def test_callbacks_are_keras_callbacks():
    assert issubclass(PaperEarlyStopping, keras.callbacks.Callback)
    assert np.isfinite(early_stopping_callbacks("paper", 0.5)[0].costs[0])


def test_epoch_log_writes_one_line_per_epoch():
    lines = []
    x = np.random.default_rng(0).normal(size=(8, 2)).astype("float32")
    y = np.array([0, 1] * 4)
    small_model().fit(x, y, epochs=3, batch_size=4, validation_data=(x, y), verbose=0,
                      callbacks=[callbacks.EpochLog(lines.append, prefix="net: ")])  # fmt: skip
    assert len(lines) == 3
    assert lines[2].startswith("net: epoch 3/3: loss ")
    assert ", val_loss " in lines[2] and lines[2].endswith(" s)")
