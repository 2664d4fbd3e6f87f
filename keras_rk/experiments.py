"""The paper's studies: point classification (section 4.1-4.4) and images (4.5), resumable.

A study is a list of *cells* (data set x network) times a number of seeds. Each
(cell, seed) is one repetition: seeded data, seeded initialisation,
``keras_rk.training.resumable_fit`` with Adam and sparse cross-entropy, then a
record written to the results folder (``keras_rk.results``). A rerun skips the
repetitions already on disk and resumes an interrupted one from its last
finished epoch (its state is kept in ``OUT/partial/<run>/`` until its record is
written), to the same numbers where the backend is deterministic.

Defaults are the settings of the paper's public code (its configs/experiments/*.json):
fixed step h = 0.05 at every depth, a frozen random lift except in the width
study (zero padding), batch size 5, Adam with learning rate 1e-3, at most 40
epochs (80 for width, 60 for activation) with its early stop (after epoch 10,
when the mean validation cost of the last five epochs exceeds that of the five
before by more than tol = 0.05).

The image studies (``augmentation``, ``images``) train on 1,500 random MNIST or
Fashion-MNIST training images and validate on 1,500 random test images per seed,
as the paper's code does, but stop with Keras's ``EarlyStopping`` on ``val_loss``
(patience 5) instead of the paper's rule with tol = 0.1: the issue asks for
Keras's callback, and patience 5 lets a run go at least five epochs past its best.

The JAX backend is much faster for these small networks (KERAS_BACKEND=jax).
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from keras_rk.datasets.points import available_point_sets, input_dim_of, load_points, num_classes_of
from keras_rk.results import ResultsFolder, atomic_write_text

ARCHITECTURE_NAMES = {"standard": "StandardNet", "euler": "EulerNet", "rk4": "RK4Net"}
IMAGE_SETS = ("mnist", "fashion_mnist")
IMAGE_INPUT_DIM, IMAGE_CLASSES = 28 * 28, 10


def available_datasets() -> list[str]:
    return [*available_point_sets(), *IMAGE_SETS]


def _input_dim(dataset: str) -> int:
    return IMAGE_INPUT_DIM if dataset in IMAGE_SETS else input_dim_of(dataset)


def _num_classes(dataset: str) -> int:
    return IMAGE_CLASSES if dataset in IMAGE_SETS else num_classes_of(dataset)


@dataclasses.dataclass(frozen=True)
class Cell:
    """One network on one data set."""

    dataset: str
    architecture: str  # 'standard' or the name of a registered tableau
    depth: int
    width: int
    activation: str = "tanh"
    lift: str | None = None  # None: the study's Settings.lift

    @property
    def label(self) -> str:
        name = ARCHITECTURE_NAMES.get(self.architecture, self.architecture)
        lift = f" lift={self.lift}" if self.lift else ""
        return f"{name} L={self.depth} width={self.width}{lift} {self.activation} on {self.dataset}"

    def run_id(self, seed: int) -> str:
        lift = f"-{self.lift}" if self.lift else ""
        return (
            f"{self.dataset}-{self.architecture}-L{self.depth}-w{self.width}{lift}-"
            f"{self.activation}-seed{seed}"
        )


@dataclasses.dataclass
class Settings:
    """Everything besides the cells that decides a study's numbers."""

    seeds: int = 4
    epochs: int = 40
    batch_size: int = 5
    learning_rate: float = 1e-3
    lift: str = "random"
    step_size: float | None = 0.05
    final_time: float | None = None
    tol: float = 0.05
    early_stop: bool = True
    # 'paper': the public code's rule with `tol`; 'patience': keras.callbacks.EarlyStopping
    # on val_loss with `patience` (and `restore_best_weights`).
    early_stopping: str = "paper"
    patience: int = 5
    restore_best_weights: bool = False
    num_train: int = 1500
    num_val: int = 1500
    steps_per_execution: int = 50
    # RKBlock's gradient: 'autodiff' or 'adjoint' (the same gradient, faster at batch 5).
    gradient: str = "autodiff"

    def __post_init__(self):
        from keras_rk import _checks

        for name in ("seeds", "epochs", "batch_size", "num_train", "num_val",
                     "steps_per_execution"):  # fmt: skip
            _checks.positive_int(getattr(self, name), name)
        _checks.positive_float(self.learning_rate, "learning_rate")
        _checks.positive_float(self.tol, "tol")
        _checks.one_of(self.lift, "lift", ("zeros", "random", "trainable"))
        _checks.one_of(self.early_stopping, "early_stopping", ("paper", "patience"))
        _checks.one_of(self.gradient, "gradient", ("autodiff", "adjoint"))
        _checks.non_negative_int(self.patience, "patience")
        if (self.step_size is None) == (self.final_time is None):
            raise ValueError(
                f"Give exactly one of `step_size` (fixed h) and `final_time` (h = T / L). "
                f"Received: step_size={self.step_size!r}, final_time={self.final_time!r}"
            )
        for name in ("step_size", "final_time"):
            if getattr(self, name) is not None:
                _checks.positive_float(getattr(self, name), name)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------- the paper's numbers

