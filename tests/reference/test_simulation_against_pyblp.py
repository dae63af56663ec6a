"""`blp.Simulation` against PyBLP's `Simulation` run now on the same inputs and seeds: the drawn data (1e-10), the
equilibrium prices and shares of `replace_endogenous` (1e-8), the characteristics `replace_exogenous` solves for, the
default instruments of `to_problem`, post-estimation at the true parameters, and an estimate on the simulated problem
(the project's tolerances). PyBLP's simulations take a second or less, so they run live each time."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

import blp

pyblp = pytest.importorskip('pyblp')
pyblp.options.verbose = False

DRAWN, EQUILIBRIUM = 1e-10, 1e-8


def ids(T: int, J: int, F: int) -> tuple[Any, pd.DataFrame]:
    """PyBLP's id data and the same ids as a frame."""
    data = pyblp.build_id_data(T=T, J=J, F=F)
    return data, pd.DataFrame({'market_ids': data.market_ids[:, 0], 'firm_ids': data.firm_ids[:, 0]})


def simulate(library: Any, data: Any, **arguments: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return library.Simulation(**arguments, product_data=data)


def tutorial(library: Any, **extra: Any) -> dict[str, Any]:
    """The tutorial's simulation (demand with one random coefficient, and supply), with `library`'s classes."""
    return dict(product_formulations=(library.Formulation('1 + prices + x'), library.Formulation('0 + x'),
                                      library.Formulation('0 + x + z')),
                beta=[1, -2, 2], sigma=1, gamma=[1, 4], integration=library.Integration('product', 9), seed=0,
                **extra)


def demographics(library: Any, costs_type: str = 'log', **extra: Any) -> dict[str, Any]:
    """Two random coefficients with a demographic, log costs and other unobservable moments."""
    return dict(product_formulations=(library.Formulation('1 + prices + v + I(b ** 2)'),
                                      library.Formulation('1 + a'), library.Formulation('1 + x + w')),
                beta=[-1, -3, 1, 0.5], sigma=[[0.5, 0], [0.2, 1]], pi=[[0.3], [-0.5]], gamma=[0.2, 0.1, 0.3],
                agent_formulation=library.Formulation('0 + income'), integration=library.Integration('product', 4),
                xi_variance=0.5, omega_variance=0.2, correlation=0.5, costs_type=costs_type, seed=7, **extra)


def field(records: Any, name: str) -> np.ndarray:
    return np.asarray(records[name], dtype=float).reshape(len(records), -1)


@pytest.mark.parametrize('configuration', [tutorial, demographics])
def test_draws_equal_pyblps(configuration: Any) -> None:
    pyblp_ids, frame = ids(12, 6, 3)
    theirs, ours = simulate(pyblp, pyblp_ids, **configuration(pyblp)), simulate(blp, frame, **configuration(blp))
    for name in theirs.product_data.dtype.names:
        if name in ('shares', 'prices', 'v', 'x', 'z', 'a', 'b', 'w'):
            np.testing.assert_allclose(field(ours.product_data, name), field(theirs.product_data, name),
                                       rtol=0, atol=DRAWN, err_msg=name)
    for name in ('xi', 'omega'):
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=0, atol=DRAWN, err_msg=name)
    for name in ('nodes', 'weights', *(('income',) if 'income' in theirs.agent_data.dtype.names else ())):
        np.testing.assert_allclose(field(ours.agent_data, name), field(theirs.agent_data, name), rtol=0,
                                   atol=DRAWN, err_msg=name)
    for name in ('beta', 'sigma', 'pi', 'gamma'):
        np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name), err_msg=name)
    for name in ('T', 'N', 'F', 'I', 'K1', 'K2', 'K3', 'D', 'MD', 'MS', 'H'):
        assert getattr(ours, name) == getattr(theirs, name), name


