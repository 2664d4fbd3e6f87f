"""Discovery of Butcher tableaus through the ``keras_rk.tableaus`` entry-point group.

A distribution publishes a tableau by naming a ``ButcherTableau`` object in its
``pyproject.toml``::

    [project.entry-points."keras_rk.tableaus"]
    ssprk3 = "my_package.tableaus:SSPRK3"

keras-rk's own tableaus are published the same way. The entry points are read
once and cached; ``refresh()`` reads them again (after an install at run time).
A plugin that fails to load, or names something that is not a tableau, is a
warning that names it; the rest of the library keeps working.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

from keras_rk.tableaus import BUILTIN_TABLEAUS, ButcherTableau

ENTRY_POINT_GROUP = "keras_rk.tableaus"

# Tableaus registered at run time with `register_tableau`, by name.
_runtime_tableaus: dict[str, ButcherTableau] = {}


def _describe(entry_point: EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    source = f" from distribution '{dist.name}'" if dist is not None else ""
    return f"'{entry_point.name} = {entry_point.value}'{source}"


def load_entry_points(
    eps: Iterable[EntryPoint],
) -> dict[str, ButcherTableau]:
    """Tableaus by name from entry points; bad ones are skipped with a warning.

    Pure in its input, so tests can pass fake ``EntryPoint`` objects. The built-in
    tableaus come first, so that keras-rk works from a source tree too, where its
    own entry points are not installed; an entry point that names the very same
    tableau is then no conflict.
    """
    found: dict[str, ButcherTableau] = {t.name: t for t in BUILTIN_TABLEAUS}
    origin: dict[str, str] = {t.name: "keras_rk (built in)" for t in BUILTIN_TABLEAUS}
    for entry_point in eps:
        try:
            tableau = entry_point.load()
        except Exception as error:  # a broken plugin must not break the library
            warnings.warn(
                f"keras_rk: skipping tableau plugin {_describe(entry_point)}: it "
                f"failed to load with {type(error).__name__}: {error}",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        if not isinstance(tableau, ButcherTableau):
            warnings.warn(
                f"keras_rk: skipping tableau plugin {_describe(entry_point)}: it must "
                f"name a keras_rk.ButcherTableau, but names a "
                f"{type(tableau).__name__} ({tableau!r:.80})",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        name = tableau.name
        if name in found:
            if found[name] == tableau:
                continue
            warnings.warn(
                f"keras_rk: two tableaus are named '{name}': {origin[name]} and "
                f"{_describe(entry_point)}. Using the first; uninstall one of them "
                f"or rename its tableau.",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        if name != entry_point.name:
            warnings.warn(
                f"keras_rk: tableau plugin {_describe(entry_point)} names a tableau "
                f"called '{name}'; it is registered as '{name}'.",
                RuntimeWarning,
                stacklevel=2,
            )
        found[name] = tableau
        origin[name] = _describe(entry_point)
    return found


@functools.cache
def _installed_tableaus() -> dict[str, ButcherTableau]:
    return load_entry_points(entry_points(group=ENTRY_POINT_GROUP))


def _all_tableaus() -> dict[str, ButcherTableau]:
    return {**_installed_tableaus(), **_runtime_tableaus}


def refresh() -> None:
    """Forget the cached entry points, so the next look-up reads them again."""
    _installed_tableaus.cache_clear()


def available_tableaus() -> list[str]:
    """The names of every installed tableau, plugins included, sorted."""
    return sorted(_all_tableaus())


def get_tableau(name: str | ButcherTableau) -> ButcherTableau:
    """The tableau registered under `name` (a tableau passes through unchanged).

    Raises:
        ValueError: for an unknown name; the message lists the installed ones.
    """
    if isinstance(name, ButcherTableau):
        return name
    tableaus = _all_tableaus()
    if not isinstance(name, str) or name not in tableaus:
        raise ValueError(
            f"Unknown `tableau`: expected the name of an installed tableau, one of "
            f"{sorted(tableaus)}, or a keras_rk.ButcherTableau. Received: "
            f"tableau={name!r}. Third-party tableaus are found through the "
            f"'{ENTRY_POINT_GROUP}' entry-point group once their distribution is "
            f"installed."
        )
    return tableaus[name]


def register_tableau(tableau: ButcherTableau, *, overwrite: bool = False) -> None:
    """Make `tableau` available by name in this process, without packaging it."""
    if not isinstance(tableau, ButcherTableau):
        raise TypeError(f"`tableau` must be a keras_rk.ButcherTableau. Received: {tableau!r}")
    existing = _all_tableaus().get(tableau.name)
    if existing is not None and existing != tableau and not overwrite:
        raise ValueError(
            f"A different tableau named '{tableau.name}' is already registered. "
            f"Pass overwrite=True to replace it, or choose another name."
        )
    _runtime_tableaus[tableau.name] = tableau
