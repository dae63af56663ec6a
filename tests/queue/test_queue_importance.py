"""Micro values and importance sampling through the API, a real Redis and a real Celery worker, on exercise 3's
estimate (three micro moments) at PyBLP's theta (`optimization: return`): the answers are PyBLP's, compared with the
stored fixtures of `generate_sampling_fixtures.py` (micro values 1e-6; the same agents sampled, nodes and log income
exactly, weights and diagnostics 1e-8) and with the library's on the same estimate; the sampled agents, uploaded as
CSV and estimated at the same theta, give PyBLP's `to_problem()` objective, beta and micro values (1e-6)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from generate_sampling_fixtures import ITERATION, SAMPLING, candidate_agents, micro_theta
from queue_support import ABSORB, submit, upload, wait_for
from test_queue_contract import declared
from test_sampling_against_pyblp import stored

import blp
import blp_client
from blp.spec import EstimateSpec, solve_options
from examples import cereal
from examples.micro_moments import EXERCISE3_ALL

pytestmark = pytest.mark.queue
CASE = SAMPLING['agent_data']  # draws=10, seed=0, candidates from candidate_agents()


def exercise3_at_pyblps_theta() -> dict:
    theta = micro_theta()
    return {'problem': {'product_formulations': [{'formula': '0 + prices', 'absorb': ABSORB},
                                                 {'formula': '1 + mushy + prices'}],
                        'agent_formulation': {'formula': '0 + log_income'}},
            'solve': {'sigma': np.asarray(theta['sigma']).tolist(), 'pi': np.asarray(theta['pi']).tolist(),
                      'method': '1s', 'optimization': {'method': 'return'},
                      'iteration': {'method': ITERATION[0], 'method_options': ITERATION[1]},
                      'micro_moments': EXERCISE3_ALL}}


@pytest.fixture(scope='module')
def estimate(api, rc_products) -> dict:
    """The finished job, the datasets and the library's results of the same spec and data."""
    agents = cereal.agent_data()
    spec = exercise3_at_pyblps_theta()
    data = {'products': upload(api, rc_products), 'agents': upload(api, agents),
            'candidates': upload(api, candidate_agents())}
    job = submit(api, spec, data['products'], data['agents']).json()
    assert wait_for(api, job['id'], timeout=300)['status'] == 'succeeded'
    parsed = EstimateSpec.model_validate(spec)
    results = blp.Problem.from_spec(parsed.problem, rc_products, agents).estimate(solve_options(parsed.solve))
    return {'job': job, 'data': data, 'spec': spec, 'results': results}


def test_micro_values_are_pyblps(api, estimate):
    job = estimate['job']
    assert job['links']['micro_values'] == f"/v1/jobs/{job['id']}/micro-values"
    response = api.get(job['links']['micro_values'])
    assert response.status_code == 200, response.text
    moments = declared('get', '/v1/jobs/{job_id}/micro-values', response)['micro_moments']
    assert [moment['name'] for moment in moments] == [moment['name'] for moment in EXERCISE3_ALL['moments']]
    assert [moment['observed'] for moment in moments] == [7.9, 0.28, 0.31]
    values = [moment['value'] for moment in moments]
    np.testing.assert_allclose(values, stored('micro_values')['exercise_micro_values'], rtol=1e-6, atol=0)
    library = estimate['results'].compute_micro_values(EXERCISE3_ALL)
    np.testing.assert_allclose(values, library, rtol=1e-10, atol=0)
    with blp_client.Client('http://testserver', transport=api._transport) as client:
        frame = client.micro_values(job['id'])
    assert list(frame['value']) == values


