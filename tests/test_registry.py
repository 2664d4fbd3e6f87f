import sys
import textwrap
import warnings
from importlib.metadata import EntryPoint, distribution

import pytest

import keras_rk
from keras_rk import registry
from keras_rk.tableaus import BUILTIN_TABLEAUS, ButcherTableau

# Objects the fake entry points below point at.
CUSTOM = ButcherTableau(a=[[0]], b=[1], c=[0], name="custom_euler", order=1)
CLASH = ButcherTableau(a=[[0.5]], b=[1], c=[0.5], name="rk4", order=2)
NOT_A_TABLEAU = {"a": [[0]]}
# Heun's coefficients (order 2) with a false claim, and RK4's with a modest one.
OVERCLAIMED = ButcherTableau(a=[[0, 0], [1, 0]], b=[0.5, 0.5], c=[0, 1], name="fast", order=3)
UNDERCLAIMED = ButcherTableau(
    a=keras_rk.tableaus.RK4.a,
    b=keras_rk.tableaus.RK4.b,
    c=keras_rk.tableaus.RK4.c,
    name="modest_rk4",
    order=2,
)

REQUIRED_BUILTINS = {
    "euler",
    "midpoint",
    "heun",
    "ralston",
    "kutta3",
    "rk4",
    "rk38",
    "backward_euler",
    "implicit_midpoint",
    "gauss_legendre_2",
}


def fake(name, target):
    return EntryPoint(name=name, value=f"{__name__}:{target}", group=registry.ENTRY_POINT_GROUP)


def test_builtins_are_registered_through_the_entry_point_group():
    installed = {
        ep.name: ep.load()
        for ep in distribution("keras-rk").entry_points
        if ep.group == registry.ENTRY_POINT_GROUP
    }
    assert REQUIRED_BUILTINS <= set(installed)
    assert set(installed.values()) == set(BUILTIN_TABLEAUS)


def test_available_tableaus_lists_builtins_and_the_plugin():
    names = keras_rk.available_tableaus()
    assert REQUIRED_BUILTINS <= set(names)
    assert names == sorted(names)


def test_the_plugin_distribution_in_plugins_is_found():
    # .ci/run installs plugins/keras-rk-extra-tableaus; its tableaus must appear.
    plugin = distribution("keras-rk-extra-tableaus")
    names = {ep.name for ep in plugin.entry_points if ep.group == registry.ENTRY_POINT_GROUP}
    assert names == {"ssprk3", "dopri5", "radau_iia_2", "gauss_legendre_3"}
    assert names <= set(keras_rk.available_tableaus())
    assert keras_rk.get_tableau("gauss_legendre_3").order == 6


def test_fake_entry_point_is_loaded():
    found = registry.load_entry_points([fake("custom_euler", "CUSTOM")])
    assert found["custom_euler"] is CUSTOM
    assert set(t.name for t in BUILTIN_TABLEAUS) <= set(found)


def test_plugin_that_fails_to_import_is_a_warning_naming_it():
    broken = EntryPoint(name="broken", value="no_such_module_xyz:T", group="keras_rk.tableaus")
    with pytest.warns(
        RuntimeWarning,
        match=r"skipping tableau plugin 'broken = no_such_module_xyz:T'.*ModuleNotFoundError",
    ):
        found = registry.load_entry_points([broken, fake("custom_euler", "CUSTOM")])
    assert "custom_euler" in found and "broken" not in found


def test_plugin_that_is_not_a_tableau_is_a_warning():
    with pytest.warns(
        RuntimeWarning, match=r"must name a keras_rk.ButcherTableau, but names a dict"
    ):
        found = registry.load_entry_points([fake("bad", "NOT_A_TABLEAU")])
    assert "bad" not in found


def test_two_tableaus_with_one_name_warn_and_list_both():
    with pytest.warns(
        RuntimeWarning, match=r"two tableaus are named 'rk4': keras_rk \(built in\) and 'rk4 = "
    ):
        found = registry.load_entry_points([fake("rk4", "CLASH")])
    assert found["rk4"] is keras_rk.tableaus.RK4


def test_unknown_name_lists_installed_tableaus():
    with pytest.raises(ValueError, match=r"Unknown `tableau`.*'rk4'.*Received: tableau='nope'"):
        keras_rk.get_tableau("nope")


def test_register_tableau_at_run_time(monkeypatch):
    monkeypatch.setattr(registry, "_runtime_tableaus", {})
    keras_rk.register_tableau(CUSTOM)
    assert keras_rk.get_tableau("custom_euler") is CUSTOM
    other = ButcherTableau(a=[[1]], b=[1], c=[1], name="custom_euler", order=1)
    with pytest.raises(ValueError, match="already registered"):
        keras_rk.register_tableau(other)
    with pytest.raises(TypeError, match="must be a keras_rk.ButcherTableau"):
        keras_rk.register_tableau("custom_euler")


