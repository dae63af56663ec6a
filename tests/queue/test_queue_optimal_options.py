"""Optimal-instrument options through the API and a real worker: the simulated supply workload estimated and
re-estimated in one job with `optimal_instruments` {drop_indices, supply_shifter_formulation,
demand_shifter_formulation} gives PyBLP's re-estimate with the same `to_problem` options
(`fixtures/optimal_option_re_estimate.json`: instrument counts, estimates 1e-4, SEs 1e-3, objective 1e-6); a
drop index outside theta is a 422 naming it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from generate_optimal_fixtures import FIXTURES
from generate_optimal_option_fixtures import RE_ESTIMATE, RE_ESTIMATE_OPTIONS
from generate_optimal_supply_fixtures import re_estimate
from queue_support import submit, upload, wait_for
from supply_workloads import SUPPLY_WORKLOADS, run_blp
from test_against_pyblp import assert_close

import blp

pytestmark = pytest.mark.queue


def spec_of(workload: dict, optimal: dict) -> dict:
    return {'problem': {'product_formulations': [{'formula': formula} for formula, _ in workload['formulations']]},
            'solve': {'sigma': [[0.5]], 'beta': [None, -1, None], 'method': '2s',
                      'optimization': {'method': 'l-bfgs-b', 'method_options': {'gtol': 1e-10}}},
            'optimal_instruments': optimal}


def test_optimal_instrument_options_through_the_api_match_pyblp(api):
    workload = SUPPLY_WORKLOADS['supply_simulation']()
    products, agents = upload(api, workload['products']), upload(api, workload['agents'])
    bad = api.post('/v1/jobs', json={'kind': 'estimate', 'product_data': {'dataset_id': products},
                                     'agent_data': {'dataset_id': agents},
                                     'spec': spec_of(workload, {'drop_indices': [5]})})
    assert bad.status_code == 422, bad.text
    assert bad.json()['parameter'] == 'optimal_instruments.drop_indices' and 'theta has 2' in bad.json()['detail']
    job = submit(api, spec_of(workload, dict(RE_ESTIMATE_OPTIONS)), products, agents)
    finished = wait_for(api, job.json()['id'], timeout=300)
    assert finished['status'] == 'succeeded', finished
    result = api.get(f"/v1/jobs/{job.json()['id']}/result").json()
    report, results = result['optimal_instruments'], result['results']
    assert {key: report[key] for key in RE_ESTIMATE_OPTIONS} == RE_ESTIMATE_OPTIONS
    reference = json.loads((FIXTURES / f'optimal_option_{RE_ESTIMATE}.json').read_text())
    assert (results['dimensions']['MD'], results['dimensions']['MS']) == (reference['MD'], reference['MS'])
    values = {(entry['kind'], entry['row'], entry['column']): entry for entry in results['parameters']}
    summary = {'objective': results['objective'], 'rho': None, 'rho_se': None, 'pi': None, 'pi_se': None,
               'sigma': [[values[('sigma', 'x', 'x')]['value']]], 'sigma_se': [[values[('sigma', 'x', 'x')]['se']]],
               'beta': [[values[('beta', label, None)]['value']] for label in ('1', 'prices', 'x')],
               'beta_se': [[values[('beta', label, None)]['se']] for label in ('1', 'prices', 'x')]}
    assert_close('re-estimate with optimal-instrument options through the API', summary,
                 {**reference, 'pi': None, 'pi_se': None})
    gamma = [values[('gamma', label, None)]['value'] for label in ('x', 'z')]
    np.testing.assert_allclose(gamma, np.ravel(reference['gamma']), rtol=1e-4)
    # restoring the job works with the stored options (its elasticities are the core's)
    response = api.get(f"/v1/jobs/{job.json()['id']}/elasticities?market=0")
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(response.json()['matrix'], core_elasticities(), rtol=1e-4, atol=1e-8)


def core_elasticities() -> np.ndarray:
    """Market 0's elasticities of the core's re-estimate with the same options."""
    first = run_blp(SUPPLY_WORKLOADS['supply_simulation']())
    options = {key: blp.Formulation(value) if key.endswith('formulation') else value
               for key, value in RE_ESTIMATE_OPTIONS.items()}
    updated = re_estimate(first, first.compute_optimal_instruments(), blp, **options)
    return updated.compute_elasticities(market_id=0)
