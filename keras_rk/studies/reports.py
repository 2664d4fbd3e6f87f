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


def settings_lines(settings, opts, rows, quick: bool = False) -> list[str]:
    """The report's statement of the settings a run actually used (a list of
    Markdown lines), read from `settings`, the study's options and the networks
    of the summary `rows`.

    >>> from keras_rk.studies.catalogue import resolve
    >>> _, settings, opts = resolve("variability", quick=True)
    >>> rows = [{"dataset": "donut_2d_6c", "architecture": "rk4", "depth": 3, "width": 4,
    ...          "activation": "tanh", "lift": None}]
    >>> lines = settings_lines(settings, opts, rows, quick=True)
    >>> lines[0].startswith("**A quick smoke-test run (`--quick`), not the paper's settings**")
    True
    >>> print("\\n".join(lines[2:4]))
    - Networks: RK4Net L=3 width=4 tanh
    - Data: donut_2d_6c; 40 training and 40 validation points per seed
    """
    from keras_rk.datasets import IMAGE_SETS

    lines = []
    if quick:
        lines += [
            "**A quick smoke-test run (`--quick`), not the paper's settings**: small data, "
            "few epochs and small networks, only to check that everything runs; its "
            "numbers are not comparable with the paper's.",
            "",
        ]
    networks = dict.fromkeys(
        f"{display_name(r['architecture'])} L={r['depth']} width={r['width']} {r['activation']}"
        + (f" lift={r['lift']}" if r.get("lift") else "")
        for r in rows
    )
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    kind = "images" if any(d in IMAGE_SETS for d in datasets) else "points"
    rule = {
        "paper": f"the paper's rule with tol = {settings.tol}",
        "patience": f"Keras's EarlyStopping on val_loss, patience {settings.patience}"
        + (", best weights restored" if settings.restore_best_weights else ""),
        "none": "none (every epoch is trained)",
    }[settings.early_stopping]
    step = (
        f"fixed h = {settings.step_size} at every depth"
        if settings.step_size is not None
        else f"h = T / L with T = {settings.final_time}"
    )
    seeds = settings.seeds
    rate = f"Adam with learning rate {settings.learning_rate}" + "".join(
        f", {r} after epoch {e}" for e, r in settings.learning_rate_drops
    )
    lines += [
        f"- Networks: {', '.join(networks)}",
        f"- Data: {', '.join(datasets)}; {settings.num_train} training and "
        f"{settings.num_val} validation {kind} per seed",
        f"- Seeds: {'0' if seeds == 1 else f'0 to {seeds - 1}'} ({seeds} repetition"
        f"{'s' if seeds != 1 else ''} per network)",
        f"- Training: at most {settings.epochs} epoch{'s' if settings.epochs != 1 else ''}, "
        f"batch size {settings.batch_size}, "
        f"{rate}, cross-entropy",
        f"- Early stopping: {rule}",
        f"- Step size: {step}; lift: {settings.lift} (unless a network names its own); "
        f"gradient: {settings.gradient}",
        f"- All settings: {settings.to_dict()}",
        f"- Options: {opts}",
    ]
    return lines


def environment_lines(records: dict | None) -> list[str]:
    """The report's environment section: each distinct ``environment`` of the
    run records (``keras_rk.environment.describe``) with how many runs it made."""
    environments: dict[str, tuple[dict, int]] = {}
    for record in (records or {}).values():
        facts = record.get("environment")
        if isinstance(facts, dict):
            key = repr(sorted(facts.items()))
            environments[key] = (facts, environments.get(key, (facts, 0))[1] + 1)
    if not environments:
        return []
    lines = ["## Environment", ""]
    for facts, count in environments.values():
        backend = facts.get("backend", "?")
        commit = f" (git commit {facts['git_commit']})" if facts.get("git_commit") else ""
        devices = ", ".join(facts.get("devices") or []) or "not recorded"
        lines += [
            f"- {count} run{'s' if count != 1 else ''}: keras-rk {facts.get('keras_rk')}"
            f"{commit}, Keras {facts.get('keras')}, backend {backend} "
            f"{facts.get(f'{backend}_version')}, numpy {facts.get('numpy')}, "
            f"Python {facts.get('python')}",
            f"  on {facts.get('cpu')} ({facts.get('platform')}); devices: {devices}",
        ]
    return [*lines, ""]


def write_tables(
    folder, name, study, settings, opts, rows, seconds, quick=False, records=None
) -> list:
    """Writes summary.csv, summary.md and report.md of the summary `rows` into
    the results folder; returns their paths. `quick` says the run used the
    quick sizes; `records` (run id -> record) give the report's environment."""
    files = [
        folder.write_text("summary.csv", _csv(rows)),
        folder.write_text("summary.md", _markdown(rows)),
    ]
    compared = [r for r in rows if "paper_val_accuracy" in r]
    lines = [
        f"# {name} study",
        "",
        ("The paper's study: " if quick else "") + study.description + ".",
        "",
        "## Settings used",
        "",
        *settings_lines(settings, opts, rows, quick),
        "",
        f"Wall time of this invocation: {seconds:.0f} s "
        f"(training time summed over repetitions: {sum(r['seconds'] for r in rows):.0f} s).",
        "",
        "Defaults follow the paper's public code: fixed step h = 0.05 at every depth, a "
        "frozen random lift (zero padding in the width study), Adam (lr 1e-3), batch 5, "
        "cross-entropy, its early stop with tol 0.05 (image studies: Keras's "
        "EarlyStopping on val_loss, patience 5).",
        "",
        *environment_lines(records),
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
