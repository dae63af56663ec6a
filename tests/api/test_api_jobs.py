"""Submitting jobs without a worker: queueing, inline data, idempotency, listing, cancel, waiting states.

Requests refused before queueing (each a 4xx problem document that stores nothing) are in
test_api_bad_input_catalogue.py.
"""

from __future__ import annotations

import copy

import pytest
from api_support import LOGIT_SPEC, assert_problem, upload

import blp_client
from examples import cereal
from examples.micro_moments import EXERCISE3_ALL, EXERCISE3_INCOME


def submit(client, dataset_id, spec=LOGIT_SPEC, **headers):
    return client.post('/v1/jobs', json={'kind': 'estimate', 'product_data': {'dataset_id': dataset_id}, 'spec': spec},
                       headers=headers)


def test_estimate_is_queued_with_location_and_status(client, products):
    dataset_id = upload(client, products).json()['id']
    response = submit(client, dataset_id)
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers['location'] == f"/v1/jobs/{job['id']}"
    assert job['status'] == 'queued' and job['kind'] == 'estimate' and job['created_at']
    assert job['inputs'] == {'product_data': dataset_id, 'agent_data': None}
    assert client.get(f"/v1/jobs/{job['id']}").json() == job


def test_inline_columns_are_stored_as_a_dataset(client, products):
    columns = {c: products[c].tolist() for c in products.columns}
    response = client.post('/v1/jobs', json={'product_data': {'columns': columns}, 'spec': LOGIT_SPEC})
    assert response.status_code == 202, response.text
    dataset_id = response.json()['inputs']['product_data']
    assert upload(client, products).json()['id'] == dataset_id


@pytest.mark.parametrize('rule, size, rows', [('halton', 12, 12), ('product', 3, 3), ('halton', 3, 3), ('lhs', 12, 12),
                                             ('mlhs', 3, 3)])
def test_integration_with_agent_data_is_checked_at_its_real_size(client, rule, size, rows):
    """Nodes from `integration`, demographics from `agent_data` with as many rows per market as the rule builds:
    accepted at any size the core accepts (the API's check once cut the size to a few nodes before counting rows)."""
    agents = cereal.agent_data(rows)
    spec = {'problem': {'product_formulations': [{'formula': '0 + prices', 'absorb': 'C(market_ids) + C(product_ids)'},
                                                 {'formula': '0 + prices'}],
                        'agent_formulation': {'formula': '0 + log_income'},
                        'integration': {'specification': rule, 'size': size}},
            'solve': {'sigma': [[1.0]], 'pi': [[1.0]], 'method': '1s'}}
    body = {'product_data': {'dataset_id': upload(client, cereal.product_data()).json()['id']},
            'agent_data': {'columns': {name: agents[name].tolist() for name in agents.columns}}, 'spec': spec}
    accepted = client.post('/v1/jobs', json=body)
    assert accepted.status_code == 202, accepted.text
    body['agent_data'] = {'columns': {name: agents[name].tolist() for name in agents.columns} | {
        'market_ids': [*agents['market_ids'].tolist()[:-1], 'elsewhere']}}
    problem = assert_problem(client.post('/v1/jobs', json=body), 422)
    assert f'({rows})' in problem['detail'] or 'elsewhere' in problem['detail'], problem










def test_idempotent_retry_returns_the_original_job(client, products):
    dataset_id = upload(client, products).json()['id']
    first = submit(client, dataset_id, **{'Idempotency-Key': 'abc-1'})
    again = submit(client, dataset_id, **{'Idempotency-Key': 'abc-1'})
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()['id'] == first.json()['id'] == again.headers['location'].rsplit('/', 1)[1]
    assert len(client.get('/v1/jobs').json()['items']) == 1
    other = copy.deepcopy(LOGIT_SPEC)
    other['solve']['method'] = '2s'
    assert_problem(submit(client, dataset_id, other, **{'Idempotency-Key': 'abc-1'}), 422, field='Idempotency-Key')
    assert submit(client, dataset_id, **{'Idempotency-Key': 'abc-2'}).json()['id'] != first.json()['id']



def test_jobs_are_listed_newest_first_by_cursor_and_status(client, products):
    dataset_id = upload(client, products).json()['id']
    ids = [submit(client, dataset_id).json()['id'] for _ in range(5)]
    client.post(f'/v1/jobs/{ids[1]}/cancel')
    page = client.get('/v1/jobs?limit=2').json()
    assert [job['id'] for job in page['items']] == ids[:2:-1]
    rest = client.get(f"/v1/jobs?limit=10&cursor={page['next_cursor']}").json()
    assert [job['id'] for job in rest['items']] == ids[2::-1] and rest['next_cursor'] is None
    cancelled = client.get('/v1/jobs?status=cancelled').json()['items']
    assert [job['id'] for job in cancelled] == [ids[1]]
    assert_problem(client.get('/v1/jobs?status=lost'), 422, field='status', parameter='status')


