"""Image classification with augmented Runge-Kutta networks (section 4.5, Table 6).

A short example over the study code: it runs the ``images`` study of
``keras_rk.studies`` (StandardNet L = 5, EulerNet and RK4Net L = 100, width
900, tanh, 1,500 random training and 1,500 random test images per seed) on one
data set, prints validation accuracy and cost per network (mean and standard
deviation over the seeds) and optionally draws Figs 14-18.

It takes the flags of ``keras-rk run images`` with the same defaults (the
paper's, from the study's catalogue), plus ``--dataset`` (one data set,
default Fashion-MNIST, which Debian ships for offline use), ``--figures-dir`` and
``--output``. Without ``--out`` the results go to a temporary folder; with it,
a rerun resumes them as ``keras-rk run`` does.

    python examples/images.py --dataset fashion_mnist --seeds 4 --out results/table6
    python examples/images.py --quick
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from keras_rk import cli, plotting, studies
from keras_rk.datasets import CLASS_NAMES, IMAGE_SETS
from keras_rk.datasets.images import IMAGE_SIZE

ARCHITECTURES = ("standard", "euler", "rk4")
METRICS = ("val_accuracy", "val_loss", "train_accuracy", "train_loss")


def main(
    dataset="fashion_mnist", architectures=ARCHITECTURES, width=None, depth=None,
    standard_depth=None, out=None, data_dir=None, figures_dir=None, output=None, quick=False,
    verbose=1, **settings,
):  # fmt: skip
    """Runs (or resumes) the Table 6 comparison on `dataset`; returns
    {architecture: summary}, a summary holding the per-seed final metrics
    (``runs``) and the mean and standard deviation of each over the seeds.

    `width`, `depth`, `standard_depth` and every field of
    ``keras_rk.studies.Settings`` in `settings` (seeds as a count, epochs,
    patience, gradient, restore_best_weights, ...) default to the images
    study's, as for ``keras-rk run images``; None means that default. ``quick``
    takes the study's quick sizes. `out` keeps the results folder (default: a
    temporary one).
    """
    options = {"datasets": [dataset], "architectures": list(architectures), "width": width,
               "depth": depth, "standard_depth": standard_depth}  # fmt: skip
    _, resolved, opts = studies.resolve("images", quick, options, **settings)
    progress = print if verbose else (lambda line: None)
    with tempfile.TemporaryDirectory(prefix="keras-rk-images-") as temporary:
        folder = Path(out or temporary)
        result = studies.run_study("images", folder, quick, options, figures=False,
                                   progress=progress, data_dir=data_dir, **settings)  # fmt: skip
        cells = studies.get_study("images").make_cells(opts)
        summary = summarize(cells, resolved.seeds, result["records"])
        if figures_dir is not None:
            results = studies.results_folder(folder, "images", resolved, opts)
            models = {}
            for cell in cells:
                model = studies.build_model(cell, resolved)
                model.set_weights(results.load_weights(cell.run_id(0)))
                _, validation = studies.load_data(cell, resolved, 0, data_dir)
                models[cell.architecture] = (model, validation)
            histories = {
                studies.display_name(c.architecture): [
                    result["records"][c.run_id(s)]["history"] for s in range(resolved.seeds)
                ]
                for c in cells
            }
            draw_figures(dataset, models, histories, Path(figures_dir))
    print_table(dataset, summary)
    if output is not None:
        Path(output).write_text(json.dumps(summary, indent=1))
    return summary


def summarize(cells, seeds, records):
    """Per architecture: the final metrics of each seed and their mean and std
    (fractions and costs as Keras reports them, not the paper's units)."""
    summary = {}
    for cell in cells:
        runs = [records[cell.run_id(s)] for s in range(seeds)]
        row = {"runs": [{**r["final"], "epochs": r["epochs_run"], "seconds": r["seconds"]}
                        for r in runs]}  # fmt: skip
        for key in (*METRICS, "seconds"):
            values = np.array([run[key] for run in row["runs"]])
            row[key] = {"mean": float(values.mean()), "std": float(values.std())}
        summary[cell.architecture] = row
    return summary


def print_table(dataset, summary):
    print(f"\n{dataset}: validation accuracy (%) and cost, mean ± std over seeds")
    for architecture, row in summary.items():
        acc, loss = row["val_accuracy"], row["val_loss"]
        print(
            f"  {architecture:9s} {100 * acc['mean']:6.2f} ± {100 * acc['std']:5.2f}   "
            f"{loss['mean']:.3f} ± {loss['std']:.3f}   ({len(row['runs'])} seeds, "
            f"{row['seconds']['mean']:.0f} s each)"
        )


def draw_figures(dataset, models, histories, directory):
    """Figs 14/15 (samples with true and predicted labels), 16 (PCA of output
    features) and 17/18 (learning curves, seed 0's model for the first two)."""
    plt = plotting.pyplot()
    directory.mkdir(parents=True, exist_ok=True)
    names = CLASS_NAMES[dataset]
    best = "rk4" if "rk4" in models else next(iter(models))
    model, (x_val, y_val) = models[best]
    shown = min(12, len(x_val))
    predicted = np.argmax(model.predict(x_val[:shown], verbose=0), axis=-1)
    figure, axes = plt.subplots(2, (shown + 1) // 2, figsize=(12, 4.5))
    for ax, image, true, guess in zip(axes.flat, x_val[:shown], y_val[:shown], predicted):
        ax.imshow(image.reshape(IMAGE_SIZE, IMAGE_SIZE), cmap="gray_r")
        ax.set_title(f"true: {names[true]}\npred: {names[guess]}", fontsize=8,
                     color="black" if true == guess else "red")  # fmt: skip
        ax.axis("off")
    figure.suptitle(f"{dataset}: {studies.display_name(best)} on validation images")
    plotting.save_figure(figure, directory / f"{dataset}_samples.png")

    figure = plt.figure(figsize=(5 * len(models), 4.5))
    for i, (architecture, (model, (x_val, y_val))) in enumerate(models.items()):
        ax = figure.add_subplot(1, len(models), i + 1, projection="3d")
        title = f"{studies.display_name(architecture)}: output, PCA 3-D"
        plotting.plot_features(plotting.output_features(model, x_val), y_val, 3, ax, title=title)
    plotting.save_figure(figure, directory / f"{dataset}_features_pca.png")
    plotting.plot_history(histories, directory / f"{dataset}_curves.png")


def _parse(argv=None):
    """The flags of ``keras-rk run images`` (parsed by the CLI's own parser)
    plus this example's."""
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--dataset", default="fashion_mnist", choices=IMAGE_SETS)
    own.add_argument("--figures-dir", default=None)
    own.add_argument("--output", default=None, help="write the summary as JSON here")
    mine, rest = own.parse_known_args(argv)
    parser = cli.make_parser()
    args = parser.parse_args(["run", "images", *rest])
    for flag in ("datasets", "distribute"):
        if getattr(args, flag) is not None:
            parser.error(f"the example takes --dataset, not --{flag}; use keras-rk run images")
    return dict(
        dataset=mine.dataset, architectures=args.architectures or ARCHITECTURES,
        width=args.width, depth=args.depth, standard_depth=args.standard_depth, out=args.out,
        data_dir=args.data_dir, figures_dir=mine.figures_dir, output=mine.output,
        quick=args.quick, **cli.settings_overrides(args),
    )  # fmt: skip


if __name__ == "__main__":
    from keras_rk.allocator import tune_allocator

    tune_allocator()  # restarts with malloc tuned for large buffers, as keras-rk does
    main(**_parse())
