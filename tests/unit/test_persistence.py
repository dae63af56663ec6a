"""Persistent unobservables (`blp.estimation.persistence`): the analytic gradient in theta (phi included, with its
cross terms) against finite differences of the objective, the quasi-difference's derivative in phi, and the checks of
`lag_indices`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from persistence_workloads import build, panel

import blp
from blp.configurations.solve_options import SolveOptions
from blp.estimation.estimator import Estimation
from blp.estimation.persistence import Lags
from blp.exceptions import DataError, SpecificationError


@pytest.mark.parametrize('name, theta', [('persistence_demand', [0.8, 0.4]), ('persistence_differenced', [0.8, 0.4]),
                                         ('persistence_supply', [0.5, 0.2, -0.1, 0.3, -1.3])])
def test_gradient_in_theta_matches_finite_differences(name: str, theta: list) -> None:
    problem, solve = build(blp, name)
    estimation = Estimation(problem, SolveOptions(**solve))
    iv = estimation.moments.iv(estimation.W)
    theta = np.array(theta)
    gradient = estimation.evaluate(theta, iv).gradient
    step = 1e-6
    for index in range(theta.size):
        up, down = theta.copy(), theta.copy()
        up[index] += step
        down[index] -= step
        difference = (estimation.evaluate(up, iv).objective - estimation.evaluate(down, iv).objective) / (2 * step)
        np.testing.assert_allclose(gradient[index], difference, rtol=1e-5, atol=1e-8,
                                   err_msg=estimation.parameters.labels[index])


@pytest.mark.parametrize('kind', ['innovations', 'differenced_innovations'])
def test_quasi_difference_derivative_in_phi(kind: str) -> None:
    products, _ = panel()
    lags = Lags.of(products['lag_indices'].to_numpy(), products['market_ids'].to_numpy())
    rng = np.random.default_rng(0)
    x, other = rng.normal(size=len(products)), rng.normal(size=len(products))
    step = 1e-6
    own = (lags.difference(kind, x, 0.3 + step, other, 0.2) - lags.difference(kind, x, 0.3 - step, other, 0.2)) / (2 * step)
    cross = (lags.difference(kind, x, 0.3, other, 0.2 + step) - lags.difference(kind, x, 0.3, other, 0.2 - step)) / (2 * step)
    np.testing.assert_allclose(lags.derivative(kind, x), own, atol=1e-8)
    np.testing.assert_allclose(lags.derivative(kind, other), cross, atol=1e-8)
    assert not lags.difference(kind, x, 0.3)[~lags.lagged].any()


@pytest.mark.parametrize('change, row', [({3: 99999}, 3), ({3: -1}, 3), ({3: 1.5}, 3)])
def test_lag_index_out_of_range_names_the_row(change: dict, row: int) -> None:
    products, _ = panel()
    products['lag_indices'] = products['lag_indices'].astype(float)
    for index, value in change.items():
        products.loc[index, 'lag_indices'] = value
    with pytest.raises(DataError) as error:
        blp.Problem(blp.Formulation('1 + prices + x'), products)
    assert error.value.column == 'lag_indices' and error.value.row == row
    assert f'row {row}' in error.value.message


def test_two_rows_with_one_lag_and_no_initial_period_are_refused() -> None:
    products, _ = panel()
    products.loc[products.index[-1], 'lag_indices'] = products['lag_indices'].iloc[-2]
    with pytest.raises(DataError, match='both have row'):
        blp.Problem(blp.Formulation('1 + prices + x'), products)
    products['lag_indices'] = (np.arange(len(products)) + 1) % len(products)
    with pytest.raises(DataError, match='initial period'):
        blp.Problem(blp.Formulation('1 + prices + x'), products)


def test_phi_needs_lag_indices_and_innovations_need_lags() -> None:
    products, _ = panel()
    problem = blp.Problem(blp.Formulation('1 + prices + x'), products.drop(columns='lag_indices'))
    with pytest.raises(SpecificationError, match='lag_indices') as error:
        problem.solve(phi=0.5)
    assert error.value.parameter == 'phi'
    with pytest.raises(SpecificationError, match='lag_indices'):
        problem.solve(demand_moment_types='innovations')
    with pytest.raises(SpecificationError, match='demand_moment_types'):
        problem.solve(demand_moment_types='first_differences')


def test_problem_products_record_lag_indices_as_pyblp() -> None:
    products, _ = panel()
    problem = blp.Problem(blp.Formulation('1 + prices + x'), products)
    np.testing.assert_array_equal(problem.products.lag_indices[:, 0], products['lag_indices'].to_numpy())
    assert blp.Problem(blp.Formulation('1 + prices + x'), products.drop(columns='lag_indices')).products.to_record(
    ).lag_indices.shape == (len(products), 0)


def test_a_stored_estimate_with_phi_restores_to_the_same_numbers() -> None:
    problem, solve = build(blp, 'persistence_supply')
    results = problem.solve(**dict(solve, method='1s'))
    stored = json.loads(json.dumps(results.to_document()))
    assert stored['restore']['supply_moment_types'] == 'innovations'
    assert [(entry['row'], entry['column']) for entry in stored['parameters'] if entry['kind'] == 'phi'] == [
        ('Xi', 'Xi'), ('Xi', 'Omega'), ('Omega', 'Xi'), ('Omega', 'Omega')]
    restored = problem.restore(stored)
    np.testing.assert_allclose(restored.phi, results.phi, rtol=1e-12)
    np.testing.assert_allclose(restored.phi_se, results.phi_se, rtol=1e-10)
    np.testing.assert_allclose(restored.objective, results.objective, rtol=1e-10)


def test_innovations_with_absorbed_fixed_effects_are_refused_as_pyblp_refuses_them() -> None:
    products, _ = panel()
    problem = blp.Problem(blp.Formulation('0 + prices + x', absorb='C(product_ids)'), products)
    with pytest.raises(SpecificationError, match='fixed effects') as error:
        problem.solve(phi=0.5, demand_moment_types='innovations')
    assert error.value.parameter == 'demand_moment_types'


def test_a_stored_estimate_with_a_list_of_moment_types_restores_to_the_same_numbers() -> None:
    problem, solve = build(blp, 'persistence_moment_types_supply')
    results = problem.solve(**dict(solve, method='1s'))
    stored = json.loads(json.dumps(results.to_document()))
    assert stored['restore']['supply_moment_types'] == [['innovations', 4], ['differenced_innovations', 3]]
    restored = problem.restore(stored)
    np.testing.assert_allclose(restored.phi_se, results.phi_se, rtol=1e-10)
    np.testing.assert_allclose(restored.objective, results.objective, rtol=1e-10)
    assert 'differenced_innovations' in str(restored).split('Supply Moment Counts')[1]