_DEPTHS = (1, 3, 5, 10, 20, 40, 100)
# Table 1 (accuracy %) and Table 2 (cost x 10^-1): rows train, validation.
_TABLE1 = {
    "standard": ((92.73, 92.87, 98.12, 97.52, 67.62, 51.08, 50.67),
                 (91.88, 92.50, 98.10, 97.45, 66.87, 48.92, 49.33)),
    "rk4": ((75.60, 91.42, 97.90, 99.77, 99.93, 99.73, 99.95),
            (75.12, 90.68, 97.33, 99.47, 99.70, 99.50, 99.75)),
}  # fmt: skip
_TABLE2 = {
    "standard": ((2.23, 1.38, 0.66, 0.77, 6.09, 6.93, 6.93),
                 (2.33, 1.53, 0.67, 0.77, 6.13, 6.94, 6.93)),
    "rk4": ((4.32, 2.68, 0.98, 0.16, 0.04, 0.10, 0.01),
            (4.39, 2.69, 1.06, 0.28, 0.13, 0.12, 0.12)),
}  # fmt: skip
_COMPARISON_SETS = (
    "donut_3d_2c", "donut_3d_3c", "donut_2d_6c", "donut_3d_6c", "squares_2d_4c", "squares_3d_4c"
)  # fmt: skip
# Table 4: validation accuracy % and validation cost x 10^-1.
_TABLE4 = {
    "standard": ((92.37, 87.75, 75.12, 73.00, 94.12, 89.68), (1.71, 2.85, 5.60, 5.86, 1.57, 3.03)),
    "euler": ((91.88, 88.30, 74.87, 74.63, 93.35, 89.48), (1.84, 2.75, 5.56, 5.67, 1.66, 2.71)),
    "rk4": ((92.73, 87.13, 74.92, 74.88, 93.20, 89.37), (1.72, 2.95, 5.59, 5.73, 1.64, 2.81)),
}


# Table 5 (MNIST, RK4Net L = 100, tanh): width -> train/val accuracy %, train/val cost x 10^-1.
# Means; the standard deviations are 2.80, 2.93, 0.95, 1.62 (784) and 0.40, 1.08, 0.17, 0.46 (900).
_TABLE5 = {784: (97.70, 87.27, 0.78, 7.71), 900: (99.77, 90.40, 0.10, 5.36)}
# Table 6 (width 900, tanh; StandardNet L = 5, EulerNet and RK4Net L = 100): validation
# accuracy % and cost x 10^-1. Standard deviations: MNIST 0.78/0.92, 0.48/0.36, 1.08/0.46;
# Fashion-MNIST 6.00/1.37, 2.57/1.87, 1.57/0.60 (same order).
_TABLE6 = {
    "mnist": {"standard": (85.67, 8.95), "euler": (90.98, 5.71), "rk4": (90.40, 5.36)},
    "fashion_mnist": {"standard": (61.23, 11.41), "euler": (77.62, 9.52), "rk4": (79.13, 8.24)},
}
_TABLE6_DEPTHS = {"standard": 5, "euler": 100, "rk4": 100}


