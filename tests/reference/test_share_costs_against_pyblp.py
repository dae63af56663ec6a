"""Marginal costs that move with shares (`shares` in X3, PyBLP's `constant_costs=False`) against PyBLP run now on the
same simulated data and draws (each library simulates with the same seed; a few seconds in all): the equilibrium of
`Simulation.replace_endogenous` (prices, shares and the costs at the new shares), the estimate on it, merger prices
from `compute_prices` (all markets and one), the counterfactual's costs after, the bootstrap's equilibria, and
optimal instruments (PyBLP solves no equilibrium with shares in X3: prices are the reduced-form fit on ZD). Each
check also asserts that `constant_costs=False` moves the numbers, so a flag that were ignored would fail."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from test_simulation_against_pyblp import ids, simulate

import blp

pyblp = pytest.importorskip('pyblp')
pyblp.options.verbose = False
blp.options.verbose = False
EQUILIBRIUM, POST, SE = 1e-8, 1e-6, 1e-3


def configuration(library: Any, costs_type: str, X3: str = '1 + z + shares') -> dict[str, Any]:
    """The tutorial's demand with costs 1 + z + shares (linear, or log with smaller gamma)."""
    gamma = [1, 0.5, 2] if costs_type == 'linear' else [0.2, 0.1, 0.5]
    return dict(product_formulations=(library.Formulation('1 + prices + x'), library.Formulation('0 + x'),
                                      library.Formulation(X3)),
                beta=[1, -2, 2], sigma=1, gamma=gamma, integration=library.Integration('product', 9), seed=0,
                costs_type=costs_type)


def simulated(library: Any, costs_type: str, constant_costs: bool = False, X3: str = '1 + z + shares') -> Any:
    pyblp_ids, frame = ids(20, 6, 3)
    simulation = simulate(library, pyblp_ids if library is pyblp else frame, **configuration(library, costs_type, X3))
    return simulation.replace_endogenous(constant_costs=constant_costs)


