"""Fixed against learned step sizes (ODENet, ODENet+simplex) on spiral and donut_2D.

The paper's outlook suggests learning the step sizes h_l as well as (K, b)
(Benning et al., "Deep learning as optimal control problems"). RKBlock's
``step_size_mode`` does this: 'learned' trains L free positive steps, 'simplex'
L positive steps that sum to T = h L. This script trains one RK4Net per mode
and data set with otherwise identical settings and seeds.

KERAS_BACKEND=jax python examples/learned_steps.py            # minutes on 2 cores
KERAS_BACKEND=jax python examples/learned_steps.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse

import keras

import keras_rk

MODES = ("fixed", "learned", "simplex")


def make_points(name: str, num_samples: int, seed: int):
    """spiral or donut_2D from ``keras_rk.datasets``, num_samples + num_samples points."""
    names = {"spiral": "spiral", "donut_2D": "donut_2d"}
    if name not in names:
        raise ValueError(f"Unknown data set; expected 'spiral' or 'donut_2D'. Received: {name!r}")
    return keras_rk.datasets.load_points(
        names[name], num_train=num_samples, num_val=num_samples, seed=seed
    )


def main(
    datasets=("spiral", "donut_2D"),
    modes=MODES,
    tableau: str = "rk4",
    depth: int = 20,
    width: int = 16,
    step_size: float = 0.05,
    epochs: int = 10,
    batch_size: int = 5,
    learning_rate: float = 1e-3,
    num_samples: int = 1500,
    seed: int = 0,
    steps_per_execution: int = 50,
    verbose: int = 0,
) -> dict:
    """Trains one network per (data set, mode); returns
    {data set: {mode: {val_accuracy, val_loss, final_time, min_step, max_step}}}."""
    results: dict = {}
    for dataset in datasets:
        (x_train, y_train), (x_val, y_val) = make_points(dataset, num_samples, seed)
        results[dataset] = {}
        for mode in modes:
            keras.utils.set_random_seed(seed)
            model = keras_rk.build(
                tableau=tableau,
                depth=depth,
                width=width,
                input_dim=2,
                num_classes=2,
                step_size=step_size,
                lift="random",
                lift_seed=seed,
                step_size_mode=mode,
            )
            model.compile(
                optimizer=keras.optimizers.Adam(learning_rate),
                loss="sparse_categorical_crossentropy",
                metrics=["accuracy"],
                # Fewer host round trips; the torch backend runs one step at a time.
                steps_per_execution=1
                if keras.backend.backend() == "torch"
                else steps_per_execution,
            )
            history = model.fit(
                x_train,
                y_train,
                batch_size=batch_size,
                epochs=epochs,
                validation_data=(x_val, y_val),
                verbose=verbose,
            )
            steps = model.get_layer("rk_block").step_sizes()
            steps = keras.ops.convert_to_numpy(keras.ops.stop_gradient(steps))
            row = {
                "val_accuracy": float(history.history["val_accuracy"][-1]),
                "val_loss": float(history.history["val_loss"][-1]),
                "final_time": float(steps.sum()),
                "min_step": float(steps.min()),
                "max_step": float(steps.max()),
            }
            results[dataset][mode] = row
            print(
                f"{dataset:<9} {mode:<8} val_accuracy {row['val_accuracy']:.4f} "
                f"val_loss {row['val_loss']:.4f} T {row['final_time']:.3f} "
                f"h in [{row['min_step']:.4f}, {row['max_step']:.4f}]",
                flush=True,
            )
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tableau", default="rk4")
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="depth 3, 1 epoch, 100 samples")
    args = parser.parse_args()
    if args.quick:
        main(
            tableau=args.tableau,
            depth=3,
            width=4,
            epochs=1,
            batch_size=10,
            num_samples=100,
            seed=args.seed,
            steps_per_execution=1,
        )
    else:
        main(
            tableau=args.tableau,
            depth=args.depth,
            width=args.width,
            epochs=args.epochs,
            learning_rate=args.learning_rate,
            seed=args.seed,
            verbose=0,
        )
