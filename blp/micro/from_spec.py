"""Compile the JSON form of micro moments (`blp.spec.micro.MicroMomentsSpec`) into the core's PyBLP-compatible
objects on a problem's data.

Every expression is checked with the formulas' whitelist (`blp.configurations.formulation`) before formulaic evaluates it once
over the whole product or agent data; the callables handed to `MicroDataset` / `MicroPart` only index the
precomputed columns by market. Weights and values always carry the outside good (shape I_t x (1 + J_t), or
I_t x (1 + J_t) x (1 + J_t) with second choices), zero where the survey leaves it out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

import numpy as np
import pandas as pd

from blp.configurations.formulation import Formulation, _names_in
from blp.exceptions import BLPError, SpecificationError
from blp.micro.moments import MicroDataset, MicroMoment, MicroPart
from blp.spec.micro import MicroDatasetSpec, MicroFactorSpec, MicroMomentsSpec, MicroPartSpec

if TYPE_CHECKING:  # a back-reference for the type checker only
    from blp.estimation.problem import Problem


def _evaluate(expression: str, frame: Optional[pd.DataFrame], rows: int, data: str, where: str, what: str) -> np.ndarray:
    """An expression's values over `frame` (a number needs no frame), refusing code and unknown columns."""
    try:
        return np.full(rows, float(expression))
    except ValueError:
        pass
    names = _names_in(expression, where)
    if frame is None:
        raise SpecificationError(f'{what} {expression!r} needs {data} columns, but the problem has no {data}',
                                 parameter=where)
    missing = sorted(name for name in names if name not in frame.columns)
    if missing:
        raise SpecificationError(f'{what} {expression!r} uses column {missing[0]!r}, which is not in {data} '
                                 f'(columns: {", ".join(map(str, frame.columns))})', parameter=where)
    try:
        design = Formulation(f'0 + I({expression})').build(frame, where)
    except BLPError as exception:
        raise SpecificationError(f'{what} {expression!r}: {exception.message}', parameter=where) from None
    if design.matrix.shape[1] != 1:
        raise SpecificationError(f'{what} {expression!r} must give one number per row', parameter=where)
    return design.matrix[:, 0]


class _Columns:
    """Expression values split by market, in the order the market views list products and agents."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        products, agents = problem.products, problem.agents
        self.product_rows = {market: np.flatnonzero(products.layout.market_index == t)
                             for t, market in enumerate(products.layout.markets)}
        self.agent_rows = {market: np.flatnonzero(agents.layout.market_index == t)
                           for t, market in enumerate(products.layout.markets)} if agents is not None else {}

    def products(self, expression: str, where: str, what: str) -> dict[Any, np.ndarray]:
        values = _evaluate(expression, self.problem.products.frame, self.problem.N, 'product_data', where, what)
        return {market: values[rows] for market, rows in self.product_rows.items()}

    def agents(self, expression: str, where: str, what: str) -> dict[Any, np.ndarray]:
        agents = self.problem.agents
        frame = None if agents is None else agents.frame
        values = _evaluate(expression, frame, 0 if frame is None else len(frame), 'agent_data', where, what)
        return {market: values[rows] for market, rows in self.agent_rows.items()}


def _choice_factor(columns: _Columns, factor: Optional[MicroFactorSpec], where: str,
                   what: str) -> Callable[[Any], np.ndarray]:
    """t -> (1 + J_t) values of a choice: the factor's outside value, then the expression for each product."""
    if factor is None:
        return lambda t: np.ones(1 + columns.product_rows[t].size)
    by_market = columns.products(factor.expression, where, what)
    return lambda t: np.r_[factor.outside, by_market[t]]


