"""PyBLP 1.3's micro moment options through the API, a real Redis and a real Celery worker: the JSON form of
exercise 3 with the diversion survey's first-choice firm eliminated (`eliminated_product_ids_index`), and the
over-identified exercise with given micro covariances (`micro_sample_covariances`), each matching PyBLP's stored
numbers (`tests/reference/fixtures/micro_*.json`: estimates 1e-4, SEs 1e-3, objective 1e-6, micro values 1e-6)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from micro_option_workloads import AGENTS, FORMULATIONS, SAMPLE_COVARIANCES, products
from queue_support import submit, upload, wait_for
from test_against_pyblp import OBJECTIVE_ATOL, assert_close
from test_micro_against_pyblp import stored
from test_queue_micro import as_summary

from examples import cereal
from examples.micro_moments import EXERCISE3_ALL

pytestmark = pytest.mark.queue
OPTIMIZATION = {'method': 'l-bfgs-b', 'method_options': {'gtol': 1e-10}}


def eliminated() -> dict:
    micro = copy.deepcopy(EXERCISE3_ALL)
    micro['datasets'][1]['eliminated_product_ids_index'] = 1  # product_ids1: the firm
    return {'micro_moments': micro, 'sigma': np.eye(3).tolist()}


def given_covariances() -> dict:
    return {'micro_moments': EXERCISE3_ALL, 'sigma': np.diag([0, 0, 1.0]).tolist(), 'method': '2s',
            'micro_sample_covariances': SAMPLE_COVARIANCES}


CASES = {'micro_eliminated': eliminated, 'micro_sample_covariances': given_covariances}


@pytest.fixture(scope='module')
def data(api) -> dict[str, str]:
    return {'products': upload(api, products()), 'agents': upload(api, cereal.agent_data(size=AGENTS))}


@pytest.mark.parametrize('name', sorted(CASES))
def test_micro_options_through_the_api_match_pyblp(api, data, name):
    (X1, absorb), (X2, _) = FORMULATIONS
    spec = {'problem': {'product_formulations': [{'formula': X1, 'absorb': absorb}, {'formula': X2}],
                        'agent_formulation': {'formula': '0 + log_income'}},
            'solve': {'pi': [[1], [0.2], [1]], 'method': '1s', 'optimization': OPTIMIZATION, **CASES[name]()}}
    job = submit(api, spec, data['products'], data['agents']).json()
    finished = wait_for(api, job['id'], timeout=600)
    assert finished['status'] == 'succeeded', finished
    results = api.get(f"/v1/jobs/{job['id']}/result").json()['results']
    reference, summary = stored(name), as_summary(results)
    if reference['objective'] < 1e-8:  # an exact fit: zero up to where each optimizer stopped
        assert abs(summary['objective'] - reference['objective']) < OBJECTIVE_ATOL
        summary['objective'] = reference['objective']
    assert_close(f'{name} through the API', summary, reference)
    fitted = [entry['fitted'] for entry in results['micro_moments']]
    np.testing.assert_allclose(fitted, np.ravel(reference['micro_values']), rtol=1e-6)