@pytest.mark.parametrize('configuration', [tutorial, demographics])
def test_replace_endogenous_equals_pyblps(configuration: Any) -> None:
    pyblp_ids, frame = ids(12, 6, 3)
    theirs = simulate(pyblp, pyblp_ids, **configuration(pyblp)).replace_endogenous()
    ours = simulate(blp, frame, **configuration(blp)).replace_endogenous()
    for name in ('prices', 'shares'):
        np.testing.assert_allclose(field(ours.product_data, name), field(theirs.product_data, name), rtol=0,
                                   atol=EQUILIBRIUM, err_msg=name)
    np.testing.assert_allclose(ours.costs, theirs.costs, rtol=0, atol=DRAWN)
    np.testing.assert_allclose(ours.delta, theirs.delta, rtol=0, atol=EQUILIBRIUM)
    np.testing.assert_array_equal(ours.fp_converged, theirs.fp_converged)
    np.testing.assert_array_equal(ours.fp_iterations, theirs.fp_iterations)
    assert list(ours.profit_hessian_eigenvalues) == list(theirs.profit_hessian_eigenvalues)
    for market, firms in theirs.profit_hessian_eigenvalues.items():
        for firm, eigenvalues in firms.items():
            np.testing.assert_allclose(ours.profit_hessian_eigenvalues[market][firm], eigenvalues, rtol=1e-8,
                                       atol=1e-12)
            np.testing.assert_allclose(ours.profit_gradients[market][firm], theirs.profit_gradients[market][firm],
                                       rtol=0, atol=1e-10)
    # post-estimation at the true parameters on the solved data
    np.testing.assert_allclose(ours.compute_elasticities(), theirs.compute_elasticities(), rtol=1e-8,
                               equal_nan=True)
    np.testing.assert_allclose(ours.compute_costs(), theirs.compute_costs(), rtol=1e-8)
    np.testing.assert_allclose(ours.compute_consumer_surpluses(), theirs.compute_consumer_surpluses(), rtol=1e-8)


def test_default_instruments_equal_pyblps() -> None:
    pyblp_ids, frame = ids(12, 6, 3)
    theirs = simulate(pyblp, pyblp_ids, **tutorial(pyblp)).replace_endogenous().to_problem()
    ours = simulate(blp, frame, **tutorial(blp)).replace_endogenous().to_problem()
    for name in ('X1', 'X2', 'X3', 'ZD', 'ZS'):
        np.testing.assert_allclose(getattr(ours.products, name), getattr(theirs.products, name), rtol=0,
                                   atol=EQUILIBRIUM, err_msg=name)


def test_replace_exogenous_equals_pyblps() -> None:
    pyblp_ids, frame = ids(12, 6, 3)
    theirs = simulate(pyblp, pyblp_ids, **demographics(pyblp, 'linear')).replace_exogenous('v', 'w')
    simulation = simulate(blp, frame, **demographics(blp, 'linear'))
    ours = simulation.replace_exogenous('v', 'w')
    for name in ('v', 'w', 'prices', 'shares'):
        np.testing.assert_allclose(field(ours.product_data, name), field(theirs.product_data, name), rtol=1e-8,
                                   atol=1e-10, err_msg=name)
    np.testing.assert_allclose(ours.delta, theirs.delta, rtol=1e-8)
    np.testing.assert_allclose(ours.costs, theirs.costs, rtol=1e-8)
    with pytest.raises(blp.SpecificationError, match='only in the X1 formulation'):
        simulate(blp, frame, **tutorial(blp)).replace_exogenous('x', 'z')  # x in X2 and X3 too: PyBLP refuses


def test_given_xi_and_costs_as_in_petrins_counterfactual() -> None:
    """Demand only (xi given, costs passed to replace_endogenous), as the Petrin tutorial's counterfactual."""
    pyblp_ids, frame = ids(8, 5, 5)
    xi = np.random.default_rng(0).normal(size=frame.shape[0])
    costs = np.random.default_rng(1).uniform(0.5, 1.5, size=frame.shape[0])

    def arguments(library: Any) -> dict[str, Any]:
        return dict(product_formulations=(library.Formulation('1 + prices + x'), library.Formulation('0 + prices')),
                    beta=[-1, -3, 1], sigma=0.5, xi=xi, integration=library.Integration('product', 7), seed=3)

    theirs = simulate(pyblp, pyblp_ids, **arguments(pyblp)).replace_endogenous(costs=costs)
    ours = simulate(blp, frame, **arguments(blp)).replace_endogenous(costs=costs)
    np.testing.assert_allclose(field(ours.product_data, 'prices'), field(theirs.product_data, 'prices'), rtol=0,
                               atol=EQUILIBRIUM)
    np.testing.assert_allclose(ours.compute_consumer_surpluses(), theirs.compute_consumer_surpluses(), rtol=1e-8)


