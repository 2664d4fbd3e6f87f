"""The catalogue of the paper's studies: cells, settings, defaults, quick sizes.

A study is a list of *cells* (data set x network) times a number of seeds; each
(cell, seed) is one repetition (``keras_rk.studies.repetition``).

Architectures are named one way everywhere in the studies (cells, run ids,
options, the command line): 'standard' (StandardNet) or the name of a
registered tableau, such as 'euler' (EulerNet) and 'rk4' (RK4Net).
``build_arguments`` is the one place that maps such a name to the arguments of
``keras_rk.build`` (``architecture='standard'``, or ``architecture='runge_kutta'``
with ``tableau=<name>``).

Defaults are the settings of the paper's public code (its configs/experiments/*.json):
fixed step h = 0.05 at every depth, a frozen random lift except in the width
study (zero padding), batch size 5, Adam with learning rate 1e-3, at most 40
epochs (80 for width, 60 for activation) with its early stop (after epoch 10,
when the mean validation cost of the last five epochs exceeds that of the five
before by more than tol = 0.05).

The image studies (``augmentation``, ``images``) train on 1,500 random MNIST or
Fashion-MNIST training images and validate on 1,500 random test images per seed,
as the paper's code does, but stop with Keras's ``EarlyStopping`` on ``val_loss``
(patience 5) instead of the paper's rule with tol = 0.1: patience 5 lets a run go
at least five epochs past its best.

>>> _, settings, options = resolve("depth", quick=True)
>>> settings.epochs, settings.early_stopping, options["depths"]
(2, 'paper', [1, 3])
>>> [cell.run_id(0) for cell in get_study("depth").make_cells(options)][:2]
['spiral-standard-L1-w4-tanh-seed0', 'spiral-standard-L3-w4-tanh-seed0']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from keras_rk import _checks
from keras_rk.callbacks import EARLY_STOPPING_RULES
from keras_rk.datasets import IMAGE_SETS, input_dim_of, num_classes_of
from keras_rk.datasets.images import INPUT_DIM as IMAGE_INPUT_DIM
from keras_rk.layers.augment import LIFT_MODES
from keras_rk.layers.rk_block import GRADIENTS
from keras_rk.schedules import learning_rate_drops
from keras_rk.studies.paper_tables import COMPARISON_SETS, DEPTHS

ARCHITECTURE_NAMES = {"standard": "StandardNet", "euler": "EulerNet", "rk4": "RK4Net"}


def display_name(architecture: str) -> str:
    """'RK4Net' for 'rk4', 'StandardNet' for 'standard'; other tableaus as named.

    >>> display_name("euler"), display_name("midpoint")
    ('EulerNet', 'midpoint')
    """
    return ARCHITECTURE_NAMES.get(architecture, architecture)


def build_arguments(architecture: str) -> dict[str, Any]:
    """The ``keras_rk.build`` arguments that select a study's `architecture`.

    >>> build_arguments("standard")
    {'architecture': 'standard'}
    >>> build_arguments("rk4")
    {'architecture': 'runge_kutta', 'tableau': 'rk4'}
    """
    if architecture == "standard":
        return {"architecture": "standard"}
    return {"architecture": "runge_kutta", "tableau": architecture}


@dataclasses.dataclass(frozen=True)
class Cell:
    """One network on one data set.

    >>> Cell("spiral", "rk4", 20, 16).label
    'RK4Net L=20 width=16 tanh on spiral'
    """

    dataset: str
    architecture: str  # 'standard' or the name of a registered tableau ('euler', 'rk4', ...)
    depth: int
    width: int
    activation: str = "tanh"
    lift: str | None = None  # None: the study's Settings.lift

    @property
    def input_dim(self) -> int:
        return input_dim_of(self.dataset)

    @property
    def num_classes(self) -> int:
        return num_classes_of(self.dataset)

    @property
    def label(self) -> str:
        lift = f" lift={self.lift}" if self.lift else ""
        return (
            f"{display_name(self.architecture)} L={self.depth} width={self.width}{lift} "
            f"{self.activation} on {self.dataset}"
        )

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
    lift: str = "random"  # one of keras_rk.layers.augment.LIFT_MODES
    step_size: float | None = 0.05
    final_time: float | None = None
    tol: float = 0.05
    # One of keras_rk.callbacks.EARLY_STOPPING_RULES: 'paper' (the public code's
    # rule with `tol`), 'patience' (keras.callbacks.EarlyStopping on val_loss with
    # `patience` and `restore_best_weights`) or 'none'.
    early_stopping: str = "paper"
    patience: int = 5
    restore_best_weights: bool = False
    num_train: int = 1500
    num_val: int = 1500
    steps_per_execution: int = 50
    # RKBlock's gradient, one of keras_rk.layers.rk_block.GRADIENTS ('adjoint' is
    # the same gradient as 'autodiff', faster at batch 5). Left at 'autodiff', not
    # RKBlock's default 'auto', so that study folders written before resume: their
    # settings must match.
    gradient: str = "autodiff"
    # [[epoch, rate], ...]: after `epoch` epochs Adam's rate becomes `rate`
    # (keras_rk.schedules); none keeps `learning_rate` throughout, as the paper does.
    learning_rate_drops: list = dataclasses.field(default_factory=list)

    def __post_init__(self):
        for name in ("seeds", "epochs", "batch_size", "num_train", "num_val",
                     "steps_per_execution"):  # fmt: skip
            _checks.positive_int(getattr(self, name), name)
        _checks.positive_float(self.learning_rate, "learning_rate")
        _checks.positive_float(self.tol, "tol")
        _checks.one_of(self.lift, "lift", LIFT_MODES)
        _checks.one_of(self.early_stopping, "early_stopping", EARLY_STOPPING_RULES)
        _checks.one_of(self.gradient, "gradient", GRADIENTS)
        _checks.non_negative_int(self.patience, "patience")
        if (self.step_size is None) == (self.final_time is None):
            raise ValueError(
                f"Give exactly one of `step_size` (fixed h) and `final_time` (h = T / L). "
                f"Received: step_size={self.step_size!r}, final_time={self.final_time!r}"
            )
        for name in ("step_size", "final_time"):
            if getattr(self, name) is not None:
                _checks.positive_float(getattr(self, name), name)
        self.learning_rate_drops = learning_rate_drops(
            self.learning_rate_drops, "learning_rate_drops"
        )
        if self.learning_rate_drops and self.learning_rate_drops[-1][0] >= self.epochs:
            raise ValueError(
                f"Received an invalid value for `learning_rate_drops`, expected drops "
                f"after epochs before the last ({self.epochs}); a later one never "
                f"applies. Received: learning_rate_drops={self.learning_rate_drops!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def upgrade_settings(recorded: dict[str, Any]) -> dict[str, Any]:
    """Settings as an older version recorded them (in study.json), in today's form.

    Older versions wrote a bool ``early_stop`` beside (or, earlier still,
    instead of) ``early_stopping``: off is today's rule 'none', on is the rule
    they name ('paper' when they name none). Folders from before
    ``learning_rate_drops`` trained at a constant rate, which is its empty
    default. Nothing else is filled in: a folder from before another setting
    existed (the batch order, ``gradient``, ``patience`` ...) was trained
    differently and stays refused. Settings of today's form come back unchanged.

    >>> upgrade_settings({"epochs": 40, "early_stop": False, "early_stopping": "paper"})
    {'epochs': 40, 'early_stopping': 'none', 'learning_rate_drops': []}
    >>> upgrade_settings({"early_stop": True, "early_stopping": "patience"})
    {'early_stopping': 'patience', 'learning_rate_drops': []}
    >>> upgrade_settings({"early_stop": True, "learning_rate_drops": [[4, 1e-4]]})
    {'learning_rate_drops': [[4, 0.0001]], 'early_stopping': 'paper'}
    """
    upgraded = dict(recorded)
    upgraded.setdefault("learning_rate_drops", [])
    if "early_stop" not in upgraded:
        return upgraded
    if upgraded.pop("early_stop"):
        upgraded.setdefault("early_stopping", "paper")
    else:
        upgraded["early_stopping"] = "none"
    return upgraded


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
        {"architectures": ["standard", "rk4"], "depths": list(DEPTHS), "width": 16},
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
            "datasets": list(COMPARISON_SETS),
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
