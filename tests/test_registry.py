from importlib.metadata import EntryPoint, distribution

import pytest

import keras_rk
from keras_rk import registry
from keras_rk.tableaus import BUILTIN_TABLEAUS, ButcherTableau

# Objects the fake entry points below point at.
CUSTOM = ButcherTableau(a=[[0]], b=[1], c=[0], name="custom_euler", order=1)
CLASH = ButcherTableau(a=[[0.5]], b=[1], c=[0.5], name="rk4", order=2)
NOT_A_TABLEAU = {"a": [[0]]}

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
