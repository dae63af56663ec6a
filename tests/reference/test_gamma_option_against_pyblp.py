"""`solve(gamma=..., gamma_bounds=...)` against PyBLP run now on the tutorial's simulated supply problem (a few
seconds): gamma all NaN (concentrated out, PyBLP's default) gives PyBLP's objective and gamma; elements given as
numbers are optimized over in theta (after beta), with their labels, gradient, SEs, bounds and bootstrap draws as
PyBLP's; shapes that do not fit are refused naming gamma or gamma_bounds."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from test_simulation_against_pyblp import ids, simulate, tutorial

import blp
from blp.estimation.estimator import restore

pyblp = pytest.importorskip('pyblp')
pyblp.options.verbose = False
blp.options.verbose = False
NAN_GAMMA = dict(gamma=[np.nan, np.nan], gamma_bounds=([-10, -10], [10, 10]))


def problem(library: Any) -> Any:
    pyblp_ids, frame = ids(6, 4, 2)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return simulate(library, pyblp_ids if library is pyblp else frame, **tutorial(library)).replace_endogenous() \
            .to_problem()


def solve(library: Any, method: str = '1s', optimization: Any = None, **arguments: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return problem(library).solve(sigma=1, beta=[np.nan, -2, np.nan], method=method,
                                      optimization=optimization or library.Optimization('return'), **arguments)


def relative(ours: Any, theirs: Any) -> float:
    ours, theirs = np.asarray(ours, dtype=float).ravel(), np.asarray(theirs, dtype=float).ravel()
    return float(np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-8)))


def test_all_nan_gamma_is_pyblps_default() -> None:
    theirs, ours, default = solve(pyblp, **NAN_GAMMA), solve(blp, **NAN_GAMMA), solve(blp)
    np.testing.assert_allclose(float(ours.objective), float(theirs.objective), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ours.gamma), theirs.gamma, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ours.gamma_se), theirs.gamma_se, rtol=1e-3)
    assert float(ours.objective) == float(default.objective)
    np.testing.assert_array_equal(np.asarray(ours.gamma), np.asarray(default.gamma))


@pytest.mark.parametrize('gamma', [[1.0, np.nan], [np.nan, 3.0], [1.0, 3.0]])
def test_gamma_in_theta_at_given_values_is_pyblps(gamma: list) -> None:
    """At theta held fixed: objective, gradient (gamma's elements included), estimates and SEs, theta's labels."""
    theirs, ours = solve(pyblp, gamma=gamma), solve(blp, gamma=gamma)
    assert list(ours.theta_labels) == [str(label) for label in theirs.theta_labels]
    assert len(ours.theta) == 2 + int(np.isfinite(gamma).sum())
    np.testing.assert_allclose(float(ours.objective), float(theirs.objective), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ours.gradient).ravel(), theirs.gradient.ravel(), rtol=1e-6, atol=1e-10)
    for name in ('gamma', 'beta', 'sigma'):
        assert relative(getattr(ours, name), getattr(theirs, name)) < 1e-6, name
        assert relative(getattr(ours, f'{name}_se'), getattr(theirs, f'{name}_se')) < 1e-3, f'{name}_se'
    assert np.abs(np.asarray(ours.gamma)[:, 0] - solve(blp).gamma[:, 0]).max() > 1e-3  # theta's gamma is not refit
    restored = restore(ours.problem, ours.to_document())  # a stored estimate keeps gamma in theta
    assert float(restored.objective) == float(ours.objective) and list(restored.theta_labels) == ours.theta_labels
    np.testing.assert_array_equal(restored.gamma, ours.gamma)


def test_gamma_in_theta_is_estimated_within_its_bounds_as_pyblp() -> None:
    arguments = dict(method='2s', gamma=[1.0, np.nan], gamma_bounds=([0.5, -np.inf], [1.5, np.inf]))
    theirs = solve(pyblp, optimization=pyblp.Optimization('l-bfgs-b', {'gtol': 1e-10}), **arguments)
    ours = solve(blp, optimization=blp.Optimization('l-bfgs-b', {'gtol': 1e-10}), **arguments)
    np.testing.assert_allclose(float(ours.objective), float(theirs.objective), rtol=1e-6)
    for name in ('gamma', 'beta'):
        assert relative(getattr(ours, name), getattr(theirs, name)) < 1e-4, name
        assert relative(getattr(ours, f'{name}_se'), getattr(theirs, f'{name}_se')) < 1e-3, f'{name}_se'


def test_the_bootstrap_draws_gamma_in_theta_as_pyblp() -> None:
    """The same seed draws PyBLP's sigma, gamma and beta (sigma clipped at its default bound, zero, after
    Optimization('return'), as PyBLP's), and each draw's equilibrium is PyBLP's."""
    theirs, ours = solve(pyblp, gamma=[1.0, np.nan]), solve(blp, gamma=[1.0, np.nan])
    reference, mine = theirs.bootstrap(draws=3, seed=0), ours.bootstrap(draws=3, seed=0)
    assert (reference.bootstrapped_sigma == 0).any()  # a draw of sigma below zero, clipped
    for name in ('bootstrapped_sigma', 'bootstrapped_gamma', 'bootstrapped_beta', 'bootstrapped_prices',
                 'bootstrapped_shares', 'bootstrapped_delta'):
        np.testing.assert_allclose(getattr(mine, name), getattr(reference, name), rtol=1e-6, err_msg=name)


@pytest.mark.parametrize(('arguments', 'message'), [
    (dict(gamma=[np.nan]), 'one per X3 column'),
    (dict(gamma=[np.nan, np.nan], gamma_bounds=([0], [1])), 'gamma_bounds'),
])
def test_gamma_beyond_the_default_is_refused_by_name(arguments: dict, message: str) -> None:
    with pytest.raises(blp.SpecificationError, match=message) as raised:
        solve(blp, **arguments)
    assert raised.value.parameter == ('gamma_bounds' if 'gamma_bounds' in arguments else 'gamma')


def test_gamma_without_a_supply_side_is_refused() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        demand = problem(blp)
        demand_only = blp.Problem(demand.product_formulations[:2], demand.products.to_record(),
                                  integration=blp.Integration('product', 3))
    with pytest.raises(blp.SpecificationError) as raised:
        demand_only.solve(sigma=1, gamma=[np.nan], optimization=blp.Optimization('return'))
    assert raised.value.parameter == 'gamma'
