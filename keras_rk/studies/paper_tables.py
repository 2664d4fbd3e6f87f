"""The paper's numbers (Tables 1-6, section 4.3), to set beside ours.

Accuracy is in %, cost x 10^-1, as in the paper's tables. ``paper_values``
takes any cell-like object with ``dataset``, ``architecture`` ('standard',
'euler', 'rk4'), ``depth``, ``width`` and ``activation``, so this module depends
on nothing else of the studies.
"""

from __future__ import annotations

from typing import Any

DEPTHS = (1, 3, 5, 10, 20, 40, 100)
# Table 1 (accuracy %) and Table 2 (cost x 10^-1): rows train, validation.
TABLE1 = {
    "standard": ((92.73, 92.87, 98.12, 97.52, 67.62, 51.08, 50.67),
                 (91.88, 92.50, 98.10, 97.45, 66.87, 48.92, 49.33)),
    "rk4": ((75.60, 91.42, 97.90, 99.77, 99.93, 99.73, 99.95),
            (75.12, 90.68, 97.33, 99.47, 99.70, 99.50, 99.75)),
}  # fmt: skip
TABLE2 = {
    "standard": ((2.23, 1.38, 0.66, 0.77, 6.09, 6.93, 6.93),
                 (2.33, 1.53, 0.67, 0.77, 6.13, 6.94, 6.93)),
    "rk4": ((4.32, 2.68, 0.98, 0.16, 0.04, 0.10, 0.01),
            (4.39, 2.69, 1.06, 0.28, 0.13, 0.12, 0.12)),
}  # fmt: skip
COMPARISON_SETS = (
    "donut_3d_2c", "donut_3d_3c", "donut_2d_6c", "donut_3d_6c", "squares_2d_4c", "squares_3d_4c"
)  # fmt: skip
# Table 4: validation accuracy % and validation cost x 10^-1.
TABLE4 = {
    "standard": ((92.37, 87.75, 75.12, 73.00, 94.12, 89.68), (1.71, 2.85, 5.60, 5.86, 1.57, 3.03)),
    "euler": ((91.88, 88.30, 74.87, 74.63, 93.35, 89.48), (1.84, 2.75, 5.56, 5.67, 1.66, 2.71)),
    "rk4": ((92.73, 87.13, 74.92, 74.88, 93.20, 89.37), (1.72, 2.95, 5.59, 5.73, 1.64, 2.81)),
}
# Table 5 (MNIST, RK4Net L = 100, tanh): width -> train/val accuracy %, train/val cost x 10^-1.
# Means; the standard deviations are 2.80, 2.93, 0.95, 1.62 (784) and 0.40, 1.08, 0.17, 0.46 (900).
TABLE5 = {784: (97.70, 87.27, 0.78, 7.71), 900: (99.77, 90.40, 0.10, 5.36)}
# Table 6 (width 900, tanh; StandardNet L = 5, EulerNet and RK4Net L = 100): validation
# accuracy % and cost x 10^-1. Standard deviations: MNIST 0.78/0.92, 0.48/0.36, 1.08/0.46;
# Fashion-MNIST 6.00/1.37, 2.57/1.87, 1.57/0.60 (same order).
TABLE6 = {
    "mnist": {"standard": (85.67, 8.95), "euler": (90.98, 5.71), "rk4": (90.40, 5.36)},
    "fashion_mnist": {"standard": (61.23, 11.41), "euler": (77.62, 9.52), "rk4": (79.13, 8.24)},
}
TABLE6_DEPTHS = {"standard": 5, "euler": 100, "rk4": 100}


def _image_paper_values(study: str, cell: Any) -> dict[str, float]:
    if cell.activation != "tanh":
        return {}
    if study == "augmentation" and cell.dataset == "mnist" and cell.architecture == "rk4":
        if cell.depth == 100 and cell.width in TABLE5:
            train_acc, val_acc, train_cost, val_cost = TABLE5[cell.width]
            return {"train_accuracy": train_acc, "val_accuracy": val_acc,
                    "train_cost": train_cost, "val_cost": val_cost}  # fmt: skip
    if study == "images" and cell.width == 900 and cell.dataset in TABLE6:
        if TABLE6_DEPTHS.get(cell.architecture) == cell.depth:
            acc, cost = TABLE6[cell.dataset][cell.architecture]
            return {"val_accuracy": acc, "val_cost": cost}
    return {}


def paper_values(study: str, cell: Any) -> dict[str, float]:
    """The paper's mean metrics for a cell, where it reports them (accuracy in %,
    cost x 10^-1 as in its tables); keys as in ``summarize``. Only for the
    paper's widths (16 for points; 784 and 900 for images) and activation (tanh,
    except in the activation study).

    >>> from keras_rk.studies import Cell
    >>> paper_values("depth", Cell("spiral", "rk4", 20, 16))["val_accuracy"]
    99.7
    >>> paper_values("depth", Cell("spiral", "rk4", 20, 4))
    {}
    """
    if study in ("augmentation", "images"):
        return _image_paper_values(study, cell)
    if cell.width != 16 or (study != "activation" and cell.activation != "tanh"):
        return {}
    if study == "depth" and cell.dataset == "spiral" and cell.depth in DEPTHS:
        if cell.architecture in TABLE1:
            i = DEPTHS.index(cell.depth)
            acc, cost = TABLE1[cell.architecture], TABLE2[cell.architecture]
            return {"train_accuracy": acc[0][i], "val_accuracy": acc[1][i],
                    "train_cost": cost[0][i], "val_cost": cost[1][i]}  # fmt: skip
    if study == "comparison" and cell.dataset in COMPARISON_SETS:
        if cell.architecture in TABLE4:
            i = COMPARISON_SETS.index(cell.dataset)
            acc, cost = TABLE4[cell.architecture]
            return {"val_accuracy": acc[i], "val_cost": cost[i]}
    if study == "variability" and cell.dataset == "donut_2d_6c" and cell.architecture == "rk4":
        # Table 3, means; its standard deviations are 0.76, 0.89, 0.08, 0.16.
        return {"train_accuracy": 77.13, "val_accuracy": 74.92,
                "train_cost": 5.13, "val_cost": 5.59}  # fmt: skip
    if study == "activation" and cell.dataset == "donut_1d":
        # Section 4.3 says "roughly 90 %" for every activation.
        return {"val_accuracy": 90.0}
    return {}
