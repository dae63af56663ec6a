"""Building agents (integration nodes and weights) when the user does not supply them.

Nodes are standard normal draws or quadrature points for the K2 dimensions of unobserved taste heterogeneity.
Monte Carlo and scrambled quasi-Monte Carlo (Halton, Sobol from `scipy.stats.qmc`) give `size` equally weighted
agents per market; `'product'` is the Gauss-Hermite product rule with `size` points per dimension and `'grid'` a
Smolyak sparse grid of Gauss-Hermite rules of level `size`, both identical in every market.

PyBLP's `specification_options` are honoured where we can draw what PyBLP draws: Monte Carlo nodes are numpy's
`RandomState(seed)` normals, market after market (PyBLP's, so `{'seed': 0}` gives PyBLP's agents), and unscrambled
Halton draws (`{'scramble': False}`) are PyBLP's sequence after `discard` values, continued across markets. Scrambled
Halton and Sobol draws are scipy's (Owen-scrambled as PyBLP's, but not PyBLP's numbers).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from math import comb
from typing import Any, Mapping, Optional

import numpy as np
from scipy import special

from blp.configurations.descriptions import describe_integration
from blp.exceptions import SpecificationError

SPECIFICATIONS = ('monte_carlo', 'halton', 'sobol', 'product', 'grid')
# numpy's Gauss-Hermite rule overflows above this many nodes (NaN weights, no exception): 371 with numpy 2.4.
GAUSS_HERMITE_MAX = 371


# PyBLP's specification options, by the specifications that take them.
OPTIONS = {'seed': ('monte_carlo', 'halton', 'sobol'), 'discard': ('halton',), 'scramble': ('halton',)}
HALTON_DISCARD = 1000  # PyBLP's default for unscrambled sequences


@dataclass(frozen=True)
class Integration:
    """How to build agents: `Integration('halton', size=1000, specification_options={'seed': 0})` (PyBLP's
    signature; `seed=` is the short form of the `seed` option, 0 unless one is given)."""

    specification: str
    size: int
    specification_options: Optional[Mapping[str, Any]] = None
    seed: Optional[int] = field(default=0, kw_only=True)

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
        options = dict(self.specification_options or {})
        for option in options:
            if self.specification not in OPTIONS.get(option, ()):
                raise SpecificationError(f'integration specification {self.specification!r} takes no option '
                                         f'{option!r}', parameter=f'integration.specification_options.{option}')
        object.__setattr__(self, 'specification_options', options)
        if 'seed' in options:
            object.__setattr__(self, 'seed', options['seed'])

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
        if self.specification in ('product', 'grid'):
            rule = gauss_hermite_product if self.specification == 'product' else sparse_grid
            nodes, weights = rule(dimensions, self.size)
            return [nodes] * markets, [weights] * markets
        weights = np.full(self.size, 1 / self.size)
        if self.specification == 'monte_carlo':
            state = np.random.RandomState(self.seed)
            return [state.normal(size=(self.size, dimensions)) for _ in range(markets)], [weights] * markets
        from scipy.stats import qmc  # imported here: scipy.stats takes most of a second to import
        options = self.specification_options or {}
        rng = np.random.default_rng(self.seed)
        shared = None
        if self.specification == 'halton' and not self.scrambled:  # one sequence, continued market after market
            shared = qmc.Halton(d=max(dimensions, 1), scramble=False)
            shared.fast_forward(int(options.get('discard', HALTON_DISCARD)))
        node_list = []
        for _ in range(markets):
            sampler = shared
            if sampler is None:
                sampler = (qmc.Halton if self.specification == 'halton' else qmc.Sobol)(
                    d=max(dimensions, 1), scramble=True, seed=rng)
                if 'discard' in options:
                    sampler.fast_forward(int(options['discard']))
            uniform = sampler.random(self.size)[:, :dimensions]
            node_list.append(special.ndtri(np.clip(uniform, 1e-16, 1 - 1e-16)))
        return node_list, [weights] * markets


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


def gauss_hermite_product(dimensions: int, level: int) -> tuple[np.ndarray, np.ndarray]:
    """Tensor product of one-dimensional Gauss-Hermite rules: exact for polynomials of degree 2*level-1 per axis."""
    nodes, weights = gauss_hermite(level)
    grid = np.array(list(itertools.product(nodes, repeat=dimensions))).reshape(-1, dimensions)
    grid_weights = np.array([np.prod(w) for w in itertools.product(weights, repeat=dimensions)])
    return grid, grid_weights


def sparse_grid(dimensions: int, level: int) -> tuple[np.ndarray, np.ndarray]:
    """Smolyak sparse grid of Gauss-Hermite rules (combination technique); repeated nodes are merged.

    Exact for total-degree polynomials of degree 2*level-1 with far fewer nodes than the product rule when
    `dimensions` is large. Some weights are negative, as is usual for sparse grids.
    """
    if dimensions == 0:
        return np.zeros((1, 0)), np.ones(1)
    points: dict[tuple, float] = {}
    for total in range(max(dimensions, level), level + dimensions):
        coefficient = (-1) ** (level + dimensions - 1 - total) * comb(dimensions - 1, level + dimensions - 1 - total)
        for levels in _compositions(total, dimensions):
            rules = [gauss_hermite(size) for size in levels]
            for combination in itertools.product(*[range(size) for size in levels]):
                node = tuple(round(float(rules[d][0][i]), 12) for d, i in enumerate(combination))
                weight = coefficient * np.prod([rules[d][1][i] for d, i in enumerate(combination)])
                points[node] = points.get(node, 0.0) + weight
    kept = [(node, weight) for node, weight in points.items() if abs(weight) > 1e-15]
    nodes = np.array([node for node, _ in kept], dtype=float).reshape(-1, dimensions)
    weights = np.array([weight for _, weight in kept])
    # In PyBLP's order (sorted by the first dimension, then the next): agent data's demographics pair with it by row.
    order = np.lexsort(nodes.T[::-1])
    return nodes[order], weights[order] / weights.sum()


def _compositions(total: int, parts: int) -> list[tuple[int, ...]]:
    """All tuples of `parts` positive integers summing to `total`."""
    if parts == 1:
        return [(total,)]
    return [(first, *rest) for first in range(1, total - parts + 2) for rest in _compositions(total - first, parts - 1)]
