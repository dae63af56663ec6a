"""Importance sampling of agents (PyBLP's `ProblemResults.importance_sampling`): few agents that still integrate
well where micro moments need them, drawn from many candidates at the estimates.

Candidate agents (the problem's, or `agent_data` and/or `integration` read as `Problem` reads them) each have an
inside probability 1 - s_i0t at the estimated theta and delta (or a more precise `delta`). In each market, in sorted
market order, one uniform draw per candidate accepts it when u < (1 - s_i0t) / M (M = `ar_constant`); `draws` of the
accepted are chosen without replacement (`RandomState.choice`), and each gets the weight

    w_it = (1 - s_0t) / (1 - s_i0t) / draws,    s_0t the observed outside share,

so with NumPy's `RandomState(seed)` a seed samples PyBLP's agents. Sampled agents keep the candidates' order. The
diagnostics are Owen's (2013) effective sample sizes of each market's weights.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
import pandas as pd

from blp.exceptions import SpecificationError
from blp.model.choices import logit, nested_logit
from blp.pickling import Pickled
from blp.primitives.products import as_frame
from blp.printing import clock, statistics_table
from blp.serialization import jsonable

if TYPE_CHECKING:  # back-references for the type checker only
    from blp.configurations.integration import Integration
    from blp.estimation.problem import Problem
    from blp.estimation.results import ProblemResults


ATTRIBUTES = ('sampled_agents', 'computation_time', 'draws', 'diagnostic_market_ids', 'weight_sums', 'effective_draws',
              'effective_draws_for_variance', 'effective_draws_for_skewness')  # PyBLP's to_dict
DIAGNOSTICS = ATTRIBUTES[4:]  # per market, T x 1 in PyBLP's to_dict


@dataclass
class ImportanceSamplingResults(Pickled):
    """PyBLP's `ImportanceSamplingResults`: the sampled agents as agent data (a DataFrame with `market_ids`,
    `weights`, `nodes0..` and the candidates' other columns), the diagnostics per market (in
    `diagnostic_market_ids` order) and `to_problem()`."""

    problem_results: ProblemResults
    sampled_agents: pd.DataFrame
    computation_time: float
    draws: int
    diagnostic_market_ids: np.ndarray
    weight_sums: np.ndarray                   # sum_i w_it
    effective_draws: np.ndarray               # (sum w)^2 / sum w^2
    effective_draws_for_variance: np.ndarray  # (sum w^2)^2 / sum w^4
    effective_draws_for_skewness: np.ndarray  # (sum w^2)^3 / (sum w^3)^2
    sampled_problem: Problem

    def to_problem(self) -> Problem:
        """The problem re-created with the sampled agents, ready to `solve` (PyBLP's `to_problem()`)."""
        return self.sampled_problem

    def __repr__(self) -> str:
        """PyBLP's `Importance Sampling Results Summary`."""
        return statistics_table('Importance Sampling Results Summary', [
            (['', 'Computation', 'Time'], clock(self.computation_time)),
            (['', 'Total', 'Sampling Draws'], len(self.sampled_agents)),
            (['', 'Sampling Draws', 'per Market'], self.draws),
            (['', 'Min', 'Effective Draws'], int(self.effective_draws.min())),
            (['Min', 'Effective Draws', 'for Variance'], int(self.effective_draws_for_variance.min())),
            (['Min', 'Effective Draws', 'for Skewness'], int(self.effective_draws_for_skewness.min())),
            (['', 'Min', 'Weight Sum'], float(self.weight_sums.min())),
            (['', 'Max', 'Weight Sum'], float(self.weight_sums.max())),
        ])

    def to_dict(self, attributes: Sequence[str] = ATTRIBUTES) -> dict[str, Any]:
        """PyBLP's: its attribute names mapped to its values, the diagnostics T x 1 as PyBLP's (`to_document` is
        the JSON form)."""
        return {name: getattr(self, name)[:, None] if name in DIAGNOSTICS else getattr(self, name)
                for name in attributes}

    def to_document(self) -> dict[str, Any]:
        """JSON-ready: the sampled agents by column and the diagnostics."""
        return {'sampled_agents': {str(name): jsonable(values.to_numpy()) if values.dtype.kind in 'fiub' else
                                   [str(value) for value in values] for name, values in self.sampled_agents.items()},
                'computation_time': self.computation_time, 'draws': self.draws,
                'diagnostic_market_ids': [str(market) for market in self.diagnostic_market_ids],
                'weight_sums': jsonable(self.weight_sums), 'effective_draws': jsonable(self.effective_draws),
                'effective_draws_for_variance': jsonable(self.effective_draws_for_variance),
                'effective_draws_for_skewness': jsonable(self.effective_draws_for_skewness)}


def _candidates(problem: Problem, agent_data: Any, integration: Optional[Integration]) -> Problem:
    """The problem with the candidate agents (its own when neither agent_data nor integration is given)."""
    if agent_data is None and integration is None:
        return problem
    if agent_data is not None:
        agent_data = as_frame(agent_data, 'agent_data')
        if integration is None:  # PyBLP ignores candidates' weights: any will do for reading them
            agent_data = agent_data.assign(weights=1.0)
    return problem.with_agents(agent_data, integration)


def _agent_frame(candidates: Problem) -> pd.DataFrame:
    """The candidate agents as agent data: their columns (if any) with market_ids and nodes0.. of their rows."""
    agents = candidates.agents
    assert agents is not None
    layout = agents.layout
    market_ids = layout.markets[layout.market_index]
    frame = agents.frame.copy() if agents.frame is not None else pd.DataFrame(index=range(market_ids.size))
    nodes = layout.unpad(agents.nodes)
    frame = frame.drop(columns=[name for name in frame.columns if re.fullmatch(r'nodes\d*', str(name))])
    frame['market_ids'] = market_ids
    for k in range(nodes.shape[1]):
        frame[f'nodes{k}'] = nodes[:, k]
    return frame


def inside_probabilities(results: ProblemResults, candidates: Problem, delta: np.ndarray) -> np.ndarray:
    """1 - s_i0t of each candidate agent at the estimated theta and `delta` (N), padded T x I."""
    model = candidates.model
    values = results.nonlinear_values
    utilities = model.utilities(candidates.products.layout.pad(delta), values)
    agents = candidates.agents
    assert agents is not None
    nests = model.nests(values.rho)
    choices = logit(utilities, agents.weights, True) if nests is None else nested_logit(utilities, agents.weights,
                                                                                        nests)
    return np.where(agents.layout.mask, choices.probabilities.sum(axis=1), 0.0)


def importance_sampling(results: ProblemResults, draws: int, ar_constant: float = 1.0, seed: Optional[int] = None,
                        agent_data: Any = None, integration: Optional[Integration] = None,
                        delta: Any = None) -> ImportanceSamplingResults:
    """Sample `draws` agents per market from the candidates by accept/reject on their inside probabilities."""
    started = time.perf_counter()
    problem = results.problem
    if problem.agents is None:
        raise SpecificationError('importance sampling needs agents: this is a logit or nested logit problem',
                                 parameter='agent_data')
    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 1:
        raise SpecificationError('draws must be a positive integer', parameter='draws')
    if isinstance(ar_constant, bool) or not isinstance(ar_constant, (int, float)) or not ar_constant >= 1:
        raise SpecificationError('ar_constant must be a number no less than 1', parameter='ar_constant')
    if delta is None:
        delta = results.delta[:, 0]
    else:
        delta = np.asarray(delta, dtype=float).reshape(-1)
        if delta.size != problem.N or not np.isfinite(delta).all():
            raise SpecificationError(f'delta must be {problem.N} finite numbers, one per product', parameter='delta')
    candidates = _candidates(problem, agent_data, integration)
    agents = candidates.agents
    assert agents is not None
    inside = inside_probabilities(results, candidates, delta)
    layout = problem.products.layout
    outside = 1 - np.bincount(layout.market_index, weights=problem.products.shares, minlength=layout.T)
    weights = np.zeros(agents.weights.shape)
    state = np.random.RandomState(seed)
    for t in results._market_order:
        count = int(agents.layout.counts[t])
        accepted = np.flatnonzero(state.uniform(size=count) < inside[t, :count] / ar_constant)
        if accepted.size < draws:
            raise SpecificationError(f'importance sampling accepted {accepted.size} of {count} candidate agents in '
                                     f'market {layout.markets[t]!r}, fewer than draws={draws}: give more candidates '
                                     f'(about ar_constant x draws / inside share) or a smaller ar_constant',
                                     parameter='draws')
        chosen = state.choice(accepted, draws, replace=False)
        weights[t, chosen] = (1 - outside[t]) / inside[t, chosen] / draws
    frame = _agent_frame(candidates)
    flat = agents.layout.unpad(weights)
    frame['weights'] = flat
    sampled = frame.loc[flat > 0].reset_index(drop=True)
    order = results._market_order
    sums = [(weights[order] ** power).sum(axis=1) for power in range(1, 5)]
    return ImportanceSamplingResults(
        results, sampled, time.perf_counter() - started, int(draws), layout.markets[order], sums[0],
        sums[0] ** 2 / sums[1], sums[1] ** 2 / sums[3], sums[1] ** 3 / sums[2] ** 2,
        problem.with_agents(sampled))