def _dataset(spec: MicroDatasetSpec, columns: _Columns, where: str) -> MicroDataset:
    """w_ij = 1{j sampled} x products_j for first choices; times 1{k sampled} for second choices."""
    first = _choice_factor(columns, None if spec.products is None else MicroFactorSpec(expression=spec.products,
                                                                                      outside=1.0),
                           where, f'micro dataset {spec.name!r} products expression')

    def compute_weights(t: Any, products: Any, agents: Any) -> np.ndarray:
        chosen = first(t) * np.r_[float(spec.first_choices == 'all'), np.ones(products.size)]
        if spec.second_choices is None:
            return np.tile(chosen, (agents.size, 1))
        second = np.r_[float(spec.second_choices == 'all'), np.ones(products.size)]
        return np.tile(np.outer(chosen, second), (agents.size, 1, 1))

    return MicroDataset(spec.name, spec.observations, compute_weights,
                        eliminated_product_ids_index=spec.eliminated_product_ids_index, market_ids=spec.market_ids)


def _part(spec: MicroPartSpec, dataset: MicroDataset, second_choices: bool, columns: _Columns,
          where: str) -> MicroPart:
    """v_ijk = agents_i x first_j x second_k."""
    what = f'micro part {spec.name!r}'
    agent_values = columns.agents(spec.agents, where, f'{what} agents expression') if spec.agents else None
    first = _choice_factor(columns, spec.first, where, f'{what} first-choice expression')
    second = _choice_factor(columns, spec.second, where, f'{what} second-choice expression')

    def compute_values(t: Any, products: Any, agents: Any) -> np.ndarray:
        a = agent_values[t] if agent_values is not None else np.ones(agents.size)
        if not second_choices:
            return np.einsum('i,j->ij', a, first(t))
        return np.einsum('i,j,k->ijk', a, first(t), second(t))

    return MicroPart(spec.name, dataset, compute_values)


def _ratio_value(values: np.ndarray) -> float:
    return float(values[0] / values[1])


def _ratio_gradient(values: np.ndarray) -> np.ndarray:
    return np.array([1 / values[1], -values[0] / values[1] ** 2])


def build_micro_moments(spec: MicroMomentsSpec, problem: Problem) -> list[MicroMoment]:
    """The core's micro moments that `spec` describes, on `problem`'s product and agent data.

    Errors are SpecificationErrors naming the first moment that uses the dataset or part at fault.
    """
    columns = _Columns(problem)
    user: dict[tuple[str, str], str] = {}
    for moment in spec.moments:
        for name in moment.part_names:
            part = next(p for p in spec.parts if p.name == name)
            user.setdefault(('part', name), moment.name)
            user.setdefault(('dataset', part.dataset), moment.name)
    datasets = {d.name: _dataset(d, columns, f"micro_moments[{user[('dataset', d.name)]}]") for d in spec.datasets}
    second = {d.name: d.second_choices is not None for d in spec.datasets}
    parts = {p.name: _part(p, datasets[p.dataset], second[p.dataset], columns, f"micro_moments[{user[('part', p.name)]}]")
             for p in spec.parts}
    moments = []
    for moment in spec.moments:
        if moment.part is not None:
            moments.append(MicroMoment(moment.name, moment.value, parts[moment.part]))
        else:
            assert moment.ratio is not None
            moments.append(MicroMoment(moment.name, moment.value, [parts[name] for name in moment.ratio],
                                       compute_value=_ratio_value, compute_gradient=_ratio_gradient))
    return moments


def build_micro_dataset(spec: MicroDatasetSpec, problem: Problem) -> MicroDataset:
    """The core's MicroDataset that one `spec` describes on `problem`'s data, alone (for `compute_micro_scores` and
    `compute_agent_scores`); errors name `dataset`."""
    return _dataset(spec, _Columns(problem), 'dataset')


def resolve_micro_moments(micro_moments: Any, problem: Problem) -> Any:
    """`micro_moments` as the core's objects: a MicroMomentsSpec (or its JSON dict) is compiled, a list is kept."""
    if isinstance(micro_moments, dict):
        micro_moments = MicroMomentsSpec.model_validate(micro_moments)
    if isinstance(micro_moments, MicroMomentsSpec):
        return build_micro_moments(micro_moments, problem)
    return micro_moments
