"""Covariance restrictions through the HTTP API, a real Redis and a real Celery worker: a job with
`solve.covariance_moments_mean` on the simulated market with a covariance instrument gives the library's estimates
(and so PyBLP's, `tests/reference/test_covariance_against_pyblp.py`)."""

from __future__ import annotations

import numpy as np
import pytest
from covariance_workloads import COVARIANCE_WORKLOADS
from queue_support import submit, upload, wait_for
from supply_workloads import run_blp

pytestmark = pytest.mark.queue


def test_a_job_with_covariance_moments_gives_the_librarys_estimates(api):
    workload = COVARIANCE_WORKLOADS['covariance_simulation']()
    solve = workload['solve']
    method, method_options = solve['optimization']
    spec = {'problem': {'product_formulations': [{'formula': formula} for formula, _ in workload['formulations']]},
            'solve': {'sigma': [[solve['sigma']]], 'beta': solve['beta'], 'method': solve['method'],
                      'optimization': {'method': method, 'method_options': method_options},
                      'covariance_moments_mean': solve['covariance_moments_mean']}}
    job = submit(api, spec, upload(api, workload['products']), upload(api, workload['agents'])).json()
    finished = wait_for(api, job['id'], timeout=300)
    assert finished['status'] == 'succeeded', finished
    result = api.get(f"/v1/jobs/{job['id']}/result").json()['results']
    library = run_blp(workload).to_document()
    assert result['dimensions']['MC'] == library['dimensions']['MC'] == 1
    np.testing.assert_allclose(result['objective'], library['objective'], rtol=1e-8)
    ours = {(entry['kind'], entry['row'], entry['column']): entry for entry in result['parameters']}
    for entry in library['parameters']:
        got = ours[(entry['kind'], entry['row'], entry['column'])]
        np.testing.assert_allclose([got['value'], got['se']], [entry['value'], entry['se']], rtol=1e-6,
                                   err_msg=f"{entry['kind']} {entry['row']} {entry['column']}")
