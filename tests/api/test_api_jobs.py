"""Submitting jobs without a worker: queueing, inline data, idempotency, listing, cancel, waiting states.

Requests refused before queueing (each a 4xx problem document that stores nothing) are in
test_api_bad_input_catalogue.py.
"""

from __future__ import annotations

import copy

from api_support import LOGIT_SPEC, assert_problem, upload


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
    client.delete(f'/v1/jobs/{ids[1]}')
    page = client.get('/v1/jobs?limit=2').json()
    assert [job['id'] for job in page['items']] == ids[:2:-1]
    rest = client.get(f"/v1/jobs?limit=10&cursor={page['next_cursor']}").json()
    assert [job['id'] for job in rest['items']] == ids[2::-1] and rest['next_cursor'] is None
    cancelled = client.get('/v1/jobs?status=cancelled').json()['items']
    assert [job['id'] for job in cancelled] == [ids[1]]
    assert_problem(client.get('/v1/jobs?status=lost'), 422, field='status', parameter='status')


def test_queued_job_is_cancelled_at_once_and_has_no_result(client, products):
    job_id = submit(client, upload(client, products).json()['id']).json()['id']
    response = client.delete(f'/v1/jobs/{job_id}')
    assert response.status_code == 200 and response.json()['status'] == 'cancelled'
    assert response.json()['finished_at']
    assert_problem(client.get(f'/v1/jobs/{job_id}/result'), 409)
    events = client.get(f'/v1/jobs/{job_id}/events')
    assert events.headers['content-type'].startswith('text/event-stream')
    assert 'event: end' in events.text and '"status":"cancelled"' in events.text
    assert client.delete(f'/v1/jobs/{job_id}').status_code == 204  # an ended job: deleted
    assert_problem(client.get(f'/v1/jobs/{job_id}'), 404)
    assert client.get('/v1/jobs').json()['items'] == []


def test_waiting_job_answers_202_for_results_and_matrices(client, products):
    job_id = submit(client, upload(client, products).json()['id']).json()['id']
    for path in ('/result', '/elasticities?market=C01Q1', '/diversion-ratios?market=C01Q1'):
        response = client.get(f'/v1/jobs/{job_id}{path}')
        assert response.status_code == 202 and response.json()['status'] == 'queued'
    assert_problem(client.get(f'/v1/jobs/{job_id}/elasticities'), 422, parameter='market')
    assert_problem(client.get(f'/v1/jobs/{job_id}/elasticities?market=C01Q1&name=mushy'), 422, parameter='name')



def test_dataset_used_by_an_unfinished_job_cannot_be_deleted(client, products):
    dataset_id = upload(client, products).json()['id']
    job_id = submit(client, dataset_id).json()['id']
    assert_problem(client.delete(f'/v1/datasets/{dataset_id}'), 409)
    client.delete(f'/v1/jobs/{job_id}')
    assert client.delete(f'/v1/datasets/{dataset_id}').status_code == 204
