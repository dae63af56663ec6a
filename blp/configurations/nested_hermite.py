"""Genz and Keister's nested Gauss-Hermite rules for a standard normal, by level as Heiss and Winschel use them.

Why nested: each rule of the sequence keeps every node of the ones before it, so a sparse grid of these rules
(Heiss and Winschel 2008) repeats its product rules' nodes and merges them: fewer nodes than a sparse grid of
Gauss-Hermite rules of the same exactness. Level l is exact for polynomials of degree 2l - 1, as the l-node
Gauss-Hermite rule is, with the smallest rule of the sequence that is (1, 3, 7, 9, 17, 19, 31, 33, 35 nodes for the
levels 1 to 25 of Heiss and Winschel's KPN table).

The nodes are Genz and Keister's (1996) published generators; a rule exact to degree at least its node count less one
has one set of weights, its interpolatory weights, computed here in exact rational arithmetic at those nodes (then
rounded once). Pure Python: the cost model counts the nodes without loading numpy.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache

# (the highest level the rule serves, the positive nodes it adds to the rule before it); each rule is symmetric about
# a node at 0. Genz, A. and Keister, B. D. (1996), "Fully symmetric interpolatory rules for multiple integrals over
# infinite regions with Gaussian weight", J. Comput. Appl. Math. 71, 299-309, with Heiss and Winschel's levels.
SEQUENCE: tuple[tuple[int, tuple[float, ...]], ...] = (
    (1, ()),
    (3, (1.7320508075688772,)),
    (4, (0.74109534999454085, 4.1849560176727323)),
    (8, (2.8612795760570582,)),
    (9, (1.2304236340273060, 2.5960831150492023, 5.1870160399136562, 6.3633944943363696)),
    (15, (3.2053337944991944,)),
    (16, (0.24899229757996061, 2.2336260616769419, 3.6353185190372783, 7.1221067008046166, 7.9807717985905606,
          9.0169397898903032)),
    (17, (5.6981777684881099,)),
    (25, (4.7364330859522967,)),
)
NESTED_MAX = SEQUENCE[-1][0]


def _positive_nodes(level: int) -> tuple[float, ...]:
    """The positive nodes of the rule of `level` (1 to NESTED_MAX), ascending."""
    nodes: list[float] = []
    for highest, added in SEQUENCE:
        nodes.extend(added)
        if level <= highest:
            return tuple(sorted(nodes))
    raise ValueError(f'nested Gauss-Hermite rules have levels 1 to {NESTED_MAX}, not {level}')


def nested_order(level: int) -> int:
    """Nodes in the rule of `level` (levels above the highest count as the highest: the cost model's bound)."""
    return 1 + 2 * len(_positive_nodes(min(max(level, 1), NESTED_MAX)))


@cache
def nested_rule(level: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Nodes (ascending) and weights of the rule of `level` for a standard normal."""
    positive = _positive_nodes(level)
    weights = _symmetric_weights(positive)
    nodes = tuple(-x for x in reversed(positive)) + (0.0,) + positive
    halves = tuple(w / 2 for w in weights[1:])
    return nodes, tuple(float(w) for w in (*reversed(halves), weights[0], *halves))


def _symmetric_weights(positive: tuple[float, ...]) -> list[Fraction]:
    """The weight of the node at 0, then of each pair ±x (shared by the two), exactly: integrating the Lagrange
    polynomials in y = x^2 through 0 and the squared nodes against the normal's even moments E[x^2k] = (2k - 1)!!."""
    squares = [Fraction(0)] + [Fraction(x) ** 2 for x in positive]
    moments = [Fraction(1)]
    for k in range(1, len(squares)):
        moments.append(moments[-1] * (2 * k - 1))
    weights = []
    for i, center in enumerate(squares):
        coefficients = [Fraction(1)]  # of prod over j != i of (y - y_j), lowest power first
        denominator = Fraction(1)
        for j, other in enumerate(squares):
            if j != i:
                coefficients = [(coefficients[k - 1] if k else 0) - other * (coefficients[k] if k < len(coefficients)
                                                                              else 0) for k in range(len(coefficients) + 1)]
                denominator *= center - other
        weights.append(sum((c * m for c, m in zip(coefficients, moments)), Fraction(0)) / denominator)
    return weights
