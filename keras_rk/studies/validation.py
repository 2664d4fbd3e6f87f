"""Checks a study's options and cells before anything is written.

``run_study`` calls ``check_study`` after resolving the settings (``Settings``
checks its own fields) and before it creates the results folder, so a refused
command leaves no file behind and the corrected command is not then refused for
"other settings". Each error is one line naming the option, the value received
and what was expected.

>>> from keras_rk.studies.catalogue import resolve
>>> study, settings, options = resolve("comparison", quick=True,
...                                    options={"architectures": ["rk5"]})
>>> check_study(study, settings, options)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: Received an invalid value for `architectures`, ... Received: architectures=['rk5']
"""

from __future__ import annotations

import numbers
from typing import Any

from keras_rk.datasets import IMAGE_SETS, available_datasets, input_dim_of
from keras_rk.datasets.images import check_data_dir
from keras_rk.studies.catalogue import Settings, Study

_INT_OPTIONS = ("depth", "width", "standard_depth")
_INT_LIST_OPTIONS = ("depths", "widths")
_NAME_LIST_OPTIONS = ("architectures", "datasets", "activations")


def _invalid(name: str, expected: str, value: Any) -> ValueError:
    return ValueError(
        f"Received an invalid value for `{name}`, expected {expected}. Received: {name}={value!r}"
    )


def _is_positive_int(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Integral) and value >= 1


def architecture_names() -> list[str]:
    """What a study's `architectures` may hold: 'standard' or a registered tableau."""
    from keras_rk.registry import available_tableaus

    return ["standard", *available_tableaus()]


def check_options(options: dict[str, Any]) -> None:
    """Each option of a study has a value of its kind: positive integers for
    the depths and widths, non-empty lists of known names for the rest."""
    for name in _INT_OPTIONS:
        if name in options and not _is_positive_int(options[name]):
            raise _invalid(name, "a positive integer", options[name])
    for name in _INT_LIST_OPTIONS:
        value = options.get(name)
        if name in options and (
            not isinstance(value, (list, tuple))
            or not value
            or not all(_is_positive_int(v) for v in value)
        ):
            raise _invalid(name, "a non-empty list of positive integers such as [2, 3]", value)
    for name in _NAME_LIST_OPTIONS:
        value = options.get(name)
        if name in options and (
            not isinstance(value, (list, tuple))
            or not value
            or not all(isinstance(v, str) for v in value)
        ):
            raise _invalid(name, "a non-empty list of names", value)
    if "architectures" in options:
        known = architecture_names()
        unknown = [a for a in options["architectures"] if a not in known]
        if unknown:
            raise _invalid(
                "architectures", f"'standard' or a registered tableau {known[1:]}", unknown
            )
    if "datasets" in options:
        unknown = [d for d in options["datasets"] if d not in available_datasets()]
        if unknown:
            raise _invalid(
                "datasets",
                f"point sets or image sets among {available_datasets()}",
                unknown,
            )
    if "activations" in options:
        from keras_rk.activations import get_activation

        for activation in options["activations"]:
            try:
                get_activation(activation)
            except ValueError:
                raise _invalid(
                    "activations",
                    "names of Keras activations such as tanh, sigmoid, relu, softplus",
                    [activation],
                ) from None


def check_study(
    study: Study, settings: Settings, options: dict[str, Any], data_dir: Any = None
) -> None:
    """Raises ValueError when the study cannot run with these settings and
    options (see the module docstring); returns None when it can, as far as
    can be told without loading data or building the networks."""
    check_options(options)
    cells = study.make_cells(options)
    for cell in cells:
        if cell.width < input_dim_of(cell.dataset):
            name = "widths" if "widths" in options else "width"
            raise _invalid(
                name,
                f"at least the input dimension of {cell.dataset!r} ({input_dim_of(cell.dataset)})",
                options[name],
            )
    uses_adjoint = settings.gradient == "adjoint" and any(
        cell.architecture != "standard" for cell in cells
    )
    if uses_adjoint:
        _check_adjoint(cells)
    if data_dir is not None:  # an explicit folder must hold the images; no download then
        for dataset in dict.fromkeys(cell.dataset for cell in cells if cell.dataset in IMAGE_SETS):
            check_data_dir(dataset, data_dir)


def _check_adjoint(cells) -> None:
    from keras_rk.activations import (
        activations_with_output_derivative,
        derivative_from_output,
        get_activation,
    )
    from keras_rk.registry import get_tableau

    for cell in cells:
        if cell.architecture == "standard":
            continue
        if not get_tableau(cell.architecture).is_explicit:
            raise _invalid(
                "architectures",
                "explicit tableaus with gradient 'adjoint' (or --gradient autodiff)",
                [cell.architecture],
            )
        if derivative_from_output(get_activation(cell.activation)) is None:
            raise _invalid(
                "activations",
                f"{activations_with_output_derivative()} with gradient 'adjoint' "
                f"(or --gradient autodiff)",
                [cell.activation],
            )
