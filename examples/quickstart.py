"""Train an RK4Net on the spiral point set and print its validation accuracy.

KERAS_BACKEND=jax python examples/quickstart.py            # ~20 s on 2 cores
KERAS_BACKEND=jax python examples/quickstart.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse

import keras

import keras_rk


def main(
    tableau: str = "rk4",
    depth: int = 20,
    width: int = 16,
    epochs: int = 10,
    batch_size: int = 5,
    learning_rate: float = 1e-3,
    seed: int = 0,
    num_samples: int = 1500,
    verbose: int = 1,
    quick: bool = False,
) -> dict:
    """Trains `tableau`-Net on spiral with the paper's settings; returns final metrics.

    ``quick`` shrinks everything to a smoke run (depth 3, width 4, 1 epoch, 200 points).
    """
    if quick:
        depth, width, epochs, num_samples, verbose = 3, 4, 1, 200, 0
    keras.utils.set_random_seed(seed)
    (x_train, y_train), (x_val, y_val) = keras_rk.datasets.spiral(
        num_train=num_samples, num_val=num_samples, seed=seed
    )
    model = keras_rk.build(tableau=tableau, depth=depth, width=width, input_dim=2, num_classes=2)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        # Many small steps per compiled call; Keras allows only 1 on torch.
        steps_per_execution=1 if keras.backend.backend() == "torch" else 50,
    )
    history = model.fit(
        x_train,
        y_train,
        batch_size=batch_size,
        epochs=epochs,
        validation_data=(x_val, y_val),
        verbose=verbose,
    )
    metrics = {name: values[-1] for name, values in history.history.items()}
    print(
        f"{model.name}, depth {depth}, width {width}: validation accuracy "
        f"{metrics['val_accuracy']:.4f} after {epochs} epochs"
    )
    return metrics


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tableau", default="rk4")
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="depth 3, 1 epoch, 200 samples")
    args = parser.parse_args()
    main(
        args.tableau,
        args.depth,
        args.width,
        args.epochs,
        seed=args.seed,
        verbose=2,
        quick=args.quick,
    )