def _image_paper_values(study: str, cell: Cell) -> dict[str, float]:
    if cell.activation != "tanh":
        return {}
    if study == "augmentation" and cell.dataset == "mnist" and cell.architecture == "rk4":
        if cell.depth == 100 and cell.width in _TABLE5:
            train_acc, val_acc, train_cost, val_cost = _TABLE5[cell.width]
            return {"train_accuracy": train_acc, "val_accuracy": val_acc,
                    "train_cost": train_cost, "val_cost": val_cost}  # fmt: skip
    if study == "images" and cell.width == 900 and cell.dataset in _TABLE6:
        if _TABLE6_DEPTHS.get(cell.architecture) == cell.depth:
            acc, cost = _TABLE6[cell.dataset][cell.architecture]
            return {"val_accuracy": acc, "val_cost": cost}
    return {}


def paper_values(study: str, cell: Cell) -> dict[str, float]:
    """The paper's mean metrics for a cell, where it reports them (accuracy in %,
    cost x 10^-1 as in its tables); keys as in ``summarize``. Only for the
    paper's widths (16 for points; 784 and 900 for images) and activation (tanh,
    except in the activation study)."""
    if study in ("augmentation", "images"):
        return _image_paper_values(study, cell)
    if cell.width != 16 or (study != "activation" and cell.activation != "tanh"):
        return {}
    if study == "depth" and cell.dataset == "spiral" and cell.depth in _DEPTHS:
        if cell.architecture in _TABLE1:
            i = _DEPTHS.index(cell.depth)
            acc, cost = _TABLE1[cell.architecture], _TABLE2[cell.architecture]
            return {"train_accuracy": acc[0][i], "val_accuracy": acc[1][i],
                    "train_cost": cost[0][i], "val_cost": cost[1][i]}  # fmt: skip
    if study == "comparison" and cell.dataset in _COMPARISON_SETS:
        if cell.architecture in _TABLE4:
            i = _COMPARISON_SETS.index(cell.dataset)
            acc, cost = _TABLE4[cell.architecture]
            return {"val_accuracy": acc[i], "val_cost": cost[i]}
    if study == "variability" and cell.dataset == "donut_2d_6c" and cell.architecture == "rk4":
        # Table 3, means; its standard deviations are 0.76, 0.89, 0.08, 0.16.
        return {"train_accuracy": 77.13, "val_accuracy": 74.92,
                "train_cost": 5.13, "val_cost": 5.59}  # fmt: skip
    if study == "activation" and cell.dataset == "donut_1d":
        # Section 4.3 says "roughly 90 %" for every activation.
        return {"val_accuracy": 90.0}
    return {}


# ---------------------------------------------------------------- the studies


@dataclasses.dataclass(frozen=True)
class Study:
    """A study: its cells (from options), default and quick settings, and what it reproduces."""

    name: str
    description: str
    make_cells: Callable[[dict[str, Any]], list[Cell]]
    defaults: dict[str, Any]
    quick: dict[str, Any]
    options: dict[str, Any]  # per-study lists (depths, widths, ...) with the paper's values
    quick_options: dict[str, Any]


def _width_cells(o):
    return [Cell(d, "rk4", o["depth"], w) for d in o["datasets"] for w in o["widths"]]


def _depth_cells(o):
    return [Cell("spiral", a, L, o["width"]) for a in o["architectures"] for L in o["depths"]]


def _activation_cells(o):
    return [
        Cell("donut_1d", a, o["depth"], o["width"], act)
        for a in o["architectures"]
        for act in o["activations"]
    ]


