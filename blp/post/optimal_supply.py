"""Optimal instruments with a supply side, as PyBLP's `compute_optimal_instruments`: for each realization
(xi_r, omega_r) of the errors (zero for `approximate`, joint normal draws with their sample covariance, or joint
resampling), prices and shares move to the Bertrand-Nash equilibrium of demand delta - xi + xi_r and marginal costs
c(tilde_costs - omega + omega_r) held constant (or to `expected_prices` when given), and the Jacobians
d xi / d theta and d omega / d theta are taken on the problem with those prices and shares. Averaged over the
realizations and normalized by the inverse covariance of (xi, omega) (ddof 1, as PyBLP):

    [Z_D^opt, Z_S^opt]_j = Sigma^-1 [E[d xi_j / d theta], E[d omega_j / d theta]]
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from blp.exceptions import SpecificationError
from blp.post.equilibrium import solve_prices

if TYPE_CHECKING:  # a back-reference for the type checker only
    from blp.estimation.results import ProblemResults


@dataclass(frozen=True)
class SupplyInstruments:
    """What PyBLP's `OptimalInstrumentResults` holds for a supply side."""

    demand_instruments: np.ndarray        # N x P
    supply_instruments: np.ndarray        # N x P
    inverse_covariance_matrix: np.ndarray  # 2 x 2
    xi_jacobian: np.ndarray               # N x P  E[d xi / d theta]
    omega_jacobian: np.ndarray            # N x P  E[d omega / d theta]
    prices: np.ndarray                    # N      E[p | Z] (mean over realizations)
    shares: np.ndarray                    # N


def supply_instruments(results: ProblemResults, method: str, draws: int, seed: Optional[int],
                       expected_prices: Optional[np.ndarray], iteration: Any = None) -> SupplyInstruments:
    """Z_D^opt and Z_S^opt of a supply-side estimate (module docstring)."""
    problem = results.problem
    # the realized problem and its evaluation are made by the classes of the results' own (estimation imports
    # post-estimation, not the other way round)
    Problem, Estimation = type(problem), type(results._estimation)
    X3_formulation = problem.product_formulations[2]
    if X3_formulation is not None and 'shares' in X3_formulation.variables():
        raise SpecificationError('optimal instruments with shares in X3 (costs that move with shares) are not '
                                 'supported yet', parameter='optimal_instruments')
    layout, N, P = problem.products.layout, problem.N, results._estimation.parameters.P
    assert results.estimated_costs is not None and problem.supply is not None  # called for a supply side only
    xi, omega = results.xi[:, 0], results.omega[:, 0]
    joint = np.column_stack([xi, omega])
    covariance = np.cov(xi, omega)
    state = np.random.RandomState(seed)
    samples = {'approximate': lambda: np.zeros((N, 2)),
               'normal': lambda: state.multivariate_normal([0, 0], covariance, N),
               'empirical': lambda: joint[state.choice(N, N)]}
    model = results._model
    ownership = results._ownership(None, None, None)
    tilde_costs = results.estimated_costs[:, 0] if problem.costs_type == 'linear' else \
        np.log(results.estimated_costs[:, 0])
    fixed = np.zeros(layout.mask.shape, dtype=bool) if expected_prices is None else layout.mask.copy()
    start = model.prices if expected_prices is None else layout.pad(expected_prices)
    assert start is not None  # a supply side needs prices
    agents = problem.agents
    agent_data = None if agents is None else agents.frame
    xi_jacobian, omega_jacobian = np.zeros((N, P)), np.zeros((N, P))
    prices_mean, shares_mean = np.zeros(N), np.zeros(N)
    for _ in range(draws):
        realization = samples[method]()
        shift = layout.pad(realization[:, 0] - xi)
        demand = dataclasses.replace(model, delta=model.delta + shift, utilities=model.utilities + shift[:, :, None])
        costs = tilde_costs - omega + realization[:, 1]
        costs = costs if problem.costs_type == 'linear' else np.exp(costs)
        equilibrium = solve_prices(demand, layout.pad(costs), ownership, start, fixed, iteration)
        if not equilibrium.converged.all():
            failed = layout.markets[~equilibrium.converged]
            raise SpecificationError(f'equilibrium prices of an error realization did not converge in '
                                     f'{len(failed)} market(s): {", ".join(map(str, failed[:10]))}',
                                     parameter='optimal_instruments')
        prices, shares = layout.unpad(equilibrium.prices), layout.unpad(equilibrium.shares)
        frame = problem.products.frame.copy()
        frame['prices'], frame['shares'] = prices, shares
        realized = Problem(problem.product_formulations, frame, problem.agent_formulation, agent_data,
                           problem.integration if agent_data is None else None, problem.rc_types, problem.costs_type)
        estimation = Estimation(realized, results._estimation.options)
        evaluation = estimation.evaluate(results.theta, estimation.moments.iv(results.W), True)
        demand_jacobian, supply_jacobian = evaluation.stacked.dependent_jacobians
        assert demand_jacobian is not None and supply_jacobian is not None  # evaluated with the Jacobian
        xi_jacobian += demand_jacobian / draws
        omega_jacobian += supply_jacobian / draws
        prices_mean += prices / draws
        shares_mean += shares / draws
    with np.errstate(all='ignore'):
        inverse = np.linalg.inv(covariance)
        instruments = np.einsum('ab,nbp->nap', inverse, np.stack([xi_jacobian, omega_jacobian], axis=1))
    return SupplyInstruments(instruments[:, 0], instruments[:, 1], inverse, xi_jacobian, omega_jacobian, prices_mean,
                             shares_mean)
