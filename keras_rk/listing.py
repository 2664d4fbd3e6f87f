"""What ``keras-rk list`` and ``keras-rk run --help`` show: the studies with
their defaults, the installed tableaus and the data sets, as plain text.

>>> print(tableau_lines()[1])  # doctest: +NORMALIZE_WHITESPACE
  name  stages  order  verified order  kind  symplectic
"""

from __future__ import annotations


def study_lines() -> list[str]:
    """One line per study: its name and what it reproduces."""
    from keras_rk.studies.catalogue import STUDIES

    width = max(map(len, STUDIES))
    return ["Studies (keras-rk run STUDY):"] + [
        f"  {name:{width}s}  {study.description}" for name, study in STUDIES.items()
    ]


def tableau_lines() -> list[str]:
    """One line per registered tableau: stages, claimed and verified order,
    explicit or implicit, symplectic or not."""
    from keras_rk.registry import available_tableaus, get_tableau

    names = available_tableaus()
    width = max(len("name"), *map(len, names))
    lines = [
        "Tableaus (--architectures standard or any of these):",
        f"  {'name':{width}s}  stages  order  verified order  kind      symplectic",
    ]
    for name in names:
        tableau = get_tableau(name)
        kind = "explicit" if tableau.is_explicit else "implicit"
        lines.append(
            f"  {name:{width}s}  {tableau.num_stages:6d}  {tableau.order:5d}  "
            f"{tableau.verified_order:14d}  {kind:8s}  {'yes' if tableau.is_symplectic else 'no'}"
        )
    return lines


def dataset_lines() -> list[str]:
    """The point sets with their input dimension and classes, then the image sets."""
    from keras_rk.datasets import IMAGE_SETS, available_point_sets, input_dim_of, num_classes_of

    names = [*available_point_sets(), *IMAGE_SETS]
    width = max(map(len, names))
    lines = ["Point sets (--datasets):"]
    for name in available_point_sets():
        lines.append(f"  {name:{width}s}  dim {input_dim_of(name)}, {num_classes_of(name)} classes")
    lines.append(
        "Image sets (--datasets; see keras_rk.datasets.load_images for where they load from):"
    )
    for name in IMAGE_SETS:
        lines.append(
            f"  {name:{width}s}  28x28 = {input_dim_of(name)} pixels, "
            f"{num_classes_of(name)} classes"
        )
    return lines


def listing() -> str:
    """Everything ``keras-rk list`` prints."""
    return "\n".join([*study_lines(), "", *tableau_lines(), "", *dataset_lines()]) + "\n"


def study_defaults() -> str:
    """Each study's default settings and options (the paper's), and what
    ``--quick`` changes: the epilog of ``keras-rk run --help``."""
    import dataclasses

    from keras_rk.studies.catalogue import STUDIES, Settings

    shown = ("seeds", "epochs", "batch_size", "early_stopping", "gradient", "lift",
             "num_train", "num_val")  # fmt: skip
    lines = ["defaults per study (the paper's; --quick: smoke-test sizes):"]
    for name, study in STUDIES.items():
        settings = Settings(**study.defaults)
        quick = dataclasses.replace(settings, **study.quick)
        values = ", ".join(f"{key}={getattr(settings, key)}" for key in shown)
        options = ", ".join(f"{key}={value}" for key, value in study.options.items())
        changed = {
            **{k: getattr(quick, k) for k in shown if getattr(quick, k) != getattr(settings, k)},
            **study.quick_options,
        }
        quick_text = ", ".join(f"{key}={value}" for key, value in changed.items())
        lines += [
            f"  {name}:",
            f"    {values}",
            f"    {options}",
            f"    --quick: {quick_text}",
        ]
    return "\n".join(lines)