def _comparison_cells(o):
    """Every architecture on every data set; StandardNet at its own depth (the
    comparison study, Table 4, and the image study, Table 6)."""
    depth = {"standard": o["standard_depth"]}
    return [
        Cell(d, a, depth.get(a, o["depth"]), o["width"])
        for d in o["datasets"]
        for a in o["architectures"]
    ]


def _variability_cells(o):
    return [Cell(o["datasets"][0], "rk4", o["depth"], o["width"])]


def _augmentation_cells(o):
    # At the input width the network is not augmented; a zero-padding lift is then
    # the identity, so the images enter the ODE unchanged (the text's d^ = d).
    return [
        Cell(d, a, o["depth"], w, lift="zeros" if w == IMAGE_INPUT_DIM else None)
        for d in o["datasets"]
        for a in o["architectures"]
        for w in o["widths"]
    ]


_QUICK = {"epochs": 2, "num_train": 40, "num_val": 40, "seeds": 2, "steps_per_execution": 4}
# Images: the paper's code stops image runs at 40 epochs; steps_per_execution 1
# because one batch-5 step of a width-900, depth-100 network already takes ~0.1 s.
# tol = 0.1 is the paper's for images, used with --early-stopping paper.
# The adjoint gradient: an epoch of RK4Net width 900, depth 100 at batch 5 is mostly
# the backward pass's memory traffic (benchmarks/bench_images.py).
_IMAGE_DEFAULTS = {
    "early_stopping": "patience", "patience": 5, "tol": 0.1, "steps_per_execution": 1,
    "gradient": "adjoint",
}  # fmt: skip
_IMAGE_QUICK = {**_QUICK, "steps_per_execution": 1}

STUDIES: dict[str, Study] = {
    "width": Study(
        "width",
        "RK4Net of width 2 (NODE) vs 3 (ANODE) on donut_2d and squares, L = 100 (Figs 3-4)",
        _width_cells,
        {"epochs": 80, "lift": "zeros"},
        _QUICK,
        {"datasets": ["donut_2d", "squares"], "widths": [2, 3], "depth": 100},
        {"depth": 3},
    ),
    "depth": Study(
        "depth",
        "StandardNet vs RK4Net, width 16, L = 1 ... 100, on spiral (Tables 1-2, Fig 5)",
        _depth_cells,
        {},
        _QUICK,
        {"architectures": ["standard", "rk4"], "depths": list(_DEPTHS), "width": 16},
        {"depths": [1, 3], "width": 4},
    ),
    "activation": Study(
        "activation",
        "RK4Net L = 20, width 16 on donut_1d with tanh, sigmoid, relu, softplus (Figs 6-7)",
        _activation_cells,
        {"epochs": 60, "seeds": 2},
        _QUICK,
        {
            "architectures": ["rk4"],
            "activations": ["tanh", "sigmoid", "relu", "softplus"],
            "depth": 20,
            "width": 16,
        },  # fmt: skip
        {"activations": ["tanh", "relu"], "depth": 3, "width": 4},
    ),
    "comparison": Study(
        "comparison",
        "StandardNet L = 5, EulerNet and RK4Net L = 100, width 16, on six multi-class sets "
        "(Table 4, Figs 10-13)",
        _comparison_cells,
        {},
        _QUICK,
        {
            "datasets": list(_COMPARISON_SETS),
            "architectures": ["standard", "euler", "rk4"],
            "depth": 100,
            "standard_depth": 5,
            "width": 16,
        },  # fmt: skip
        {
            "datasets": ["donut_2d_6c", "squares_3d_4c"],
            "depth": 3,
            "standard_depth": 2,
            "width": 4,
        },  # fmt: skip
    ),
    "variability": Study(
        "variability",
        "RK4Net L = 100, width 16 on donut_2d_6c over four seeds (Table 3, Fig 9)",
        _variability_cells,
        {},
        _QUICK,
        {"datasets": ["donut_2d_6c"], "depth": 100, "width": 16},
        {"depth": 3, "width": 4},
    ),
    "augmentation": Study(
        "augmentation",
        "RK4Net L = 100, tanh on MNIST, width 784 (not augmented) vs 900 (Table 5)",
        _augmentation_cells,
        _IMAGE_DEFAULTS,
        _IMAGE_QUICK,
        {"datasets": ["mnist"], "architectures": ["rk4"], "widths": [784, 900], "depth": 100},
        {"widths": [784, 800], "depth": 2},
    ),
    "images": Study(
        "images",
        "StandardNet L = 5, EulerNet and RK4Net L = 100, width 900, tanh, on MNIST and "
        "Fashion-MNIST (Table 6, Figs 17-18)",
        _comparison_cells,
        _IMAGE_DEFAULTS,
        _IMAGE_QUICK,
        {
            "datasets": list(IMAGE_SETS),
            "architectures": ["standard", "euler", "rk4"],
            "depth": 100,
            "standard_depth": 5,
            "width": 900,
        },  # fmt: skip
        {"depth": 2, "standard_depth": 2, "width": 800},
    ),
}


