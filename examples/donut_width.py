"""RK4Net of width 2 (NODE) vs 3 (ANODE) on donut_2d, with the trajectory figure
(section 4.1, Figure 3).

    KERAS_BACKEND=jax python examples/donut_width.py --out donut_width.png
    python examples/donut_width.py --quick
"""

from __future__ import annotations

import argparse

from keras_rk import plotting
from keras_rk.datasets import load_points
from keras_rk.studies import Cell, Settings, train_repetition


def main(
    dataset: str = "donut_2d",
    depth: int = 100,
    widths: tuple[int, ...] = (2, 3),
    epochs: int = 80,
    batch_size: int = 5,
    learning_rate: float = 1e-3,
    step_size: float = 0.05,
    num_train: int = 1500,
    num_val: int = 1500,
    seed: int = 0,
    out: str | None = "donut_width.png",
    quick: bool = False,
) -> dict[str, float]:
    """Trains one RK4Net per width with zero padding; draws trajectories, output
    features and predictions to `out`; returns validation accuracy per width."""
    if quick:
        depth, epochs, num_train, num_val = 3, 1, 40, 40
    settings = Settings(
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, lift="zeros",
        step_size=step_size, num_train=num_train, num_val=num_val,
        steps_per_execution=4 if quick else 50,
    )  # fmt: skip
    _, (x_val, y_val) = load_points(dataset, num_train, num_val, seed=seed)
    metrics, rows = {}, {}
    for width in widths:
        record, model = train_repetition(Cell(dataset, "rk4", depth, width), seed, settings)
        metrics[f"width{width}_val_accuracy"] = record["final"]["val_accuracy"]
        rows[f"width {width}"] = (model, x_val, y_val)
        print(f"width {width}: validation accuracy {100 * record['final']['val_accuracy']:.2f}%")
    if out:
        plotting.plot_classification(rows, out)
    return metrics


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="donut_2d", choices=["donut_2d", "squares"])
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="donut_width.png")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    main(dataset=args.dataset, depth=args.depth, epochs=args.epochs, seed=args.seed,
         out=args.out, quick=args.quick)  # fmt: skip
