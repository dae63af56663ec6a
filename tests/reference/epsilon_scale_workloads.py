"""Estimation with a scaled logit error (`epsilon_scale`, issue 26), each workload defined once for PyBLP and for us:
a simulation's data turned into a problem by `to_problem` (which passes the simulation's scale on, or the one given)
and solved, demand only or with the supply side. `outcomes` reduces the results to named arrays, the same for both
libraries, so the generator stores PyBLP's and the test compares ours with them.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
from simulation_option_workloads import ids, simulate


def demand(library: Any, epsilon_scale: float) -> dict[str, Any]:
    """Demand with a random coefficient on prices and a demographic; costs only to draw equilibrium prices."""
    return dict(product_formulations=(library.Formulation('1 + prices + v'), library.Formulation('0 + prices'),
                                      library.Formulation('1 + x + w')),
                beta=[-1, -3, 1], sigma=0.5, pi=[[0.3]], gamma=[0.2, 0.1, 0.3],
                agent_formulation=library.Formulation('0 + income'), integration=library.Integration('product', 5),
                xi_variance=0.5, omega_variance=0.2, correlation=0.5, seed=7, epsilon_scale=epsilon_scale,
                product_data=ids(40, 6, 3))


def logit(library: Any, epsilon_scale: float) -> dict[str, Any]:
    """PyBLP's simulation tutorial without its random coefficient, a logit."""
    return dict(product_formulations=(library.Formulation('1 + prices + x'), None, library.Formulation('0 + x + z')),
                beta=[1, -2, 2], gamma=[1, 4], seed=0, epsilon_scale=epsilon_scale, product_data=ids(30, 6, 3))


# name: (simulation arguments, the problem's scale (None: the simulation's, passed on by to_problem), X formulations
# kept, solve arguments)
WORKLOADS: dict[str, tuple[Callable[[Any], dict], Any, int, Callable[[Any], dict]]] = {
    'logit': (lambda L: logit(L, 1.0), 0.5, 1, lambda L: dict(method='2s')),
    'random': (lambda L: demand(L, 1.5), None, 2,
               lambda L: dict(sigma=0.3, pi=[[0.1]], method='1s',
                              optimization=L.Optimization('l-bfgs-b', {'gtol': 1e-10}))),
    'random_given': (lambda L: demand(L, 1.0), 2.0, 2,
                     lambda L: dict(sigma=0.3, pi=[[0.1]], method='2s',
                                    optimization=L.Optimization('l-bfgs-b', {'gtol': 1e-10}))),
    'supply': (lambda L: demand(L, 1.5), None, 3,
               lambda L: dict(sigma=0.3, pi=[[0.1]], beta=[None, -1, None], method='1s',
                              optimization=L.Optimization('l-bfgs-b', {'gtol': 1e-10}))),
    'supply_logit': (lambda L: logit(L, 1.0), 2.0, 3,
                     lambda L: dict(beta=[None, -1, None], method='2s',
                                    optimization=L.Optimization('l-bfgs-b', {'gtol': 1e-10}))),
}

# bootstrapped too: not 'supply', whose draws' equilibrium prices converge neither in PyBLP nor here
BOOTSTRAPPED = ('logit', 'random', 'random_given', 'supply_logit')
ESTIMATES = ('beta', 'sigma', 'pi', 'gamma')
ERRORS = ('beta_se', 'sigma_se', 'pi_se', 'gamma_se')


def outcomes(library: Any, name: str) -> dict[str, np.ndarray]:
    """The workload estimated in `library`: estimates, their SEs, the objective, delta, and at the estimates
    elasticities, diversion ratios, markups and consumer surpluses; approximate optimal instruments with their
    re-estimate, and (`BOOTSTRAPPED`) three bootstrap draws with their prices and elasticities."""
    arguments, scale, kept, solve = WORKLOADS[name]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        solved = simulate(library, arguments(library)).replace_endogenous()
        formulations = solved.simulation.product_formulations[:kept]
        problem = solved.to_problem(formulations) if scale is None else \
            solved.to_problem(formulations, epsilon_scale=scale)
        results = problem.solve(**solve(library))
        found = {key: np.ravel(getattr(results, key)) for key in (*ESTIMATES, *ERRORS, 'delta')
                 if np.size(getattr(results, key))}
        found.update(objective=np.ravel(results.objective), epsilon_scale=np.array(problem.epsilon_scale),
                     elasticities=np.ravel(results.compute_elasticities()),
                     diversion_ratios=np.ravel(results.compute_diversion_ratios()),
                     markups=np.ravel(results.compute_markups()),
                     surpluses=np.ravel(results.compute_consumer_surpluses()))
        instruments = results.compute_optimal_instruments(method='approximate')
        updated = instruments.to_problem().solve(**solve(library))
        found.update(optimal_instruments=np.ravel(instruments.demand_instruments),
                     optimal_supply_instruments=np.ravel(instruments.supply_instruments),
                     optimal_beta=np.ravel(updated.beta), optimal_beta_se=np.ravel(updated.beta_se),
                     optimal_objective=np.ravel(updated.objective))
        if name in BOOTSTRAPPED:
            draws = results.bootstrap(draws=3, seed=0)
            found.update(bootstrapped_beta=np.ravel(draws.bootstrapped_beta),
                         bootstrapped_prices=np.ravel(draws.bootstrapped_prices),
                         bootstrapped_elasticities=np.ravel(draws.compute_elasticities()))
    return found
