"""PyBLP's `Iteration('return')` (the starting values are the fixed point, no evaluation) against PyBLP run now on
the same inputs: given prices kept by `Simulation.replace_endogenous` and by `results.compute_prices`, and the delta
contraction of `Problem.solve` (delta, objective, gradient, SEs). PyBLP's side takes a few seconds, so it runs
live each time."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_simulation_against_pyblp import field, ids, simulate, tutorial

import blp

pyblp = pytest.importorskip('pyblp')
pyblp.options.verbose = False
blp.options.verbose = False


def simulations() -> tuple[Any, Any]:
    pyblp_ids, frame = ids(6, 4, 2)
    return simulate(pyblp, pyblp_ids, **tutorial(pyblp)), simulate(blp, frame, **tutorial(blp))


def test_replace_endogenous_keeps_the_given_prices_as_pyblp() -> None:
    theirs, ours = simulations()
    costs, prices = np.linspace(0.5, 1.5, theirs.N), np.linspace(2.0, 4.0, theirs.N)
    expected = theirs.replace_endogenous(costs=costs, prices=prices, iteration=pyblp.Iteration('return'))
    solved = ours.replace_endogenous(costs=costs, prices=prices, iteration=blp.Iteration('return'))
    np.testing.assert_array_equal(field(solved.product_data, 'prices')[:, 0], prices)
    np.testing.assert_allclose(field(solved.product_data, 'shares'), field(expected.product_data, 'shares'),
                               rtol=1e-10)
    np.testing.assert_array_equal(np.asarray(solved.fp_converged).ravel(), np.asarray(expected.fp_converged).ravel())
    np.testing.assert_array_equal(np.asarray(solved.fp_iterations).ravel(), np.asarray(expected.fp_iterations).ravel())
    iterated = ours.replace_endogenous(costs=costs, prices=prices)  # the default iterates away from them
    assert not np.allclose(field(iterated.product_data, 'prices')[:, 0], prices)


def test_compute_prices_returns_the_given_prices_as_pyblp() -> None:
    computed = []
    for library, simulation in zip((pyblp, blp), simulations()):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            results = simulation.replace_endogenous().to_problem().solve(
                sigma=1, beta=[np.nan, -2, np.nan], optimization=library.Optimization('return'))
        start = np.linspace(2.0, 4.0, simulation.N)
        prices = results.compute_prices(prices=start, iteration=library.Iteration('return'))
        computed.append((np.asarray(prices, dtype=float), np.asarray(results.compute_shares(prices), dtype=float)))
    np.testing.assert_array_equal(computed[1][0].ravel(), np.linspace(2.0, 4.0, computed[1][0].size))
    np.testing.assert_allclose(computed[1][0], computed[0][0], rtol=0, atol=0)
    np.testing.assert_allclose(computed[1][1], computed[0][1], rtol=1e-10)


def nevo_markets() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Six of Nevo's markets (a few seconds of PyBLP)."""
    products = pd.read_csv(blp.data.NEVO_PRODUCTS_LOCATION)
    agents = pd.read_csv(blp.data.NEVO_AGENTS_LOCATION)
    markets = sorted(set(products['market_ids']))[:6]
    return products[products['market_ids'].isin(markets)], agents[agents['market_ids'].isin(markets)]


def solve_nevo(library: Any, **arguments: Any) -> Any:
    products, agents = nevo_markets()
    problem = library.Problem((library.Formulation('0 + prices', absorb='C(product_ids)'),
                               library.Formulation('1 + prices + sugar')), products,
                              library.Formulation('0 + income'), agents)
    return problem.solve(np.diag([0.3, 2.0, 0.02]), [[5.0], [10.0], [-0.2]], method='1s',
                         optimization=library.Optimization('return'), **arguments)


def test_solve_takes_the_starting_delta_as_pyblp() -> None:
    """The logit delta is kept (no contraction evaluation); delta, xi and the objective are PyBLP's."""
    products, _ = nevo_markets()
    theirs, ours = (solve_nevo(library, iteration=library.Iteration('return')) for library in (pyblp, blp))
    shares = products['shares'].to_numpy()
    outside = 1 - pd.Series(shares).groupby(products['market_ids'].to_numpy()).transform('sum').to_numpy()
    np.testing.assert_allclose(np.asarray(ours.delta).ravel(), np.log(shares / outside), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(ours.delta), theirs.delta, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(ours.xi), theirs.xi, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(float(ours.objective), float(theirs.objective), rtol=1e-6)
    assert int(np.sum(ours.contraction_evaluations)) == int(np.sum(theirs.contraction_evaluations)) == 0
    assert_jacobians_as_pyblps(ours, theirs)
    chunked = solve_nevo(blp, iteration=blp.Iteration('return'), memory_budget_mb=0.01)  # markets in chunks
    assert_jacobians_as_pyblps(chunked, theirs)


def assert_jacobians_as_pyblps(ours: Any, theirs: Any) -> None:
    """Off the fixed point PyBLP's d s / d delta has the observed shares on its diagonal: so has ours then."""
    np.testing.assert_allclose(np.asarray(ours.xi_by_theta_jacobian), theirs.xi_by_theta_jacobian, rtol=1e-6,
                               atol=1e-8)
    np.testing.assert_allclose(np.ravel(ours.gradient), np.ravel(theirs.gradient), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.asarray(ours.sigma_se), theirs.sigma_se, rtol=1e-3)


def test_solve_starts_at_the_given_delta_as_pyblp() -> None:
    """`solve(delta=...)`: kept by the 'return' iteration (PyBLP's objective there), and a start the contraction
    leaves for the same fixed point (fewer evaluations from a start nearer it)."""
    products, _ = nevo_markets()
    logit = solve_nevo(blp, iteration=blp.Iteration('return')).delta.ravel()
    given = logit + np.linspace(-0.5, 0.5, logit.size)
    theirs, ours = (solve_nevo(library, iteration=library.Iteration('return'), delta=given)
                    for library in (pyblp, blp))
    np.testing.assert_array_equal(np.asarray(ours.delta).ravel(), given)
    np.testing.assert_allclose(np.asarray(ours.xi), theirs.xi, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(float(ours.objective), float(theirs.objective), rtol=1e-6)
    assert_jacobians_as_pyblps(ours, theirs)
    default = solve_nevo(blp)
    solved = solve_nevo(blp, delta=default.delta)
    np.testing.assert_allclose(solved.delta, default.delta, rtol=0, atol=1e-12)
    assert int(np.sum(solved.contraction_evaluations)) < int(np.sum(default.contraction_evaluations))
    with pytest.raises(blp.SpecificationError) as raised:
        solve_nevo(blp, delta=given[:-1])
    assert raised.value.parameter == 'delta'


def test_return_takes_no_options() -> None:
    with pytest.raises(blp.SpecificationError) as raised:
        blp.Iteration('return', {'atol': 1e-12})
    assert raised.value.parameter == 'iteration.method_options'
    assert 'returns the initial values' in repr(blp.Iteration('return'))
