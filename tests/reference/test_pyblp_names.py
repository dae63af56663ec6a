"""PyBLP's attribute and method names on problems and results (issue 24): `unique_market_ids`, `F`, `I`, `ED`,
`theta_labels` in PyBLP's form, `projected_gradient_norm`, `reduced_hessian_eigenvalues`, `sigma_squared`,
`clipped_shares`, the `cumulative_*` statistics and `extract_diagonals` / `extract_diagonal_means` on results and
bootstrapped results, against PyBLP 1.3.0 on the same problems."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import blp

pyblp = pytest.importorskip('pyblp')


@pytest.fixture(scope='module')
def solved() -> dict[Any, Any]:
    """Nevo's cereal data on 20 markets, random coefficients with demographics at fixed values (PyBLP's 'return')."""
    products = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    agents = pd.read_csv(pyblp.data.NEVO_AGENTS_LOCATION)
    markets = products['market_ids'].unique()[:20]
    products, agents = (frame[frame['market_ids'].isin(markets)] for frame in (products, agents))
    results = {}
    for library in (blp, pyblp):
        library.options.verbose = False
        formulations = (library.Formulation('0 + prices', absorb='C(product_ids)'),
                        library.Formulation('1 + prices + sugar'))
        problem = library.Problem(formulations, products, library.Formulation('0 + income'), agents)
        results[library] = problem.solve(np.diag([0.5, 2.0, 0.1]), [[1.0], [2.0], [0.0]],
                                         optimization=library.Optimization('return'), method='1s')
    return results


def test_problem_dimensions_and_market_ids_have_pyblps_names(solved: dict) -> None:
    ours, theirs = solved[blp].problem, solved[pyblp].problem
    for name in ('T', 'N', 'F', 'I', 'K1', 'K2', 'D', 'MD', 'ED'):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert list(ours.unique_market_ids) == list(theirs.unique_market_ids)


def test_results_have_pyblps_names_and_values(solved: dict) -> None:
    ours, theirs = solved[blp], solved[pyblp]
    assert ours.theta_labels == [str(label) for label in theirs.theta_labels]
    np.testing.assert_allclose(ours.projected_gradient_norm, theirs.projected_gradient_norm, rtol=1e-4)
    eigenvalues, their_eigenvalues = ours.reduced_hessian_eigenvalues.ravel(), theirs.reduced_hessian_eigenvalues.ravel()
    # both Hessians are finite differences of analytic gradients: equal up to their noise, relative to the largest
    np.testing.assert_allclose(eigenvalues, their_eigenvalues, rtol=1e-4, atol=1e-6 * np.abs(their_eigenvalues).max())
    np.testing.assert_allclose(ours.sigma_squared, theirs.sigma_squared, rtol=1e-10)
    np.testing.assert_allclose(ours.sigma_squared_se, theirs.sigma_squared_se, rtol=1e-3)
    assert ours.clipped_shares.shape == theirs.clipped_shares.shape and ours.clipped_shares.sum() == 0
    assert ours.cumulative_converged == theirs.cumulative_converged
    assert ours.cumulative_objective_evaluations == theirs.cumulative_objective_evaluations == 1
    assert ours.cumulative_total_time >= ours.cumulative_optimization_time >= 0


def test_extract_diagonals_and_their_means_are_pyblps(solved: dict) -> None:
    ours, theirs = solved[blp], solved[pyblp]
    elasticities, their_elasticities = ours.compute_elasticities(), theirs.compute_elasticities()
    np.testing.assert_allclose(ours.extract_diagonals(elasticities), theirs.extract_diagonals(their_elasticities),
                               rtol=1e-6)
    np.testing.assert_allclose(ours.extract_diagonal_means(elasticities),
                               theirs.extract_diagonal_means(their_elasticities), rtol=1e-6)
    market = ours.problem.unique_market_ids[3]
    one, their_one = ours.compute_elasticities(market_id=market), theirs.compute_elasticities(market_id=market)
    np.testing.assert_allclose(ours.extract_diagonals(one, market_id=market),
                               theirs.extract_diagonals(their_one, market_id=market), rtol=1e-6)
    np.testing.assert_allclose(ours.extract_diagonal_means(one, market_id=market),
                               theirs.extract_diagonal_means(their_one, market_id=market), rtol=1e-6)


def test_bootstrapped_results_extract_diagonals_per_draw(solved: dict) -> None:
    bootstrapped = solved[blp].bootstrap(draws=2, seed=0)
    elasticities = bootstrapped.compute_elasticities()
    diagonals = bootstrapped.extract_diagonals(elasticities)
    means = bootstrapped.extract_diagonal_means(elasticities)
    problem = solved[blp].problem
    assert diagonals.shape == (2, problem.N, 1) and means.shape == (2, problem.T, 1)
    for draw in range(2):
        np.testing.assert_array_equal(diagonals[draw], solved[blp].extract_diagonals(elasticities[draw]))
        np.testing.assert_array_equal(means[draw], solved[blp].extract_diagonal_means(elasticities[draw]))