def estimate(solved: Any, library: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return solved.to_problem().solve(sigma=1, beta=[np.nan, -2, np.nan], method='1s',
                                         optimization=library.Optimization('return'))


@pytest.fixture(scope='module', params=['linear', 'log'])
def pair(request: Any) -> dict[str, Any]:
    theirs, ours = simulated(pyblp, request.param), simulated(blp, request.param)
    return dict(costs_type=request.param, theirs=theirs, ours=ours, their_results=estimate(theirs, pyblp),
                our_results=estimate(ours, blp))


def column(records: Any, name: str) -> np.ndarray:
    return np.asarray(records[name], dtype=float).reshape(-1)


def test_replace_endogenous_moves_costs_with_shares_as_pyblp(pair: dict[str, Any]) -> None:
    theirs, ours = pair['theirs'], pair['ours']
    for name in ('prices', 'shares'):
        np.testing.assert_allclose(column(ours.product_data, name), column(theirs.product_data, name), rtol=0,
                                   atol=EQUILIBRIUM, err_msg=name)
    np.testing.assert_allclose(np.asarray(ours.costs), theirs.costs, rtol=0, atol=EQUILIBRIUM)
    constant = simulated(blp, pair['costs_type'], constant_costs=True)
    assert np.abs(column(constant.product_data, 'prices') - column(ours.product_data, 'prices')).max() > 1e-3


@pytest.mark.parametrize('X3', ['1 + z + I(shares ** 2)', '1 + z + shares:z'])
def test_columns_non_linear_in_shares_move_costs_as_pyblp(X3: str) -> None:
    """Columns not linear in shares re-evaluate the X3 formula at each step (linear ones take a shortcut)."""
    theirs, ours = simulated(pyblp, 'linear', X3=X3), simulated(blp, 'linear', X3=X3)
    for name in ('prices', 'shares'):
        np.testing.assert_allclose(column(ours.product_data, name), column(theirs.product_data, name), rtol=0,
                                   atol=EQUILIBRIUM, err_msg=name)
    np.testing.assert_allclose(np.asarray(ours.costs), theirs.costs, rtol=0, atol=EQUILIBRIUM)
    constant = simulated(blp, 'linear', constant_costs=True, X3=X3)
    assert np.abs(column(constant.product_data, 'prices') - column(ours.product_data, 'prices')).max() > 1e-3


def test_the_estimate_on_share_dependent_costs_is_pyblps(pair: dict[str, Any]) -> None:
    theirs, ours = pair['their_results'], pair['our_results']
    np.testing.assert_allclose(float(ours.objective), float(theirs.objective), rtol=POST)
    np.testing.assert_allclose(np.asarray(ours.gamma), theirs.gamma, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(ours.gamma_se), theirs.gamma_se, rtol=SE)


def merger(results: Any) -> np.ndarray:
    firms = np.asarray(results.problem.products.firm_ids, dtype=object).reshape(-1).copy()
    firms[firms == 1] = 0
    return firms


def test_merger_prices_move_costs_with_shares_as_pyblp(pair: dict[str, Any]) -> None:
    theirs, ours = pair['their_results'], pair['our_results']
    firms = merger(theirs)
    for constant_costs in (True, False):
        np.testing.assert_allclose(ours.compute_prices(firm_ids=firms, constant_costs=constant_costs),
                                   theirs.compute_prices(firm_ids=firms, constant_costs=constant_costs), rtol=POST,
                                   err_msg=f'constant_costs={constant_costs}')
    moving, constant = (ours.compute_prices(firm_ids=firms, constant_costs=flag) for flag in (False, True))
    assert np.abs(moving - constant).max() > 1e-3
    market = np.asarray(theirs.problem.products.market_ids).reshape(-1) == 3
    np.testing.assert_allclose(ours.compute_prices(firm_ids=firms[market], constant_costs=False, market_id=3),
                               theirs.compute_prices(firm_ids=firms[market], constant_costs=False, market_id=3),
                               rtol=POST)


def test_the_counterfactual_reports_costs_at_the_new_shares(pair: dict[str, Any]) -> None:
    """Costs after are PyBLP's costs moved by gamma_shares times the change in PyBLP's shares at its new prices."""
    theirs, ours = pair['their_results'], pair['our_results']
    firms = merger(theirs)
    table = ours.counterfactual(firm_ids=firms, constant_costs=False)
    prices = theirs.compute_prices(firm_ids=firms, constant_costs=False)
    change = (theirs.compute_shares(prices) - theirs.problem.products.shares) * theirs.gamma[2, 0]
    costs = theirs.compute_costs()
    expected = costs + change if pair['costs_type'] == 'linear' else costs * np.exp(change)
    after = np.array([row['cost_after'] for row in table['products']])
    np.testing.assert_allclose(after, expected[:, 0], rtol=POST)
    np.testing.assert_allclose([row['price_after'] for row in table['products']], prices[:, 0], rtol=POST)
    assert np.abs(after - costs[:, 0]).max() > 1e-4


def test_the_bootstrap_moves_each_draws_costs_with_its_shares_as_pyblp(pair: dict[str, Any]) -> None:
    theirs, ours = pair['their_results'], pair['our_results']
    draws = {flag: (ours.bootstrap(draws=3, seed=0, constant_costs=flag),
                    theirs.bootstrap(draws=3, seed=0, constant_costs=flag)) for flag in (True, False)}
    for flag, (mine, reference) in draws.items():
        assert (reference.bootstrapped_sigma == 0).any()  # a draw below sigma's default bound: clipped, as ours
        assert mine.fp_converged.all() and reference.fp_converged.all()
        for name in ('bootstrapped_sigma', 'bootstrapped_prices', 'bootstrapped_shares', 'bootstrapped_delta'):
            np.testing.assert_allclose(getattr(mine, name), getattr(reference, name), rtol=POST,
                                       err_msg=f'{name}, constant_costs={flag}')
    assert np.abs(draws[True][0].bootstrapped_prices - draws[False][0].bootstrapped_prices).max() > 1e-4


@pytest.mark.parametrize('method', ['approximate', 'normal'])
def test_optimal_instruments_with_shares_in_x3_are_pyblps(pair: dict[str, Any], method: str) -> None:
    theirs, ours = pair['their_results'], pair['our_results']
    for flag in (True, False):  # PyBLP solves no equilibrium here, so constant_costs changes nothing
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            reference = theirs.compute_optimal_instruments(method=method, draws=2, seed=2, constant_costs=flag)
        mine = ours.compute_optimal_instruments(method=method, draws=2, seed=2, constant_costs=flag)
        for name in ('demand_instruments', 'supply_instruments', 'expected_prices', 'expected_shares'):
            np.testing.assert_allclose(np.asarray(getattr(mine, name)), getattr(reference, name), rtol=POST,
                                       atol=1e-10, err_msg=f'{name}, constant_costs={flag}')
