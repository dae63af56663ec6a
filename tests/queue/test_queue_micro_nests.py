"""Second-choice micro moments with RCNL through the HTTP API, a real Redis and a real Celery worker: exercise 3's
three micro moments in JSON on products nested by mushy give PyBLP's stored numbers (`exercise3_diversion_rcnl`:
estimates 1e-4, standard errors 1e-3, objective 1e-6, fitted micro values 1e-6), and the same survey with eliminated
groups (`micro_eliminated_rcnl`)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from micro_option_workloads import micro_eliminated_rcnl
from micro_workloads import exercise3_diversion_rcnl
from queue_support import submit, upload, wait_for
from test_against_pyblp import FIXTURES, assert_close
from test_queue_rcnl_lognormal import spec_of, summary_of

from examples.micro_moments import EXERCISE3_ALL

pytestmark = pytest.mark.queue


def assert_matches_through_the_api(api, name: str, workload: dict, micro: dict) -> None:
    """The workload with these JSON micro moments, run by the API's worker, against `fixtures/<name>.json`."""
    reference = json.loads((FIXTURES / f'{name}.json').read_text())
    spec = spec_of(workload)
    spec['solve']['micro_moments'] = micro
    job = submit(api, spec, upload(api, workload['products']), upload(api, workload['agents'])).json()
    finished = wait_for(api, job['id'], timeout=600)
    assert finished['status'] == 'succeeded', finished
    results = api.get(f"/v1/jobs/{job['id']}/result").json()['results']
    assert_close(f'{name} through the API', summary_of(results, workload), reference)
    fitted = [entry['fitted'] for entry in results['micro_moments']]
    np.testing.assert_allclose(fitted, np.ravel(reference['micro_values']), rtol=1e-6)


def test_second_choices_with_nests_through_the_api_match_pyblp(api):
    assert_matches_through_the_api(api, 'exercise3_diversion_rcnl', exercise3_diversion_rcnl(), EXERCISE3_ALL)


def test_eliminated_groups_with_nests_through_the_api_match_pyblp(api):
    """`micro_eliminated_rcnl`: the diversion survey with the first choice's firm-within-nest group eliminated
    (`eliminated_product_ids_index` 1, product_ids1) on RCNL."""
    micro = copy.deepcopy(EXERCISE3_ALL)
    micro['datasets'][1]['eliminated_product_ids_index'] = 1
    assert_matches_through_the_api(api, 'micro_eliminated_rcnl', micro_eliminated_rcnl(), micro)
