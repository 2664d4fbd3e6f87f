import math

import pytest

import keras_rk
from keras_rk.tableaus import BUILTIN_TABLEAUS, RK4, ButcherTableau

HEUN_KWARGS = dict(a=[[0, 0], [1, 0]], b=[0.5, 0.5], c=[0, 1], name="heun", order=2)


def test_issue_example_constructs_a_valid_tableau():
    heun = ButcherTableau(**HEUN_KWARGS)
    assert heun.num_stages == 2
    assert heun.is_explicit
    assert heun.a == ((0.0, 0.0), (1.0, 0.0))
    assert heun == keras_rk.get_tableau("heun")


@pytest.mark.parametrize(
    "override, message",
    [
        (dict(a=[[0, 0], [1]]), r"`a` must be square .* row a\[1\] has 1 entries"),
        (dict(a=[]), r"`a` must have at least one row"),
        (dict(b=[1.0]), r"`b` must have one entry per stage \(2.*Received: b=\[1.0\]"),
        (dict(c=[0, 1, 2]), r"`c` must have one entry per stage"),
        (dict(a=[[0, 0], [float("nan"), 0]], c=[0, 1]), r"`a\[1\]\[0\]` must be finite"),
        (dict(b=[0.5, math.inf]), r"`b\[1\]` must be finite"),
        (dict(b=[0.5, "x"]), r"`b\[1\]` must be a real number. Received: b\[1\]='x'"),
        (dict(c=[0, 0.9]), r"`c\[1\]` must equal the sum of row a\[1\] \(= 1.0\)"),
        (dict(b=[0.5, 0.6]), r"weights `b` must sum to 1.*sum 1.1"),
        (dict(name=""), r"`name` must be a non-empty string"),
        (dict(order=0), r"`order` must be a positive integer. Received: order=0"),
        (dict(order=2.0), r"`order` must be a positive integer"),
        (dict(a=5), r"`a` must be a square matrix given as a list of rows"),
    ],
)
def test_malformed_tableau_names_the_wrong_entry(override, message):
    with pytest.raises(ValueError, match=message):
        ButcherTableau(**{**HEUN_KWARGS, **override})


def test_tableau_is_immutable_and_hashable():
    heun = ButcherTableau(**HEUN_KWARGS)
    with pytest.raises(AttributeError):
        heun.order = 3
    assert hash(heun) == hash(ButcherTableau(**HEUN_KWARGS))


@pytest.mark.parametrize(
    "name, explicit, symplectic",
    [
        ("euler", True, False),
        ("rk4", True, False),
        ("backward_euler", False, False),
        ("implicit_midpoint", False, True),
        ("gauss_legendre_2", False, True),
    ],
)
def test_derived_facts(name, explicit, symplectic):
    tableau = keras_rk.get_tableau(name)
    assert tableau.is_explicit is explicit
    assert tableau.is_symplectic is symplectic


@pytest.mark.parametrize("tableau", BUILTIN_TABLEAUS, ids=lambda t: t.name)
def test_adjoint_satisfies_condition_3_23(tableau):
    if any(weight == 0 for weight in tableau.b):
        with pytest.raises(ValueError, match=r"has no adjoint tableau .* b\[0\]"):
            tableau.adjoint()
        return
    adjoint = tableau.adjoint()
    s = tableau.num_stages
    assert adjoint.b == tableau.b
    for i in range(s):
        for j in range(s):
            residual = (
                tableau.b[i] * adjoint.a[i][j]
                + adjoint.b[j] * tableau.a[j][i]
                - tableau.b[i] * adjoint.b[j]
            )
            assert abs(residual) < 1e-14, (i, j, residual)


def test_symplectic_tableau_is_its_own_adjoint():
    gauss = keras_rk.get_tableau("gauss_legendre_2")
    for row, adjoint_row in zip(gauss.a, gauss.adjoint().a):
        assert row == pytest.approx(adjoint_row, abs=1e-15)


def test_euler_adjoint_is_backward_euler():
    # By (3.23) with b = 1, a = 0: ã = 1, the implicit Euler tableau.
    assert keras_rk.get_tableau("euler").adjoint().a == ((1.0,),)


def test_midpoint_has_no_adjoint_and_says_why():
    with pytest.raises(ValueError, match=r"'midpoint' has no adjoint.*b\[0\].*divide"):
        keras_rk.get_tableau("midpoint").adjoint()


def test_config_round_trip_is_exact():
    assert ButcherTableau.from_config(RK4.to_config()) == RK4


@pytest.mark.parametrize(
    "config, message",
    [
        ("rk4", r"must be a dict"),
        ({"a": [[0]], "b": [1]}, r"missing \['c', 'name', 'order'\]"),
    ],
)
def test_from_config_rejects_bad_configs(config, message):
    with pytest.raises(ValueError, match=message):
        ButcherTableau.from_config(config)