def test_estimate_on_the_simulated_problem_equals_pyblps() -> None:
    """The tutorial's estimate from half the true values, on a smaller simulation."""
    pyblp_ids, frame = ids(25, 16, 8)  # sigma ends inside its bounds (at 20 x 12 it ends at zero)
    estimates = []
    for library, data in ((pyblp, pyblp_ids), (blp, frame)):
        simulation = simulate(library, data, **tutorial(library))
        problem = simulation.replace_endogenous().to_problem()
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            estimates.append(problem.solve(sigma=0.5 * simulation.sigma, pi=0.5 * simulation.pi,
                                           beta=[None, 0.5 * simulation.beta[1, 0], None],
                                           optimization=library.Optimization('l-bfgs-b', {'gtol': 1e-5})))
    theirs, ours = estimates
    for name in ('beta', 'sigma', 'gamma'):
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-4, err_msg=name)
        np.testing.assert_allclose(getattr(ours, f'{name}_se'), getattr(theirs, f'{name}_se'), rtol=1e-3,
                                   err_msg=f'{name}_se')
    assert ours.objective == pytest.approx(float(theirs.objective), rel=1e-6)


def test_prices_only_in_x2_with_agent_data_as_in_petrins_counterfactual() -> None:
    """Petrin's counterfactual: prices only in X2 as I(-prices) (with a demographic giving its mean), agents from
    agent_data (nodes, weights, demographics), xi and costs given, consumer surplus at the new equilibrium."""
    rng = np.random.default_rng(5)
    J, I = 8, 30
    products = pd.DataFrame({'market_ids': 1984, 'firm_ids': np.arange(J) % 3, 'x': rng.uniform(size=J),
                             'prices': rng.uniform(1, 2, size=J), 'shares': rng.uniform(0.01, 0.05, size=J)})
    agents = pd.DataFrame({'market_ids': 1984, 'nodes0': rng.normal(size=I), 'nodes1': rng.normal(size=I),
                           'weights': 1 / I, 'income': rng.lognormal(size=I)})
    xi, costs = rng.normal(scale=0.3, size=J), rng.uniform(0.5, 1.0, size=J)
    outcomes = []
    for library in (pyblp, blp):
        simulation = simulate(library, products, product_formulations=(
            library.Formulation('1 + x'), library.Formulation('1 + I(-prices)')),
            agent_formulation=library.Formulation('1 + I(1 / income)'), agent_data=agents,
            beta=[-2, 1], sigma=[[0.5, 0], [0, 0.2]], pi=[[0, 0], [1.5, 0.5]], xi=xi)
        outcomes.append(simulation.replace_endogenous(costs=costs))
    theirs, ours = outcomes
    np.testing.assert_allclose(field(ours.product_data, 'prices'), field(theirs.product_data, 'prices'), rtol=0,
                               atol=EQUILIBRIUM)
    np.testing.assert_allclose(ours.compute_consumer_surpluses(), theirs.compute_consumer_surpluses(), rtol=1e-8)


def test_nested_logit_simulation_equals_pyblps() -> None:
    """Nested logit with a rho per nest (demand only: xi and costs given): equilibrium, iterations, elasticities and
    replace_exogenous; profit gradients and Hessians."""
    pyblp_ids, frame = ids(4, 6, 3)
    frame['nesting_ids'] = np.tile([0, 1, 0, 1, 1, 0], 4)
    data = {'market_ids': pyblp_ids.market_ids, 'firm_ids': pyblp_ids.firm_ids, 'nesting_ids': frame['nesting_ids']}
    xi, costs = np.linspace(-1, 1, 24), np.linspace(0.2, 0.8, 24)
    outcomes = []
    for library, product_data in ((pyblp, data), (blp, frame)):
        simulation = simulate(library, product_data, product_formulations=(library.Formulation('1 + prices + x'),),
                              beta=[1, -2, 2], xi=xi, rho=[0.3, 0.6], seed=2)
        outcomes.append((simulation.replace_endogenous(costs=costs), simulation.replace_exogenous('x')))
    (theirs, theirs_exogenous), (ours, ours_exogenous) = outcomes
    for name in ('prices', 'shares'):
        np.testing.assert_allclose(field(ours.product_data, name), field(theirs.product_data, name), rtol=0,
                                   atol=EQUILIBRIUM, err_msg=name)
    np.testing.assert_array_equal(ours.fp_iterations, theirs.fp_iterations)
    np.testing.assert_allclose(ours.compute_elasticities(), theirs.compute_elasticities(), rtol=1e-8)
    np.testing.assert_allclose(field(ours_exogenous.product_data, 'x'), field(theirs_exogenous.product_data, 'x'),
                               rtol=1e-8, atol=1e-10)
    for market, firms in theirs.profit_gradients.items():
        for firm, gradient in firms.items():
            np.testing.assert_allclose(ours.profit_gradients[market][firm], gradient, rtol=0, atol=1e-10)
            np.testing.assert_allclose(ours.profit_hessians[market][firm], theirs.profit_hessians[market][firm],
                                       rtol=1e-8, atol=1e-12)
