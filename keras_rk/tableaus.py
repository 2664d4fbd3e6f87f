"""Butcher tableaus: the data that defines a Runge-Kutta method.

A tableau is validated once, when it is made, and is immutable afterwards. Derived
facts (number of stages, explicitness, symplecticity, the adjoint tableau of the
paper's condition (3.23)) are computed from the coefficients, never stored by hand.

The built-in tableaus at the bottom of this module are published through the
``keras_rk.tableaus`` entry-point group, the same way a third-party plugin
publishes its own (see ``keras_rk.registry``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from keras_rk import order_conditions

# Coefficients are checked against their consistency conditions with this
# absolute tolerance: loose enough for decimal literals such as 0.1 + 0.2, tight
# enough that a real mistake in a coefficient is always caught.
CONSISTENCY_ATOL = 1e-12


def _as_float(value: Any, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{where}` must be a real number. Received: {where}={value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"`{where}` must be finite. Received: {where}={number!r}")
    return number


def _as_vector(values: Any, name: str) -> tuple[float, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        try:
            values = list(values)
        except TypeError:
            raise ValueError(
                f"`{name}` must be a sequence of numbers. Received: {name}={values!r}"
            ) from None
    return tuple(_as_float(v, f"{name}[{i}]") for i, v in enumerate(values))


def _as_matrix(rows: Any, name: str) -> tuple[tuple[float, ...], ...]:
    try:
        rows = list(rows)
    except TypeError:
        raise ValueError(
            f"`{name}` must be a square matrix given as a list of rows. Received: {name}={rows!r}"
        ) from None
    matrix = tuple(_as_vector(row, f"{name}[{i}]") for i, row in enumerate(rows))
    for i, row in enumerate(matrix):
        if len(row) != len(matrix):
            raise ValueError(
                f"`{name}` must be square (s x s with s = {len(matrix)} rows), but "
                f"row {name}[{i}] has {len(row)} entries. Received: {name}={rows!r}"
            )
    return matrix


@dataclass(frozen=True)
class ButcherTableau:
    """The coefficients (A, b, c) of an s-stage Runge-Kutta method.

    One step of size h of y' = f(y) computes the stages
    ``k_i = f(y + h * sum_j a[i][j] * k_j)`` and the update
    ``y + h * sum_i b[i] * k_i`` (the paper's eq. 2.12, where f does not depend on
    t, so c only documents the nodes). A is strictly lower triangular for an
    explicit method; otherwise the stages are coupled and the method is implicit.

    Args:
        a: the s x s Runge-Kutta matrix, as a list of rows.
        b: the s weights; they must sum to 1 (consistency).
        c: the s nodes; they must be the row sums of A.
        name: the name the tableau is registered and looked up under.
        order: the classical order of accuracy claimed, a positive integer; see
            ``verified_order`` for the order the coefficients really have.
        reference: where the coefficients come from, free text.

    Raises:
        ValueError: naming the entry that is wrong, for a non-square A, b or c of
            the wrong length, a non-finite entry, c that is not the row sums of A,
            weights that do not sum to 1, or a bad name or order.

    Example:

    >>> heun = ButcherTableau(a=[[0, 0], [1, 0]], b=[0.5, 0.5], c=[0, 1],
    ...                       name="heun", order=2)
    >>> heun.num_stages, heun.is_explicit
    (2, True)
    """

    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    c: tuple[float, ...]
    name: str = field(kw_only=True)
    order: int = field(kw_only=True)
    reference: str = field(default="", kw_only=True, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"`name` must be a non-empty string. Received: name={self.name!r}")
        if isinstance(self.order, bool) or not isinstance(self.order, int) or self.order < 1:
            raise ValueError(f"`order` must be a positive integer. Received: order={self.order!r}")
        a = _as_matrix(self.a, "a")
        b = _as_vector(self.b, "b")
        c = _as_vector(self.c, "c")
        num_stages = len(a)
        if num_stages == 0:
            raise ValueError("`a` must have at least one row (one stage). Received: a=[]")
        for vector_name, vector in (("b", b), ("c", c)):
            if len(vector) != num_stages:
                raise ValueError(
                    f"`{vector_name}` must have one entry per stage ({num_stages}, the "
                    f"size of `a`). Received: {vector_name}={list(vector)} with "
                    f"{len(vector)} entries"
                )
        for i, (row, node) in enumerate(zip(a, c)):
            row_sum = math.fsum(row)
            if abs(row_sum - node) > CONSISTENCY_ATOL:
                raise ValueError(
                    f"`c[{i}]` must equal the sum of row a[{i}] (= {row_sum!r}). "
                    f"Received: c[{i}]={node!r}"
                )
        weight_sum = math.fsum(b)
        if abs(weight_sum - 1.0) > CONSISTENCY_ATOL:
            raise ValueError(
                f"The weights `b` must sum to 1 for a consistent method. "
                f"Received: b={list(b)} with sum {weight_sum!r}"
            )
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "c", c)

    @property
    def num_stages(self) -> int:
        """s, the number of stages."""
        return len(self.b)

    @functools.cached_property
    def verified_order(self) -> int:
        """The order the coefficients really have, by Butcher's order conditions.

        Computed once, with float64 coefficients and the relative tolerance
        ``order_conditions.ORDER_RTOL``; checked up to ``order_conditions.MAX_ORDER``
        (a result equal to it means "at least"). The registry warns when it differs
        from the claimed ``order``.
        """
        return order_conditions.verified_order(self.a, self.b)

    @property
    def is_explicit(self) -> bool:
        """True when A is strictly lower triangular: each stage needs only earlier ones."""
        return all(
            self.a[i][j] == 0.0 for i in range(self.num_stages) for j in range(i, self.num_stages)
        )

    @property
    def is_symplectic(self) -> bool:
        """True when b_i a_ij + b_j a_ji - b_i b_j = 0 for all i, j.

        This is the condition under which the method conserves quadratic invariants
        and is its own adjoint in the sense of the paper's condition (3.23).
        """
        s = self.num_stages
        return all(
            abs(self.b[i] * self.a[i][j] + self.b[j] * self.a[j][i] - self.b[i] * self.b[j])
            <= CONSISTENCY_ATOL
            for i in range(s)
            for j in range(s)
        )

    def adjoint(self) -> ButcherTableau:
        """The tableau (Ã, b̃) of the paper's condition (3.23), for the costate p.

        b̃ = b and ã_ij = b_j - b_j a_ji / b_i, so that backpropagation through an
        RK network is the Runge-Kutta step (3.24)-(3.26) with this tableau. The nodes
        are set to the row sums of Ã (not to c as in (3.23)): the networks are
        autonomous, so the nodes never enter a step, and this keeps the adjoint a
        valid tableau. A symplectic method is its own adjoint.

        Raises:
            ValueError: when some weight b_i is zero, since (3.20)-(3.21) divide by it.
        """
        zero = [i for i, weight in enumerate(self.b) if weight == 0.0]
        if zero:
            raise ValueError(
                f"Tableau '{self.name}' has no adjoint tableau in the sense of (3.23): "
                f"the weights b[{zero[0]}] (and any of {zero}) are zero, and the "
                f"costate stages p_i = xi_i / (h b_i) of eq. (3.20) divide by them. "
                f"Received: b={list(self.b)}"
            )
        s = self.num_stages
        a_tilde = [
            [self.b[j] - self.b[j] * self.a[j][i] / self.b[i] for j in range(s)] for i in range(s)
        ]
        return ButcherTableau(
            a=a_tilde,
            b=self.b,
            c=[math.fsum(row) for row in a_tilde],
            name=f"{self.name}_adjoint",
            order=self.order,
            reference=f"adjoint of '{self.name}' by condition (3.23)",
        )

    def to_config(self) -> dict[str, Any]:
        """Plain-Python coefficients, enough to rebuild the tableau anywhere."""
        return {
            "name": self.name,
            "order": self.order,
            "a": [list(row) for row in self.a],
            "b": list(self.b),
            "c": list(self.c),
            "reference": self.reference,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ButcherTableau:
        """The inverse of ``to_config``."""
        if not isinstance(config, dict):
            raise ValueError(
                f"A tableau config must be a dict with keys a, b, c, name, order. "
                f"Received: {config!r}"
            )
        missing = sorted({"a", "b", "c", "name", "order"} - set(config))
        if missing:
            raise ValueError(
                f"A tableau config needs the keys a, b, c, name, order; missing "
                f"{missing}. Received: {config!r}"
            )
        return cls(
            a=config["a"],
            b=config["b"],
            c=config["c"],
            name=config["name"],
            order=config["order"],
            reference=config.get("reference", ""),
        )


_SQRT3 = math.sqrt(3.0)

# The built-in tableaus. Coefficients from Hairer, Nørsett & Wanner, "Solving
# Ordinary Differential Equations I" (HNW I) and Butcher, "Numerical Methods for
# Ordinary Differential Equations" (2016), unless noted.
EULER = ButcherTableau(
    a=[[0]], b=[1], c=[0], name="euler", order=1, reference="forward Euler; HNW I, II.1"
)
MIDPOINT = ButcherTableau(
    a=[[0, 0], [0.5, 0]],
    b=[0, 1],
    c=[0, 0.5],
    name="midpoint",
    order=2,
    reference="explicit midpoint rule (Runge 1895); HNW I, II.1",
)
HEUN = ButcherTableau(
    a=[[0, 0], [1, 0]],
    b=[0.5, 0.5],
    c=[0, 1],
    name="heun",
    order=2,
    reference="Heun's method (explicit trapezoidal rule); HNW I, II.1",
)
RALSTON = ButcherTableau(
    a=[[0, 0], [2 / 3, 0]],
    b=[0.25, 0.75],
    c=[0, 2 / 3],
    name="ralston",
    order=2,
    reference="Ralston (1962), minimum error bound 2-stage method",
)
KUTTA3 = ButcherTableau(
    a=[[0, 0, 0], [0.5, 0, 0], [-1, 2, 0]],
    b=[1 / 6, 2 / 3, 1 / 6],
    c=[0, 0.5, 1],
    name="kutta3",
    order=3,
    reference="Kutta's third-order method (1901); HNW I, II.1",
)
RK4 = ButcherTableau(
    a=[[0, 0, 0, 0], [0.5, 0, 0, 0], [0, 0.5, 0, 0], [0, 0, 1, 0]],
    b=[1 / 6, 1 / 3, 1 / 3, 1 / 6],
    c=[0, 0.5, 0.5, 1],
    name="rk4",
    order=4,
    reference="classic Runge-Kutta method (Kutta 1901); paper's Figure 1",
)
RK38 = ButcherTableau(
    a=[[0, 0, 0, 0], [1 / 3, 0, 0, 0], [-1 / 3, 1, 0, 0], [1, -1, 1, 0]],
    b=[1 / 8, 3 / 8, 3 / 8, 1 / 8],
    c=[0, 1 / 3, 2 / 3, 1],
    name="rk38",
    order=4,
    reference="Kutta's 3/8 rule (1901); HNW I, II.1",
)
BACKWARD_EULER = ButcherTableau(
    a=[[1]],
    b=[1],
    c=[1],
    name="backward_euler",
    order=1,
    reference="implicit (backward) Euler; HNW I, II.7",
)
IMPLICIT_MIDPOINT = ButcherTableau(
    a=[[0.5]],
    b=[1],
    c=[0.5],
    name="implicit_midpoint",
    order=2,
    reference="implicit midpoint rule, 1-stage Gauss-Legendre; HNW I, II.7",
)
GAUSS_LEGENDRE_2 = ButcherTableau(
    a=[[0.25, 0.25 - _SQRT3 / 6], [0.25 + _SQRT3 / 6, 0.25]],
    b=[0.5, 0.5],
    c=[0.5 - _SQRT3 / 6, 0.5 + _SQRT3 / 6],
    name="gauss_legendre_2",
    order=4,
    reference="2-stage Gauss-Legendre (Hammer & Hollingsworth 1955); HNW I, II.7",
)

BUILTIN_TABLEAUS: tuple[ButcherTableau, ...] = (
    EULER,
    MIDPOINT,
    HEUN,
    RALSTON,
    KUTTA3,
    RK4,
    RK38,
    BACKWARD_EULER,
    IMPLICIT_MIDPOINT,
    GAUSS_LEGENDRE_2,
)
