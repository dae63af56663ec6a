"""Covariance restrictions (MacKay and Miller) against PyBLP on identical data (fixtures from
`generate_covariance_fixtures.py`; the test marked `live` re-runs PyBLP): estimates 1e-4, standard errors 1e-3,
objective 1e-6, PyBLP's total d xi/d theta and d omega/d theta at the estimate, the covariance moments there, MC and
the Dimensions table. `covariance_logit` is the case where the covariance moment replaces the price instruments.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from covariance_workloads import COVARIANCE_WORKLOADS
from supply_workloads import FIXTURES, frame_digest, run_blp, run_pyblp
from workloads import summarize, timed

import blp


@functools.cache
def solve(name: str) -> blp.ProblemResults:
    """Our estimate of a covariance workload, once per session."""
    return run_blp(COVARIANCE_WORKLOADS[name]())


def stored(name: str) -> dict:
    return json.loads((FIXTURES / f'{name}.json').read_text())


def close(actual: object, expected: object, rtol: float, what: str) -> None:
    expected_array = np.asarray(expected, dtype=float)
    np.testing.assert_allclose(np.asarray(actual, dtype=float).reshape(expected_array.shape), expected_array,
                               rtol=rtol, atol=0, err_msg=what)


@pytest.mark.parametrize('name', sorted(COVARIANCE_WORKLOADS))
def test_fixtures_were_made_on_the_data_a_test_loads(name: str) -> None:
    workload, reference = COVARIANCE_WORKLOADS[name](), stored(name)
    assert frame_digest(workload['products']) == reference['products_digest'], f'{name}: product data differ'
    if 'agents' in workload:
        assert frame_digest(workload['agents']) == reference['agents_digest'], f'{name}: agent draws differ'


@pytest.mark.parametrize('name', sorted(COVARIANCE_WORKLOADS))
def test_estimates_match_pyblp(name: str) -> None:
    results, reference = solve(name), stored(name)
    for key in ('beta', 'gamma', 'sigma', 'theta'):
        close(getattr(results, key), reference[key], 1e-4, f'{name}: {key}')
    for key in ('beta_se', 'gamma_se', 'sigma_se'):
        close(getattr(results, key), reference[key], 1e-3, f'{name}: {key}')
    close(results.objective, reference['objective'], 1e-6, f'{name}: objective')
    assert results.step == reference['step'] == 2 and results.converged


@pytest.mark.parametrize('name', sorted(COVARIANCE_WORKLOADS))
def test_covariance_moments_and_jacobians_at_the_estimate_match_pyblp(name: str) -> None:
    """Z_C'(xi omega - m) / N from our xi, omega and recorded Z_C, and d xi/d theta, d omega/d theta in the sampled
    markets: with covariance moments PyBLP's are total derivatives (through beta and gamma), and so are ours."""
    results, reference = solve(name), stored(name)
    problem = results.problem
    assert problem.MC == reference['MC'] and results.to_document()['dimensions']['MC'] == reference['MC']
    mean = COVARIANCE_WORKLOADS[name]()['solve']['covariance_moments_mean']
    moments = problem.products.ZC.T @ (results.xi[:, 0] * results.omega[:, 0] - mean) / problem.N
    np.testing.assert_allclose(moments, reference['covariance_moments'], rtol=1e-3, atol=1e-9)
    sample = reference['jacobians']
    rows = np.isin(problem.products.market_ids.astype(str), sample['market_ids'])
    for ours, theirs in ((results.xi_by_theta_jacobian, 'xi_by_theta'), (results.omega_by_theta_jacobian,
                                                                           'omega_by_theta')):
        expected = np.asarray(sample[theirs], dtype=float)
        np.testing.assert_allclose(ours[rows], expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max(),
                                   err_msg=f'{name}: {theirs}')


@pytest.mark.parametrize('name', sorted(COVARIANCE_WORKLOADS))
def test_dimensions_table_is_pyblps(name: str) -> None:
    assert repr(solve(name).problem).startswith(stored(name)['dimensions_table'])


def test_the_covariance_moment_identifies_the_price_coefficient_without_price_instruments() -> None:
    """`covariance_logit` has no excluded demand instruments: its price coefficient comes from E[xi omega] = 0.9
    (the simulation's), and is within two standard errors of the truth; with m = 0 it is far from it."""
    results, truth = solve('covariance_logit'), stored('supply_simulation')['truth']
    assert results.problem.MD == 2
    alpha, se = results.beta[1, 0], results.beta_se[1, 0]
    assert abs(alpha - truth['beta'][1]) < 2 * se
    workload = COVARIANCE_WORKLOADS['covariance_logit']()
    workload['solve'] = dict(workload['solve'], covariance_moments_mean=0.0)
    assert abs(run_blp(workload).beta[1, 0] - truth['beta'][1]) > 10 * se


@pytest.mark.live
@pytest.mark.parametrize('name', sorted(COVARIANCE_WORKLOADS))
def test_stored_covariance_fixtures_match_pyblp_run_now(name: str) -> None:
    results, seconds = timed(run_pyblp, COVARIANCE_WORKLOADS[name]())
    live, reference = summarize(results, seconds), stored(name)
    live.update(gamma=np.asarray(results.gamma).tolist(), gamma_se=np.asarray(results.gamma_se).tolist())
    for key in ('beta', 'gamma', 'sigma', 'objective', 'beta_se', 'gamma_se', 'sigma_se'):
        np.testing.assert_allclose(np.asarray(live[key], dtype=float), np.asarray(reference[key], dtype=float),
                                   rtol=1e-6, atol=1e-12, err_msg=f'{name}: {key}')
