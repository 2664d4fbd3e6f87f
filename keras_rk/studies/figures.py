"""The figures of each study (Figs 3-13, 17-18), drawn with the primitives of
``keras_rk.plotting`` from the finished repetitions of a results folder.

Image studies get learning curves only; point studies get their data sets and
the figures of the paper's section on them. Models are rebuilt from the
weights saved beside each record.
"""

from __future__ import annotations

from pathlib import Path

from keras_rk import plotting
from keras_rk.datasets import IMAGE_SETS, load_points
from keras_rk.results import ResultsError
from keras_rk.studies.catalogue import display_name
from keras_rk.studies.repetition import build_model


def study_figures(name, folder, cells, settings, records, summary) -> list[Path]:
    """The figures of one study from its finished repetitions (weights on disk)
    and its `summary` (``summarize``'s rows).

    Image studies get learning curves only (Figs 17-18): one ``history_<data
    set>.png`` per data set."""

    def model_and_data(cell, seed=0):
        model = build_model(cell, settings)
        path = folder.weights_path(cell.run_id(seed))
        weights = folder.load_weights(cell.run_id(seed))
        if weights is None:  # drawn without them, the figure would show an untrained model
            raise ResultsError(
                f"The weights file {path} is missing; the figures need the trained "
                f"weights. Rerun the study into this folder to train that repetition again."
            )
        shapes = [tuple(w.shape) for w in weights]
        if shapes != [tuple(v.shape) for v in model.weights]:
            raise ResultsError(
                f"The weights file {path} holds arrays of shapes {shapes}, not those of "
                f"{cell.label}. Move it and its .json beside it away, then rerun the study."
            )
        model.set_weights(weights)
        (_, _), (x_val, y_val) = load_points(
            cell.dataset, num_train=settings.num_train, num_val=settings.num_val, seed=seed
        )
        return model, x_val, y_val

    def title(cell):
        return f"{display_name(cell.architecture)} L={cell.depth}"

    def histories(cell):
        return [records[cell.run_id(s)]["history"] for s in range(settings.seeds)]

    out = folder.path
    files = []
    datasets = list(dict.fromkeys(c.dataset for c in cells))
    if any(dataset in IMAGE_SETS for dataset in datasets):
        for dataset in datasets:
            groups = {
                f"{title(c)} width {c.width}": histories(c) for c in cells if c.dataset == dataset
            }
            files.append(plotting.plot_history(groups, out / f"history_{dataset}.png"))
        return files
    sets = {}
    for dataset in datasets:
        (x, y), _ = load_points(dataset, num_train=settings.num_train, num_val=1, seed=0)
        sets[dataset] = (x, y)
    files.append(plotting.plot_datasets(sets, out / "datasets.png"))

    if name == "width":
        for dataset in datasets:
            rows = {f"{dataset} width {c.width}": model_and_data(c) for c in cells
                    if c.dataset == dataset}  # fmt: skip
            files.append(plotting.plot_classification(rows, out / f"classification_{dataset}.png"))
    elif name == "depth":
        files.append(plotting.plot_accuracy_by_depth(summary, out / "accuracy_by_depth.png"))
        chosen = [c for c in cells if c.depth == 20] or [c for c in cells if c.depth == max(
            d.depth for d in cells)]  # fmt: skip
        rows = {title(c): model_and_data(c) for c in chosen}
        files.append(plotting.plot_layers(rows, out / "layers.png"))
    elif name == "activation":
        groups = {f"{title(c)} {c.activation}": histories(c) for c in cells}
        files.append(plotting.plot_history(groups, out / "history.png"))
        rows = {f"{title(c)} {c.activation}": model_and_data(c) for c in cells[:1]}
        files.append(plotting.plot_classification(rows, out / "prediction.png", kind="pca"))
    elif name == "comparison":
        for dataset in datasets:
            chosen = [c for c in cells if c.dataset == dataset]
            if sets[dataset][0].shape[1] == 2:
                rows = {f"{title(c)} on {dataset}": model_and_data(c) for c in chosen}
                path = out / f"classification_{dataset}.png"
                files.append(plotting.plot_classification(rows, path, kind="pca"))
            else:
                groups = {title(c): histories(c) for c in chosen}
                files.append(plotting.plot_history(groups, out / f"history_{dataset}.png",
                                          validation_only=True))  # fmt: skip
    elif name == "variability":
        cell = cells[0]
        models = [model_and_data(cell, s) for s in range(settings.seeds)]
        files.append(plotting.plot_repetitions(models, out / "repetitions.png"))
        files.append(plotting.plot_history({title(cell): histories(cell)}, out / "history.png"))
    return files
