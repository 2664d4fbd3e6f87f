"""Discovery of Butcher tableaus through the ``keras_rk.tableaus`` entry-point group.

A distribution publishes a tableau by naming a ``ButcherTableau`` object in its
``pyproject.toml``::

    [project.entry-points."keras_rk.tableaus"]
    ssprk3 = "my_package.tableaus:SSPRK3"

keras-rk's own tableaus are published the same way. The entry points are read
once and cached; ``refresh()`` reads them again (after an install at run time).
A plugin that fails to load (any exception, ``SystemExit`` included; only
``KeyboardInterrupt`` goes through), or names something that is not a tableau,
is a warning that names it; the rest of the library keeps working. While its
module is imported, a plugin cannot replace a built-in tableau with
``register_tableau``. Every tableau's claimed order is checked against Butcher's
order conditions when it is registered; a mismatch is a warning that states the
order it really has.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

from keras_rk import order_conditions
from keras_rk.tableaus import BUILTIN_TABLEAUS, ButcherTableau

ENTRY_POINT_GROUP = "keras_rk.tableaus"

# Tableaus registered at run time with `register_tableau`, by name.
_runtime_tableaus: dict[str, ButcherTableau] = {}

_BUILTINS_BY_NAME = {t.name: t for t in BUILTIN_TABLEAUS}

# The entry point whose module is being imported, described; None otherwise.
_loading_plugin: str | None = None


def _describe(entry_point: EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    source = f" from distribution '{dist.name}'" if dist is not None else ""
    return f"'{entry_point.name} = {entry_point.value}'{source}"


def _warn_if_order_is_wrong(tableau: ButcherTableau, origin: str) -> None:
    verified = tableau.verified_order
    if verified == tableau.order or verified == order_conditions.MAX_ORDER <= tableau.order:
        return
    really = f"at least {verified}" if verified == order_conditions.MAX_ORDER else verified
    warnings.warn(
        f"keras_rk: {origin}: tableau '{tableau.name}' claims order={tableau.order}, "
        f"but by Butcher's order conditions (checked up to order "
        f"{order_conditions.MAX_ORDER}, relative tolerance {order_conditions.ORDER_RTOL:g}) "
        f"it has order {really}. Fix its `order` or its coefficients.",
        RuntimeWarning,
        stacklevel=3,
    )


def load_entry_points(
    eps: Iterable[EntryPoint],
) -> dict[str, ButcherTableau]:
    """Tableaus by name from entry points; bad ones are skipped with a warning.

    Pure in its input, so tests can pass fake ``EntryPoint`` objects. The built-in
    tableaus come first, so that keras-rk works from a source tree too, where its
    own entry points are not installed; an entry point that names the very same
    tableau is then no conflict.
    """
    global _loading_plugin
    found: dict[str, ButcherTableau] = {t.name: t for t in BUILTIN_TABLEAUS}
    origin: dict[str, str] = {t.name: "keras_rk (built in)" for t in BUILTIN_TABLEAUS}
    for tableau in BUILTIN_TABLEAUS:
        _warn_if_order_is_wrong(tableau, origin[tableau.name])
    for entry_point in eps:
        _loading_plugin = _describe(entry_point)
        try:
            tableau = entry_point.load()
        except KeyboardInterrupt:
            raise
        # A broken plugin must not break the library, not even by sys.exit().
        except BaseException as error:
            warnings.warn(
                f"keras_rk: skipping tableau plugin {_describe(entry_point)}: it "
                f"failed to load with {type(error).__name__}: {error}",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        finally:
            _loading_plugin = None
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
        _warn_if_order_is_wrong(tableau, f"tableau plugin {origin[name]}")
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
    """Make `tableau` available by name in this process, without packaging it.

    Replacing a different tableau of the same name needs ``overwrite=True`` and
    is a warning. A plugin's module cannot replace a built-in tableau while it is
    imported: that call is refused with a warning naming the plugin.
    """
    if not isinstance(tableau, ButcherTableau):
        raise TypeError(f"`tableau` must be a keras_rk.ButcherTableau. Received: {tableau!r}")
    name = tableau.name
    if _loading_plugin is not None:
        # The entry points are being read: the full registry does not exist yet,
        # and a plugin's import must not decide what a built-in name means.
        existing = _runtime_tableaus.get(name, _BUILTINS_BY_NAME.get(name))
        if name in _BUILTINS_BY_NAME and existing != tableau and overwrite:
            warnings.warn(
                f"keras_rk: refused register_tableau(..., overwrite=True) of the built-in "
                f"tableau '{name}' by tableau plugin {_loading_plugin} while it was "
                f"imported; '{name}' stays the built-in one.",
                RuntimeWarning,
                stacklevel=2,
            )
            return
    else:
        existing = _all_tableaus().get(name)
    if existing is not None and existing != tableau:
        if not overwrite:
            raise ValueError(
                f"A different tableau named '{name}' is already registered. "
                f"Pass overwrite=True to replace it, or choose another name."
            )
        warnings.warn(
            f"keras_rk: register_tableau replaces the tableau '{name}' "
            f"(order {existing.order}) by another (order {tableau.order}).",
            RuntimeWarning,
            stacklevel=2,
        )
    origin = f"tableau plugin {_loading_plugin}" if _loading_plugin else "register_tableau"
    _warn_if_order_is_wrong(tableau, origin)
    _runtime_tableaus[name] = tableau
