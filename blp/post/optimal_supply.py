"""Optimal instruments with a supply side, as PyBLP's `compute_optimal_instruments`: for each realization
(xi_r, omega_r) of the errors (zero for `approximate`, joint normal draws with their sample covariance, or joint
resampling), prices and shares move to the Bertrand-Nash equilibrium of demand delta - xi + xi_r and marginal costs
c(tilde_costs - omega + omega_r) held constant (or prices are `expected_prices` when given, and the reduced-form fit
on ZD with shares in X3, as PyBLP's), and the Jacobians d xi / d theta and d omega / d theta are taken on the problem
with those prices and shares (log costs: -(1 / c) d eta / d theta at the realization's c). Averaged over the
realizations and normalized by the inverse covariance of (xi, omega) (ddof 1, as PyBLP):

    [Z_D^opt, Z_S^opt]_j = Sigma^-1 [E[d xi_j / d theta], E[d omega_j / d theta]]

`to_problem()` re-creates the problem with, as PyBLP's defaults, excluded demand instruments [Z_D^opt, supply
shifters] and excluded supply instruments [Z_S^opt, demand shifters] (columns of theta's betas on exogenous X1
columns dropped): supply shifters are X3's columns not in X1, demand shifters X1's exogenous columns not in X3
(intercepts aside); ZD and ZS add X1's and X3's exogenous columns as always.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from blp import status
from blp.configurations.formulation import Formulation
from blp.exceptions import SpecificationError
from blp.post.equilibrium import solve_prices
from blp.primitives.products import as_frame

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
    fp_iterations: np.ndarray             # T x draws: the equilibria's, markets in `unique_market_ids` order


def supply_instruments(results: ProblemResults, method: str, draws: int, seed: Optional[int],
                       expected_prices: Optional[np.ndarray], iteration: Any = None) -> SupplyInstruments:
    """Z_D^opt and Z_S^opt of a supply-side estimate (module docstring)."""
    problem = results.problem
    # the realized problem and its evaluation are made by the classes of the results' own (estimation imports
    # post-estimation, not the other way round)
    Problem, Estimation = type(problem), type(results._estimation)
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
    iterations = np.zeros((layout.T, draws), dtype=np.int64)
    for draw in range(draws):
        realization = samples[method]()
        shift = layout.pad(realization[:, 0] - xi)
        demand = dataclasses.replace(model, delta=model.delta + shift, utilities=model.delta_moved(shift))
        costs = tilde_costs - omega + realization[:, 1]
        costs = costs if problem.costs_type == 'linear' else np.exp(costs)
        equilibrium = solve_prices(demand, layout.pad(costs), ownership, start, fixed, iteration)
        if not equilibrium.converged.all():
            failed = layout.markets[~equilibrium.converged]
            raise SpecificationError(f'equilibrium prices of an error realization did not converge in '
                                     f'{len(failed)} market(s): {", ".join(map(str, failed[:10]))}',
                                     parameter='optimal_instruments')
        iterations[:, draw] = equilibrium.iterations[results._market_order]
        prices, shares = layout.unpad(equilibrium.prices), layout.unpad(equilibrium.shares)
        frame = problem.products.frame.copy()
        frame['prices'], frame['shares'] = prices, shares
        # linear costs give -d eta / d theta; PyBLP divides it by the realization's costs c for log costs (not by
        # p - eta, which is c only at an equilibrium, and not with given or fitted prices)
        with status.quiet():
            realized = Problem(problem.product_formulations, frame, problem.agent_formulation, agent_data,
                               problem.integration if agent_data is None else None, problem.rc_types,
                               problem.epsilon_scale, 'linear')
        estimation = Estimation(realized, results._estimation.options)
        evaluation = estimation.evaluate(results.theta, estimation.moments.iv(estimation.moment_order.given(results.W)), True)
        demand_jacobian, supply_jacobian = evaluation.stacked.dependent_jacobians
        assert demand_jacobian is not None and supply_jacobian is not None  # evaluated with the Jacobian
        xi_jacobian += demand_jacobian / draws
        omega_jacobian += (supply_jacobian if problem.costs_type == 'linear' else supply_jacobian / costs[:, None]) \
            / draws
        prices_mean += prices / draws
        shares_mean += shares / draws
    with np.errstate(all='ignore'):
        inverse = np.linalg.inv(covariance)
        instruments = np.einsum('ab,nbp->nap', inverse, np.stack([xi_jacobian, omega_jacobian], axis=1))
    return SupplyInstruments(instruments[:, 0], instruments[:, 1], inverse, xi_jacobian, omega_jacobian, prices_mean,
                             shares_mean, iterations)


def supply_problem(results: ProblemResults, demand: np.ndarray, supply: np.ndarray, kept: np.ndarray,
                   supply_shifter_formulation: Any = None, demand_shifter_formulation: Any = None,
                   product_data: Any = None) -> Any:
    """The problem re-created with the optimal instruments' `kept` columns and shifters (module docstring); a
    shifter formulation given replaces the default shifters (its intercept dropped, as PyBLP), built from
    `product_data` when given, else from the problem's product data."""
    problem = results.problem
    assert problem.supply is not None  # called for a supply side only
    X1_labels, X3_labels = problem.X1_labels, problem.supply.X3_labels
    exogenous = [label for label, endogenous in zip(X1_labels, problem.X1_endogenous) if not endogenous]
    frame = problem.products.frame
    X1 = problem.product_formulations[0].build(frame, 'X1 formulation')
    X3_formulation = problem.product_formulations[2]
    assert X3_formulation is not None
    X3 = X3_formulation.build(frame, 'X3 formulation')
    supply_shifters = [X3.matrix[:, X3.labels.index(label)] for label in sorted(
        label for label, endogenous in zip(X3_labels, problem.supply.X3_endogenous)
        if not endogenous and label != '1' and label not in X1_labels)]
    demand_shifters = [X1.matrix[:, X1.labels.index(label)]
                       for label in sorted(label for label in exogenous if label != '1' and label not in X3_labels)]
    source = frame if product_data is None else as_frame(product_data, 'product_data')
    if product_data is not None and len(source) != problem.N:
        raise SpecificationError(f'product_data has {len(source)} rows; the problem has {problem.N} products',
                                 parameter='product_data')
    if supply_shifter_formulation is not None:
        supply_shifters = _shifters(supply_shifter_formulation, source, 'supply_shifter_formulation')
    if demand_shifter_formulation is not None:
        demand_shifters = _shifters(demand_shifter_formulation, source, 'demand_shifter_formulation')
    ZD = np.column_stack([demand[:, kept]] + supply_shifters)
    ZS = np.column_stack([supply[:, kept]] + demand_shifters)
    numbered = re.compile(r'(demand|supply)_instruments\d*')
    columns = {name: frame[name] for name in frame.columns if not (isinstance(name, str) and numbered.fullmatch(name))}
    columns.update({f'demand_instruments{index}': ZD[:, index] for index in range(ZD.shape[1])})
    columns.update({f'supply_instruments{index}': ZS[:, index] for index in range(ZS.shape[1])})
    agents = problem.agents
    agent_data = None if agents is None else agents.frame
    return type(problem)(problem.product_formulations, type(frame)(columns), problem.agent_formulation, agent_data,
                         problem.integration if agent_data is None else None, problem.rc_types,
                         problem.epsilon_scale, problem.costs_type)


def _shifters(formulation: Any, frame: Any, name: str) -> list[np.ndarray]:
    """The columns of a shifter formulation without its intercept (PyBLP's `formula - 1`)."""
    if not isinstance(formulation, Formulation):
        raise SpecificationError(f'{name} must be a Formulation', parameter=name)
    built = Formulation(f'{formulation.formula} - 1').build(frame, name)
    return [built.matrix[:, index] for index in range(built.matrix.shape[1])]
