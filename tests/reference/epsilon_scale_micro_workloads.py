"""Micro moments and what builds on them with a scaled logit error (`epsilon_scale`, issue 26), each workload defined
once for PyBLP and for us: `epsilon_scale_workloads.demand` simulated at e = 1.5 (a random coefficient on prices and
a demographic, income, 40 markets of 6 products, 5 agents each) and turned into a problem by `to_problem`, which
passes e on. Three micro moments: E[income | inside] in markets 0-9, P(outside) over all markets (weights with the
outside good) and P(outside second | inside) from a second-choice survey in markets 0-19.

- `micro`: at the simulation's sigma and pi (`Optimization('return')`): the fitted micro values, their Jacobian in
  theta and covariances, `compute_micro_values`, micro scores (with integration, first and second choices) and agent
  scores, importance sampling from 40 candidates per market and its `to_problem()` at the same theta; then the
  estimate (one step, L-BFGS-B): estimates, SEs, objective, micro values.
- `micro_resampled`: at that theta with `resample_agent_data` (three agent sets, then None): simulation covariances
  (the micro block and the eigenvalues) and SEs.
- `persistence`: `persistence_workloads.panel` estimated at e = 1.5 with phi and quasi-differenced moments.
`outcomes` reduces the results to named arrays, the same for both libraries.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd
from epsilon_scale_workloads import demand
from persistence_workloads import panel
from simulation_option_workloads import simulate

SCALE = 1.5
TRUE = dict(sigma=0.5, pi=[[0.3]])
T, J, I = 40, 6, 5
EXACT = ('squarem', {'atol': 1e-14})


def micro_moments(library: Any) -> list:
    """The three micro moments built with `library` (pyblp or blp)."""
    income = library.MicroDataset('Income', 200, lambda t, p, a: np.ones((a.size, p.size)),
                                  market_ids=list(range(10)))
    outside = library.MicroDataset('Outside', 500, lambda t, p, a: np.ones((a.size, 1 + p.size)))
    diversion = library.MicroDataset('Diversion', 300, lambda t, p, a: np.ones((a.size, p.size, 1 + p.size)),
                                     market_ids=list(range(20)))

    def outside_first(t: Any, p: Any, a: Any) -> np.ndarray:
        values = np.zeros((a.size, 1 + p.size))
        values[:, 0] = 1
        return values

    def outside_second(t: Any, p: Any, a: Any) -> np.ndarray:
        values = np.zeros((a.size, p.size, 1 + p.size))
        values[:, :, 0] = 1
        return values

    return [
        library.MicroMoment('E[income | inside]', 0.5, library.MicroPart(
            'income | inside', income, lambda t, p, a: np.outer(a.demographics[:, 0], np.ones(p.size)))),
        library.MicroMoment('P(outside)', 0.55, library.MicroPart('outside', outside, outside_first)),
        library.MicroMoment('P(outside second | inside)', 0.6, library.MicroPart('outside second', diversion,
                                                                                  outside_second)),
    ]


def problem(library: Any) -> Any:
    solved = simulate(library, demand(library, SCALE)).replace_endogenous()
    return solved.to_problem(solved.simulation.product_formulations[:2])


def agents(seed: int, size: int) -> dict[str, np.ndarray]:
    """`size` agents per market with standard normal nodes and income, equal weights."""
    state = np.random.RandomState(seed)
    return {'market_ids': np.repeat(np.arange(T), size), 'weights': np.full(T * size, 1 / size),
            'nodes0': state.normal(size=T * size), 'income': state.normal(size=T * size)}


def resample_agent_data(index: int) -> Optional[dict[str, np.ndarray]]:
    return agents(100 + index, I) if index < 3 else None


def micro_data(second: bool) -> dict[str, np.ndarray]:
    """20 observations of the first (and second) choices of agents with given incomes."""
    n = np.arange(20)
    data = {'market_ids': n % 10, 'choice_indices': n % J, 'income': np.linspace(-1, 1, 20)}
    if second:
        data['second_choice_indices'] = (n + 1) % (J + 1)
    return data


def at_truth(library: Any, solving: Any, **options: Any) -> Any:
    return solving.solve(**TRUE, method='1s', optimization=library.Optimization('return'),
                         iteration=library.Iteration(*EXACT), micro_moments=micro_moments(library), **options)


def flat_scores(scores: list) -> np.ndarray:
    """Scores per parameter (arrays, or {market: array} in sorted market order) flattened."""
    return np.concatenate([np.ravel(score) if not isinstance(score, dict) else
                           np.concatenate([np.ravel(score[market]) for market in sorted(score)]) for score in scores])


def sampled_column(sampled: Any, name: str) -> np.ndarray:
    """A column of the sampled agents: our DataFrame's, or PyBLP's structured array's field."""
    if isinstance(sampled, pd.DataFrame):
        return sampled[name].to_numpy(dtype=float)
    field = {'nodes0': ('nodes', 0), 'weights': ('weights', 0)}[name]
    return np.asarray(sampled[field[0]], dtype=float)[:, field[1]]


