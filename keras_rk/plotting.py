"""Figure primitives for the paper's figures (Figs 2-13): panels and whole
figures drawn from models, point sets and histories. The figures of each study
are assembled from them in ``keras_rk.studies.figures``; this module knows
nothing of the studies. matplotlib and scikit-learn are imported inside the
functions, so ``import keras_rk`` stays light; figures render with the Agg
backend (files, no window).

Feature trajectories come from the trained model itself: ``feature_trajectories``
builds a twin of the model's RKBlock/StandardBlock with ``return_trajectory=True``
and the same weights; ``TrajectoryRecorder`` records them during ``fit``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

CLASS_COLORS = ("#1f4fd6", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")


def pyplot():
    """matplotlib.pyplot with the Agg backend (files, no window), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colors(labels: np.ndarray) -> list[str]:
    return [CLASS_COLORS[int(c) % len(CLASS_COLORS)] for c in labels]


def _pca(points: np.ndarray, num_components: int, fit_on: np.ndarray | None = None) -> np.ndarray:
    """Projects the rows of `points` onto the first principal axes of `fit_on`
    (default `points`); pads with zeros when there are fewer dimensions."""
    from sklearn.decomposition import PCA

    fit_on = points if fit_on is None else fit_on
    components = min(num_components, fit_on.shape[1], fit_on.shape[0])
    reduced = PCA(n_components=components).fit(fit_on).transform(points)
    if components < num_components:
        reduced = np.pad(reduced, ((0, 0), (0, num_components - components)))
    return reduced


def _block(model):
    from keras_rk.layers import RKBlock, StandardBlock

    blocks = [layer for layer in model.layers if isinstance(layer, (RKBlock, StandardBlock))]
    if len(blocks) != 1:
        raise ValueError(
            f"Expected a model with exactly one RKBlock or StandardBlock (as made by "
            f"keras_rk.build). Received: a model with {len(blocks)}"
        )
    return blocks[0]


def feature_trajectories(model, x: np.ndarray) -> np.ndarray:
    """The features y[0], ..., y[L] of every input: (num_points, L + 1, width).

    y[0] is the lifted input; y[L] is what the classifier sees.
    """
    import keras

    from keras_rk.layers._stacked import StackedStepsBlock

    block = _block(model)
    assert isinstance(block, StackedStepsBlock)
    twin = type(block).from_config({**block.get_config(), "return_trajectory": True})
    twin.build((None, block.width))
    twin.set_weights(block.get_weights())
    lift = keras.Model(model.inputs, block.input)
    features = lift.predict(np.asarray(x, dtype="float32"), batch_size=4096, verbose=0)
    return keras.ops.convert_to_numpy(twin(features))


def output_features(model, x: np.ndarray) -> np.ndarray:
    """The features of the output layer y[L]: (num_points, width)."""
    import keras

    block = _block(model)
    return keras.Model(model.inputs, block.output).predict(
        np.asarray(x, dtype="float32"), batch_size=4096, verbose=0
    )


def _trajectory_recorder_class():
    import keras

    class TrajectoryRecorder(keras.callbacks.Callback):
        """Records ``feature_trajectories(model, x)`` at the end of every
        `every`-th epoch into ``self.trajectories`` (a dict epoch -> array)."""

        def __init__(self, x, every: int = 1):
            super().__init__()
            self.x, self.every, self.trajectories = x, every, {}

        def on_epoch_end(self, epoch, logs=None):
            if (epoch + 1) % self.every == 0:
                self.trajectories[epoch + 1] = feature_trajectories(self.model, self.x)

    return TrajectoryRecorder


def TrajectoryRecorder(x, every: int = 1):  # noqa: N802 - a class made lazily
    """A Keras callback that records feature trajectories of `x` during ``fit``."""
    return _trajectory_recorder_class()(x, every)


# ---------------------------------------------------------------- single panels


def _axes(ax, dim: int):
    plt = pyplot()
    if ax is None:
        figure = plt.figure(figsize=(4, 4))
        ax = figure.add_subplot(projection="3d" if dim == 3 else None)
    return ax