def available_studies() -> list[str]:
    return list(STUDIES)


def get_study(name: str) -> Study:
    if name not in STUDIES:
        raise ValueError(
            f"Unknown study `name`, expected one of {available_studies()}. Received: name={name!r}"
        )
    return STUDIES[name]


def resolve(
    name: str, quick: bool = False, options: dict[str, Any] | None = None, **overrides
) -> tuple[Study, Settings, dict[str, Any]]:
    """The study, its settings and options: the paper's defaults, then the quick
    sizes when `quick`, then the explicit overrides (None means 'not given')."""
    study = get_study(name)
    settings = Settings(**study.defaults)
    if quick:
        settings = dataclasses.replace(settings, **study.quick)
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(given) - {f.name for f in dataclasses.fields(Settings)})
    if unknown:
        raise ValueError(f"Unknown settings {unknown}; expected fields of Settings.")
    if "final_time" in given and "step_size" not in given:
        given["step_size"] = None
    settings = dataclasses.replace(settings, **given)
    opts = dict(study.options)
    if quick:
        opts.update(study.quick_options)
    for key, value in (options or {}).items():
        if value is None:
            continue
        if key not in opts:
            raise ValueError(
                f"Study {name!r} takes no option `{key}`; it takes {sorted(opts)}. "
                f"Received: {key}={value!r}"
            )
        opts[key] = value
    return study, settings, opts


# ---------------------------------------------------------------- one repetition


def build_model(cell: Cell, settings: Settings):
    import keras_rk

    common = dict(
        depth=cell.depth,
        width=cell.width,
        input_dim=_input_dim(cell.dataset),
        num_classes=_num_classes(cell.dataset),
        activation=cell.activation,
        lift=cell.lift or settings.lift,
    )
    if cell.architecture == "standard":
        return keras_rk.build(architecture="standard", **common)
    return keras_rk.build(
        tableau=cell.architecture,
        step_size=settings.step_size,
        final_time=settings.final_time,
        gradient=settings.gradient,
        **common,
    )


def load_data(cell: Cell, settings: Settings, seed: int, data_dir=None):
    """``((x, y), (x_val, y_val))`` of a repetition: a point set drawn from `seed`,
    or `num_train` training and `num_val` test images chosen by `seed`."""
    if cell.dataset in IMAGE_SETS:
        from keras_rk.datasets.images import load_images

        return load_images(
            cell.dataset,
            data_dir=data_dir,
            num_train=settings.num_train,
            num_test=settings.num_val,
            seed=seed,
        )
    return load_points(
        cell.dataset, num_train=settings.num_train, num_val=settings.num_val, seed=seed
    )


