"""The supply-side fixtures (`generate_supply_fixtures.py`) are what our side will be compared with: they were made on
the data and agents a test loads, PyBLP's costs and omega follow from its estimates by our `supply.eta`, and the
simulated estimate covers the truth. Tests marked `live` re-run PyBLP and compare with the stored numbers.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from supply_workloads import FIXTURES, SUPPLY_WORKLOADS, frame_digest, run_pyblp  # noqa: E402
from workloads import summarize, timed  # noqa: E402

import blp  # noqa: E402


def stored(name: str) -> dict:
    return json.loads((FIXTURES / f'{name}.json').read_text())


@pytest.mark.parametrize('name', ['supply_simulation', 'supply_cereal'])
def test_fixtures_were_made_on_the_data_and_agents_a_test_loads(name: str) -> None:
    workload, reference = SUPPLY_WORKLOADS[name](), stored(name)
    assert frame_digest(workload['agents']) == reference['agents_digest'], f'{name}: agent draws differ'
    assert frame_digest(workload['products']) == reference['products_digest'], f'{name}: product data differ'
    assert len(workload['agents']) == reference['agents_rows']


def test_simulated_estimates_cover_the_truth() -> None:
    """PyBLP's estimate is within two standard errors of every true parameter (our side must do the same)."""
    reference = stored('supply_simulation')
    truth = reference['truth']
    for name in ('beta', 'gamma', 'sigma'):
        estimate, se = np.ravel(reference[name]), np.ravel(reference[f'{name}_se'])
        assert (np.abs(estimate - np.ravel(truth[name])) < 2 * se).all(), f'{name}: {estimate} vs {truth[name]}'


def test_pyblp_supply_costs_and_omega_follow_from_its_estimates_through_our_markups() -> None:
    """Cereal with linear costs: at PyBLP's theta our demand-side problem has the same beta (demand is just
    identified), our costs p - eta match PyBLP's and omega = c - X3 gamma with X3 = [1, mushy]."""
    workload, reference = SUPPLY_WORKLOADS['supply_cereal'](), stored('supply_cereal')
    (x1, absorb), (x2, _), _ = workload['formulations']
    problem = blp.Problem((blp.Formulation(x1, absorb=absorb), blp.Formulation(x2)), workload['products'],
                          blp.Formulation(workload['agent_formulation']), workload['agents'])
    results = problem.solve(sigma=reference['sigma'], pi=reference['pi'], method='1s',
                            optimization=blp.Optimization('return'))
    np.testing.assert_allclose(results.beta, reference['beta'], rtol=1e-8)
    products = workload['products']
    costs, xi = results.compute_costs()[:, 0], results.xi[:, 0]
    gamma = np.ravel(reference['gamma'])
    omega = costs - gamma[0] - gamma[1] * products['mushy'].to_numpy()
    for market, expected in reference['costs']['sample'].items():
        rows = products['market_ids'].astype(str).to_numpy() == market
        np.testing.assert_allclose(costs[rows], expected, rtol=1e-7, err_msg=f'costs in {market}')
        np.testing.assert_allclose(xi[rows], reference['xi']['sample'][market], rtol=1e-6, atol=1e-10)
        np.testing.assert_allclose(omega[rows], reference['omega']['sample'][market], rtol=1e-6, atol=1e-10)


@pytest.mark.live
@pytest.mark.parametrize('name', sorted(SUPPLY_WORKLOADS))
def test_stored_supply_fixtures_match_pyblp_run_now(name: str) -> None:
    results, seconds = timed(run_pyblp, SUPPLY_WORKLOADS[name]())
    live, reference = summarize(results, seconds), stored(name)
    live['gamma'] = np.asarray(results.gamma).tolist()
    for key in ('beta', 'gamma', 'sigma', 'pi', 'objective'):
        np.testing.assert_allclose(np.asarray(live[key], dtype=float), np.asarray(reference[key], dtype=float),
                                   rtol=1e-6, atol=1e-12, err_msg=f'{name}: {key}')
