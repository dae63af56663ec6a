"""A finished estimate with a supply side through the API and a real worker: re-estimating it with optimal
instruments (`POST /v1/jobs/{id}/optimal-instruments`) is a 422 naming `optimal_instruments`, not a job that would
give demand-only instruments where PyBLP also computes the supply side's Z_S."""

from __future__ import annotations

import pytest
from queue_support import submit, upload, wait_for
from supply_workloads import SUPPLY_WORKLOADS

pytestmark = pytest.mark.queue


def test_optimal_instruments_of_a_supply_estimate_are_422(api):
    workload = SUPPLY_WORKLOADS['supply_simulation']()
    products, agents = upload(api, workload['products']), upload(api, workload['agents'])
    spec = {'problem': {'product_formulations': [{'formula': formula} for formula, _ in workload['formulations']]},
            'solve': {'sigma': [[0.5]], 'beta': [None, -1, None], 'method': '1s',
                      'optimization': {'method': 'l-bfgs-b', 'method_options': {'gtol': 1e-10}}}}
    job = submit(api, spec, products, agents).json()
    finished = wait_for(api, job['id'], timeout=300)
    assert finished['status'] == 'succeeded', finished
    response = api.post(f"/v1/jobs/{job['id']}/optimal-instruments", json={})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body['parameter'] == 'optimal_instruments' and 'supply side' in body['detail'], body