def paper_early_stopping(tol: float, initial_val_loss: float):
    """The public code's stop: after epoch 10, stop when the mean validation cost
    of the last five epochs exceeds that of the five before by more than tol
    (its list of costs starts with the one before training). On resume the list
    is rebuilt from the saved history, so a resumed run stops at the same epoch."""
    import keras

    from keras_rk.training import ResumableCallback

    class PaperEarlyStopping(ResumableCallback, keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.costs = [initial_val_loss]

        def resume(self, history, arrays):
            self.costs = [initial_val_loss, *history.get("val_loss", [])]

        def on_epoch_end(self, epoch, logs=None):
            self.costs.append(float((logs or {}).get("val_loss", math.nan)))
            if epoch >= 10 and (np.mean(self.costs[-5:]) - np.mean(self.costs[-10:-5]) > tol):
                self.model.stop_training = True

    return PaperEarlyStopping()


def early_stopping(settings: Settings, initial_val_loss: float) -> list:
    """The early-stopping callback of `settings` (none when early_stop is off)."""
    if not settings.early_stop:
        return []
    if settings.early_stopping == "paper":
        return [paper_early_stopping(settings.tol, initial_val_loss)]
    from keras_rk.training import ResumableEarlyStopping

    return [
        ResumableEarlyStopping(
            monitor="val_loss",
            patience=settings.patience,
            restore_best_weights=settings.restore_best_weights,
        )
    ]


INITIAL_FILE = "initial.json"


def train_repetition(
    cell: Cell,
    seed: int,
    settings: Settings,
    callbacks: list | None = None,
    backup_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
) -> tuple[dict[str, Any], Any]:
    """Trains one repetition; returns its record and the trained model.

    The record's ``history`` has one entry per epoch, the first being before
    training: train ``loss``/``accuracy`` are Keras's running means over the
    epoch (the first and last are on the whole training set), ``val_*`` are on
    the whole validation set. ``final`` is measured on the whole sets after
    training.

    With `backup_dir`, the state after every epoch (and the evaluations before
    training) is kept there, and a call after a kill resumes from it; the caller
    removes the folder once the record is saved. Without it, a temporary folder
    is used. `data_dir` is where ``load_images`` looks first (images only).
    """
    if backup_dir is None:
        with tempfile.TemporaryDirectory(prefix="keras-rk-") as temporary:
            return train_repetition(cell, seed, settings, callbacks, temporary, data_dir)

    import keras

    from keras_rk.training import resumable_fit

    start = time.perf_counter()
    backup_dir = Path(backup_dir)
    keras.utils.set_random_seed(seed)
    (x, y), (x_val, y_val) = load_data(cell, settings, seed, data_dir)
    model = build_model(cell, settings)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=settings.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        # Keras's PyTorch trainer accepts only 1; it changes speed, not numbers.
        steps_per_execution=1
        if keras.backend.backend() == "torch"
        else settings.steps_per_execution,
    )

    def evaluate(inputs, labels):
        loss, accuracy = model.evaluate(inputs, labels, batch_size=len(inputs), verbose=0)
        return float(loss), float(accuracy)

    # Measured once, before any epoch's state can exist, and kept beside it.
    initial_path = backup_dir / INITIAL_FILE
    if initial_path.exists():
        initial = json.loads(initial_path.read_text(encoding="utf-8"))
        initial_train, initial_val = tuple(initial["train"]), tuple(initial["val"])
    else:
        initial_train, initial_val = evaluate(x, y), evaluate(x_val, y_val)
        backup_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            initial_path, json.dumps({"train": initial_train, "val": initial_val}) + "\n"
        )
    history = resumable_fit(
        model,
        x,
        y,
        backup_dir=backup_dir,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        seed=seed,
        validation_data=(x_val, y_val),
        validation_batch_size=len(x_val),
        callbacks=[*(callbacks or []), *early_stopping(settings, initial_val[0])],
    )
    final_train, final_val = evaluate(x, y), evaluate(x_val, y_val)
    history = {
        "loss": [initial_train[0], *history["loss"]],
        "accuracy": [initial_train[1], *history["accuracy"]],
        "val_loss": [initial_val[0], *history["val_loss"]],
        "val_accuracy": [initial_val[1], *history["val_accuracy"]],
    }
    record = {
        "run_id": cell.run_id(seed),
        "config": dataclasses.asdict(cell),
        "seed": seed,
        "settings": settings.to_dict(),
        "backend": keras.backend.backend(),
        "epochs_run": len(history["loss"]) - 1,
        "history": history,
        "final": {
            "train_loss": final_train[0],
            "train_accuracy": final_train[1],
            "val_loss": final_val[0],
            "val_accuracy": final_val[1],
        },
        "seconds": time.perf_counter() - start,
    }
    return record, model


