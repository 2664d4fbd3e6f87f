"""A study's tables: the summary over seeds (``summarize``) and the files made
from it, ``summary.csv``, ``summary.md`` and ``report.md`` beside the paper's
numbers."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from keras_rk.studies.catalogue import Cell, display_name
from keras_rk.studies.paper_tables import paper_values

METRICS = ("train_accuracy", "val_accuracy", "train_cost", "val_cost")


def summarize(study: str, cells: list[Cell], seeds: int, records: dict) -> list[dict[str, Any]]:
    """One row per cell: mean and std over seeds (accuracy in %, cost x 10^-1 as in
    the paper's tables) and the paper's values where it reports them.

    >>> cell = Cell("spiral", "rk4", 20, 16)
    >>> records = {cell.run_id(s): {"seconds": 1.0, "final": {
    ...     "train_accuracy": a, "val_accuracy": a, "train_loss": 0.1, "val_loss": 0.2}}
    ...     for s, a in enumerate((0.99, 0.97))}
    >>> row = summarize("depth", [cell], 2, records)[0]
    >>> round(row["val_accuracy_mean"], 2), round(row["val_accuracy_std"], 2)
    (98.0, 1.0)
    >>> row["paper_val_accuracy"], row["val_cost_mean"], row["seconds"]
    (99.7, 2.0, 2.0)
    """
    rows = []
    for cell in cells:
        finals = [records[cell.run_id(s)]["final"] for s in range(seeds)]
        values = {
            "train_accuracy": [100 * f["train_accuracy"] for f in finals],
            "val_accuracy": [100 * f["val_accuracy"] for f in finals],
            "train_cost": [10 * f["train_loss"] for f in finals],
            "val_cost": [10 * f["val_loss"] for f in finals],
        }
        row = {**dataclasses.asdict(cell), "repetitions": len(finals)}
        for metric in METRICS:
            row[f"{metric}_mean"] = float(np.mean(values[metric]))
            row[f"{metric}_std"] = float(np.std(values[metric]))
        for metric, value in paper_values(study, cell).items():
            row[f"paper_{metric}"] = value
        row["seconds"] = float(sum(records[cell.run_id(s)]["seconds"] for s in range(seeds)))
        rows.append(row)
    return rows


def _csv(rows: list[dict[str, Any]]) -> str:
    import csv
    import io

    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
    return buffer.getvalue()


def _markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| data set | network | L | width | activation | train acc % | val acc % "
        "| train cost ×10⁻¹ | val cost ×10⁻¹ | paper val acc % | paper val cost ×10⁻¹ |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [
            r["dataset"],
            display_name(r["architecture"]),
            str(r["depth"]),
            str(r["width"]),
            r["activation"],
        ]
        for metric in METRICS:
            cells.append(f"{r[f'{metric}_mean']:.2f} ± {r[f'{metric}_std']:.2f}")
        for metric in ("val_accuracy", "val_cost"):
            value = r.get(f"paper_{metric}")
            cells.append("" if value is None else f"{value:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_tables(folder, name, study, settings, opts, rows, seconds) -> list:
    """Writes summary.csv, summary.md and report.md of the summary `rows` into
    the results folder; returns their paths."""
    files = [
        folder.write_text("summary.csv", _csv(rows)),
        folder.write_text("summary.md", _markdown(rows)),
    ]
    compared = [r for r in rows if "paper_val_accuracy" in r]
    lines = [
        f"# {name} study",
        "",
        study.description + ".",
        "",
        f"Settings: {settings.to_dict()}",
        f"Options: {opts}",
        f"Wall time of this invocation: {seconds:.0f} s "
        f"(training time summed over repetitions: {sum(r['seconds'] for r in rows):.0f} s).",
        "",
        "Defaults follow the paper's public code: fixed step h = 0.05 at every depth, a "
        "frozen random lift (zero padding in the width study), Adam (lr 1e-3), batch 5, "
        "cross-entropy, its early stop with tol 0.05 (image studies: Keras's "
        "EarlyStopping on val_loss, patience 5).",
        "",
        "## Mean ± standard deviation over seeds",
        "",
        _markdown(rows),
    ]
    if compared:
        metrics = [m for m in METRICS if any(f"paper_{m}" in r for r in compared)]
        names = {"train_accuracy": "train acc %", "val_accuracy": "val acc %",
                 "train_cost": "train cost ×10⁻¹", "val_cost": "val cost ×10⁻¹"}  # fmt: skip
        header = " | ".join(f"{names[m]} paper / ours (Δ)" for m in metrics)
        lines += [
            "## Beside the paper (ours: mean over seeds)",
            "",
            f"| data set | network | L | {header} |",
            "|---|---|---|" + "---|" * len(metrics),
        ]
        for r in compared:
            values = []
            for m in metrics:
                paper, ours = r.get(f"paper_{m}"), r[f"{m}_mean"]
                values.append(
                    "" if paper is None else f"{paper:.2f} / {ours:.2f} ({ours - paper:+.2f})"
                )
            name = display_name(r["architecture"])
            lines.append(f"| {r['dataset']} | {name} | {r['depth']} | " + " | ".join(values) + " |")
        lines.append("")
    files.append(folder.write_text("report.md", "\n".join(lines)))
    return files
