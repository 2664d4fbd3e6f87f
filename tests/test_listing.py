"""keras_rk.listing: the text of `keras-rk list` and of `keras-rk run --help`."""

from keras_rk import listing
from keras_rk.registry import available_tableaus
from keras_rk.studies import STUDIES


def test_every_study_tableau_and_data_set_is_listed():
    text = listing.listing()
    for name in [*STUDIES, *available_tableaus(), "donut_2d_6c", "mnist", "fashion_mnist"]:
        assert f"\n  {name} " in text, name


def test_study_defaults_name_every_study_and_its_quick_sizes():
    text = listing.study_defaults()
    for name in STUDIES:
        assert f"\n  {name}:\n" in text, name
    assert text.count("\n    --quick: ") == len(STUDIES)
