"""Micro datasets' survey weights and parts' values, computed once per solve from the users' callables and laid out on
the padded (market x agent x choice) arrays the micro moment block runs on.

The callables get PyBLP's per-market views (`blp.micro.views`). Whatever shape the weights have, the padded arrays
always carry the outside good as choice 0 (zero weight where the dataset leaves it out): first choices
T_d x I x (1 + J), second choices T_d x I x (1 + J) x (1 + J), with integration weights w_it folded in:

    A_dt[i, j(, k)] = w_it w_dij(k)t            (the dataset's weights)
    A_pt[i, j(, k)] = w_it w_dij(k)t v_pij(k)t  (each part's weighted values)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import pandas as pd

from blp.exceptions import SpecificationError
from blp.micro.moments import MicroDataset, MicroMoment, MicroPart, check_micro_moments
from blp.micro.views import MarketViews, call_market_function
from blp.primitives.columns import numbered_columns

if TYPE_CHECKING:  # a back-reference for the type checker only
    from blp.estimation.problem import Problem


@dataclass(frozen=True)
class CompiledDataset:
    """One dataset on the padded layout of its markets."""

    dataset: MicroDataset
    markets: np.ndarray          # T_d indices into the product layout
    second: bool                 # second choices (a k axis)
    weights: np.ndarray          # A_d: T_d x I x (1 + J) [x (1 + J)]
    parts: list[int]             # global indices of the parts on this dataset
    weighted_values: np.ndarray  # PM_d x A_d.shape: A_p for each of `parts`
    pair_values: dict[tuple[int, int], np.ndarray]  # (p, q) with q <= p: A_d v_p v_q, for covariances
    # eliminated_product_ids_index given: T_d x (1 + J) x (1 + J), 1 where j and k are in the same eliminated group
    # (the outside good alone); the weights above are zero there, where no second choice can fall
    groups: Optional[np.ndarray] = None


@dataclass(frozen=True)
class CompiledMicro:
    """Every micro moment of a solve with its parts and datasets, ready for `blp.micro.block.MicroBlock`."""

    moments: list[MicroMoment]
    parts: list[MicroPart]
    datasets: list[CompiledDataset]
    observed: np.ndarray         # MM observed values

    @property
    def MM(self) -> int:
        return len(self.moments)

    @property
    def PM(self) -> int:
        return len(self.parts)

    def part_indices(self, moment: MicroMoment) -> list[int]:
        return [next(index for index, part in enumerate(self.parts) if part is mine) for mine in moment.parts]

    def moments_of(self, dataset: MicroDataset) -> str:
        return ', '.join(repr(m.name) for m in self.moments if any(p.dataset is dataset for p in m.parts))


def place_choices(target: np.ndarray, array: np.ndarray, J_t: int) -> None:
    """Write an I_t x J_t(+1) [x J_t(+1)] array of a market of J_t products into padded I x (1 + J) [x (1 + J)]
    space, choice 0 the outside (the market's products come first, the padding after them)."""
    first = slice(0, 1 + J_t) if array.shape[1] == 1 + J_t else slice(1, 1 + J_t)
    if array.ndim == 2:
        target[:array.shape[0], first] = array
    else:
        second = slice(0, 1 + J_t) if array.shape[2] == 1 + J_t else slice(1, 1 + J_t)
        target[:array.shape[0], first, second] = array


def compile_micro(problem: Problem, micro_moments: Any) -> Optional[CompiledMicro]:
    """Validate `micro_moments` against `problem` and compute every dataset's weights and every part's values.

    Errors name the moment (parameter `micro_moments[<moment>]`) and the cause: a market without products or agents,
    a callable that fails, weights or values of the wrong shape, negative weights, weights that are zero everywhere.
    """
    moments = check_micro_moments(micro_moments)
    if not moments:
        return None
    first = f'micro_moments[{moments[0].name}]'
    if problem.agents is None:
        raise SpecificationError('micro moments need agents: an X2 formulation with agent_data or integration',
                                 parameter=first)
    parts: list[MicroPart] = []
    for moment in moments:
        parts.extend(part for part in moment.parts if not any(part is known for known in parts))
    datasets: list[MicroDataset] = []
    for part in parts:
        if not any(part.dataset is known for known in datasets):
            datasets.append(part.dataset)
    views = MarketViews(problem, problem.agents)
    layout = problem.products.layout
    index = {market: t for t, market in enumerate(layout.markets)}
    compiled = []
    for dataset in datasets:
        owner = next(m for m in moments if any(p.dataset is dataset for p in m.parts))
        where = f'micro_moments[{owner.name}]'
        if dataset.market_ids is None:
            markets = np.arange(layout.T)
        else:
            unknown = [m for m in dataset.market_ids if m not in index and str(m) not in map(str, layout.markets)]
            if unknown:
                raise SpecificationError(f'micro dataset {dataset.name!r} (of micro moment {owner.name!r}) has market '
                                         f'{unknown[0]!r}, which has no products or agents', parameter=where)
            lookup = {str(market): t for market, t in index.items()}
            markets = np.array([index[m] if m in index else lookup[str(m)] for m in dataset.market_ids], dtype=np.intp)
        compiled.append(_compile_dataset(dataset, markets, [p for p, part in enumerate(parts) if part.dataset is dataset],
                                         parts, views, where, moments))
    return CompiledMicro(moments, parts, compiled, np.array([moment.value for moment in moments]))


def _compile_dataset(dataset: MicroDataset, markets: np.ndarray, part_indices: list[int], parts: list[MicroPart],
                     views: MarketViews, where: str, moments: list[MicroMoment]) -> CompiledDataset:
    layout, agents = views.problem.products.layout, views.agents
    J, width = layout.width, agents.layout.width
    weights = values = None
    second: Optional[bool] = None
    for row, t in enumerate(markets):
        market = layout.markets[t]
        products, market_agents = views.products(t), views.agents_in(t)
        J_t, I_t = products.size, market_agents.size
        if I_t == 0:
            raise SpecificationError(f'micro dataset {dataset.name!r} covers market {market!r}, which has no agents',
                                     parameter=where)
        array = call_market_function(dataset.compute_weights, market, products, market_agents,
                                     f'compute_weights of micro dataset {dataset.name!r}', where)
        shapes = [(I_t, J_t), (I_t, 1 + J_t), (I_t, J_t, J_t), (I_t, 1 + J_t, J_t), (I_t, J_t, 1 + J_t),
                  (I_t, 1 + J_t, 1 + J_t)]
        if array.shape not in shapes:
            raise SpecificationError(
                f'compute_weights of micro dataset {dataset.name!r} returned weights of shape {array.shape} in market '
                f'{market!r}, not one of {", ".join(map(str, shapes))} (I_t = {I_t} agents, J_t = {J_t} products)',
                parameter=where)
        if (array < 0).any():
            raise SpecificationError(f'compute_weights of micro dataset {dataset.name!r} returned negative weights in '
                                     f'market {market!r}', parameter=where)
        if second is None:
            second = array.ndim == 3
            shape = (markets.size, width, 1 + J) + ((1 + J,) if second else ())
            weights, values = np.zeros(shape), np.zeros((len(part_indices),) + shape)
        elif second != (array.ndim == 3):
            raise SpecificationError(f'compute_weights of micro dataset {dataset.name!r} returned first-choice weights '
                                     f'in some markets and second-choice weights in others', parameter=where)
        assert weights is not None and values is not None
        place_choices(weights[row], array * agents.weights[t, :I_t].reshape((I_t,) + (1,) * (array.ndim - 1)), J_t)
        for position, p in enumerate(part_indices):
            part = parts[p]
            owner = next(m for m in moments if any(q is part for q in m.parts))
            part_values = call_market_function(part.compute_values, market, products, market_agents,
                                               f'compute_values of micro part {part.name!r}',
                                               f'micro_moments[{owner.name}]')
            if part_values.shape != array.shape:
                raise SpecificationError(
                    f'compute_values of micro part {part.name!r} returned values of shape {part_values.shape} in market '
                    f'{market!r}, not {array.shape}, the shape of its dataset {dataset.name!r} weights',
                    parameter=f'micro_moments[{owner.name}]')
            place_choices(values[position, row], part_values, J_t)
    assert weights is not None and values is not None and second is not None
    if not weights.any():
        raise SpecificationError(f'micro dataset {dataset.name!r} has zero weight in every market it covers',
                                 parameter=where)
    groups = None
    if dataset.eliminated_product_ids_index is not None and second:
        groups = eliminated_groups(views.problem, dataset, markets, where)
        weights = weights * (1 - groups)[:, None]
        values = values * (1 - groups)[None, :, None]
    weighted = values * weights[None]
    pairs = {(p, q): weighted[a] * values[b] for a, p in enumerate(part_indices) for b, q in enumerate(part_indices)
             if b <= a}
    return CompiledDataset(dataset, markets, second, weights, part_indices, weighted, pairs, groups)


def eliminated_groups(problem: Problem, dataset: MicroDataset, markets: np.ndarray, where: str) -> np.ndarray:
    """T_d x (1 + J) x (1 + J): 1 where first choice j and second choice k share the product id in column
    `eliminated_product_ids_index` of product_ids (both are removed together), the outside good in a group of its own."""
    index = dataset.eliminated_product_ids_index
    assert index is not None
    frame, layout = problem.products.frame, problem.products.layout
    columns = numbered_columns(frame, 'product_ids')  # PyBLP's field: product_ids itself, else product_ids0, 1, ...
    if index >= len(columns):
        whole = " (a 'product_ids' column is the whole field, as in PyBLP)" if columns == ['product_ids'] else ''
        raise SpecificationError(f'micro dataset {dataset.name!r}: eliminated_product_ids_index {index} needs a '
                                 f"'product_ids{index}' column in product_data, numbered from product_ids0{whole}",
                                 parameter=where)
    column = columns[index]
    ids = frame[column].to_numpy()
    if pd.isna(ids).any():
        raise SpecificationError(f'micro dataset {dataset.name!r}: product_data column {column!r} has missing ids',
                                 parameter=where)
    J = layout.width
    groups = np.zeros((markets.size, 1 + J, 1 + J))
    groups[:, 0, 0] = 1
    groups[:, np.arange(1, 1 + J), np.arange(1, 1 + J)] = 1  # padding: each its own group (never chosen)
    nesting = problem.products.nesting_ids if problem.H else None
    for row, t in enumerate(markets):
        rows = np.flatnonzero(layout.market_index == t)
        positions = 1 + layout.position[rows]
        groups[row, positions[:, None], positions[None, :]] = ids[rows][:, None] == ids[rows][None, :]
        if nesting is not None:
            _check_nested_groups(dataset, layout.markets[t], ids[rows], np.asarray(nesting)[rows], where)
    return groups


def _check_nested_groups(dataset: MicroDataset, market: Any, ids: np.ndarray, nesting: np.ndarray, where: str) -> None:
    """With nests, a group must lie within one nest or be a union of whole nests (PyBLP's rule: otherwise its removal
    has no closed form in the nest shares)."""
    for product_id in pd.unique(ids):
        members = ids == product_id
        nests = pd.unique(nesting[members])
        if nests.size > 1 and not np.array_equal(np.isin(nesting, nests), members):
            raise SpecificationError(
                f'micro dataset {dataset.name!r}: in market {market!r} the products with eliminated product id '
                f'{product_id!r} span several nests without covering them; with nesting_ids each eliminated group must '
                f'lie within one nest or be a union of whole nests', parameter=where)
