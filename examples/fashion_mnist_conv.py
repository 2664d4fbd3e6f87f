"""A convolutional Runge-Kutta network on Fashion-MNIST (ConvRKBlock).

The 28 x 28 image is augmented with zero channels to C channels, propagated by
L steps of a Runge-Kutta method on y' = tanh(conv(y, K) + b) (shape kept by
'same' padding), max-pooled 2 x 2 and classified by one affine softmax layer.
With several channel counts (``--channels 16 32``) each is one such stage: the
pooled output of one is augmented to the next count and propagated at half the
resolution (28 x 28, then 14 x 14, ...), as ANODE's augmentation of a feature map.
Beyond the paper, which only describes this option (section 4.5). Trains on the
full 60,000 images, holding out the last `validation_fraction` of them for Keras's
EarlyStopping on validation loss, and reports accuracy on the 10,000 test images.

    KERAS_BACKEND=tensorflow python examples/fashion_mnist_conv.py
    python examples/fashion_mnist_conv.py --quick

The defaults (16 channels, Euler, 4 steps, h = 0.5, batch 64, at most 10 epochs,
patience 2) reached 90.38 % test accuracy in 20 minutes on our 2-core CPU with the
TensorFlow backend (docs/images.md); two stages with dropout and a decaying learning
rate (``--channels 24 48 --dropout 0.5 --epochs 40 --patience 6 --reduce-lr-patience 2
--reduce-lr-factor 0.3``) reached 93.12 % in 2,531 s. Use TensorFlow
for this example on a CPU: its oneDNN convolutions trained it about 8 times faster
than XLA's under JAX here.
"""

from __future__ import annotations

import argparse
import json
import time

from keras_rk.datasets import IMAGE_SETS


def build_conv_network(
    tableau, num_steps, channels, kernel_size, step_size, activation, dropout=0.0
):
    """`channels`: one count (one stage) or a sequence of them (one stage each);
    `dropout`: the rate of a ``Dropout`` before the classifier (0: none)."""
    import keras

    import keras_rk
    from keras_rk.datasets.images import IMAGE_SIZE, INPUT_DIM, NUM_CLASSES

    stages = _channel_counts(channels)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ValueError(  # Keras's Dropout would take 1.0 and drop every feature
            f"`dropout` must be a number in [0, 1) (0: no Dropout layer). "
            f"Received: dropout={dropout!r}"
        )
    inputs = keras.Input(shape=(INPUT_DIM,), name="inputs")
    features = keras.layers.Reshape((IMAGE_SIZE, IMAGE_SIZE, 1))(inputs)
    for stage, count in enumerate(stages):
        features = keras_rk.ConvRKBlock(
            tableau, num_steps=num_steps, kernel_size=kernel_size, channels=count,
            activation=activation, step_size=step_size,
            name="conv_rk_block" if len(stages) == 1 else f"conv_rk_block_{stage}",
        )(features)  # fmt: skip
        features = keras.layers.MaxPooling2D(2)(features)
    features = keras.layers.Flatten()(features)
    if dropout:
        features = keras.layers.Dropout(dropout, name="dropout")(features)
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax", name="classifier")(features)
    return keras.Model(inputs, outputs, name=f"conv_{keras_rk.get_tableau(tableau).name}_net")


def _channel_counts(channels) -> list[int]:
    """`channels` as a list of stage channel counts, each a positive int, not shrinking
    (a stage augments its input; it cannot drop channels)."""
    counts = [channels] if isinstance(channels, int) else list(channels)
    if not counts or not all(
        isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in counts
    ):
        raise ValueError(
            f"`channels` must be a positive int or a non-empty sequence of them. "
            f"Received: channels={channels!r}"
        )
    if any(later < earlier for earlier, later in zip(counts, counts[1:])):
        raise ValueError(
            f"`channels` must not decrease from one stage to the next (each stage augments "
            f"the previous one's channels). Received: channels={channels!r}"
        )
    return counts


