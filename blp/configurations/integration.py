"""Building agents (integration nodes and weights) when the user does not supply them.

Nodes are standard normal draws or quadrature points for the K2 dimensions of unobserved taste heterogeneity.
Monte Carlo, Halton, Latin hypercube (`'lhs'`, `'mlhs'`) and Sobol draws give `size` equally weighted agents per
market; `'product'` is the Gauss-Hermite product rule with `size` points per dimension and `'grid'` a Smolyak sparse
grid of Gauss-Hermite rules of level `size`; `'nested_product'` and `'nested_grid'` are the same with Genz and
Keister's nested rules of level `size` (`blp.configurations.nested_hermite`). Quadrature is identical in every market.

PyBLP's `specification_options` are honoured so that a seed gives PyBLP's agents: every random rule draws from one
numpy `RandomState(seed)`, market after market in sorted market order, as PyBLP does. Sobol draws (ours only) are
scipy's scrambled points.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from math import comb
from typing import Any, Callable, Mapping, Optional

import numpy as np
from scipy import special

from blp.configurations.descriptions import describe_integration
from blp.configurations.nested_hermite import NESTED_MAX, nested_rule
from blp.exceptions import SpecificationError

SPECIFICATIONS = ('monte_carlo', 'halton', 'lhs', 'mlhs', 'sobol', 'product', 'grid', 'nested_product', 'nested_grid')
# numpy's Gauss-Hermite rule overflows above this many nodes (NaN weights, no exception): 371 with numpy 2.4.
GAUSS_HERMITE_MAX = 371


# PyBLP's specification options, by the specifications that take them.
OPTIONS = {'seed': ('monte_carlo', 'halton', 'lhs', 'mlhs', 'sobol'), 'discard': ('halton',), 'scramble': ('halton',)}
HALTON_DISCARD = 1000  # PyBLP's default discard, scrambled or not


@dataclass(frozen=True)
class Integration:
    """How to build agents: `Integration('halton', size=1000, specification_options={'seed': 0})`, PyBLP's
    signature (a `seed=` keyword is refused, as by PyBLP); the seed is 0 unless the option gives one."""

    specification: str
    size: int
    specification_options: Optional[Mapping[str, Any]] = None

    @classmethod
    def seeded(cls, specification: str, size: int, seed: Optional[int]) -> 'Integration':
        """A rule with `seed` as its seed option where the specification takes one (the service's specs carry a
        seed whatever the rule)."""
        return cls(specification, size, {'seed': seed} if specification in OPTIONS['seed'] else None)

    @property
    def seed(self) -> Optional[int]:
        return (self.specification_options or {}).get('seed', 0)

    def __post_init__(self) -> None:
        if self.specification not in SPECIFICATIONS:
            raise SpecificationError(f"integration specification {self.specification!r} is not one of "
                                     f"{', '.join(SPECIFICATIONS)}", parameter='integration.specification')
        if int(self.size) < 1:
            raise SpecificationError('integration size must be positive', parameter='integration.size')
        if self.specification in ('product', 'grid') and int(self.size) > GAUSS_HERMITE_MAX:
            raise SpecificationError(f'integration size {self.size} is too large for a Gauss-Hermite rule: above '
                                     f'{GAUSS_HERMITE_MAX} nodes per dimension its weights are not finite',
                                     parameter='integration.size')
        if self.specification in ('nested_product', 'nested_grid') and int(self.size) > NESTED_MAX:
            raise SpecificationError(f'integration size {self.size} is too large for a nested Gauss-Hermite rule: its '
                                     f'levels are 1 to {NESTED_MAX}', parameter='integration.size')
        options = dict(self.specification_options or {})
        for option in options:
            if self.specification not in OPTIONS.get(option, ()):
                raise SpecificationError(f'integration specification {self.specification!r} takes no option '
                                         f'{option!r}', parameter=f'integration.specification_options.{option}')
        object.__setattr__(self, 'specification_options', options)

    @property
    def scrambled(self) -> bool:
        return bool(self.specification_options.get('scramble', True)) if self.specification_options else True

    def __repr__(self) -> str:
        return describe_integration(self)

    def build_markets(self, dimensions: int, markets: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Nodes and weights for each of `markets` (ids, in the caller's order), drawn market by market in sorted id
        order as PyBLP draws them, so that a seed gives every market PyBLP's agents whatever order the data are in."""
        node_list, weight_list = self.build(dimensions, len(markets))
        try:
            rank = np.argsort(np.argsort(np.asarray(markets), kind='stable'), kind='stable')
        except TypeError:  # ids that do not sort together (mixed types): the data's order
            rank = np.arange(len(markets))
        return [node_list[r] for r in rank], [weight_list[r] for r in rank]

    def build(self, dimensions: int, markets: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Nodes (I_t x dimensions) and weights (I_t) for each of `markets` markets."""
        if self.specification in QUADRATURE:
            nodes, weights = QUADRATURE[self.specification](dimensions, self.size)
            return [nodes] * markets, [weights] * markets
        weights = np.full(self.size, 1 / self.size)
        if self.specification == 'monte_carlo':
            state = np.random.RandomState(self.seed)
            return [state.normal(size=(self.size, dimensions)) for _ in range(markets)], [weights] * markets
        if self.specification in ('lhs', 'mlhs'):
            return latin_hypercube_markets(self.size, dimensions, markets, self.seed,
                                           self.specification == 'mlhs'), [weights] * markets
        if self.specification == 'halton':
            return halton_markets(self.size, dimensions, markets, self.seed, self.scrambled,
                                  int((self.specification_options or {}).get('discard', HALTON_DISCARD))), \
                [weights] * markets
        from scipy.stats import qmc  # imported here: scipy.stats takes most of a second to import
        rng = np.random.default_rng(self.seed)
        node_list = []
        for _ in range(markets):
            uniform = qmc.Sobol(d=max(dimensions, 1), scramble=True, seed=rng).random(self.size)[:, :dimensions]
            node_list.append(special.ndtri(np.clip(uniform, 1e-16, 1 - 1e-16)))
        return node_list, [weights] * markets


def halton_markets(size: int, dimensions: int, markets: int, seed: Optional[int], scrambled: bool,
                   discard: int) -> list[np.ndarray]:
    """PyBLP's Halton nodes: one sequence (prime bases 2, 3, 5, ...; `discard` leading points skipped) continued
    market after market. Scrambling permutes each base-b digit position with its own random permutation
    (Owen, 2017), drawn anew for every market from one `RandomState(seed)`, dimension by dimension, for every digit
    position whose weight b^-k still counts next to 1 (b^k < 2^54); the sum is accumulated digit by digit with
    repeated division so that the float results are PyBLP's bit for bit."""
    bases = _primes(dimensions)
    state = np.random.RandomState(seed) if scrambled else None
    node_list = []
    for market in range(markets):
        index = np.arange(discard + market * size, discard + (market + 1) * size, dtype=np.int64)
        columns = [_radical_inverse(index, base, state) for base in bases]
        node_list.append(special.ndtri(np.column_stack(columns)) if columns else np.zeros((size, 0)))
    return node_list


def latin_hypercube_markets(size: int, dimensions: int, markets: int, seed: Optional[int],
                            modified: bool) -> list[np.ndarray]:
    """PyBLP's (modified) Latin hypercube nodes from one `RandomState(seed)`, market after market and dimension by
    dimension: each of the `size` strata [k/size, (k+1)/size) gets one uniform draw (MLHS, Hess, Train and Polak
    2004: one shift shared by all strata), and a random permutation assigns strata to agents."""
    state = np.random.RandomState(seed)
    strata = np.arange(size)
    node_list = []
    for _ in range(markets):
        columns = []
        for _ in range(dimensions):
            offsets = state.uniform() if modified else state.uniform(size=size)
            columns.append(((strata + offsets) / size)[state.permutation(size)])
        node_list.append(special.ndtri(np.column_stack(columns)) if columns else np.zeros((size, 0)))
    return node_list


def _radical_inverse(index: np.ndarray, base: int, state: Optional[np.random.RandomState]) -> np.ndarray:
    """The base-`base` digits of `index` mirrored about the radix point; with a state, every digit position
    (including the infinitely many leading zeros, up to double precision) goes through a random permutation."""
    positions = 0
    while base ** (positions + 1) < 2 ** 54:
        positions += 1
    permutations = [state.permutation(base) for _ in range(positions)] if state is not None else None
    remaining, value, scale = index.copy(), np.zeros(index.size), 1.0
    for position in range(positions if state is not None else 64):
        if state is None and not remaining.any():
            break
        scale /= base
        digit = remaining % base
        value += (permutations[position][digit] if permutations is not None else digit) * scale
        remaining //= base
    return value


def _primes(count: int) -> list[int]:
    """The first `count` primes."""
    primes: list[int] = []
    candidate = 2
    while len(primes) < count:
        if all(candidate % prime for prime in primes):
            primes.append(candidate)
        candidate += 1
    return primes


def build_integration(integration: Integration, dimensions: int) -> np.recarray:
    """PyBLP's `build_integration`: one market's agents as a record array of `weights` (I x 1) and `nodes`
    (I x dimensions), for building `agent_data` by hand."""
    if not isinstance(integration, Integration):
        raise SpecificationError('integration must be an Integration', parameter='integration')
    if isinstance(dimensions, bool) or not isinstance(dimensions, (int, np.integer)) or dimensions < 1:
        raise SpecificationError(f'dimensions must be a positive integer, not {dimensions!r}', parameter='dimensions')
    nodes, weights = integration.build(int(dimensions), 1)
    record = np.recarray(weights[0].size, dtype=[('weights', float, (1,)), ('nodes', float, (int(dimensions),))])
    record['weights'], record['nodes'] = weights[0][:, None], nodes[0]
    return record


def gauss_hermite(level: int) -> tuple[np.ndarray, np.ndarray]:
    """The `level`-point Gauss-Hermite rule for a standard normal; refused when it is not finite (large levels)."""
    if level > GAUSS_HERMITE_MAX:  # the rule itself costs O(level^2) memory: refuse before computing it
        raise SpecificationError(f'a Gauss-Hermite rule of {level} nodes is not finite; at most '
                                 f'{GAUSS_HERMITE_MAX} per dimension', parameter='integration.size')
    with np.errstate(all='ignore'):
        nodes, weights = np.polynomial.hermite.hermgauss(level)
    if not (np.isfinite(nodes).all() and np.isfinite(weights).all()):
        raise SpecificationError(f'the Gauss-Hermite rule of {level} nodes is not finite in this numpy',
                                 parameter='integration.size')
    return nodes * np.sqrt(2), weights / np.sqrt(np.pi)


def nested_gauss_hermite(level: int) -> tuple[np.ndarray, np.ndarray]:
    """Genz and Keister's nested Gauss-Hermite rule of `level` for a standard normal, nodes ascending."""
    nodes, weights = nested_rule(level)
    return np.array(nodes), np.array(weights)


Rule = Callable[[int], tuple[np.ndarray, np.ndarray]]


def gauss_hermite_product(dimensions: int, level: int, rule: Rule = gauss_hermite) -> tuple[np.ndarray, np.ndarray]:
    """Tensor product of one-dimensional rules of `level` (Gauss-Hermite: exact for polynomials of degree
    2*level-1 per axis), the first dimension varying slowest."""
    return _tensor([rule(level)] * dimensions)


def _tensor(rules: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The product of one-dimensional rules (nodes, weights), the first varying slowest; weights multiplied in
    dimension order."""
    if not rules:
        return np.zeros((1, 0)), np.ones(1)
    nodes = np.stack(np.meshgrid(*[nodes for nodes, _ in rules], indexing='ij'), axis=-1).reshape(-1, len(rules))
    return nodes, functools.reduce(np.multiply.outer, [weights for _, weights in rules]).ravel()


def nested_product(dimensions: int, level: int) -> tuple[np.ndarray, np.ndarray]:
    """The product rule of nested Gauss-Hermite rules of `level`."""
    return gauss_hermite_product(dimensions, level, nested_gauss_hermite)


def sparse_grid(dimensions: int, level: int) -> tuple[np.ndarray, np.ndarray]:
    """Smolyak sparse grid of Gauss-Hermite rules (combination technique); repeated nodes are merged.

    Exact for total-degree polynomials of degree 2*level-1 with far fewer nodes than the product rule when
    `dimensions` is large. Some weights are negative, as is usual for sparse grids.
    """
    if dimensions == 0:
        return np.zeros((1, 0)), np.ones(1)
    points: dict[tuple, float] = {}
    exact: dict[tuple, tuple] = {}  # the node as first computed: rounding only finds repeats
    for coefficient, levels in _smolyak(dimensions, level):
        rules = [gauss_hermite(size) for size in levels]
        for combination in itertools.product(*[range(size) for size in levels]):
            node = tuple(float(rules[d][0][i]) for d, i in enumerate(combination))
            key = tuple(round(value, 12) for value in node)
            weight = coefficient * np.prod([rules[d][1][i] for d, i in enumerate(combination)])
            exact.setdefault(key, node)
            points[key] = points.get(key, 0.0) + weight
    kept = [(exact[key], weight) for key, weight in points.items() if abs(weight) > 1e-15]
    nodes = np.array([node for node, _ in kept], dtype=float).reshape(-1, dimensions)
    weights = np.array([weight for _, weight in kept])
    # In PyBLP's order (sorted by the first dimension, then the next): agent data's demographics pair with it by row.
    order = np.lexsort(nodes.T[::-1])
    return nodes[order], weights[order] / weights.sum()


def nested_sparse_grid(dimensions: int, level: int) -> tuple[np.ndarray, np.ndarray]:
    """Heiss and Winschel's sparse grid of nested Gauss-Hermite rules: the Smolyak combination of their product
    rules, whose nodes repeat exactly (the rules are nested) and are merged, sorted by the first dimension, then the
    next. Exact for total-degree polynomials of degree 2*level-1. A node's weight is summed over the product rules in
    the combination's order; nodes are indexed in the largest rule, which holds them all, so merging is counting."""
    if dimensions == 0:
        return np.zeros((1, 0)), np.ones(1)
    largest = nested_gauss_hermite(level)[0]
    base = len(largest)
    terms = ((coefficient, [nested_gauss_hermite(size) for size in levels])
             for coefficient, levels in _smolyak(dimensions, level))
    blocks = ((index, coefficient * weights) for coefficient, rules in terms  # one product rule at a time
              for index, weights in [_tensor([(np.searchsorted(largest, nodes), weights) for nodes, weights in rules])])
    if base ** dimensions <= DENSE_NODES:  # every possible node has a slot: no sorting
        powers = base ** np.arange(dimensions - 1, -1, -1)
        sums, seen = np.zeros(base ** dimensions), np.zeros(base ** dimensions, dtype=bool)
        for index, weights in blocks:
            keys = index @ powers
            sums[keys] += weights  # each node once per product rule
            seen[keys] = True
        present = np.flatnonzero(seen)
        return largest[np.column_stack(np.unravel_index(present, (base,) * dimensions))], sums[present]
    indices, weights = zip(*blocks)
    rows, inverse = np.unique(np.concatenate(indices), axis=0, return_inverse=True)
    return largest[rows], np.bincount(inverse.ravel(), np.concatenate(weights))


# Nested grids with at most this many possible nodes (the largest rule's in every dimension) merge without sorting.
DENSE_NODES = 2 ** 24


def _smolyak(dimensions: int, level: int) -> list[tuple[int, tuple[int, ...]]]:
    """The combination technique's (coefficient, levels per dimension) for a sparse grid of `level`."""
    return [((-1) ** (level + dimensions - 1 - total) * comb(dimensions - 1, level + dimensions - 1 - total), levels)
            for total in range(max(dimensions, level), level + dimensions) for levels in _compositions(total, dimensions)]


def _compositions(total: int, parts: int) -> list[tuple[int, ...]]:
    """All tuples of `parts` positive integers summing to `total`."""
    if parts == 1:
        return [(total,)]
    return [(first, *rest) for first in range(1, total - parts + 2) for rest in _compositions(total - first, parts - 1)]


# The quadrature rules, identical in every market: (dimensions, size) -> nodes and weights.
QUADRATURE: dict[str, Callable[[int, int], tuple[np.ndarray, np.ndarray]]] = {
    'product': gauss_hermite_product, 'grid': sparse_grid, 'nested_product': nested_product,
    'nested_grid': nested_sparse_grid}
