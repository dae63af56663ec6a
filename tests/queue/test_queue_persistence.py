"""Persistent unobservables through the HTTP API, a real Redis and a real Celery worker: the seeded panel's
demand-side estimate with phi and innovations moments, and with PyBLP's list form of moment types (against PyBLP's
stored numbers), and a bad lag index refused
with a 422 naming the column and row."""

from __future__ import annotations

import json

import numpy as np
import pytest
from persistence_workloads import FIXTURES, WORKLOADS, panel
from queue_support import submit, upload, wait_for

pytestmark = pytest.mark.queue


def spec(name: str) -> dict:
    workload = WORKLOADS[name]
    solve = {key: [[value]] if key == 'phi' and not isinstance(value, list) else value
             for key, value in workload['solve'].items()}
    return {'problem': {'product_formulations': [None if formula is None else {'formula': formula}
                                                 for formula in workload['formulations']]},
            'solve': dict(solve, method='2s', optimization={'method': 'l-bfgs-b', 'method_options': {'gtol': 1e-10}})}


def test_phi_with_innovations_moments_through_the_api_matches_pyblp(api):
    products, agents = panel()
    reference = json.loads((FIXTURES / 'persistence_demand.json').read_text())
    job = submit(api, spec('persistence_demand'), upload(api, products), upload(api, agents)).json()
    finished = wait_for(api, job['id'], timeout=300)
    assert finished['status'] == 'succeeded', finished
    result = api.get(f"/v1/jobs/{job['id']}/result").json()['results']
    phi = [entry for entry in result['parameters'] if entry['kind'] == 'phi']
    assert [(entry['row'], entry['column'], entry['fixed']) for entry in phi] == [('Xi', 'Xi', False)]
    np.testing.assert_allclose(phi[0]['value'], reference['phi'][0][0], rtol=1e-4)
    np.testing.assert_allclose(phi[0]['se'], reference['phi_se'][0][0], rtol=1e-3)
    beta = [entry['value'] for entry in result['parameters'] if entry['kind'] == 'beta']
    np.testing.assert_allclose(beta, np.ravel(reference['beta']), rtol=1e-4)
    np.testing.assert_allclose(result['objective'], reference['objective'], rtol=1e-6)


def test_a_list_of_moment_types_through_the_api_matches_pyblp(api):
    products, agents = panel()
    reference = json.loads((FIXTURES / 'persistence_moment_types.json').read_text())
    body = spec('persistence_moment_types')
    assert body['solve']['demand_moment_types'] == [('levels', 1), ('innovations', 3), ('differenced_innovations', 3)]
    job = submit(api, body, upload(api, products), upload(api, agents)).json()
    finished = wait_for(api, job['id'], timeout=300)
    assert finished['status'] == 'succeeded', finished
    result = api.get(f"/v1/jobs/{job['id']}/result").json()['results']
    values = {entry['kind']: entry for entry in result['parameters'] if entry['kind'] in ('phi', 'sigma')}
    np.testing.assert_allclose([values['sigma']['value'], values['phi']['value']], reference['theta'], rtol=1e-4)
    np.testing.assert_allclose(values['phi']['se'], reference['phi_se'][0][0], rtol=1e-3)
    np.testing.assert_allclose(result['objective'], reference['objective'], rtol=1e-6)


def test_a_lag_index_out_of_range_is_a_422_naming_the_column_and_row(api):
    products, agents = panel()
    products.loc[5, 'lag_indices'] = len(products) + 3
    response = api.post('/v1/jobs', json={'kind': 'estimate', 'spec': spec('persistence_demand'),
                                          'product_data': {'dataset_id': upload(api, products)},
                                          'agent_data': {'dataset_id': upload(api, agents)}})
    assert response.status_code == 422, response.text
    assert response.headers['content-type'].startswith('application/problem+json')
    assert (response.json()['column'], response.json()['row']) == ('lag_indices', 5), response.text
    assert 'row 5 has 303,' in response.json()['detail']
