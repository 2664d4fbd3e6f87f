"""keras_rk.studies.catalogue: the studies, their settings, defaults and names."""

import json
from pathlib import Path

import pytest

from keras_rk import studies
from keras_rk.callbacks import EARLY_STOPPING_RULES
from keras_rk.layers.augment import LIFT_MODES
from keras_rk.layers.rk_block import GRADIENTS
from keras_rk.studies import catalogue

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "deep"}, r"Unknown study `name`, expected one of \['width', 'depth'"),
        ({"name": "depth", "seeds": 0}, r"`seeds`, expected a positive integer"),
        ({"name": "depth", "lift": "ones"}, r"`lift`, expected one of"),
        ({"name": "depth", "options": {"widths": [2]}}, r"takes no option `widths`"),
        ({"name": "depth", "options": {"datasets": ["x"]}}, r"takes no option `datasets`"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        catalogue.resolve(**kwargs)


def test_paper_defaults():
    _, settings, options = catalogue.resolve("depth")
    assert (settings.batch_size, settings.learning_rate, settings.epochs) == (5, 1e-3, 40)
    assert (settings.step_size, settings.lift, settings.seeds) == (0.05, "random", 4)
    assert options["depths"] == [1, 3, 5, 10, 20, 40, 100]
    _, settings, _ = catalogue.resolve("width")
    assert (settings.lift, settings.epochs) == ("zeros", 80)
    _, settings, _ = catalogue.resolve("depth", final_time=1.0)
    assert (settings.step_size, settings.final_time) == (None, 1.0)


@pytest.mark.parametrize(
    "field, allowed", [("lift", LIFT_MODES), ("gradient", GRADIENTS),
                       ("early_stopping", EARLY_STOPPING_RULES)],
)  # fmt: skip
def test_each_option_takes_the_values_its_module_defines(field, allowed):
    for value in allowed:
        assert getattr(catalogue.Settings(**{field: value}), field) == value
    with pytest.raises(ValueError, match=rf"`{field}`, expected one of"):
        catalogue.Settings(**{field: "nope"})


def test_one_early_stopping_setting():
    fields = {f.name for f in catalogue.dataclasses.fields(catalogue.Settings)}
    assert "early_stopping" in fields and "early_stop" not in fields


def test_architecture_names_map_to_build_in_one_place():
    assert catalogue.build_arguments("standard") == {"architecture": "standard"}
    for name in ("euler", "rk4"):
        assert catalogue.build_arguments(name) == {"architecture": "runge_kutta", "tableau": name}
    names = {c.architecture for study in catalogue.STUDIES.values()
             for c in study.make_cells({**study.options, **study.quick_options})}  # fmt: skip
    assert names == {"standard", "euler", "rk4"}
    assert catalogue.Cell("spiral", "euler", 3, 4).label.startswith("EulerNet L=3")


def test_cell_facts_come_from_the_data_sets():
    image = catalogue.Cell("mnist", "rk4", 2, 900)
    assert (image.input_dim, image.num_classes) == (784, 10)
    cell = catalogue.Cell("donut_3d_6c", "rk4", 2, 4)
    assert (cell.input_dim, cell.num_classes) == (3, 6)


@pytest.mark.parametrize("study", ["depth", "comparison"])
def test_committed_results_upgrade_but_stay_refused_for_later_settings(study):
    # docs/results/<study>/study.json was written with a bool `early_stop` and
    # before the batch order, `gradient`, `patience` and `restore_best_weights`
    # (docs/reproduction.md: such folders are refused): the upgrade renames
    # early_stop and fills in nothing else.
    recorded = json.loads((ROOT / "docs" / "results" / study / "study.json").read_text())
    old = catalogue.upgrade_settings(recorded["settings"])
    assert "early_stop" not in old and old["early_stopping"] == "paper"
    _, settings, options = catalogue.resolve(study)
    today = {**{k: v for k, v in settings.to_dict().items() if k != "seeds"}, "options": options}
    changed = {key for key in set(old) | set(today) if old.get(key) != today.get(key)}
    assert changed == {"gradient", "patience", "restore_best_weights"}


def test_upgrade_turns_early_stop_off_into_the_none_rule():
    old = {"epochs": 3, "early_stop": False, "early_stopping": "patience", "options": {}}
    upgraded = catalogue.upgrade_settings(old)
    assert upgraded == {
        "epochs": 3, "early_stopping": "none", "options": {}, "learning_rate_drops": []
    }  # fmt: skip
    assert old["early_stop"] is False  # the recorded dict is not changed
    today = catalogue.Settings().to_dict()
    assert catalogue.upgrade_settings(today) == today


def test_folders_from_before_learning_rate_drops_trained_at_a_constant_rate():
    recorded = {k: v for k, v in catalogue.Settings().to_dict().items()
                if k != "learning_rate_drops"}  # fmt: skip
    assert catalogue.upgrade_settings(recorded) == catalogue.Settings().to_dict()
    dropped = catalogue.Settings(learning_rate_drops=[(4, 1e-4)]).to_dict()
    assert dropped["learning_rate_drops"] == [[4, 1e-4]]  # as JSON gives it back
    assert catalogue.upgrade_settings(dropped) == dropped


@pytest.mark.parametrize(
    "drops, match",
    [
        ([[40, 1e-4]], r"before the last \(40\).*learning_rate_drops=\[\[40, 0.0001\]\]"),
        ([[0, 1e-4]], r"learning_rate_drops\[0\]\[0\] \(an epoch\)"),
        ([[3, -1.0]], r"learning_rate_drops\[0\]\[1\] \(a learning rate\)"),
        ([[3, 1e-4], [3, 1e-5]], r"increasing order"),
        ([3, 1e-4], r"learning_rate_drops\[0\]`, expected an \[epoch, rate\] pair"),
        ("4:1e-4", r"expected a list of \[epoch, rate\] pairs"),
    ],
)
def test_bad_learning_rate_drops_are_refused_by_name(drops, match):
    with pytest.raises(ValueError, match=match):
        catalogue.Settings(learning_rate_drops=drops)


def test_the_package_and_the_old_module_name_export_the_same_names():
    from keras_rk import experiments

    for name in studies.__all__:
        assert getattr(experiments, name) is getattr(studies, name), name
