"""Simulated micro data, as PyBLP's `simulate_micro_data`: observations of a micro dataset drawn at the estimates.

Each (market t, agent i, choice j) of the dataset's markets has probability proportional to w_it s_ijt w_dijt (choice
0 the outside good when the dataset's weights have 1 + J_t columns). One `numpy.random.RandomState(seed)` draws the
observations from these cells laid out market by market (sorted market ids), agents by rows and choices by
columns, which is PyBLP's layout: a seed gives PyBLP's draws.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from blp.exceptions import SpecificationError
from blp.micro.moments import MicroDataset
from blp.micro.views import MarketViews, call_market_function
from blp.model.choices import Choices
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


def choice_cells(problem: Any, agents: Agents, choices: Choices, dataset: MicroDataset,
                 markets: list[int]) -> list[np.ndarray]:
    """w_it s_ijt w_dijt per market (I_t x J_t, or I_t x (1 + J_t) with the outside good first)."""
    views = MarketViews(problem, agents)
    where = 'dataset'
    cells = []
    for t in markets:
        market = problem.products.layout.markets[t]
        products, market_agents = views.products(t), views.agents_in(t)
        J_t, I_t = products.size, market_agents.size
        weights = call_market_function(dataset.compute_weights, market, products, market_agents,
                                       f'compute_weights of micro dataset {dataset.name!r}', where)
        if weights.shape not in ((I_t, J_t), (I_t, 1 + J_t)):
            raise SpecificationError(f'compute_weights of micro dataset {dataset.name!r} returned shape '
                                     f'{weights.shape} in market {market!r}: simulated micro data need first choices, '
                                     f'({I_t}, {J_t}) or ({I_t}, {1 + J_t}) (second choices are not supported yet)',
                                     parameter=where)
        probabilities = choices.probabilities[t, :J_t, :I_t].T
        if weights.shape[1] == 1 + J_t:
            probabilities = np.c_[choices.outside[t, :I_t], probabilities]
        cells.append(choices.weights[t, :I_t, None] * probabilities * weights)
    return cells


def simulate_micro_data(problem: Any, choices: Choices, dataset: MicroDataset, seed: Optional[int],
                        order: np.ndarray) -> np.recarray:
    """`dataset.observations` draws: micro_ids, market_ids, agent_indices and choice_indices (PyBLP's fields)."""
    if not isinstance(dataset, MicroDataset):
        raise SpecificationError('dataset must be a MicroDataset', parameter='dataset')
    agents = problem.agents
    if agents is None:
        raise SpecificationError('micro data need agents: an X2 formulation with agent_data or integration',
                                 parameter='dataset')
    layout = problem.products.layout
    markets = dataset_markets(dataset, layout.markets, order)
    cells = choice_cells(problem, agents, choices, dataset, markets)
    probabilities = np.concatenate([cell.ravel() for cell in cells])
    total = probabilities.sum()
    if not total > 0:
        raise SpecificationError(f'micro dataset {dataset.name!r} has zero weight everywhere', parameter='dataset')
    drawn = np.random.RandomState(seed).choice(probabilities.size, size=dataset.observations,
                                               p=probabilities / total)
    ends = np.cumsum([cell.size for cell in cells])
    which = np.searchsorted(ends, drawn, side='right')
    within = drawn - np.r_[0, ends[:-1]][which]
    columns = np.array([cell.shape[1] for cell in cells])[which]
    fields = {'micro_ids': np.arange(dataset.observations).astype(object),
              'market_ids': np.array([layout.markets[markets[m]] for m in which], dtype=object),
              'agent_indices': within // columns, 'choice_indices': within % columns}
    dtype = [(name, values.dtype, (1,)) for name, values in fields.items()]  # N x 1 fields, as PyBLP's records
    return np.rec.fromarrays([values[:, None] for values in fields.values()], dtype=dtype)
