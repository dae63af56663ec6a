"""Joint demand and supply estimates against PyBLP's on identical data and agents (fixtures from
`generate_supply_fixtures.py`; tests marked `live` in `test_supply_fixtures.py` re-run PyBLP).

- Cereal (exercise 2 with linear costs): estimates 1e-4, standard errors 1e-3, objective 1e-6 (absolute where ~0).
- BLP autos (PyBLP's replication, log costs, clustered, initial update): beta, gamma, sigma, pi 1e-3, gamma's
  standard errors 1e-2, and an objective not above PyBLP's (the issue's tolerances for this harder problem).
- A simulated market with known gamma: the estimates cover the truth, and agree with PyBLP's at 1e-4.
- Cereal with nests (RCNL, rho in the markups) and cereal with a lognormal price coefficient, each with cost
  shifters: estimates 1e-4, standard errors 1e-3, objective 1e-6.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from supply_workloads import FIXTURES, SUPPLY_WORKLOADS, run_blp

import blp

_ours: dict[str, blp.ProblemResults] = {}
TOLERANCES = {  # estimates, standard errors, gamma's standard errors
    'supply_cereal': (1e-4, 1e-3, 1e-3),
    'supply_simulation': (1e-4, 1e-3, 1e-3),
    'supply_blp_autos': (1e-3, 1e-2, 1e-2),
    'supply_cereal_rcnl': (1e-4, 1e-3, 1e-3),
    'supply_cereal_lognormal': (1e-4, 1e-3, 1e-3),
}


def solve(name: str) -> blp.ProblemResults:
    """Our estimate of a supply workload, once per session."""
    if name not in _ours:
        _ours[name] = run_blp(SUPPLY_WORKLOADS[name]())
    return _ours[name]


def stored(name: str) -> dict:
    return json.loads((FIXTURES / f'{name}.json').read_text())


def compare(actual: np.ndarray, expected: list, rtol: float, what: str) -> None:
    expected_array = np.array(expected, dtype=float)
    actual = np.asarray(actual, dtype=float).reshape(expected_array.shape)
    known = np.isfinite(expected_array) & (expected_array != 0)
    assert (np.isnan(actual[np.isnan(expected_array)])).all(), f'{what}: NaN where PyBLP has none'
    np.testing.assert_allclose(actual[known], expected_array[known], rtol=rtol, err_msg=what)


@pytest.mark.parametrize('name', sorted(SUPPLY_WORKLOADS))
def test_joint_estimates_match_pyblp(name: str) -> None:
    results, reference = solve(name), stored(name)
    estimates, errors, gamma_errors = TOLERANCES[name]
    for key in ('beta', 'gamma', 'sigma', 'pi', 'rho'):
        compare(getattr(results, key), reference[key], estimates, f'{name}: {key}')
    for key in ('beta_se', 'sigma_se', 'pi_se', 'rho_se'):
        compare(getattr(results, key), reference[key], errors, f'{name}: {key}')
    compare(results.gamma_se, reference['gamma_se'], gamma_errors, f'{name}: gamma_se')
    assert results.gamma_labels == reference['gamma_labels']
    assert results.step == reference['step'] and results.clipped_costs == reference['clipped_costs']
    if name == 'supply_blp_autos':
        assert results.objective <= reference['objective'] * (1 + 1e-6), 'objective above PyBLP\'s'
    elif reference['objective'] < 1e-10:
        assert results.objective < 1e-10
    else:
        np.testing.assert_allclose(results.objective, reference['objective'], rtol=1e-6)


def test_simulated_joint_estimates_cover_the_truth() -> None:
    results, truth = solve('supply_simulation'), stored('supply_simulation')['truth']
    for name in ('beta', 'gamma', 'sigma'):
        estimate, se = np.ravel(getattr(results, name)), np.ravel(getattr(results, f'{name}_se'))
        assert (np.abs(estimate - np.ravel(truth[name])) < 3 * se).all(), f'{name}: {estimate} vs {truth[name]}'


def test_costs_markups_and_omega_are_those_of_the_estimate() -> None:
    """c = p - eta, omega = c - X3 gamma (linear costs), and post-estimation defaults to these estimated costs."""
    results = solve('supply_cereal')
    problem = results.problem
    prices = problem.products.frame['prices'].to_numpy()
    np.testing.assert_allclose(results.estimated_costs[:, 0], prices - results.estimated_markups[:, 0], rtol=1e-12)
    X3 = np.column_stack([np.ones(problem.N), problem.products.frame['mushy'].to_numpy()])
    np.testing.assert_allclose(results.omega[:, 0], results.estimated_costs[:, 0] - X3 @ results.gamma[:, 0],
                               atol=1e-12)
    np.testing.assert_allclose(results.compute_costs(), results.estimated_costs, rtol=1e-12)
    reference = stored('supply_cereal')
    np.testing.assert_allclose(np.mean(results.estimated_costs), reference['costs']['mean'], rtol=1e-6)


def test_to_dict_lists_gamma_and_restores_to_the_same_numbers() -> None:
    results = solve('supply_simulation')
    payload = json.loads(json.dumps(results.to_document(), allow_nan=False))
    gamma = [entry for entry in payload['parameters'] if entry['kind'] == 'gamma']
    assert [entry['row'] for entry in gamma] == results.gamma_labels
    np.testing.assert_allclose([entry['se'] for entry in gamma], results.gamma_se[:, 0], rtol=1e-12)
    restored = results.problem.restore(payload)
    np.testing.assert_allclose(restored.gamma, results.gamma, rtol=1e-8)
    np.testing.assert_allclose(restored.gamma_se, results.gamma_se, rtol=1e-6)
    np.testing.assert_allclose(restored.beta_se, results.beta_se, rtol=1e-6)


def test_prices_in_x2_as_i_of_minus_prices_estimate_pyblps_model() -> None:
    """PyBLP's Petrin tutorial puts `I(-prices)` in X2 with a supply side. With the prices nodes and the starting pi on
    prices negated too, the model is exercise 2's (agent i's price coefficient is the same function of theta), so the
    estimate is PyBLP's stored one with pi's prices row negated: this checks the -1 slope in the markups and their
    Jacobian (a wrong sign moves every estimate)."""
    workload = SUPPLY_WORKLOADS['supply_cereal']()
    workload['formulations'][1] = ('0 + mushy + I(-prices)', None)
    workload['agents'] = workload['agents'].assign(nodes1=-workload['agents']['nodes1'])
    workload['solve'] = {**workload['solve'], 'pi': [[0.2], [-1]]}
    results, reference = run_blp(workload), stored('supply_cereal')
    estimates, errors, _ = TOLERANCES['supply_cereal']
    assert results.sigma_labels == ['mushy', '-prices']
    flip = np.array([[1.0], [-1.0]])
    for key in ('beta', 'gamma', 'sigma'):
        compare(getattr(results, key), reference[key], estimates, key)
    compare(results.pi * flip, reference['pi'], estimates, 'pi')
    for key in ('beta_se', 'sigma_se', 'pi_se', 'gamma_se'):
        compare(getattr(results, key), reference[key], errors, key)
    np.testing.assert_allclose(results.objective, reference['objective'], atol=1e-10)