def plot_points(x: np.ndarray, y: np.ndarray, ax=None, title: str | None = None, size=4):
    """A point set coloured by class, 2-D or 3-D (Figs 2, 8)."""
    dim = 3 if x.shape[1] >= 3 else 2
    ax = _axes(ax, dim)
    ax.scatter(*x[:, :dim].T, c=_colors(y), s=size, linewidths=0)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_trajectories(trajectories, y, ax=None, num_points: int = 60, title=None):
    """Feature trajectories, start at a small dot, end at a large dot (Figs 3-4).

    Widths 2 and 3 are drawn as they are; wider features are reduced to 3-D by a
    PCA fitted over all the states shown."""
    trajectories = np.asarray(trajectories)
    keep = np.linspace(0, len(trajectories) - 1, min(num_points, len(trajectories))).astype(int)
    paths, labels = trajectories[keep], np.asarray(y)[keep]
    width = paths.shape[-1]
    if width > 3:
        flat = paths.reshape(-1, width)
        paths = _pca(flat, 3).reshape(paths.shape[0], paths.shape[1], 3)
    dim = 3 if paths.shape[-1] == 3 else 2
    ax = _axes(ax, dim)
    for path, label in zip(paths, labels):
        color = CLASS_COLORS[int(label) % len(CLASS_COLORS)]
        ax.plot(*path[:, :dim].T, color=color, linewidth=0.6, alpha=0.6)
        ax.scatter(*path[0, :dim], color=color, s=3)
        ax.scatter(*path[-1, :dim], color=color, s=18)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_features(features, y, dim: int = 3, ax=None, title=None):
    """Features (e.g. of the output layer) reduced by PCA to `dim` = 2 or 3 (Figs 10, 11)."""
    reduced = _pca(np.asarray(features), dim) if features.shape[1] != dim else features
    ax = _axes(ax, dim)
    ax.scatter(*reduced.T, c=_colors(y), s=3, linewidths=0)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_prediction(model, x, y, ax=None, resolution: int = 120, title=None):
    """The predicted class over the input plane as a coloured background, with the
    points on top (Figs 3, 4, 6, 10, 11). 2-D inputs only."""
    from matplotlib.colors import ListedColormap

    x = np.asarray(x)
    if x.shape[1] != 2:
        raise ValueError(
            f"plot_prediction draws the input plane, so it needs 2-D inputs. "
            f"Received: inputs of dimension {x.shape[1]}"
        )
    ax = _axes(ax, 2)
    low, high = x.min(axis=0) - 0.5, x.max(axis=0) + 0.5
    g0, g1 = np.meshgrid(
        np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution)
    )
    grid = np.stack([g0.ravel(), g1.ravel()], axis=1).astype("float32")
    predicted = model.predict(grid, batch_size=4096, verbose=0).argmax(axis=1)
    num_classes = int(model.output_shape[-1])
    colormap = ListedColormap([CLASS_COLORS[i % len(CLASS_COLORS)] for i in range(num_classes)])
    ax.pcolormesh(
        g0, g1, predicted.reshape(g0.shape), cmap=colormap, alpha=0.25,
        vmin=-0.5, vmax=num_classes - 0.5, shading="auto",
    )  # fmt: skip
    ax.scatter(*x.T, c=_colors(y), s=3, linewidths=0)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


# ---------------------------------------------------------------- whole figures


def save_figure(figure, path) -> Path:
    """Lays out `figure`, writes it to `path` (PNG at 80 dpi) and closes it."""
    path = Path(path)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    pyplot().close(figure)
    return path


def plot_datasets(sets: dict[str, tuple[np.ndarray, np.ndarray]], path) -> Path:
    """One panel per named point set (Figs 2, 8)."""
    plt = pyplot()
    figure = plt.figure(figsize=(3 * len(sets), 3))
    for i, (name, (x, y)) in enumerate(sets.items(), 1):
        ax = figure.add_subplot(1, len(sets), i, projection="3d" if x.shape[1] >= 3 else None)
        plot_points(x, y, ax, title=name)
    return save_figure(figure, path)


def plot_classification(rows: dict[str, tuple[Any, np.ndarray, np.ndarray]], path,
                        kind: str = "trajectories") -> Path:  # fmt: skip
    """One row per model: (trajectories | output features in 3-D), output
    features in 2-D, prediction. `rows` maps a title to (model, x, y).

    kind='trajectories' gives Figs 3-4, kind='pca' gives Figs 10-11."""
    plt = pyplot()
    figure = plt.figure(figsize=(10, 3.2 * len(rows)))
    for r, (title, (model, x, y)) in enumerate(rows.items()):
        trajectories = feature_trajectories(model, x)
        width = trajectories.shape[-1]
        first = figure.add_subplot(len(rows), 3, 3 * r + 1, projection="3d" if width >= 3 or
                                   kind == "pca" else None)  # fmt: skip
        if kind == "trajectories":
            plot_trajectories(trajectories, y, first, title=f"{title}: trajectories")
        else:
            plot_features(trajectories[:, -1], y, 3, first, title=f"{title}: output, PCA 3-D")
        second = figure.add_subplot(len(rows), 3, 3 * r + 2)
        plot_features(trajectories[:, -1], y, 2, second, title="output layer, PCA 2-D")
        third = figure.add_subplot(len(rows), 3, 3 * r + 3)
        if x.shape[1] == 2:
            plot_prediction(model, x, y, third, title="prediction")
        else:
            third.set_axis_off()
    return save_figure(figure, path)


