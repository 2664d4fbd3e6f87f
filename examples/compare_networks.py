"""StandardNet (L = 5), EulerNet and RK4Net (L = 100) on one multi-class point
set (section 4.4, Table 4).

    KERAS_BACKEND=jax python examples/compare_networks.py --dataset squares_2d_4c
    python examples/compare_networks.py --quick
"""

from __future__ import annotations

import argparse

from keras_rk.datasets.points import available_point_sets
from keras_rk.studies import Cell, Settings, train_repetition


def main(
    dataset: str = "donut_2d_6c",
    depth: int = 100,
    standard_depth: int = 5,
    width: int = 16,
    epochs: int = 40,
    batch_size: int = 5,
    learning_rate: float = 1e-3,
    step_size: float = 0.05,
    lift: str = "random",
    num_train: int = 1500,
    num_val: int = 1500,
    seed: int = 0,
    quick: bool = False,
) -> dict[str, float]:
    """Returns each network's validation accuracy on `dataset`."""
    if quick:
        depth, standard_depth, width, epochs, num_train, num_val = 3, 2, 4, 1, 40, 40
    settings = Settings(
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, lift=lift,
        step_size=step_size, num_train=num_train, num_val=num_val,
        steps_per_execution=4 if quick else 50,
    )  # fmt: skip
    metrics = {}
    for architecture in ("standard", "euler", "rk4"):
        cell = Cell(dataset, architecture, standard_depth if architecture == "standard" else depth,
                    width)  # fmt: skip
        record, _ = train_repetition(cell, seed, settings)
        metrics[f"{architecture}_val_accuracy"] = record["final"]["val_accuracy"]
        print(f"{cell.label}: validation accuracy {100 * record['final']['val_accuracy']:.2f}%")
    return metrics


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="donut_2d_6c", choices=available_point_sets())
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    main(dataset=args.dataset, epochs=args.epochs, seed=args.seed, quick=args.quick)
