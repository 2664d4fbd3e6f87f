"""Image classification with augmented Runge-Kutta networks (section 4.5, Table 6).

Trains StandardNet (L = 5), EulerNet and RK4Net (L = 100) of width 900 (= 30^2,
augmented) or 784 (not augmented) with tanh on 1,500 random training images and
validates on 1,500 random test images, as the paper does; ``--full`` uses the
whole 60,000/10,000 split. Prints validation accuracy and cost per network
(mean and standard deviation over the seeds) and optionally draws Figs 14-18.

    python examples/images.py --dataset fashion_mnist --seeds 0 1 2 3
    python examples/images.py --quick
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ARCHITECTURES = ("standard", "euler", "rk4")


def build_network(
    architecture, width, depth, standard_depth, activation, lift, lift_seed, step_size=None,
    gradient="autodiff",
):  # fmt: skip
    import keras_rk

    if architecture == "standard":
        return keras_rk.build(
            architecture="standard", depth=standard_depth, width=width, input_dim=784,
            num_classes=10, activation=activation, lift=lift, lift_seed=lift_seed,
        )  # fmt: skip
    return keras_rk.build(
        architecture, depth=depth, width=width, input_dim=784, num_classes=10,
        activation=activation, lift=lift, lift_seed=lift_seed, step_size=step_size,
        gradient=gradient,
    )  # fmt: skip


def train_one(
    architecture, data, *, seed, width, depth, standard_depth, activation, lift, batch_size,
    epochs, patience, learning_rate, steps_per_execution, jit_compile, verbose, step_size=None,
    gradient="autodiff",
):  # fmt: skip
    """Trains one network; returns (model, metrics dict, Keras history dict)."""
    import keras

    (x_train, y_train), (x_val, y_val) = data
    keras.utils.set_random_seed(seed)
    model = build_network(
        architecture, width, depth, standard_depth, activation, lift, seed, step_size, gradient
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
        jit_compile=jit_compile,
    )
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=patience, restore_best_weights=True
    )
    start = time.perf_counter()
    history = model.fit(
        x_train, y_train, batch_size=batch_size, epochs=epochs, shuffle=True,
        validation_data=(x_val, y_val), callbacks=[stopper], verbose=verbose,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    train_loss, train_acc = model.evaluate(x_train, y_train, batch_size=500, verbose=0)
    val_loss, val_acc = model.evaluate(x_val, y_val, batch_size=500, verbose=0)
    metrics = {
        "train_accuracy": float(train_acc), "val_accuracy": float(val_acc),
        "train_loss": float(train_loss), "val_loss": float(val_loss),
        "epochs": len(history.history["loss"]), "seconds": seconds,
    }  # fmt: skip
    return model, metrics, {k: [float(v) for v in vs] for k, vs in history.history.items()}


def main(
    dataset="fashion_mnist", architectures=ARCHITECTURES, width=900, depth=100,
    standard_depth=5, step_size=None, activation="tanh", lift="random", num_train=1500,
    num_test=1500,
    batch_size=5, epochs=40, patience=5, learning_rate=1e-3, seeds=(0,), data_dir=None,
    steps_per_execution=1, jit_compile="auto", figures_dir=None, output=None, quick=False,
    verbose=2, gradient="autodiff",
):  # fmt: skip
    """Runs the Table 6 comparison; returns {architecture: summary} where a summary
    holds per-seed metrics and the mean and standard deviation of each.

    ``num_train``/``num_test`` None means the whole split. ``quick`` shrinks
    everything (200/200 images, width 800, depth 3, 1 epoch) for smoke tests.
    ``lift='random'`` is the frozen random lift of the paper's code (its image
    studies do not zero-pad). ``gradient='adjoint'`` trains the RK networks with
    ``RKBlock``'s compiled adjoint sweep (same gradient, faster at batch 5).
    """
    from keras_rk.datasets import load_images

    if quick:
        width, depth, standard_depth = 800, 3, 2
        num_train, num_test, epochs, batch_size = 200, 200, 1, 50
    results = {}
    histories = {}
    models = {}
    for seed in seeds:
        data = load_images(dataset, data_dir, num_train=num_train, num_test=num_test, seed=seed)
        for architecture in architectures:
            model, metrics, history = train_one(
                architecture, data, seed=seed, width=width, depth=depth,
                standard_depth=standard_depth, activation=activation, lift=lift,
                batch_size=batch_size, epochs=epochs, patience=patience,
                learning_rate=learning_rate, steps_per_execution=steps_per_execution,
                jit_compile=jit_compile, verbose=verbose, step_size=step_size,
                gradient=gradient,
            )  # fmt: skip
            print(f"{dataset} {architecture} seed={seed}: " + json.dumps(metrics), flush=True)
            results.setdefault(architecture, []).append(metrics)
            histories.setdefault(architecture, []).append(history)
            models[architecture] = (model, data)
    summary = {}
    for architecture, runs in results.items():
        summary[architecture] = {"runs": runs}
        for key in ("val_accuracy", "val_loss", "train_accuracy", "train_loss", "seconds"):
            values = np.array([run[key] for run in runs])
            summary[architecture][key] = {"mean": float(values.mean()), "std": float(values.std())}
    _print_table(dataset, summary)
    if output is not None:
        Path(output).write_text(json.dumps(summary, indent=1))
    if figures_dir is not None:
        draw_figures(dataset, models, histories, Path(figures_dir))
    return summary


def _print_table(dataset, summary):
    print(f"\n{dataset}: validation accuracy (%) and cost, mean ± std over seeds")
    for architecture, row in summary.items():
        acc, loss = row["val_accuracy"], row["val_loss"]
        print(
            f"  {architecture:9s} {100 * acc['mean']:6.2f} ± {100 * acc['std']:5.2f}   "
            f"{loss['mean']:.3f} ± {loss['std']:.3f}   ({len(row['runs'])} seeds, "
            f"{row['seconds']['mean']:.0f} s each)"
        )


def output_features(model, x):
    """The state y[L] the classifier sees (the input of the last Dense layer)."""
    import keras

    extractor = keras.Model(model.inputs, model.layers[-1].input)
    return extractor.predict(x, batch_size=500, verbose=0)


def pca_3d(features):
    centred = features - features.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:3].T


def draw_figures(dataset, models, histories, directory):
    """Figs 14/15 (samples with true and predicted labels), 16 (PCA of output
    features), 17/18 (training and validation curves) as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from keras_rk.datasets import CLASS_NAMES

    directory.mkdir(parents=True, exist_ok=True)
    names = CLASS_NAMES[dataset]
    best = "rk4" if "rk4" in models else next(iter(models))
    model, (_, (x_val, y_val)) = models[best]
    shown = min(12, len(x_val))
    predicted = np.argmax(model.predict(x_val[:shown], verbose=0), axis=-1)
    fig, axes = plt.subplots(2, (shown + 1) // 2, figsize=(12, 4.5))
    for ax, image, true, guess in zip(axes.flat, x_val[:shown], y_val[:shown], predicted):
        ax.imshow(image.reshape(28, 28), cmap="gray_r")
        ax.set_title(f"true: {names[true]}\npred: {names[guess]}", fontsize=8,
                     color="black" if true == guess else "red")  # fmt: skip
        ax.axis("off")
    fig.suptitle(f"{dataset}: {best} net on validation images")
    fig.savefig(directory / f"{dataset}_samples.png", dpi=100)
    plt.close(fig)

    fig = plt.figure(figsize=(5 * len(models), 4.5))
    for i, (architecture, (model, (_, (x_val, y_val)))) in enumerate(models.items()):
        points = pca_3d(output_features(model, x_val))
        ax = fig.add_subplot(1, len(models), i + 1, projection="3d")
        scatter = ax.scatter(*points.T, c=y_val, cmap="tab10", s=4)
        ax.set_title(f"{architecture}: output features, PCA 3-D")
    fig.colorbar(scatter, ax=fig.axes, ticks=range(10), shrink=0.6)
    fig.savefig(directory / f"{dataset}_features_pca.png", dpi=100)
    plt.close(fig)

    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
    for architecture, runs in histories.items():
        history = runs[0]
        for key, style in (("", ":"), ("val_", "-")):
            ax_acc.plot(history[key + "accuracy"], style, label=f"{architecture} {key or 'train_'}")
            ax_loss.plot(history[key + "loss"], style, label=f"{architecture} {key or 'train_'}")
    ax_acc.set(xlabel="epoch", ylabel="accuracy")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy")
    ax_acc.legend(fontsize=7)
    fig.savefig(directory / f"{dataset}_curves.png", dpi=100)
    plt.close(fig)


def _parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion_mnist", choices=("mnist", "fashion_mnist"))
    parser.add_argument("--architectures", nargs="+", default=list(ARCHITECTURES))
    parser.add_argument("--width", type=int, default=900)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--standard-depth", type=int, default=5)
    parser.add_argument("--step-size", type=float, default=None, help="h; default 0.05")
    parser.add_argument("--activation", default="tanh")
    parser.add_argument("--lift", default="random", choices=("zeros", "random", "trainable"))
    parser.add_argument("--num-train", type=int, default=1500)
    parser.add_argument("--num-test", type=int, default=1500)
    parser.add_argument("--full", action="store_true", help="the whole 60,000/10,000 split")
    parser.add_argument("--batch-size", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--steps-per-execution", type=int, default=1)
    parser.add_argument("--figures-dir", default=None)
    parser.add_argument("--output", default=None, help="write the summary as JSON here")
    parser.add_argument("--gradient", default="autodiff", choices=("autodiff", "adjoint"))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args(argv)
    kwargs = vars(args)
    if kwargs.pop("full"):
        kwargs["num_train"] = kwargs["num_test"] = None
    kwargs["architectures"] = tuple(kwargs["architectures"])
    kwargs["seeds"] = tuple(kwargs["seeds"])
    return kwargs


if __name__ == "__main__":
    main(**_parse())
