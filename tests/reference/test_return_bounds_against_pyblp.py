"""PyBLP's default bounds after `Optimization('return')` (issue 24) against PyBLP run live on six of Nevo's markets (a
few seconds). PyBLP counts 'return' among its bounded methods, so sigma's diagonal is bounded below by min(0, start):
a negative start is its own bound and the estimate sits at it, which the projected gradient and the reduced Hessian
show. The reported estimate, objective, SEs, bounds, projected gradient and reduced Hessian are PyBLP's, and so are
the bootstrap's draws, clipped at those bounds (sigma drawn below zero is zero, below a negative start that start)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from test_iteration_return_against_pyblp import nevo_markets

import blp

pyblp = pytest.importorskip('pyblp')
pyblp.options.verbose = False
blp.options.verbose = False
SIGMA, PI = np.diag([-0.1, 2.0, 0.02]), [[5.0], [10.0], [-0.2]]  # the constant's sigma starts below zero
DRAWS, SEED = 20, 0


def solve(library: Any) -> Any:
    products, agents = nevo_markets()
    problem = library.Problem((library.Formulation('0 + prices', absorb='C(product_ids)'),
                               library.Formulation('1 + prices + sugar')), products,
                              library.Formulation('0 + income'), agents)
    return problem.solve(SIGMA, PI, method='1s', optimization=library.Optimization('return'))


@pytest.fixture(scope='module')
def solved() -> dict[Any, Any]:
    return {library: solve(library) for library in (blp, pyblp)}


def test_return_reports_pyblps_estimate_within_its_default_bounds(solved: dict) -> None:
    ours, theirs = solved[blp], solved[pyblp]
    for name in ('sigma_bounds', 'pi_bounds', 'rho_bounds'):
        for side, (mine, their) in enumerate(zip(getattr(ours, name), getattr(theirs, name))):
            np.testing.assert_array_equal(mine, their, err_msg=f'{name}[{side}]')
    assert ours.sigma_bounds[0][0, 0] == -0.1 and ours.sigma_bounds[0][1, 1] == 0  # min(0, start)
    assert ours.active_bounds == ['sigma[1, 1]']
    np.testing.assert_array_equal(np.asarray(ours.theta).ravel(), np.asarray(theirs.theta).ravel())
    np.testing.assert_allclose(float(ours.objective), float(theirs.objective), rtol=1e-6)
    for name in ('beta', 'sigma_se', 'pi_se', 'beta_se'):
        np.testing.assert_allclose(np.asarray(getattr(ours, name)), getattr(theirs, name),
                                   rtol=1e-3 if name.endswith('_se') else 1e-4, err_msg=name)
    gradient, projected = np.ravel(theirs.gradient), np.ravel(theirs.projected_gradient)
    assert gradient[0] > 0 and projected[0] == 0  # pushing against the active bound: projected away
    np.testing.assert_allclose(np.ravel(ours.projected_gradient), projected, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(float(ours.projected_gradient_norm), float(theirs.projected_gradient_norm), rtol=1e-6)
    assert (theirs.reduced_hessian[0] == 0).all()  # PyBLP zeros the row and column of a parameter at a bound
    assert ours.reduced_hessian.shape == theirs.reduced_hessian.shape and (ours.reduced_hessian[0] == 0).all()
    eigenvalues = np.ravel(theirs.reduced_hessian_eigenvalues)  # finite differences: relative to the largest
    np.testing.assert_allclose(np.ravel(ours.reduced_hessian_eigenvalues), eigenvalues, rtol=1e-4,
                               atol=1e-6 * np.abs(eigenvalues).max())


def test_the_bootstrap_clips_draws_at_the_default_bounds_as_pyblp(solved: dict) -> None:
    ours, theirs = solved[blp], solved[pyblp]
    reference, mine = theirs.bootstrap(draws=DRAWS, seed=SEED), ours.bootstrap(draws=DRAWS, seed=SEED)
    clipped = reference.bootstrapped_sigma
    assert (clipped[:, 2, 2] == 0).any() and (clipped[:, 2, 2] > 0).any()  # sugar's sigma drawn below zero: zero
    assert (clipped[:, 0, 0] == -0.1).any()  # the constant's sigma drawn below its negative start: the start
    for name in ('bootstrapped_sigma', 'bootstrapped_pi', 'bootstrapped_beta', 'bootstrapped_shares',
                 'bootstrapped_delta'):
        np.testing.assert_allclose(getattr(mine, name), getattr(reference, name), rtol=1e-5, atol=1e-8,
                                   err_msg=name)
