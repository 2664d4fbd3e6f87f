import json
import os
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from helpers import Interrupt, InterruptAt

import keras_rk
from keras_rk.training import STATE_FILE, resumable_fit, trained_seconds

TRAIN_SCRIPT = textwrap.dedent(
    """
    import os, sys
    import keras, numpy as np
    import keras_rk
    from keras_rk.training import resumable_fit

    backup_dir, out, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])

    class KillMidEpoch(keras.callbacks.Callback):
        # SIGKILL in the middle of epoch `kill_at`: no cleanup code runs.
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == kill_at and batch == 5:
                os.kill(os.getpid(), 9)

    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 2)).astype("float32")
    y = (np.linalg.norm(x, axis=1) < 1).astype("int32")
    model = keras_rk.build(tableau="rk4", depth=4, width=4)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = resumable_fit(model, x, y, backup_dir=backup_dir, epochs=4, batch_size=10,
                            seed=3, validation_data=(x, y), callbacks=[KillMidEpoch()])
    np.savez(out, *model.get_weights(), loss=np.array(history["loss"]))
    """
)


def run_training(tmp_path, backup, out, kill_at):
    script = tmp_path / "train.py"
    script.write_text(TRAIN_SCRIPT)
    return subprocess.run(
        [sys.executable, str(script), str(backup), str(out), str(kill_at)],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_final_weights(tmp_path):
    uninterrupted = run_training(tmp_path, tmp_path / "a", tmp_path / "a.npz", kill_at=-1)
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-2000:]

    killed = run_training(tmp_path, tmp_path / "b", tmp_path / "b.npz", kill_at=2)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert (tmp_path / "b" / STATE_FILE).exists() and not (tmp_path / "b.npz").exists()
    resumed = run_training(tmp_path, tmp_path / "b", tmp_path / "b.npz", kill_at=-1)
    assert resumed.returncode == 0, resumed.stderr[-2000:]

    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        assert len(a["loss"]) == len(b["loss"]) == 4  # history of all epochs kept
        for key in a.files:
            # Same batches, same optimizer state: equal up to float32 rounding of
            # reductions that a backend may order differently between processes.
            np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-7, err_msg=key)


def small_model():
    model = keras_rk.build(tableau="euler", depth=2, width=3)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def test_a_finished_run_is_not_trained_again(tmp_path):
    x, y = np.ones((10, 2), "float32"), np.zeros(10, "int32")
    first = resumable_fit(small_model(), x, y, backup_dir=tmp_path, epochs=2, batch_size=5, seed=0)
    model = small_model()
    again = resumable_fit(model, x, y, backup_dir=tmp_path, epochs=2, batch_size=5, seed=0)
    assert again == first and len(first["loss"]) == 2
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 4


def test_corrupt_state_file_is_a_clear_error(tmp_path):
    (tmp_path / STATE_FILE).write_bytes(b"not an npz file")
    x, y = np.ones((10, 2), "float32"), np.zeros(10, "int32")
    with pytest.raises(ValueError, match=r"cannot be read.*Move it away"):
        resumable_fit(small_model(), x, y, backup_dir=tmp_path, epochs=1, batch_size=5, seed=0)
    assert (tmp_path / STATE_FILE).read_bytes() == b"not an npz file"  # nothing lost


def test_state_of_another_model_is_a_clear_error(tmp_path):
    x, y = np.ones((10, 2), "float32"), np.zeros(10, "int32")
    resumable_fit(small_model(), x, y, backup_dir=tmp_path, epochs=1, batch_size=5, seed=0)
    other = keras_rk.build(tableau="euler", depth=3, width=3)
    other.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"written by a different model"):
        resumable_fit(other, x, y, backup_dir=tmp_path, epochs=2, batch_size=5, seed=0)


def test_batches_depend_only_on_seed_and_epoch():
    from keras_rk.training import EpochSeededBatches

    x, y = np.arange(20).reshape(10, 2), np.arange(10)
    a, b = EpochSeededBatches(x, y, 4, seed=1), EpochSeededBatches(x, y, 4, seed=1)
    a.set_epoch(3)
    b.set_epoch(1)
    b.set_epoch(3)
    assert len(a) == 3
    for i in range(3):
        np.testing.assert_array_equal(a[i][1], b[i][1])
    a.set_epoch(4)
    assert not np.array_equal(a.order, b.order)


