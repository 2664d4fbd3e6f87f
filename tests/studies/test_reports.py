"""keras_rk.studies.reports: the summary over seeds and the files made from it."""

import json
from pathlib import Path

import pytest

from keras_rk.studies import reports
from keras_rk.studies.catalogue import Cell

ROOT = Path(__file__).resolve().parents[2]
TABLE6 = ROOT / "docs" / "results" / "images" / "table6_fashion"


def record(cell, seed, accuracy, loss, seconds=2.0):
    final = {"train_accuracy": accuracy, "val_accuracy": accuracy - 0.01,
             "train_loss": loss, "val_loss": loss + 0.05}  # fmt: skip
    return {"run_id": cell.run_id(seed), "final": final, "seconds": seconds}


def test_summary_rows_are_in_the_paper_units_beside_its_numbers():
    cells = [Cell("spiral", "standard", 40, 16), Cell("spiral", "rk4", 40, 4)]
    records = {r["run_id"]: r for c in cells for s, a in enumerate((0.5, 0.7))
               for r in [record(c, s, a, 0.3)]}  # fmt: skip
    rows = reports.summarize("depth", cells, 2, records)
    assert [r["architecture"] for r in rows] == ["standard", "rk4"]
    assert rows[0]["train_accuracy_mean"] == pytest.approx(60.0)
    assert rows[0]["train_accuracy_std"] == pytest.approx(10.0)
    assert rows[0]["val_cost_mean"] == pytest.approx(3.5)
    assert rows[0]["repetitions"] == 2 and rows[0]["seconds"] == 4.0
    assert rows[0]["paper_val_accuracy"] == 48.92
    assert "paper_val_accuracy" not in rows[1]  # width 4 is not the paper's


def test_the_committed_records_summarise_to_the_committed_table():
    # Records written by earlier versions (docs/results) are read the same way.
    runs = sorted((TABLE6 / "runs").glob("fashion_mnist-euler-*.json"))
    records = {r["run_id"]: r for r in (json.loads(p.read_text()) for p in runs)}
    cell = Cell(**next(iter(records.values()))["config"])
    rows = reports.summarize("images", [cell], len(runs), records)
    assert reports._csv(rows) == (TABLE6 / "euler_summary.csv").read_text()


def test_tables_and_report_are_written(tmp_path):
    from keras_rk.results import ResultsFolder
    from keras_rk.studies.catalogue import resolve

    study, settings, options = resolve("depth", quick=True)
    cell = Cell("spiral", "rk4", 20, 16)
    rows = reports.summarize("depth", [cell], 1, {cell.run_id(0): record(cell, 0, 0.99, 0.01)})
    folder = ResultsFolder(tmp_path, "depth", {})
    files = reports.write_tables(folder, "depth", study, settings, options, rows, 12.0)
    assert [p.name for p in files] == ["summary.csv", "summary.md", "report.md"]
    csv = (tmp_path / "summary.csv").read_text().splitlines()
    assert csv[0].startswith("dataset,architecture,depth,width,activation")
    assert (
        "| spiral | RK4Net | 20 | 16 | tanh | 99.00 ± 0.00 |"
        in (tmp_path / "summary.md").read_text()
    )
    report = (tmp_path / "report.md").read_text()
    assert "## Beside the paper" in report
    assert "| spiral | RK4Net | 20 | 99.93 / 99.00 (-0.93) | 99.70 / 98.00 (-1.70) |" in report


def test_report_states_the_settings_used_and_the_environment(tmp_path):
    from keras_rk.environment import describe
    from keras_rk.results import ResultsFolder
    from keras_rk.studies.catalogue import resolve

    study, settings, options = resolve("variability", quick=True)
    cells = study.make_cells(options)
    records = {c.run_id(s): {**record(c, s, 0.9, 0.2), "environment": describe()}
               for c in cells for s in range(settings.seeds)}  # fmt: skip
    rows = reports.summarize("variability", cells, settings.seeds, records)
    folder = ResultsFolder(tmp_path, "variability", {})
    reports.write_tables(folder, "variability", study, settings, options, rows, 1.0,
                         quick=True, records=records)  # fmt: skip
    report = (tmp_path / "report.md").read_text()
    # A quick run says so before anything else, and the paper's sizes are
    # only named as the paper's, not as what ran.
    assert report.index("quick smoke-test run (`--quick`), not the paper's settings") < (
        report.index("## Settings used") + 40
    )
    assert "The paper's study: RK4Net L = 100, width 16 on donut_2d_6c over four seeds" in report
    for used in ("- Networks: RK4Net L=3 width=4 tanh\n",
                 "- Data: donut_2d_6c; 40 training and 40 validation points per seed\n",
                 "- Seeds: 0 to 1 (2 repetitions per network)\n",
                 "- Training: at most 2 epochs, batch size 5, "):  # fmt: skip
        assert used in report
    environment = describe()
    assert "## Environment" in report and "- 2 runs: keras-rk " + environment["keras_rk"] in report
    assert f"numpy {environment['numpy']}" in report and environment["cpu"] in report


def test_a_full_size_report_makes_no_quick_claim(tmp_path):
    from keras_rk.results import ResultsFolder
    from keras_rk.studies.catalogue import resolve

    study, settings, options = resolve("variability")
    cells = study.make_cells(options)
    records = {c.run_id(s): record(c, s, 0.9, 0.2) for c in cells for s in range(4)}
    rows = reports.summarize("variability", cells, 4, records)
    reports.write_tables(ResultsFolder(tmp_path, "variability", {}), "variability", study,
                         settings, options, rows, 1.0)  # fmt: skip
    report = (tmp_path / "report.md").read_text()
    assert "quick" not in report and "## Environment" not in report  # old records have none
    assert "- Networks: RK4Net L=100 width=16 tanh\n" in report
    assert "- Data: donut_2d_6c; 1500 training and 1500 validation points per seed\n" in report
