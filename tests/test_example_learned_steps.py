"""examples/learned_steps.py runs quickly and returns its metrics."""

import importlib.util
import pathlib

import numpy as np
import pytest

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "learned_steps.py"


def load_example():
    spec = importlib.util.spec_from_file_location("learned_steps", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_learned_steps_example_quick():
    example = load_example()
    # The --quick settings, on fewer samples.
    results = example.main(
        depth=3, width=4, epochs=1, batch_size=10, num_samples=60, steps_per_execution=1
    )
    assert set(results) == {"spiral", "donut_2D"}
    for rows in results.values():
        assert set(rows) == {"fixed", "learned", "simplex"}
        for row in rows.values():
            assert 0.0 <= row["val_accuracy"] <= 1.0 and np.isfinite(row["val_loss"])
            assert row["min_step"] > 0
        # Fixed steps stay at h = 0.05; simplex steps keep T = 0.05 * 3.
        assert rows["fixed"]["min_step"] == rows["fixed"]["max_step"]
        np.testing.assert_allclose(rows["simplex"]["final_time"], 0.15, rtol=1e-5)


def test_the_example_uses_the_paper_data_sets():
    example = load_example()
    (x, y), (x_val, y_val) = example.make_points("donut_2D", 500, seed=0)
    assert x.shape == (500, 2) and x_val.shape == (500, 2)
    # Class 0 inside radius 1 before scaling by 1.2: ~ P(chi2_2 < 1) = 0.39.
    assert 0.3 < np.mean(y == 0) < 0.48
    (x, y), _ = example.make_points("spiral", 500, seed=0)
    assert set(np.unique(y)) == {0, 1} and np.abs(x).max() < 5