# ---------------------------------------------------------------- resumable callbacks in a fit


class StopAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.model.stop_training = True


def fit_with_early_stopping(backup_dir, extra=(), epochs=5):
    from keras_rk.training import ResumableEarlyStopping

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    x_val = rng.normal(size=(40, 2)).astype("float32")
    # Validation labels are the training rule flipped: the validation loss rises as
    # training goes on, so the best epoch is an early one, before any interruption.
    y_val = (x_val[:, 0] <= 0).astype("int32")
    model = keras_rk.build(tableau="euler", depth=2, width=3)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    stopper = ResumableEarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)
    history = resumable_fit(model, x, y, backup_dir=backup_dir, epochs=epochs, batch_size=5,
                            seed=1, validation_data=(x_val, y_val),
                            callbacks=[*extra, stopper])  # fmt: skip
    return model, history, stopper


def assert_same_weights(a, b):
    for u, v in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-7)


def test_early_stopping_with_best_weights_resumes_to_the_same_model(tmp_path):
    reference, history, stopper = fit_with_early_stopping(tmp_path / "a")
    with pytest.raises(Interrupt):
        fit_with_early_stopping(tmp_path / "b", [InterruptAt(epoch=3)])
    assert "callback0_best_0000" in np.load(tmp_path / "b" / STATE_FILE).files
    resumed, resumed_history, resumed_stopper = fit_with_early_stopping(tmp_path / "b")
    assert resumed_history.keys() == history.keys()
    for key in history:
        assert resumed_history[key] == pytest.approx(history[key], rel=1e-5), key
    assert resumed_stopper.best_epoch == stopper.best_epoch
    # The best weights predate the interruption, so they came from the state file.
    assert stopper.best_epoch < 3, history["val_loss"]
    assert_same_weights(resumed, reference)  # the best epoch's weights, restored at the end


def test_a_stopped_run_is_not_trained_further_on_resume(tmp_path):
    # Killed after the stopping epoch's state was written but before
    # EarlyStopping.on_train_end put the best weights back: the rerun trains
    # no epoch and ends with the best weights.
    reference, history, _ = fit_with_early_stopping(tmp_path / "a", [StopAt(2)])
    assert len(history["loss"]) == 3
    with pytest.raises(Interrupt):
        fit_with_early_stopping(tmp_path / "b", [StopAt(2), InterruptAt(at_train_end=True)])
    resumed, resumed_history, _ = fit_with_early_stopping(tmp_path / "b")
    assert len(resumed_history["loss"]) == 3
    assert int(keras.ops.convert_to_numpy(resumed.optimizer.iterations)) == 3 * 8
    assert_same_weights(resumed, reference)


# ---------------------------------------------------------------- what is taken on trust


def two_class_data():
    x = np.random.default_rng(0).normal(size=(10, 2)).astype("float32")
    return x, (x[:, 0] > 0).astype("int32")


@pytest.mark.parametrize("bad", [5, -1])
def test_training_labels_outside_the_classes_are_refused(tmp_path, bad):
    x, y = two_class_data()
    y[3] = bad
    with pytest.raises(
        ValueError,
        match=rf"`y`, expected integer class labels in \[0, 2\)\. Received: y\[3\]={bad},",
    ):
        resumable_fit(small_model(), x, y, backup_dir=tmp_path, epochs=1, batch_size=5, seed=0)
    assert not (tmp_path / STATE_FILE).exists()


def test_validation_labels_outside_the_classes_are_refused(tmp_path):
    x, y = two_class_data()
    with pytest.raises(
        ValueError,
        match=r"`validation_data\[1\]`, expected integer class labels in \[0, 2\)\. Received: validation_data\[1\]\[0\]=7,",
    ):
        resumable_fit(small_model(), x, y, backup_dir=tmp_path, epochs=1, batch_size=5, seed=0,
                      validation_data=(x, np.full(10, 7)))  # fmt: skip


