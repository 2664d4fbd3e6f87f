"""Butcher's order conditions: the order a tableau really has, from its coefficients.

A Runge-Kutta method (A, b) has order p exactly when, for every rooted tree t
with at most p vertices, its elementary weight equals the inverse of the tree's
density (Butcher 2016, Theorem 315A; HNW I, Theorem II.2.13)::

    Phi(t) = 1 / gamma(t).

The conditions hold for implicit methods too: A enters only through products
with vectors. Trees are generated here, not tabulated by hand. A tree is the
sorted tuple of its subtrees, so the single vertex is ``()`` and equal trees are
equal tuples. Pure numpy; nothing here imports Keras.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

Tree = tuple  # tuple[Tree, ...], the sorted subtrees of the root

# Orders above this are not checked: there are 286 trees of order 9 and the
# numbers grow about threefold per order, while keras-rk's methods stop at 6.
MAX_ORDER = 8

# A condition holds when |Phi(t) - 1/gamma(t)| <= ORDER_RTOL * scale(t), where
# scale(t) is the larger of 1/gamma(t) and Phi(t) computed with |A| and |b| (the
# sum of the absolute values of the terms of Phi(t)). Float64 rounding of the
# coefficients and of the products is about 1e-15 of that scale; 1e-10 leaves
# room for coefficients typed as 12-digit decimals, while a condition that fails
# for a real method fails by far more (1e-3 or more for every method here).
ORDER_RTOL = 1e-10


def _graft(tree: Tree) -> set[Tree]:
    """Every tree made by adding one leaf to some vertex of `tree`."""
    grown = {tuple(sorted((*tree, ())))}
    for index, child in enumerate(tree):
        for bigger in _graft(child):
            grown.add(tuple(sorted((*tree[:index], bigger, *tree[index + 1 :]))))
    return grown


@functools.cache
def rooted_trees(order: int) -> tuple[Tree, ...]:
    """All rooted trees with `order` vertices, each once (1, 1, 2, 4, 9, 20, 48 ...)."""
    if order < 1:
        raise ValueError(f"`order` must be a positive integer. Received: order={order!r}")
    if order == 1:
        return ((),)
    return tuple(sorted(set().union(*(_graft(tree) for tree in rooted_trees(order - 1)))))


def tree_order(tree: Tree) -> int:
    """|t|, the number of vertices."""
    return 1 + sum(tree_order(child) for child in tree)


def density(tree: Tree) -> int:
    """gamma(t) = |t| * prod gamma(t_i) over the subtrees t_i of the root."""
    return tree_order(tree) * math.prod(density(child) for child in tree)


def _stage_weights(tree: Tree, a: np.ndarray, cache: dict) -> np.ndarray:
    """The vector g(t) with Phi(t) = b . g(t): ones for a leaf, else the
    elementwise product over the subtrees t_i of A g(t_i)."""
    if tree not in cache:
        g = np.ones(a.shape[0])
        for child in tree:
            g = g * (a @ _stage_weights(child, a, cache))
        cache[tree] = g
    return cache[tree]


def elementary_weight(tree: Tree, a: Sequence, b: Sequence) -> float:
    """Phi(t) for the method with matrix `a` (s x s) and weights `b` (s)."""
    return float(np.asarray(b, dtype=float) @ _stage_weights(tree, np.asarray(a, float), {}))


def verified_order(a: Sequence, b: Sequence, max_order: int = MAX_ORDER) -> int:
    """The largest p <= max_order such that every condition up to order p holds.

    0 means that even sum(b) = 1 fails. A result equal to `max_order` means "at
    least max_order": higher orders are not checked.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    abs_a, abs_b = np.abs(a), np.abs(b)
    exact, absolute = {}, {}  # g(t) for (A, b) and for (|A|, |b|), shared by all trees
    for order in range(1, max_order + 1):
        for tree in rooted_trees(order):
            phi = b @ _stage_weights(tree, a, exact)
            target = 1.0 / density(tree)
            scale = max(target, float(abs_b @ _stage_weights(tree, abs_a, absolute)))
            if abs(phi - target) > ORDER_RTOL * scale:
                return order - 1
    return max_order