# ---------------------------------------------------------------- a whole study


def run_study(
    name: str,
    out: str,
    quick: bool = False,
    options: dict[str, Any] | None = None,
    figures: bool = True,
    progress: Callable[[str], None] = print,
    data_dir: str | Path | None = None,
    **overrides,
) -> dict[str, Any]:
    """Runs (or resumes) a study into the folder `out`, then writes its tables,
    figures and report. Returns ``{"records": ..., "summary": ..., "files": ...}``.

    `data_dir` is where the image studies look for MNIST / Fashion-MNIST first
    (see ``keras_rk.datasets.load_images``); it is not one of the settings, so a
    rerun may find the same data elsewhere."""
    from keras_rk.training import STATE_FILE

    study, settings, opts = resolve(name, quick, options, **overrides)
    cells = study.make_cells(opts)
    unknown = sorted({cell.dataset for cell in cells} - set(available_datasets()))
    if unknown:  # before the results folder is created: a bad name writes nothing
        raise ValueError(
            f"Unknown data set `name` in `datasets`, expected a point set "
            f"{available_point_sets()} or an image set {list(IMAGE_SETS)}. "
            f"Received: name={unknown[0]!r}"
        )
    # The number of seeds is left out of the folder's settings: a rerun with more
    # seeds adds repetitions to the same study, one with fewer summarises fewer.
    recorded = {k: v for k, v in settings.to_dict().items() if k != "seeds"}
    folder = ResultsFolder(out, name, {**recorded, "options": opts})
    jobs = [(cell, seed) for cell in cells for seed in range(settings.seeds)]
    records: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    for index, (cell, seed) in enumerate(jobs, 1):
        run_id = cell.run_id(seed)
        head = f"[{index}/{len(jobs)}] {cell.label}, seed {seed}"
        record = folder.load_run(run_id)
        partial = folder.partial_path(run_id)
        if record is not None:
            progress(f"{head}: done before, skipped")
        else:
            if (partial / STATE_FILE).exists():
                progress(f"{head}: resuming an interrupted run")
            record, model = train_repetition(
                cell, seed, settings, backup_dir=partial, data_dir=data_dir
            )
            folder.save_run(record, model.get_weights())
            final = record["final"]
            progress(
                f"{head}: val accuracy {100 * final['val_accuracy']:.2f}%, "
                f"val cost {final['val_loss']:.4f} ({record['epochs_run']} epochs, "
                f"{record['seconds']:.1f} s)"
            )
        # Only once the record is on disk; also after a kill between the two.
        shutil.rmtree(partial, ignore_errors=True)
        records[run_id] = record
    summary = summarize(name, cells, settings.seeds, records)
    files = write_tables(
        folder, name, study, settings, opts, summary, time.perf_counter() - started
    )
    if figures:
        from keras_rk import plotting

        files += plotting.study_figures(name, folder, cells, settings, records)
        progress(f"figures: {', '.join(p.name for p in files if p.suffix == '.png')}")
    progress(f"results in {folder.path}")
    return {"records": records, "summary": summary, "files": files}


METRICS = ("train_accuracy", "val_accuracy", "train_cost", "val_cost")