def test_whole_float_validation_labels_are_accepted(tmp_path):
    x, y = two_class_data()
    history = resumable_fit(small_model(), x, y, backup_dir=tmp_path, epochs=1, batch_size=5,
                            seed=0, validation_data=(x, y.astype("float32")))  # fmt: skip
    assert len(history["val_loss"]) == 1


def test_zero_epochs_is_an_error_not_an_empty_history(tmp_path):
    # Keras's own fit accepts epochs=0 and returns {}; here `epochs` is the total a
    # resumed run reaches, and an empty history only fails later, far from the cause.
    x, y = two_class_data()
    with pytest.raises(
        ValueError, match=r"`epochs`, expected a positive integer\. Received: epochs=0"
    ):
        resumable_fit(small_model(), x, y, backup_dir=tmp_path, epochs=0, batch_size=5, seed=0)


def test_state_file_is_fsynced_before_it_replaces_the_old_one(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda *a: events.append("replace") or real_replace(*a))
    x, y = two_class_data()
    resumable_fit(small_model(), x, y, backup_dir=tmp_path, epochs=1, batch_size=5, seed=0)
    assert events == ["fsync", "replace"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [STATE_FILE]


def test_state_written_by_another_backend_is_refused(tmp_path):
    x, y = two_class_data()
    resumable_fit(small_model(), x, y, backup_dir=tmp_path, epochs=1, batch_size=5, seed=0)
    path = tmp_path / STATE_FILE
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    meta = json.loads(str(arrays.pop("meta")))
    assert meta["backend"] == keras.backend.backend()
    meta["backend"] = "other"
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)
    with pytest.raises(
        ValueError,
        match=rf"{STATE_FILE} was written with the other backend, but this run uses "
        rf"{keras.backend.backend()}.*KERAS_BACKEND=other",
    ):
        resumable_fit(small_model(), x, y, backup_dir=tmp_path, epochs=2, batch_size=5, seed=0)


def rewrite_state(path, **changes):
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    meta = {**json.loads(str(arrays.pop("meta"))), **changes}
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"epoch": 5}, r"it is at epoch 5 but its history of 'loss' has 1 entries"),
        ({"history": {}}, r"its history is \{\}, expected the metrics of 1 epochs"),
        ({"epoch": 0}, r"its epoch is 0, expected a positive integer"),
        ({"seconds": -1.0}, r"its seconds are -1.0, expected a non-negative number"),
        ({"seconds": "long"}, r"its seconds are 'long', expected a non-negative number"),
    ],
)
def test_a_state_whose_epoch_disagrees_with_its_history_is_refused(tmp_path, changes, match):
    x, y = two_class_data()
    resumable_fit(small_model(), x, y, backup_dir=tmp_path, epochs=1, batch_size=5, seed=0)
    rewrite_state(tmp_path / STATE_FILE, **changes)
    with pytest.raises(ValueError, match=rf"{STATE_FILE} disagrees with itself: {match}"):
        resumable_fit(small_model(), x, y, backup_dir=tmp_path, epochs=8, batch_size=5, seed=0)


def test_a_zero_byte_state_file_is_an_error_naming_it(tmp_path):
    (tmp_path / STATE_FILE).write_bytes(b"")
    x, y = two_class_data()
    with pytest.raises(ValueError, match=rf"{STATE_FILE} cannot be read \(EOFError"):
        resumable_fit(small_model(), x, y, backup_dir=tmp_path, epochs=1, batch_size=5, seed=0)


def test_wall_seconds_add_up_over_the_processes_that_trained(tmp_path):
    x, y = two_class_data()
    assert trained_seconds(tmp_path) == 0.0
    resumable_fit(small_model(), x, y, backup_dir=tmp_path, epochs=1, batch_size=5, seed=0)
    assert 0 < trained_seconds(tmp_path) < 600
    rewrite_state(tmp_path / STATE_FILE, seconds=1000.0)  # as if killed after 1,000 s
    resumable_fit(small_model(), x, y, backup_dir=tmp_path, epochs=2, batch_size=5, seed=0)
    assert 1000 < trained_seconds(tmp_path) < 1600
    rewrite_state(tmp_path / STATE_FILE, seconds=float("nan"))
    with pytest.raises(ValueError, match=r"disagrees with itself: its seconds are nan"):
        trained_seconds(tmp_path)
