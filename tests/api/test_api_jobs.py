"""Submitting jobs without a worker: validation before queueing, idempotency, listing, cancel, waiting states."""

from __future__ import annotations

import copy

from api_support import LOGIT_SPEC, assert_problem, upload

RC_SPEC = {'problem': {'product_formulations': [{'formula': '0 + prices', 'absorb': 'C(market_ids) + C(product_ids)'},
                                                 {'formula': '0 + prices'}],
                       'integration': {'specification': 'halton', 'size': 10}},
           'solve': {'sigma': [[1.0]], 'method': '1s'}}


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


def test_inline_nan_names_column_and_row(client, products):
    body = ('{"product_data": {"columns": {"market_ids": ["a", "a"], "product_ids": ["x", "y"], '
            '"shares": [0.1, NaN], "prices": [1, 2]}}, "spec": {"problem": {"product_formulations": '
            '[{"formula": "0 + prices"}]}}}')
    response = client.post('/v1/jobs', content=body, headers={'Content-Type': 'application/json'})
    assert_problem(response, 422, column='shares', row=1, field='product_data.columns')


def test_shares_out_of_range_are_named_by_column_market_and_row(client, products):
    broken = products.copy()
    broken.loc[3, 'shares'] = 1.5
    problem = assert_problem(submit(client, upload(client, broken).json()['id']), 422, column='shares', row=3,
                             market=str(broken.loc[3, 'market_ids']))
    assert problem['type'].endswith('data-error')


def test_formula_with_an_unknown_column_names_it(client, products):
    spec = copy.deepcopy(LOGIT_SPEC)
    spec['problem']['product_formulations'][0]['formula'] = '0 + prices + sugar'
    assert_problem(submit(client, upload(client, products).json()['id'], spec), 422, column='sugar')


def test_sigma_of_the_wrong_shape_names_the_parameter(client, products):
    spec = copy.deepcopy(RC_SPEC)
    spec['solve']['sigma'] = [[1.0, 0.0], [0.0, 1.0]]
    problem = assert_problem(submit(client, upload(client, products).json()['id'], spec), 422)
    assert problem['parameter'] == 'sigma', problem


def test_non_finite_spec_values_are_422_without_echo(client, products):
    dataset_id = upload(client, products).json()['id']
    body = ('{"product_data": {"dataset_id": "%s"}, "spec": {"problem": {"product_formulations": '
            '[{"formula": "0 + prices"}]}, "solve": {"sigma": [[Infinity]]}}}' % dataset_id)
    response = client.post('/v1/jobs', content=body, headers={'Content-Type': 'application/json'})
    problem = assert_problem(response, 422, field='spec.solve.sigma.0.0')
    assert 'Infinity' not in response.text and 'inf' not in response.text.replace('info', '')
    assert problem['errors']


def test_unknown_fields_are_rejected_by_name(client, products):
    dataset_id = upload(client, products).json()['id']
    response = client.post('/v1/jobs', json={'product_data': {'dataset_id': dataset_id}, 'spec': LOGIT_SPEC,
                                             'priority': 'high'})
    assert_problem(response, 422, field='priority')
    spec = copy.deepcopy(LOGIT_SPEC)
    spec['solve']['tolerance'] = 1e-8
    assert_problem(submit(client, dataset_id, spec), 422, field='spec.solve.tolerance')


def test_pi_without_demographics_is_rejected(client, products):
    spec = copy.deepcopy(RC_SPEC)
    spec['solve']['pi'] = [[1.0]]
    assert_problem(submit(client, upload(client, products).json()['id'], spec), 422)


def test_unknown_or_malformed_dataset_id_is_named_in_the_body(client):
    assert_problem(submit(client, 'f' * 64), 422, field='product_data.dataset_id')
    assert_problem(submit(client, 'not-a-hash'), 422, field='product_data.dataset_id')


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


def test_unknown_job_is_404(client):
    for path in ('', '/result', '/events', '/elasticities?market=C01Q1', '/diversion-ratios?market=C01Q1'):
        assert_problem(client.get(f'/v1/jobs/nope{path}'), 404)
    assert_problem(client.delete('/v1/jobs/nope'), 404)


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
    assert client.delete(f'/v1/jobs/{job_id}').status_code == 200
    assert_problem(client.get(f'/v1/jobs/{job_id}/result'), 409)
    events = client.get(f'/v1/jobs/{job_id}/events')
    assert events.headers['content-type'].startswith('text/event-stream')
    assert 'event: end' in events.text and '"status":"cancelled"' in events.text


def test_waiting_job_answers_202_for_results_and_matrices(client, products):
    job_id = submit(client, upload(client, products).json()['id']).json()['id']
    for path in ('/result', '/elasticities?market=C01Q1', '/diversion-ratios?market=C01Q1'):
        response = client.get(f'/v1/jobs/{job_id}{path}')
        assert response.status_code == 202 and response.json()['status'] == 'queued'
    assert_problem(client.get(f'/v1/jobs/{job_id}/elasticities'), 422, parameter='market')
    assert_problem(client.get(f'/v1/jobs/{job_id}/elasticities?market=C01Q1&name=mushy'), 422, parameter='name')


def test_counterfactual_needs_a_finished_estimate(client, products):
    job_id = submit(client, upload(client, products).json()['id']).json()['id']
    response = client.post(f'/v1/jobs/{job_id}/counterfactuals', json={'market': 'C01Q1', 'prices': {'F1B04': 0.05}})
    assert_problem(response, 409)
    assert_problem(client.post(f'/v1/jobs/{job_id}/counterfactuals', json={'market': 'C01Q1', 'prices': {}}), 422,
                   field='prices')


def test_dataset_used_by_an_unfinished_job_cannot_be_deleted(client, products):
    dataset_id = upload(client, products).json()['id']
    job_id = submit(client, dataset_id).json()['id']
    assert_problem(client.delete(f'/v1/datasets/{dataset_id}'), 409)
    client.delete(f'/v1/jobs/{job_id}')
    assert client.delete(f'/v1/datasets/{dataset_id}').status_code == 204


def test_malformed_json_and_other_media_types_are_problems(client):
    broken = client.post('/v1/jobs', content=b'{"kind": "estimate"', headers={'Content-Type': 'application/json'})
    assert 'character 19' in assert_problem(broken, 422)['detail']
    assert_problem(client.post('/v1/jobs', content=b'{}', headers={'Content-Type': 'text/plain'}), 415)
    deep = client.post('/v1/datasets', content=b'[' * 100000 + b']' * 100000,
                       headers={'Content-Type': 'application/json'})
    assert_problem(deep, 422)