def test_importance_sampling_samples_pyblps_agents(api, estimate):
    job, reference = estimate['job'], stored('importance_agent_data')
    assert job['links']['importance_sampling'] == f"/v1/jobs/{job['id']}/importance-sampling"
    body = {'draws': CASE['draws'], 'seed': CASE['seed'], 'agent_data': {'dataset_id': estimate['data']['candidates']}}
    response = api.post(job['links']['importance_sampling'], json=body)
    assert response.status_code == 200, response.text
    sample = declared('post', '/v1/jobs/{job_id}/importance-sampling', response)
    agents = pd.DataFrame(sample['sampled_agents'])
    assert agents['market_ids'].tolist() == list(reference['market_ids'])
    np.testing.assert_array_equal(agents[['nodes0', 'nodes1', 'nodes2']].to_numpy(), reference['nodes'])
    np.testing.assert_array_equal(agents['log_income'].to_numpy(), reference['log_income'])
    np.testing.assert_allclose(agents['weights'], reference['weights'], rtol=1e-8, atol=0)
    diagnostics = pd.DataFrame(sample['diagnostics'])
    assert diagnostics['market'].tolist() == list(reference['diagnostic_market_ids'])
    for column, name in [('weight_sum', 'weight_sums'), ('effective_draws', 'effective_draws'),
                         ('effective_draws_for_variance', 'effective_draws_for_variance'),
                         ('effective_draws_for_skewness', 'effective_draws_for_skewness')]:
        np.testing.assert_allclose(diagnostics[column], reference[name], rtol=1e-8, atol=0, err_msg=column)
    library = estimate['results'].importance_sampling(CASE['draws'], seed=CASE['seed'], agent_data=candidate_agents())
    pd.testing.assert_frame_equal(agents[library.sampled_agents.columns], library.sampled_agents, check_dtype=False,
                                  rtol=1e-12)
    assert sample['draws'] == CASE['draws'] and sample['seed'] == CASE['seed'] and sample['ar_constant'] == 1.0

    table = api.post(job['links']['importance_sampling'], json=body, params={'format': 'csv'})
    assert table.status_code == 200 and table.headers['content-type'].startswith('text/csv')
    pd.testing.assert_frame_equal(pd.read_csv(io.StringIO(table.text), dtype={'market_ids': str}), agents)
    with blp_client.Client('http://testserver', transport=api._transport) as client:
        again = client.importance_sampling(job['id'], CASE['draws'], seed=CASE['seed'],
                                           agent_data=estimate['data']['candidates'])
    assert again.sampled_agents == sample['sampled_agents']

    # to_problem(): the CSV uploaded as agent data and estimated at the same theta is PyBLP's re-created problem
    sampled_id = api.post('/v1/datasets', content=table.content, headers={'Content-Type': 'text/csv'}).json()['id']
    rerun = submit(api, estimate['spec'], estimate['data']['products'], sampled_id).json()
    assert wait_for(api, rerun['id'], timeout=300)['status'] == 'succeeded'
    result = api.get(f"/v1/jobs/{rerun['id']}/result").json()['results']
    np.testing.assert_allclose(result['objective'], reference['objective'][0], rtol=1e-6)
    beta = [entry['value'] for entry in result['parameters'] if entry['kind'] == 'beta']
    np.testing.assert_allclose(beta, reference['beta'].ravel(), rtol=1e-6)
    np.testing.assert_allclose([moment['fitted'] for moment in result['micro_moments']], reference['micro_values'],
                               rtol=1e-6)


def test_importance_sampling_from_the_estimates_own_agents_is_the_librarys(api, estimate):
    job = estimate['job']
    response = api.post(job['links']['importance_sampling'], json={'draws': 20, 'ar_constant': 1.5})
    assert response.status_code == 200, response.text
    sample = response.json()
    library = estimate['results'].importance_sampling(20, ar_constant=1.5, seed=sample['seed'])
    agents = pd.DataFrame(sample['sampled_agents'])
    pd.testing.assert_frame_equal(agents[library.sampled_agents.columns], library.sampled_agents, check_dtype=False,
                                  rtol=1e-12)
    np.testing.assert_allclose([row['effective_draws'] for row in sample['diagnostics']], library.effective_draws,
                               rtol=1e-12)


def test_too_few_candidates_in_a_market_is_a_problem_naming_draws(api, estimate):
    """The largest market has 200 candidates, and 199 of them are never all accepted: the core's refusal, a 422."""
    body = {'draws': 199, 'seed': 0, 'agent_data': {'dataset_id': estimate['data']['candidates']}}
    response = api.post(estimate['job']['links']['importance_sampling'], json=body)
    assert response.status_code == 422, response.text
    assert declared('post', '/v1/jobs/{job_id}/importance-sampling', response)['parameter'] == 'draws'