def micro(library: Any) -> dict[str, np.ndarray]:
    solving = problem(library)
    fixed = at_truth(library, solving)
    found = {'epsilon_scale': np.array(solving.epsilon_scale), 'fixed_micro_values': np.ravel(fixed.micro_values),
             'fixed_micro_jacobian': np.ravel(fixed.micro_by_theta_jacobian),
             'fixed_micro_covariances': np.ravel(fixed.micro_covariances), 'fixed_beta': np.ravel(fixed.beta),
             'computed_micro_values': np.ravel(fixed.compute_micro_values(micro_moments(library)))}
    datasets = {moment.name: moment.parts[0].dataset for moment in micro_moments(library)}
    integration = library.Integration('product', 5)
    found['income_scores'] = flat_scores(fixed.compute_micro_scores(datasets['E[income | inside]'], micro_data(False),
                                                                    integration=integration))
    found['diversion_scores'] = flat_scores(fixed.compute_micro_scores(
        datasets['P(outside second | inside)'], micro_data(True), integration=integration))
    found['agent_scores'] = flat_scores(fixed.compute_agent_scores(datasets['P(outside)']))
    for key, moment in (('simulated_income', 'E[income | inside]'), ('simulated_outside', 'P(outside)')):
        drawn = fixed.simulate_micro_data(datasets[moment], seed=0)  # (first choices: ours has no second ones)
        found[key] = np.concatenate([np.ravel(drawn[field]).astype(float) for field in drawn.dtype.names])
    sampling = fixed.importance_sampling(draws=3, seed=0, agent_data=agents(1, 40))
    found.update(sampled_weights=sampled_column(sampling.sampled_agents, 'weights'),
                 sampled_nodes=sampled_column(sampling.sampled_agents, 'nodes0'),
                 sampled_micro_values=np.ravel(at_truth(library, sampling.to_problem()).micro_values))
    estimated = solving.solve(sigma=0.3, pi=[[0.1]], method='1s', micro_moments=micro_moments(library),
                              optimization=library.Optimization('l-bfgs-b', {'gtol': 1e-10}))
    found.update({key: np.ravel(getattr(estimated, key)) for key in ESTIMATES + ERRORS})
    found.update(objective=np.ravel(estimated.objective), micro_values=np.ravel(estimated.micro_values))
    return found


def micro_resampled(library: Any) -> dict[str, np.ndarray]:
    """The simulation covariances' micro block and eigenvalues: the demand moments' rows come in each library's
    instrument order (PyBLP's excluded instruments first), the micro moments last in both."""
    resampled = at_truth(library, problem(library), resample_agent_data=resample_agent_data)
    covariances = np.asarray(resampled.simulation_covariances)
    return {'simulation_covariances_micro': np.ravel(covariances[-3:, -3:]),
            'simulation_covariance_eigenvalues': np.linalg.eigvalsh(covariances),
            **{key: np.ravel(getattr(resampled, key)) for key in ERRORS}}


def persistence(library: Any) -> dict[str, np.ndarray]:
    products, panel_agents = panel()
    solving = library.Problem((library.Formulation('1 + prices + x'), library.Formulation('0 + x')), products,
                              agent_data=panel_agents, epsilon_scale=SCALE)
    estimated = solving.solve(sigma=[[0.5]], phi=0.3, demand_moment_types='innovations',
                              optimization=library.Optimization('l-bfgs-b', {'gtol': 1e-10}))
    return {'epsilon_scale': np.array(solving.epsilon_scale),
            **{key: np.ravel(getattr(estimated, key)) for key in ('beta', 'sigma', 'phi', 'beta_se', 'sigma_se',
                                                                   'phi_se', 'objective')}}


ESTIMATES = ('beta', 'sigma', 'pi')
ERRORS = ('beta_se', 'sigma_se', 'pi_se')
WORKLOADS: dict[str, Callable[[Any], dict[str, np.ndarray]]] = {
    'micro': micro, 'micro_resampled': micro_resampled, 'persistence': persistence}


def outcomes(library: Any, name: str) -> dict[str, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        if library.__name__ == 'pyblp':
            library.options.verbose = False
        return WORKLOADS[name](library)
