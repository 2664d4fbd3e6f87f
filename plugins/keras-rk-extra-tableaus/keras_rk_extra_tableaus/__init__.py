"""Extra Butcher tableaus for keras-rk, registered as entry points in pyproject.toml."""

import math

from keras_rk import ButcherTableau

_SQRT15 = math.sqrt(15.0)

SSPRK3 = ButcherTableau(
    a=[[0, 0, 0], [1, 0, 0], [0.25, 0.25, 0]],
    b=[1 / 6, 1 / 6, 2 / 3],
    c=[0, 1, 0.5],
    name="ssprk3",
    order=3,
    reference="Shu & Osher (1988), strong-stability-preserving RK3",
)

DOPRI5 = ButcherTableau(
    a=[
        [0, 0, 0, 0, 0, 0, 0],
        [1 / 5, 0, 0, 0, 0, 0, 0],
        [3 / 40, 9 / 40, 0, 0, 0, 0, 0],
        [44 / 45, -56 / 15, 32 / 9, 0, 0, 0, 0],
        [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0, 0, 0],
        [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656, 0, 0],
        [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0],
    ],
    b=[35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0],
    c=[0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1],
    name="dopri5",
    order=5,
    reference="Dormand & Prince (1980), 5th-order solution; HNW I, II.5",
)

RADAU_IIA_2 = ButcherTableau(
    a=[[5 / 12, -1 / 12], [3 / 4, 1 / 4]],
    b=[3 / 4, 1 / 4],
    c=[1 / 3, 1],
    name="radau_iia_2",
    order=3,
    reference="2-stage Radau IIA (Ehle 1969); HNW II, IV.5",
)

GAUSS_LEGENDRE_3 = ButcherTableau(
    a=[
        [5 / 36, 2 / 9 - _SQRT15 / 15, 5 / 36 - _SQRT15 / 30],
        [5 / 36 + _SQRT15 / 24, 2 / 9, 5 / 36 - _SQRT15 / 24],
        [5 / 36 + _SQRT15 / 30, 2 / 9 + _SQRT15 / 15, 5 / 36],
    ],
    b=[5 / 18, 4 / 9, 5 / 18],
    c=[0.5 - _SQRT15 / 10, 0.5, 0.5 + _SQRT15 / 10],
    name="gauss_legendre_3",
    order=6,
    reference="3-stage Gauss-Legendre (Kuntzmann, Butcher 1964); HNW I, II.7",
)
