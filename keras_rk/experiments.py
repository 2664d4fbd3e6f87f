"""The paper's studies under their older module name.

The studies now live in the package ``keras_rk.studies`` (catalogue, paper
tables, one repetition, runner, reports, figures); this module re-exports its
public names so that ``from keras_rk.experiments import run_study`` keeps
working. New code should import from ``keras_rk.studies``.
"""

from keras_rk.callbacks import PaperEarlyStopping
from keras_rk.datasets import IMAGE_SETS
from keras_rk.studies import *  # noqa: F403
from keras_rk.studies import __all__ as _studies_all

__all__ = [*_studies_all, "IMAGE_SETS", "PaperEarlyStopping"]