def plot_layers(rows: dict[str, tuple[Any, np.ndarray, np.ndarray]], path,
                num_panels: int = 5) -> Path:  # fmt: skip
    """Features in the input, hidden and output layers side by side, PCA to 3-D
    with one PCA per row fitted over all its layers (Fig 5)."""
    plt = pyplot()
    figure = plt.figure(figsize=(2.6 * num_panels, 2.8 * len(rows)))
    for r, (title, (model, x, y)) in enumerate(rows.items()):
        trajectories = feature_trajectories(model, x)
        layers = np.unique(np.linspace(0, trajectories.shape[1] - 1, num_panels).astype(int))
        fit_on = trajectories[:, layers].reshape(-1, trajectories.shape[-1])
        for c, layer in enumerate(layers):
            ax = figure.add_subplot(len(rows), num_panels, r * num_panels + c + 1,
                                    projection="3d")  # fmt: skip
            reduced = _pca(trajectories[:, layer], 3, fit_on=fit_on)
            ax.scatter(*reduced.T, c=_colors(y), s=2, linewidths=0)
            where = (
                "input"
                if layer == 0
                else ("output" if layer == trajectories.shape[1] - 1 else "hidden")
            )
            ax.set_title(f"{title}: {where} layer {layer}", fontsize=8)
    return save_figure(figure, path)


def plot_history(groups: dict[str, list[dict[str, list[float]]]], path,
                 validation_only: bool = False, max_epochs: int | None = None) -> Path:  # fmt: skip
    """Accuracy (left) and cost (right) per epoch: the mean over repetitions as a
    line and one standard deviation as a band; validation solid, training dotted
    (Figs 7, 12, 13). `groups` maps a label to the histories of its repetitions."""
    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, (label, histories) in enumerate(groups.items()):
        color = f"C{i}"
        splits = (("val_", "-"),) if validation_only else (("val_", "-"), ("", ":"))
        for prefix, style in splits:
            for ax, metric in zip(axes, ("accuracy", "loss")):
                series = [h[prefix + metric] for h in histories]
                length = min(len(s) for s in series)
                if max_epochs is not None:
                    length = min(length, max_epochs + 1)
                values = np.array([s[:length] for s in series])
                mean, std = values.mean(axis=0), values.std(axis=0)
                epochs = np.arange(length)
                name = f"{label} ({'validation' if prefix else 'training'})"
                ax.plot(epochs, mean, style, color=color, label=name)
                ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.15)
    axes[0].set_ylabel("accuracy")
    axes[1].set_ylabel("cost")
    for ax in axes:
        ax.set_xlabel("epoch")
    axes[0].legend(fontsize=7)
    return save_figure(figure, path)


def plot_repetitions(models: list[tuple[Any, np.ndarray, np.ndarray]], path) -> Path:
    """One column per repetition: output-layer features by PCA in 3-D (top) and
    the prediction (bottom, 2-D inputs) (Fig 9)."""
    plt = pyplot()
    figure = plt.figure(figsize=(3.2 * len(models), 6.4))
    for c, (model, x, y) in enumerate(models):
        ax = figure.add_subplot(2, len(models), c + 1, projection="3d")
        plot_features(output_features(model, x), y, 3, ax, title=f"repetition {c + 1}")
        if x.shape[1] == 2:
            plot_prediction(model, x, y, figure.add_subplot(2, len(models), len(models) + c + 1))
    return save_figure(figure, path)


def plot_accuracy_by_depth(summary: list[dict[str, Any]], path) -> Path:
    """Validation accuracy against depth per network, ours and the paper's (Table 1)."""
    plt = pyplot()
    figure, ax = plt.subplots(figsize=(5, 3.5))
    for i, architecture in enumerate(dict.fromkeys(r["architecture"] for r in summary)):
        rows = [r for r in summary if r["architecture"] == architecture]
        depths = [r["depth"] for r in rows]
        ax.errorbar(depths, [r["val_accuracy_mean"] for r in rows],
                    [r["val_accuracy_std"] for r in rows], marker="o", color=f"C{i}",
                    label=f"{architecture} (ours)")  # fmt: skip
        paper = [r.get("paper_val_accuracy") for r in rows]
        if all(p is not None for p in paper):
            ax.plot(depths, paper, "x--", color=f"C{i}", label=f"{architecture} (paper)")
    ax.set_xscale("log")
    ax.set_xlabel("depth L")
    ax.set_ylabel("validation accuracy %")
    ax.legend(fontsize=7)
    return save_figure(figure, path)
