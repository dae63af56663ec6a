"""PyBLP users' results calls (issue 24): `objective.item()`, `market_id` as a one-element list, `xi_fe` /
`omega_fe`, `compute_probabilities`, `compute_demand_hessians`, the Hansen, distance, Wald and LM statistics and the
pickle round trip, against PyBLP 1.3.0 live on Nevo's cereal data in 20 markets at fixed parameters (PyBLP's
'return') and on the tutorial's simulation: a few seconds."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import blp

pyblp = pytest.importorskip('pyblp')


def nevo(library: Any, supply: bool = False, nested: bool = False, pi_constant: float = 1.0, method: str = '1s') -> Any:
    """Random coefficients with income at fixed values, product fixed effects absorbed; with `supply` a linear
    marginal cost in sugar with quarter fixed effects absorbed; `nested`: nests by mushy, rho 0.6."""
    products = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    if nested:
        products['nesting_ids'] = products['mushy']
    agents = pd.read_csv(pyblp.data.NEVO_AGENTS_LOCATION)
    markets = products['market_ids'].unique()[:20]
    products, agents = (frame[frame['market_ids'].isin(markets)] for frame in (products, agents))
    library.options.verbose = False
    formulations = (library.Formulation('0 + prices', absorb='C(product_ids)'),
                    library.Formulation('1 + prices + sugar'))
    if supply:
        formulations += (library.Formulation('0 + sugar', absorb='C(quarter)'),)
    problem = library.Problem(formulations, products, library.Formulation('0 + income'), agents)
    extra: dict[str, Any] = {'beta': [-30.0]} if supply else {}  # PyBLP's: the price coefficient not concentrated
    if nested:
        extra['rho'] = 0.6
    return problem.solve(np.diag([0.5, 2.0, 0.1]), [[pi_constant], [2.0], [0.0]], method=method,
                         optimization=library.Optimization('return'), **extra)


@pytest.fixture(scope='module')
def solved() -> dict[Any, Any]:
    return {library: nevo(library) for library in (blp, pyblp)}


def test_objective_is_pyblps_numpy_value_and_hansen_statistic(solved: dict) -> None:
    ours, theirs = solved[blp], solved[pyblp]
    assert isinstance(ours.objective, np.ndarray) and ours.objective.shape == theirs.objective.shape
    np.testing.assert_allclose(ours.objective.item(), theirs.objective.item(), rtol=1e-6)
    np.testing.assert_allclose(ours.run_hansen_test(), theirs.run_hansen_test(), rtol=1e-6)
    assert ours.to_document()['objective'] == pytest.approx(theirs.objective.item(), rel=1e-6)


def test_distance_wald_and_lm_statistics_are_pyblps(solved: dict) -> None:
    ours, theirs = solved[blp], solved[pyblp]
    restricted = {library: nevo(library, pi_constant=0.0) for library in (blp, pyblp)}
    mine, their = restricted[blp].run_distance_test(ours), restricted[pyblp].run_distance_test(theirs)
    assert np.shape(mine) == np.shape(their)
    np.testing.assert_allclose(mine, their, rtol=1e-6)
    size = theirs.parameter_covariances.shape[0]
    assert ours.parameter_covariances.shape == (size, size)
    jacobian = np.eye(size)[:2]
    np.testing.assert_allclose(ours.run_wald_test(ours.theta[:2], jacobian),
                               theirs.run_wald_test(theirs.theta[:2], jacobian), rtol=1e-3)
    np.testing.assert_allclose(ours.moments, theirs.moments, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(ours.moments_jacobian, theirs.moments_jacobian, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(ours.run_lm_test(), theirs.run_lm_test(), rtol=1e-3)
    with pytest.raises(blp.SpecificationError) as error:
        ours.run_wald_test(ours.theta[:2], np.eye(size)[:1])
    assert error.value.parameter == 'restrictions_jacobian'


@pytest.mark.parametrize('market_id', [['C01Q1'], ('C01Q1',), np.array(['C01Q1'], dtype=object)])
def test_market_id_as_a_list_of_one_market_is_pyblps(solved: dict, market_id: Any) -> None:
    ours, theirs = solved[blp], solved[pyblp]
    for method in ('compute_diversion_ratios', 'compute_elasticities', 'compute_shares', 'compute_costs'):
        np.testing.assert_allclose(getattr(ours, method)(market_id=market_id),
                                   getattr(theirs, method)(market_id=market_id), rtol=1e-6, err_msg=method)


def test_several_markets_are_refused_naming_market_id(solved: dict) -> None:
    with pytest.raises(ValueError):
        solved[pyblp].compute_elasticities(market_id=['C01Q1', 'C01Q2'])
    with pytest.raises(blp.SpecificationError) as error:
        solved[blp].compute_elasticities(market_id=['C01Q1', 'C01Q2'])
    assert error.value.parameter == 'market'


def test_xi_fe_is_pyblps(solved: dict) -> None:
    ours, theirs = solved[blp], solved[pyblp]
    assert np.abs(theirs.xi_fe).max() > 0.1
    np.testing.assert_allclose(ours.xi_fe, theirs.xi_fe, rtol=1e-6, atol=1e-10)
    np.testing.assert_array_equal(ours.omega_fe, theirs.omega_fe)  # N x 0 without a supply side


def test_omega_fe_is_pyblps_with_a_supply_side() -> None:
    ours, theirs = nevo(blp, supply=True), nevo(pyblp, supply=True)
    assert np.abs(theirs.omega_fe).max() > 1e-3
    np.testing.assert_allclose(ours.run_lm_test(), theirs.run_lm_test(), rtol=1e-3)
    np.testing.assert_allclose(ours.omega_fe, theirs.omega_fe, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(ours.xi_fe, theirs.xi_fe, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize('market_id', [None, 'C01Q1'])
def test_agent_probabilities_are_pyblps(solved: dict, market_id: Any) -> None:
    ours, theirs = solved[blp], solved[pyblp]
    mine, their = ours.compute_probabilities(market_id=market_id), theirs.compute_probabilities(market_id=market_id)
    assert mine.shape == their.shape
    np.testing.assert_allclose(mine, their, rtol=1e-6, atol=1e-14)
    prices = 1.1 * ours.problem.products.prices[:, 0]
    np.testing.assert_allclose(ours.compute_probabilities(prices=prices), theirs.compute_probabilities(prices=prices),
                               rtol=1e-6, atol=1e-14)


def test_agent_probabilities_with_other_agents_are_pyblps(solved: dict) -> None:
    ours, theirs = solved[blp], solved[pyblp]
    agents = pd.read_csv(pyblp.data.NEVO_AGENTS_LOCATION)
    agents = agents[agents['market_ids'].isin(ours.unique_market_ids)]
    few = agents.groupby('market_ids').head(5)
    for market_id in (None, 'C01Q1'):
        mine = ours.compute_probabilities(agent_data=few, market_id=market_id)
        their = theirs.compute_probabilities(agent_data=few, market_id=market_id)
        assert mine.shape == their.shape == ((24, 5) if market_id else (ours.problem.N, 5))
        np.testing.assert_allclose(mine, their, rtol=1e-6, atol=1e-14)
    demographics = agents.groupby('market_ids').head(8)[['market_ids', 'income']]
    mine = ours.compute_probabilities(agent_data=demographics, integration=blp.Integration('product', 2))
    their = theirs.compute_probabilities(agent_data=demographics, integration=pyblp.Integration('product', 2))
    assert mine.shape == their.shape == (ours.problem.N, 8)
    np.testing.assert_allclose(mine, their, rtol=1e-6, atol=1e-14)


@pytest.mark.parametrize('market_id', [None, 'C01Q1'])
def test_demand_hessians_are_pyblps(solved: dict, market_id: Any) -> None:
    ours, theirs = solved[blp], solved[pyblp]
    for name in ('prices', 'sugar'):
        mine = ours.compute_demand_hessians(name, market_id=market_id)
        their = theirs.compute_demand_hessians(name, market_id=market_id)
        assert mine.shape == their.shape
        np.testing.assert_allclose(mine, their, rtol=1e-6, atol=1e-10 * np.nanmax(np.abs(their)), err_msg=name)


def test_nested_logit_demand_hessians_are_pyblps() -> None:
    ours, theirs = nevo(blp, nested=True), nevo(pyblp, nested=True)
    for market_id in (None, 'C01Q1'):
        mine, their = ours.compute_demand_hessians(market_id=market_id), theirs.compute_demand_hessians(
            market_id=market_id)
        assert mine.shape == their.shape
        np.testing.assert_allclose(mine, their, rtol=1e-6, atol=1e-10 * np.nanmax(np.abs(their)))


def test_results_round_trip_through_a_pickle(solved: dict, tmp_path: Any) -> None:
    ours = solved[blp]
    path = tmp_path / 'results.pkl'
    ours.to_pickle(path)
    restored = blp.read_pickle(str(path))
    np.testing.assert_array_equal(restored.beta, ours.beta)
    np.testing.assert_array_equal(restored.compute_elasticities(market_id='C01Q1'),
                                  ours.compute_elasticities(market_id='C01Q1'))
    for attribute, result in (('bootstrapped_beta', ours.bootstrap(draws=2, seed=0)),
                              ('demand_instruments', ours.compute_optimal_instruments())):
        path = tmp_path / f'{attribute}.pkl'
        result.to_pickle(path)
        restored = blp.read_pickle(path)
        assert type(restored) is type(result)
        np.testing.assert_array_equal(getattr(restored, attribute), getattr(result, attribute))


def test_simulation_results_answer_the_same_calls_as_pyblps(tmp_path: Any) -> None:
    """SimulationResults share the post-estimation methods: probabilities (also with other agents at a scaled logit
    error), demand Hessians, a market list, pickles."""
    from test_simulation_against_pyblp import ids, simulate, tutorial
    pyblp_ids, frame = ids(6, 5, 2)
    theirs = simulate(pyblp, pyblp_ids, **tutorial(pyblp)).replace_endogenous()
    ours = simulate(blp, frame, **tutorial(blp)).replace_endogenous()
    np.testing.assert_allclose(ours.compute_probabilities(), theirs.compute_probabilities(), rtol=1e-8, atol=1e-14)
    for market_id in (None, [2]):
        np.testing.assert_allclose(ours.compute_demand_hessians(market_id=market_id),
                                   theirs.compute_demand_hessians(market_id=market_id), rtol=1e-6, atol=1e-12)
    path = tmp_path / 'simulation.pkl'
    ours.to_pickle(path)
    np.testing.assert_array_equal(blp.read_pickle(path).compute_probabilities(), ours.compute_probabilities())
    scaled = simulate(blp, frame, **tutorial(blp, epsilon_scale=0.5)).replace_endogenous()
    theirs = simulate(pyblp, pyblp_ids, **tutorial(pyblp, epsilon_scale=0.5)).replace_endogenous()
    np.testing.assert_allclose(scaled.compute_probabilities(integration=blp.Integration('product', 3)),
                               theirs.compute_probabilities(integration=pyblp.Integration('product', 3)), rtol=1e-8,
                               atol=1e-14)