def summarize(study: str, cells: list[Cell], seeds: int, records: dict) -> list[dict[str, Any]]:
    """One row per cell: mean and std over seeds (accuracy in %, cost x 10^-1 as in
    the paper's tables) and the paper's values where it reports them."""
    rows = []
    for cell in cells:
        finals = [records[cell.run_id(s)]["final"] for s in range(seeds)]
        values = {
            "train_accuracy": [100 * f["train_accuracy"] for f in finals],
            "val_accuracy": [100 * f["val_accuracy"] for f in finals],
            "train_cost": [10 * f["train_loss"] for f in finals],
            "val_cost": [10 * f["val_loss"] for f in finals],
        }
        row = {**dataclasses.asdict(cell), "repetitions": len(finals)}
        for metric in METRICS:
            row[f"{metric}_mean"] = float(np.mean(values[metric]))
            row[f"{metric}_std"] = float(np.std(values[metric]))
        for metric, value in paper_values(study, cell).items():
            row[f"paper_{metric}"] = value
        row["seconds"] = float(sum(records[cell.run_id(s)]["seconds"] for s in range(seeds)))
        rows.append(row)
    return rows


def _csv(rows: list[dict[str, Any]]) -> str:
    import csv
    import io

    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
    return buffer.getvalue()


def _markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| data set | network | L | width | activation | train acc % | val acc % "
        "| train cost ×10⁻¹ | val cost ×10⁻¹ | paper val acc % | paper val cost ×10⁻¹ |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [
            r["dataset"],
            ARCHITECTURE_NAMES.get(r["architecture"], r["architecture"]),
            str(r["depth"]),
            str(r["width"]),
            r["activation"],
        ]
        for metric in METRICS:
            cells.append(f"{r[f'{metric}_mean']:.2f} ± {r[f'{metric}_std']:.2f}")
        for metric in ("val_accuracy", "val_cost"):
            value = r.get(f"paper_{metric}")
            cells.append("" if value is None else f"{value:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_tables(folder, name, study, settings, opts, rows, seconds) -> list:
    files = [
        folder.write_text("summary.csv", _csv(rows)),
        folder.write_text("summary.md", _markdown(rows)),
    ]
    compared = [r for r in rows if "paper_val_accuracy" in r]
    lines = [
        f"# {name} study",
        "",
        study.description + ".",
        "",
        f"Settings: {settings.to_dict()}",
        f"Options: {opts}",
        f"Wall time of this invocation: {seconds:.0f} s "
        f"(training time summed over repetitions: {sum(r['seconds'] for r in rows):.0f} s).",
        "",
        "Defaults follow the paper's public code: fixed step h = 0.05 at every depth, a "
        "frozen random lift (zero padding in the width study), Adam (lr 1e-3), batch 5, "
        "cross-entropy, its early stop with tol 0.05 (image studies: Keras's "
        "EarlyStopping on val_loss, patience 5).",
        "",
        "## Mean ± standard deviation over seeds",
        "",
        _markdown(rows),
    ]
    if compared:
        metrics = [m for m in METRICS if any(f"paper_{m}" in r for r in compared)]
        names = {"train_accuracy": "train acc %", "val_accuracy": "val acc %",
                 "train_cost": "train cost ×10⁻¹", "val_cost": "val cost ×10⁻¹"}  # fmt: skip
        header = " | ".join(f"{names[m]} paper / ours (Δ)" for m in metrics)
        lines += [
            "## Beside the paper (ours: mean over seeds)",
            "",
            f"| data set | network | L | {header} |",
            "|---|---|---|" + "---|" * len(metrics),
        ]
        for r in compared:
            values = []
            for m in metrics:
                paper, ours = r.get(f"paper_{m}"), r[f"{m}_mean"]
                values.append(
                    "" if paper is None else f"{paper:.2f} / {ours:.2f} ({ours - paper:+.2f})"
                )
            name = ARCHITECTURE_NAMES.get(r["architecture"], r["architecture"])
            lines.append(f"| {r['dataset']} | {name} | {r['depth']} | " + " | ".join(values) + " |")
        lines.append("")
    files.append(folder.write_text("report.md", "\n".join(lines)))
    return files