def _plateau_schedule(patience, factor):
    """Keras's ReduceLROnPlateau on validation loss, its arguments checked first
    (Keras accepts a patience of 0 and a factor of 0 or below; it rejects only a
    factor >= 1)."""
    import keras

    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise ValueError(
            f"`reduce_lr_patience` must be a positive int (epochs without a lower "
            f"validation loss). Received: reduce_lr_patience={patience!r}"
        )
    if not 0.0 < factor < 1.0:
        raise ValueError(
            f"`reduce_lr_factor` must lie strictly between 0 and 1 (the learning rate "
            f"is multiplied by it). Received: reduce_lr_factor={factor!r}"
        )
    return keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=factor, patience=patience)


def main(
    dataset="fashion_mnist", tableau="euler", num_steps=4, channels=16, kernel_size=3,
    step_size=0.5, activation="tanh", num_train=None, num_test=None, batch_size=64, epochs=10,
    patience=2, learning_rate=1e-3, dropout=0.0, reduce_lr_patience=None, reduce_lr_factor=0.3,
    validation_fraction=1 / 12, seed=0, data_dir=None, quick=False, verbose=2,
):  # fmt: skip
    """Trains the network; returns test accuracy and loss, epochs and seconds.

    ``num_train``/``num_test`` None means the whole split; ``quick`` trains a
    tiny network (2 steps, 4 channels) on 300 images for one epoch.
    ``reduce_lr_patience`` (None: a constant learning rate) adds Keras's
    ``ReduceLROnPlateau``: the learning rate is multiplied by ``reduce_lr_factor``
    after that many epochs without a lower validation loss.
    """
    import keras

    from keras_rk.datasets import load_images

    if quick:
        stages = len(_channel_counts(channels))
        num_steps, num_train, num_test, epochs = 2, 300, 100, 1
        channels = [4 * 2**stage for stage in range(stages)]
    callbacks = [  # first, so that bad arguments fail before the data load
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=patience, restore_best_weights=True
        )
    ]
    if reduce_lr_patience is not None:
        callbacks.append(_plateau_schedule(reduce_lr_patience, reduce_lr_factor))
    keras.utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = load_images(
        dataset, data_dir, num_train=num_train, num_test=num_test, seed=seed
    )
    model = build_conv_network(
        tableau, num_steps, channels, kernel_size, step_size, activation, dropout
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    history = model.fit(
        x_train, y_train, batch_size=batch_size, epochs=epochs, shuffle=True,
        validation_split=validation_fraction, callbacks=callbacks, verbose=verbose,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=500, verbose=0)
    metrics = {
        "test_accuracy": float(test_accuracy), "test_loss": float(test_loss),
        "epochs": len(history.history["loss"]), "train_seconds": seconds,
        "best_val_accuracy": float(max(history.history["val_accuracy"])),
        "backend": keras.backend.backend(),
        "final_learning_rate": float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)),
    }  # fmt: skip
    print(json.dumps(metrics), flush=True)
    return metrics


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion_mnist", choices=IMAGE_SETS)
    parser.add_argument("--tableau", default="euler")
    parser.add_argument("--num-steps", type=int, default=4)
    parser.add_argument("--channels", type=int, nargs="+", default=[16],
                        help="channels per stage; several values give several stages")  # fmt: skip
    parser.add_argument("--kernel-size", type=int, default=3)
    parser.add_argument("--step-size", type=float, default=0.5)
    parser.add_argument("--activation", default="tanh")
    parser.add_argument("--num-train", type=int, default=None)
    parser.add_argument("--num-test", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--reduce-lr-patience", type=int, default=None,
                        help="epochs without a lower validation loss after which the "
                        "learning rate is multiplied by --reduce-lr-factor")  # fmt: skip
    parser.add_argument("--reduce-lr-factor", type=float, default=0.3)
    parser.add_argument("--validation-fraction", type=float, default=1 / 12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--verbose", type=int, default=2)
    main(**vars(parser.parse_args()))
