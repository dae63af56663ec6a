"""Simulated micro data, as PyBLP's `simulate_micro_data`: observations of a micro dataset drawn at the estimates.

Each (market t, agent i, choice j) of the dataset's markets has probability proportional to w_it s_ijt w_dijt (choice
0 the outside good when the dataset's weights have 1 + J_t columns); with second-choice weights (a third axis over k)
each (t, i, j, k) has w_it pi_ijkt w_dijkt, pi the probability of j first and k second (`second_choices`). One
`numpy.random.RandomState(seed)` draws the observations from these cells laid out market by market (sorted market
ids), then agents, first choices and second choices in row-major order, which is PyBLP's layout: a seed gives PyBLP's
draws.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from blp.exceptions import SpecificationError
from blp.micro.compiled import eliminated_groups
from blp.micro.moments import MicroDataset
from blp.micro.nested import NestedSecondChoices
from blp.micro.views import MarketViews, call_market_function
from blp.model.choices import Choices, Nests
from blp.primitives.products import Agents


def dataset_markets(dataset: MicroDataset, markets: np.ndarray, order: np.ndarray) -> list[int]:
    """Indices of the markets a dataset covers, in `order` (PyBLP's: sorted market ids, whatever the dataset's)."""
    if dataset.market_ids is None:
        return [int(t) for t in order]
    known = {str(market) for market in markets}
    unknown = [market for market in dataset.market_ids if str(market) not in known]
    if unknown:
        raise SpecificationError(f'micro dataset {dataset.name!r} has market {unknown[0]!r}, which has no products',
                                 parameter='dataset')
    covered = {str(market) for market in dataset.market_ids}
    return [int(t) for t in order if str(markets[t]) in covered]


def second_choices(problem: Any, choices: Choices, nests: Optional[Nests], dataset: MicroDataset, t: int, I_t: int,
                   J_t: int) -> np.ndarray:
    """pi_ijk of market t (I_t x (1 + J_t) x (1 + J_t), the outside good first): j first, then k once j (or j's
    eliminated group) has left the choice set; Q_ij Q_ik / (1 - E_ij) for logit errors, PyBLP's s_ik(-j) - s_ik with
    nests (`blp.micro.nested`)."""
    width = 1 + J_t
    Q = np.c_[choices.outside[t, :I_t], choices.probabilities[t, :J_t, :I_t].T]
    groups = np.eye(width) if dataset.eliminated_product_ids_index is None else \
        eliminated_groups(problem, dataset, np.array([t]), 'dataset')[0, :width, :width]
    if nests is None:
        E = Q @ groups  # the probability of j's group
        with np.errstate(divide='ignore', invalid='ignore'):
            remaining = np.where(E < 1, 1 / (1 - E), 0.0)
        return Q[:, :, None] * Q[:, None, :] * remaining[:, :, None] * (1 - groups)[None]
    assert choices.conditionals is not None
    within = Nests(nests.codes[[t], :J_t], nests.member[[t], :, :J_t], nests.rho)
    same = within.same_nest
    return NestedSecondChoices(Q[None], choices.conditionals[[t], :J_t, :I_t],
                               same @ choices.probabilities[[t], :J_t, :I_t], within.rho_products, same,
                               groups[None]).pi[0]


def choice_cells(problem: Any, agents: Agents, choices: Choices, nests: Optional[Nests], dataset: MicroDataset,
                 markets: list[int]) -> list[np.ndarray]:
    """w_it s_ijt w_dijt per market (I_t x J_t, or I_t x (1 + J_t) with the outside good first), or w_it pi_ijkt
    w_dijkt with second choices (I_t x J_t(+1) x J_t(+1))."""
    views = MarketViews(problem, agents)
    where = 'dataset'
    cells: list[np.ndarray] = []
    for t in markets:
        market = problem.products.layout.markets[t]
        products, market_agents = views.products(t), views.agents_in(t)
        J_t, I_t = products.size, market_agents.size
        weights = call_market_function(dataset.compute_weights, market, products, market_agents,
                                       f'compute_weights of micro dataset {dataset.name!r}', where)
        if weights.ndim not in (2, 3) or weights.shape[0] != I_t or \
                any(size not in (J_t, 1 + J_t) for size in weights.shape[1:]):
            raise SpecificationError(f'compute_weights of micro dataset {dataset.name!r} returned shape '
                                     f'{weights.shape} in market {market!r}: simulated micro data need ({I_t}, J) or '
                                     f'({I_t}, J, J) with J {J_t} or {1 + J_t} (the outside good first)',
                                     parameter=where)
        if cells and cells[0].ndim != weights.ndim:
            raise SpecificationError(f'compute_weights of micro dataset {dataset.name!r} returned first-choice weights '
                                     f'in some markets and second-choice weights in others', parameter=where)
        if weights.ndim == 2:
            probabilities = np.c_[choices.outside[t, :I_t], choices.probabilities[t, :J_t, :I_t].T]
        else:
            probabilities = second_choices(problem, choices, nests, dataset, t, I_t, J_t)
        inside_only = tuple(slice(int(size == J_t), None) for size in weights.shape[1:])
        agent_weights = choices.weights[t, :I_t].reshape((I_t,) + (1,) * (weights.ndim - 1))
        cells.append(agent_weights * probabilities[(slice(None),) + inside_only] * weights)
    return cells


def simulate_micro_data(problem: Any, choices: Choices, dataset: MicroDataset, seed: Optional[int],
                        order: np.ndarray, nests: Optional[Nests] = None) -> np.recarray:
    """`dataset.observations` draws: micro_ids, market_ids, agent_indices, choice_indices and, with second-choice
    weights, second_choice_indices (PyBLP's fields)."""
    if not isinstance(dataset, MicroDataset):
        raise SpecificationError('dataset must be a MicroDataset', parameter='dataset')
    agents = problem.agents
    if agents is None:
        raise SpecificationError('micro data need agents: an X2 formulation with agent_data or integration',
                                 parameter='dataset')
    layout = problem.products.layout
    markets = dataset_markets(dataset, layout.markets, order)
    cells = choice_cells(problem, agents, choices, nests, dataset, markets)
    probabilities = np.concatenate([cell.ravel() for cell in cells])
    total = probabilities.sum()
    if not total > 0:
        raise SpecificationError(f'micro dataset {dataset.name!r} has zero weight everywhere', parameter='dataset')
    drawn = np.random.RandomState(seed).choice(probabilities.size, size=dataset.observations,
                                               p=probabilities / total)
    ends = np.cumsum([cell.size for cell in cells])
    which = np.searchsorted(ends, drawn, side='right')
    rest = drawn - np.r_[0, ends[:-1]][which]
    shapes = np.array([cell.shape for cell in cells])[which]
    indices: list[np.ndarray] = []
    for axis in range(shapes.shape[1] - 1, 0, -1):  # row-major: the last axis varies fastest
        indices.insert(0, rest % shapes[:, axis])
        rest = rest // shapes[:, axis]
    names = ['choice_indices', 'second_choice_indices'][:len(indices)]
    fields = {'micro_ids': np.arange(dataset.observations).astype(object),
              'market_ids': np.array([layout.markets[markets[m]] for m in which], dtype=object),
              'agent_indices': rest, **dict(zip(names, indices))}
    dtype = [(name, values.dtype, (1,)) for name, values in fields.items()]  # N x 1 fields, as PyBLP's records
    return np.rec.fromarrays([values[:, None] for values in fields.values()], dtype=dtype)