def test_queued_job_is_cancelled_at_once_and_has_no_result(client, products):
    job_id = submit(client, upload(client, products).json()['id']).json()['id']
    response = client.post(f'/v1/jobs/{job_id}/cancel')
    assert response.status_code == 200 and response.json()['status'] == 'cancelled'
    again = client.post(f'/v1/jobs/{job_id}/cancel')  # a retried cancel: the same answer, nothing deleted
    assert again.status_code == 200 and again.json()['status'] == 'cancelled'
    assert response.json()['finished_at']
    assert_problem(client.get(f'/v1/jobs/{job_id}/result'), 409)
    events = client.get(f'/v1/jobs/{job_id}/events')
    assert events.headers['content-type'].startswith('text/event-stream')
    assert 'event: end' in events.text and '"status":"cancelled"' in events.text
    assert client.delete(f'/v1/jobs/{job_id}').status_code == 204  # an ended job: deleted
    assert_problem(client.get(f'/v1/jobs/{job_id}'), 404)
    assert client.get('/v1/jobs').json()['items'] == []


def test_deleting_an_unfinished_job_is_refused_and_never_cancels_it(client, products):
    """DELETE removes an ended job only: a retried DELETE of a queued job must not cancel it by accident."""
    job_id = submit(client, upload(client, products).json()['id']).json()['id']
    for _ in range(2):
        problem = assert_problem(client.delete(f'/v1/jobs/{job_id}'), 409, job_status='queued')
        assert 'queued' in problem['detail'] and f'POST /v1/jobs/{job_id}/cancel' in problem['detail']
    assert client.get(f'/v1/jobs/{job_id}').json()['status'] == 'queued'
    assert_problem(client.post('/v1/jobs/nope/cancel'), 404)


def test_the_client_cancels_with_its_own_verb_and_deletes_only_an_ended_job(client, products):
    job_id = submit(client, upload(client, products).json()['id']).json()['id']
    with blp_client.Client('http://testserver', transport=client._transport) as api:
        with pytest.raises(blp_client.Conflict):
            api.delete(job_id)
        assert api.job(job_id)['status'] == 'queued'
        assert api.cancel(job_id)['status'] == 'cancelled'
        assert api.cancel(job_id)['status'] == 'cancelled'
        api.delete(job_id)
        with pytest.raises(blp_client.NotFound):
            api.job(job_id)


def test_waiting_job_answers_202_for_results_and_matrices(client, products):
    job_id = submit(client, upload(client, products).json()['id']).json()['id']
    for path in ('/result', '/elasticities?market=C01Q1', '/diversion-ratios?market=C01Q1', '/passthrough?market=C01Q1'):
        response = client.get(f'/v1/jobs/{job_id}{path}')
        assert response.status_code == 202 and response.json()['status'] == 'queued'
    assert_problem(client.get(f'/v1/jobs/{job_id}/elasticities'), 422, parameter='market')
    assert_problem(client.get(f'/v1/jobs/{job_id}/elasticities?market=C01Q1&name=mushy'), 422, parameter='name')



def test_dataset_used_by_an_unfinished_job_cannot_be_deleted(client, products):
    dataset_id = upload(client, products).json()['id']
    job_id = submit(client, dataset_id).json()['id']
    assert_problem(client.delete(f'/v1/datasets/{dataset_id}'), 409)
    client.post(f'/v1/jobs/{job_id}/cancel')
    assert client.delete(f'/v1/datasets/{dataset_id}').status_code == 204


@pytest.mark.parametrize('combination', ['supply-rcnl', 'supply-lognormal', 'micro-rcnl', 'micro-rcnl-second'])
def test_combinations_pyblp_estimates_are_accepted(client, combination):
    """A supply side with RCNL or with a lognormal price coefficient, and first- or second-choice micro moments with
    RCNL: the core once refused each; the API's checks (the core's) now queue them."""
    products = cereal.product_data()
    products = products[products['market_ids'].isin(products['market_ids'].unique()[:10])].reset_index(drop=True)
    if combination != 'supply-lognormal':
        products = products.assign(nesting_ids=products['mushy'])
    agents = cereal.agent_data(20)
    agents = agents[agents['market_ids'].isin(products['market_ids'])].reset_index(drop=True)
    absorbed = {'formula': '0 + prices', 'absorb': 'C(market_ids) + C(product_ids)'}
    if combination.startswith('micro-rcnl'):
        spec = {'problem': {'product_formulations': [absorbed, {'formula': '1 + mushy + prices'}],
                            'agent_formulation': {'formula': '0 + log_income'}},
                'solve': {'sigma': [[0, 0, 0], [0, 0, 0], [0, 0, 1.0]], 'pi': [[1], [0], [1]], 'rho': 0.3,
                          'method': '1s',
                          'micro_moments': EXERCISE3_ALL if combination.endswith('second') else EXERCISE3_INCOME}}
    else:
        lognormal = combination == 'supply-lognormal'
        spec = {'problem': {'product_formulations': [absorbed, {'formula': '0 + I(-prices)' if lognormal else
                                                                '0 + prices'}, {'formula': '1 + mushy'}],
                            'agent_formulation': {'formula': '0 + log_income'},
                            'rc_types': ['log'] if lognormal else ['linear']},
                'solve': {'sigma': [[0.5]], 'pi': [[0.3]], 'beta': [-10.0], 'method': '1s',
                          **({} if lognormal else {'rho': 0.3})}}
    body = {'product_data': {'dataset_id': upload(client, products).json()['id']},
            'agent_data': {'dataset_id': upload(client, agents).json()['id']}, 'spec': spec}
    response = client.post('/v1/jobs', json=body)
    assert response.status_code == 202, response.text
