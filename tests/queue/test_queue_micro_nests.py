"""Second-choice micro moments with RCNL through the HTTP API, a real Redis and a real Celery worker: exercise 3's
three micro moments in JSON on products nested by mushy give PyBLP's stored numbers (`exercise3_diversion_rcnl`:
estimates 1e-4, standard errors 1e-3, objective 1e-6, fitted micro values 1e-6)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from micro_workloads import exercise3_diversion_rcnl
from queue_support import submit, upload, wait_for
from test_against_pyblp import FIXTURES, assert_close
from test_queue_rcnl_lognormal import spec_of, summary_of

from examples.micro_moments import EXERCISE3_ALL

pytestmark = pytest.mark.queue


def test_second_choices_with_nests_through_the_api_match_pyblp(api):
    workload = exercise3_diversion_rcnl()
    reference = json.loads((FIXTURES / 'exercise3_diversion_rcnl.json').read_text())
    spec = spec_of(workload)
    spec['solve']['micro_moments'] = EXERCISE3_ALL
    job = submit(api, spec, upload(api, workload['products']), upload(api, workload['agents'])).json()
    finished = wait_for(api, job['id'], timeout=600)
    assert finished['status'] == 'succeeded', finished
    results = api.get(f"/v1/jobs/{job['id']}/result").json()['results']
    assert_close('exercise3_diversion_rcnl through the API', summary_of(results, workload), reference)
    fitted = [entry['fitted'] for entry in results['micro_moments']]
    np.testing.assert_allclose(fitted, reference['micro_values'], rtol=1e-6)
