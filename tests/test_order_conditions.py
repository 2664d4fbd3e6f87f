import math

import numpy as np
import pytest

import keras_rk
from keras_rk import order_conditions
from keras_rk.order_conditions import density, elementary_weight, rooted_trees, verified_order

# Known orders: HNW I, II.1 and II.7, Butcher (2016), and the plugin's references.
KNOWN_ORDERS = {
    "euler": 1,
    "midpoint": 2,
    "heun": 2,
    "ralston": 2,
    "kutta3": 3,
    "rk4": 4,
    "rk38": 4,
    "backward_euler": 1,
    "implicit_midpoint": 2,
    "gauss_legendre_2": 4,
    "ssprk3": 3,
    "dopri5": 5,
    "radau_iia_2": 3,
    "gauss_legendre_3": 6,
}


def test_number_of_rooted_trees_is_oeis_a000081():
    assert [len(rooted_trees(n)) for n in range(1, 9)] == [1, 1, 2, 4, 9, 20, 48, 115]


def test_densities_of_the_trees_up_to_order_4():
    # HNW I, Table II.2.1: gamma = 1; 2; 3, 6; 4, 8, 12, 24.
    got = sorted(density(t) for n in range(1, 5) for t in rooted_trees(n))
    assert got == sorted([1, 2, 3, 6, 4, 8, 12, 24])
    # The bushy tree of order n has gamma = n, the tall one gamma = n!.
    for n in range(1, 8):
        assert min(density(t) for t in rooted_trees(n)) == n
        assert max(density(t) for t in rooted_trees(n)) == math.factorial(n)


def test_elementary_weights_of_rk4_by_hand():
    rk4 = keras_rk.tableaus.RK4
    # sum b_i c_i^2 = 1/3 and sum b_i a_ij c_j = 1/6 (HNW I, Table II.2.1).
    assert elementary_weight(((), ()), rk4.a, rk4.b) == pytest.approx(1 / 3, abs=1e-15)
    assert elementary_weight((((),),), rk4.a, rk4.b) == pytest.approx(1 / 6, abs=1e-15)


@pytest.mark.parametrize("name, order", sorted(KNOWN_ORDERS.items()))
def test_verified_order_of_every_known_tableau(name, order):
    tableau = keras_rk.get_tableau(name)
    assert verified_order(tableau.a, tableau.b) == order
    assert tableau.verified_order == tableau.order == order


def test_a_coefficient_off_by_1e_6_loses_the_order():
    rk4 = keras_rk.tableaus.RK4
    a = np.array(rk4.a)
    a[3, 2] += 1e-6
    assert verified_order(a, rk4.b) < 4


def test_orders_beyond_max_order_are_not_claimed():
    gauss = keras_rk.get_tableau("gauss_legendre_3")
    assert verified_order(gauss.a, gauss.b, max_order=4) == 4
    assert order_conditions.MAX_ORDER >= 6
