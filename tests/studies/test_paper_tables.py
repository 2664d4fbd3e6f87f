"""keras_rk.studies.paper_tables: the paper's numbers beside the cells they describe."""

from keras_rk.studies import catalogue, paper_tables
from keras_rk.studies.catalogue import Cell


def test_image_studies_match_the_paper_design():
    _, settings, options = catalogue.resolve("images")
    cells = catalogue.get_study("images").make_cells(options)
    assert {(c.dataset, c.architecture, c.depth, c.width) for c in cells} == {
        (d, a, 5 if a == "standard" else 100, 900)
        for d in ("mnist", "fashion_mnist")
        for a in ("standard", "euler", "rk4")
    }
    assert (settings.num_train, settings.num_val, settings.seeds) == (1500, 1500, 4)
    assert (settings.early_stopping, settings.patience, settings.lift) == ("patience", 5, "random")
    values = {(c.dataset, c.architecture): paper_tables.paper_values("images", c) for c in cells}
    assert values["fashion_mnist", "standard"] == {"val_accuracy": 61.23, "val_cost": 11.41}
    assert values["fashion_mnist", "rk4"] == {"val_accuracy": 79.13, "val_cost": 8.24}
    assert values["mnist", "euler"] == {"val_accuracy": 90.98, "val_cost": 5.71}
    _, _, options = catalogue.resolve("augmentation")
    narrow, wide = catalogue.get_study("augmentation").make_cells(options)
    assert (narrow.width, narrow.lift, wide.width, wide.lift) == (784, "zeros", 900, None)
    assert paper_tables.paper_values("augmentation", narrow) == {
        "train_accuracy": 97.70, "val_accuracy": 87.27, "train_cost": 0.78, "val_cost": 7.71}  # fmt: skip
    assert paper_tables.paper_values("augmentation", wide)["val_accuracy"] == 90.40


def test_point_studies_at_the_paper_widths_only():
    assert paper_tables.paper_values("depth", Cell("spiral", "standard", 40, 16)) == {
        "train_accuracy": 51.08, "val_accuracy": 48.92, "train_cost": 6.93, "val_cost": 6.94}  # fmt: skip
    assert paper_tables.paper_values("comparison", Cell("squares_3d_4c", "euler", 100, 16)) == {
        "val_accuracy": 89.48, "val_cost": 2.71}  # fmt: skip
    assert paper_tables.paper_values("activation", Cell("donut_1d", "rk4", 20, 16, "relu")) == {
        "val_accuracy": 90.0}  # fmt: skip
    assert paper_tables.paper_values("depth", Cell("spiral", "rk4", 20, 16, "relu")) == {}
    assert paper_tables.paper_values("comparison", Cell("donut_2d_6c", "rk4", 100, 4)) == {}
