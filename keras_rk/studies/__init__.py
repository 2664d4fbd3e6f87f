"""The paper's studies: point classification (section 4.1-4.4) and images (4.5), resumable.

Data flows one way through the modules of this package:

- ``catalogue``: the studies, their cells, settings, defaults and quick sizes;
- ``paper_tables``: the paper's numbers, to set beside ours;
- ``repetition``: one (cell, seed): build the model, load the data, train;
- ``runner``: ``run_study``, a whole study into a results folder, resumable;
- ``claims``: which process trains which repetition when several share a folder;
- ``jobs``: one claimed repetition: announced, trained, saved;
- ``workers``: the worker processes of ``run_study(..., num_workers=N)``;
- ``progress``: the progress lines and their ETA;
- ``reports``: the summary over seeds and summary.csv / summary.md / report.md;
- ``figures``: each study's figures, from the primitives of ``keras_rk.plotting``.

This module only re-exports.
"""

from keras_rk.datasets import available_datasets
from keras_rk.studies.catalogue import (
    ARCHITECTURE_NAMES,
    STUDIES,
    Cell,
    Settings,
    Study,
    available_studies,
    build_arguments,
    display_name,
    get_study,
    resolve,
    upgrade_settings,
)
from keras_rk.studies.paper_tables import paper_values
from keras_rk.studies.repetition import (
    INITIAL_FILE,
    build_model,
    early_stopping,
    load_data,
    train_repetition,
)
from keras_rk.studies.reports import METRICS, summarize, write_tables
from keras_rk.studies.runner import results_folder, run_study

__all__ = [
    "ARCHITECTURE_NAMES",
    "INITIAL_FILE",
    "METRICS",
    "STUDIES",
    "Cell",
    "Settings",
    "Study",
    "available_datasets",
    "available_studies",
    "build_arguments",
    "build_model",
    "display_name",
    "early_stopping",
    "get_study",
    "load_data",
    "paper_values",
    "resolve",
    "results_folder",
    "run_study",
    "summarize",
    "train_repetition",
    "upgrade_settings",
    "write_tables",
]
