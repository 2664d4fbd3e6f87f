"""Argument checks shared by the layers and ``build``: each error names the
argument, the value received and what was expected."""

from __future__ import annotations

import numbers
from typing import Any


def positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(
            f"Received an invalid value for `{name}`, expected a positive integer. "
            f"Received: {name}={value!r}"
        )
    return int(value)


def non_negative_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(
            f"Received an invalid value for `{name}`, expected a non-negative "
            f"integer. Received: {name}={value!r}"
        )
    return int(value)


def positive_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"Received an invalid value for `{name}`, expected a positive number. "
            f"Received: {name}={value!r}"
        )
    number = float(value)
    if not (number > 0.0 and number < float("inf")):
        raise ValueError(
            f"Received an invalid value for `{name}`, expected a positive finite "
            f"number. Received: {name}={value!r}"
        )
    return number


def one_of(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(
            f"Received an invalid value for `{name}`, expected one of "
            f"{list(choices)}. Received: {name}={value!r}"
        )
    return value
