"""What PyBLP accepts in `Iteration`, `Optimization` and a starting `sigma`, estimated as PyBLP estimates it: iteration
options (`norm`, `scheme`, `rtol`), a custom iteration method, a custom optimization method and a full starting
sigma, on eight markets of Nevo's cereal data with PyBLP 1.3.0 run now (a second or two each). Iterations are compared
at a fixed sigma (`Optimization('return')`: the estimate there, its standard errors and objective all depend on the
contraction's delta); here the optimizer would take sigma to its bound, 0."""

from __future__ import annotations

from itertools import product
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyblp
import pytest

import blp
from blp.exceptions import SpecificationError

ESTIMATES, ERRORS = 1e-4, 1e-3


def products() -> pd.DataFrame:
    data = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    return data[data['market_ids'].isin(data['market_ids'].unique()[:8])].reset_index(drop=True)


def solve(library: Any, **arguments: Any) -> Any:
    pyblp.options.verbose = False
    problem = library.Problem((library.Formulation('0 + prices', absorb='C(product_ids)'),
                               library.Formulation('1 + prices')), products(), integration=library.Integration('product', 5))
    arguments.setdefault('sigma', np.diag([0.5, 1.0]))
    return problem.solve(method='1s', **arguments)


def assert_same_estimates(ours: Any, theirs: Any) -> None:
    for key in ('sigma', 'beta'):
        np.testing.assert_allclose(getattr(ours, key), getattr(theirs, key), rtol=ESTIMATES, atol=1e-10, err_msg=key)
    for key in ('sigma_se', 'beta_se'):
        expected = getattr(theirs, key)
        known = np.isfinite(expected)
        np.testing.assert_allclose(getattr(ours, key)[known], expected[known], rtol=ERRORS, err_msg=key)
    np.testing.assert_allclose(ours.objective, theirs.objective, rtol=1e-6)


def notebook_custom_iteration(initial, contraction, callback, max_evaluations, tol, norm):  # PyBLP's notebook's
    x = initial
    evaluations = 0
    while evaluations < max_evaluations:
        x0, (x, weights, _) = x, contraction(x)
        evaluations += 1
        if evaluations % 3 == 0:
            callback()
        difference = norm(x - x0) if weights is None else norm(weights * (x - x0))
        if difference < tol:
            break
    return x, evaluations < max_evaluations


@pytest.mark.parametrize('method, options', [
    ('squarem', {'norm': np.linalg.norm, 'scheme': 1, 'atol': 1e-13}),
    ('squarem', {'scheme': 2}),
    ('squarem', {'step_max': 4.0, 'step_factor': 2.0}),
    ('simple', {'atol': 0, 'rtol': 1e-14}),
    (notebook_custom_iteration, {'max_evaluations': 10_000, 'tol': 1e-13, 'norm': np.linalg.norm}),
], ids=['S1 with the 2-norm', 'S2', 'steps', 'simple relative', 'custom'])
def test_iteration_options_and_custom_methods_estimate_what_pyblp_does(method: Any, options: dict) -> None:
    ours = solve(blp, iteration=blp.Iteration(method, options), optimization=blp.Optimization('return'))
    assert not blp.Iteration(method, options).compiled
    assert ours.converged
    assert_same_estimates(ours, solve(pyblp, iteration=pyblp.Iteration(method, options),
                                      optimization=pyblp.Optimization('return')))


def test_a_custom_iteration_method_is_what_solves_the_contraction() -> None:
    calls: list[int] = []

    def never_converges(initial, contraction, callback):
        calls.append(initial.size)
        return contraction(initial)[0], False

    with pytest.raises(blp.NumericalError):
        solve(blp, iteration=blp.Iteration(never_converges))
    assert calls and set(calls) <= {24}  # one market's products at a time, as PyBLP hands them


def grid_search(initial, bounds, objective_function, iteration_callback):  # PyBLP's notebook's custom method
    best_values, best_objective = initial, np.inf
    for values in product(*(np.linspace(lower, upper, 10) for lower, upper in bounds)):
        objective, _, _ = objective_function(values)
        if objective < best_objective:
            best_values, best_objective = values, objective
        iteration_callback()
    return best_values, True


def test_a_custom_optimization_method_estimates_what_pyblp_does() -> None:
    arguments: dict[str, Any] = dict(sigma=np.diag([0.5, 1.0]), sigma_bounds=(np.zeros((2, 2)), np.diag([1.0, 3.0])))
    ours = solve(blp, optimization=blp.Optimization(grid_search, compute_gradient=False), **arguments)
    theirs = solve(pyblp, optimization=pyblp.Optimization(grid_search, compute_gradient=False), **arguments)
    np.testing.assert_allclose(ours.sigma, theirs.sigma, rtol=ESTIMATES)
    np.testing.assert_allclose(ours.beta, theirs.beta, rtol=ESTIMATES)
    np.testing.assert_allclose(ours.objective, theirs.objective, rtol=1e-6)
    assert ours.converged


def test_a_custom_optimization_method_sees_pyblps_bounds_gradients_and_iterations() -> None:
    seen: dict[str, list] = {'bounds': [], 'gradients': []}

    def spy(library: str) -> Callable:
        def method(initial, bounds, objective_function, iteration_callback, step):
            seen['bounds'].append([tuple(map(float, bound)) for bound in bounds])
            theta = np.asarray(initial, dtype=float)
            for _ in range(3):
                objective, gradient, _ = objective_function(theta)
                seen['gradients'].append(gradient)
                theta = np.maximum(theta - step * gradient, 0)
                iteration_callback()
            return theta, False
        return method

    ours = solve(blp, optimization=blp.Optimization(spy('blp'), {'step': 1e-3}))
    theirs = solve(pyblp, optimization=pyblp.Optimization(spy('pyblp'), {'step': 1e-3}))
    assert seen['bounds'][0] == seen['bounds'][1] == [(0.0, np.inf), (0.0, np.inf)]
    np.testing.assert_allclose(seen['gradients'][:3], seen['gradients'][3:], rtol=1e-6)
    np.testing.assert_allclose(ours.sigma, theirs.sigma, rtol=1e-8)
    assert not ours.converged and not theirs.converged


def test_a_full_starting_sigma_has_its_upper_triangle_ignored_as_pyblp_does() -> None:
    full = np.array([[0.5, 0.7], [0.3, 1.0]])
    ours = solve(blp, sigma=full, optimization=blp.Optimization('return'))
    theirs = solve(pyblp, sigma=full, optimization=pyblp.Optimization('return'))
    assert ours.sigma[0, 1] == 0 and theirs.sigma[0, 1] == 0
    assert_same_estimates(ours, theirs)
    lower = solve(blp, sigma=np.tril(full), optimization=blp.Optimization('return'))
    np.testing.assert_array_equal(lower.sigma, ours.sigma)


@pytest.mark.parametrize('method, options, parameter', [
    ('squarem', {'scheme': 4}, 'iteration.method_options.scheme'),
    ('squarem', {'norm': 2}, 'iteration.method_options.norm'),
    ('simple', {'scheme': 1}, 'iteration.method_options'),
    ('squarem', {'atol': 0, 'rtol': 0}, 'iteration.method_options.atol'),
    ('anderson', {}, 'iteration.method'),
])
def test_iteration_options_pyblp_refuses_are_refused(method: str, options: dict, parameter: str) -> None:
    with pytest.raises(SpecificationError) as error:
        blp.Iteration(method, options)
    assert error.value.parameter == parameter