def test_entry_points_are_read_once_and_refresh_rereads(monkeypatch):
    calls = []

    def counting_entry_points(group):
        calls.append(group)
        return []

    registry.refresh()
    monkeypatch.setattr(registry, "entry_points", counting_entry_points)
    keras_rk.available_tableaus()
    keras_rk.get_tableau("rk4")
    assert calls == [registry.ENTRY_POINT_GROUP]
    registry.refresh()
    keras_rk.available_tableaus()
    assert len(calls) == 2
    monkeypatch.undo()
    registry.refresh()


@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    """Writes a module that a fake entry point can import; forgets it afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_runtime_tableaus", {})
    names = []

    def write(name, source):
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        names.append(name)
        return name

    yield write
    for name in names:
        sys.modules.pop(name, None)


def test_plugin_that_calls_sys_exit_on_import_is_a_warning(plugin_module):
    module = plugin_module("exiting_plugin_xyz", "import sys\nsys.exit(3)\n")
    exiting = EntryPoint(name="exiting", value=f"{module}:T", group=registry.ENTRY_POINT_GROUP)
    with pytest.warns(
        RuntimeWarning,
        match=r"skipping tableau plugin 'exiting = exiting_plugin_xyz:T'.*SystemExit: 3",
    ):
        found = registry.load_entry_points([exiting, fake("custom_euler", "CUSTOM")])
    assert "custom_euler" in found and "exiting" not in found
    assert registry._loading_plugin is None


def test_keyboard_interrupt_in_a_plugin_still_interrupts(plugin_module):
    module = plugin_module("interrupting_plugin_xyz", "raise KeyboardInterrupt\n")
    entry_point = EntryPoint(name="i", value=f"{module}:T", group=registry.ENTRY_POINT_GROUP)
    with pytest.raises(KeyboardInterrupt):
        registry.load_entry_points([entry_point])
    assert registry._loading_plugin is None


def test_plugin_cannot_replace_a_builtin_on_import(plugin_module):
    module = plugin_module(
        "sneaky_plugin_xyz",
        """
        from keras_rk import ButcherTableau, register_tableau
        FAKE = ButcherTableau(a=[[0.5]], b=[1], c=[0.5], name="rk4", order=2)
        register_tableau(FAKE, overwrite=True)
        OWN = ButcherTableau(a=[[0]], b=[1], c=[0], name="sneaky_euler", order=1)
        """,
    )
    entry_point = EntryPoint(
        name="sneaky_euler", value=f"{module}:OWN", group=registry.ENTRY_POINT_GROUP
    )
    with pytest.warns(
        RuntimeWarning,
        match=r"refused register_tableau\(\.\.\., overwrite=True\) of the built-in tableau 'rk4' by tableau plugin 'sneaky_euler = sneaky_plugin_xyz:OWN'",
    ):
        found = registry.load_entry_points([entry_point])
    assert found["rk4"] is keras_rk.tableaus.RK4
    assert "sneaky_euler" in found
    assert "rk4" not in registry._runtime_tableaus
    assert keras_rk.get_tableau("rk4") is keras_rk.tableaus.RK4


def test_user_code_may_overwrite_with_a_warning(monkeypatch):
    monkeypatch.setattr(registry, "_runtime_tableaus", {})
    mine = ButcherTableau(a=[[0.5]], b=[1], c=[0.5], name="rk4", order=2)
    with pytest.warns(RuntimeWarning, match=r"register_tableau replaces the tableau 'rk4'"):
        keras_rk.register_tableau(mine, overwrite=True)
    assert keras_rk.get_tableau("rk4") is mine


def test_plugin_claiming_a_wrong_order_is_a_warning_with_the_real_order():
    with pytest.warns(
        RuntimeWarning,
        match=r"tableau plugin 'fast = tests?\S*:OVERCLAIMED': tableau 'fast' claims order=3, but .* it has order 2\.",
    ):
        found = registry.load_entry_points([fake("fast", "OVERCLAIMED")])
    assert found["fast"].verified_order == 2  # a warning, not a refusal


def test_register_tableau_with_a_too_modest_order_is_a_warning(monkeypatch):
    monkeypatch.setattr(registry, "_runtime_tableaus", {})
    with pytest.warns(
        RuntimeWarning,
        match=r"register_tableau: tableau 'modest_rk4' claims order=2, but by Butcher's order conditions \(checked up to order 8, relative tolerance 1e-10\) it has order 4\. Fix its `order` or its coefficients\.",
    ):
        keras_rk.register_tableau(UNDERCLAIMED)


def test_installed_tableaus_load_without_any_warning():
    # pytest turns warnings into errors; said here so that it holds without that.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = registry.load_entry_points(registry.entry_points(group=registry.ENTRY_POINT_GROUP))
    assert all(t.verified_order == t.order for t in found.values())
