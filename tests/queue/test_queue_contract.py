"""Every kind of job through the API, a real Redis and a real Celery worker: what the API answers is what the
committed OpenAPI document declares. Each body is validated against its operation's schema for its status and media
type, and a result holds everything the worker stored (the declared models drop nothing)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
from queue_support import LOGIT_SPEC, rc_spec, submit, wait_for

pytestmark = pytest.mark.queue
ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = json.loads((ROOT / 'openapi' / 'openapi.json').read_text())
STARTS = {'count': 2, 'seed': 0, 'bounds': {'sigma_bounds': [[[0, 0], [0, 0]], [[0, 0], [0, 10]]],
                                            'pi_bounds': [[[-5], [-20]], [[5], [20]]]}}


def declared(method: str, template: str, response: httpx.Response) -> Any:
    """The response's JSON body, after checking it against the document's schema for its status and media type."""
    responses = DOCUMENT['paths'][template][method]['responses']
    assert str(response.status_code) in responses, (method, template, response.status_code, response.text[:300])
    media = response.headers['content-type'].split(';')[0]
    content = responses[str(response.status_code)].get('content', {})
    assert list(content) == [media] or media in content, (method, template, media, list(content))
    schema = {**content[media]['schema'], 'components': DOCUMENT['components']}
    body = response.json()
    errors = [f'{error.instance_path}: {error.message}'[:300]
              for error in jsonschema_rs.validator_for(schema).iter_errors(body)]
    assert not errors, (method, template, errors[:5])
    return body


def dropped(stored: Any, sent: Any, path: str = '') -> list[str]:
    """What the worker stored that the answer left out or changed (the answer may add members: intervals)."""
    if isinstance(stored, dict):
        if not isinstance(sent, dict):
            return [path]
        return [miss for key, value in stored.items()
                for miss in ([f'{path}.{key}'] if key not in sent else dropped(value, sent[key], f'{path}.{key}'))]
    if isinstance(stored, list):
        if not isinstance(sent, list) or len(sent) != len(stored):
            return [path]
        return [miss for index, (a, b) in enumerate(zip(stored, sent)) for miss in dropped(a, b, f'{path}[{index}]')]
    return [] if stored == sent else [f'{path}: {stored!r} sent as {sent!r}']


def finished_result(api, job: dict, timeout: float = 180) -> dict:
    assert wait_for(api, job['id'], timeout=timeout)['status'] == 'succeeded', job
    declared('get', '/v1/jobs/{job_id}', api.get(f"/v1/jobs/{job['id']}"))
    result = declared('get', '/v1/jobs/{job_id}/result', api.get(f"/v1/jobs/{job['id']}/result"))
    stored = api.app.state.store.get_result(job['id'])
    assert not dropped(stored, result)[:5], job['kind']
    return result


def accepted(api, path: str, template: str, body: dict) -> dict:
    response = api.post(path, json=body)
    assert response.status_code == 202, response.text
    return declared('post', template, response)


def test_every_kind_of_job_answers_as_the_document_declares(api, datasets):
    estimate = accepted(api, '/v1/jobs', '/v1/jobs', {'product_data': {'dataset_id': datasets['products']},
                                                       'agent_data': {'dataset_id': datasets['agents50']},
                                                       'spec': rc_spec()})
    logit = submit(api, LOGIT_SPEC, datasets['products']).json()
    multistart = accepted(api, '/v1/jobs', '/v1/jobs', {
        'kind': 'multistart', 'product_data': {'dataset_id': datasets['products']},
        'agent_data': {'dataset_id': datasets['agents50']}, 'spec': rc_spec(), 'starts': STARTS})
    running = api.get(f"/v1/jobs/{estimate['id']}/result")
    if running.status_code == 202:  # still queued or running: the job itself, as declared
        declared('get', '/v1/jobs/{job_id}/result', running)

    result = finished_result(api, estimate)
    assert result['kind'] == 'estimate' and result['results']['converged']
    sigma = next(p for p in result['results']['parameters'] if p['kind'] == 'sigma' and p['column'] == 'prices')
    assert sigma['interval']['lower'] == pytest.approx(sigma['value'] - 1.959964 * sigma['se'])
    trace = result['results']['trace']
    assert len(trace) >= 2 and [p['iteration'] for p in trace] == list(range(1, len(trace) + 1))
    assert trace[-1]['objective'] == pytest.approx(result['results']['objective'], rel=1e-6)
    assert finished_result(api, logit)['results']['parameters'][0]['kind'] == 'beta'
    chosen = finished_result(api, multistart)['multistart']
    assert chosen['agreement']['starts'] == 2 and len(chosen['starts']) == 2

    base = f"/v1/jobs/{estimate['id']}"
    for name in ('elasticities', 'diversion-ratios'):
        matrix = declared('get', f'/v1/jobs/{{job_id}}/{name}', api.get(f'{base}/{name}', params={'market': 'C01Q2'}))
        assert len(matrix['matrix']) == len(matrix['product_ids']) == 24
    children = [
        accepted(api, f'{base}/optimal-instruments', '/v1/jobs/{job_id}/optimal-instruments', {'method': 'approximate'}),
        accepted(api, f'{base}/bootstrap', '/v1/jobs/{job_id}/bootstrap',
                 {'draws': 4, 'chunk_size': 2, 'seed': 1, 'merger': {'F6': 'F4'}}),
        accepted(api, f'{base}/counterfactuals', '/v1/jobs/{job_id}/counterfactuals',
                 {'market': 'C01Q2', 'prices': {'F1B04': 0.04}}),
        accepted(api, f'{base}/counterfactuals', '/v1/jobs/{job_id}/counterfactuals', {'firm_ids': {'F6': 'F4'}}),
    ]
    kinds = [finished_result(api, child)['kind'] for child in children]
    assert kinds == ['optimal_instruments', 'bootstrap', 'counterfactual', 'counterfactual']
    screen = accepted(api, f"/v1/jobs/{logit['id']}/merger-screen", '/v1/jobs/{job_id}/merger-screen', {
        'candidates': [['F1', 'F2'], ['F4', 'F6']], 'markets': ['C01Q1', 'C01Q2'], 'products': True,
        'ssnip': {'groups': [['F1B04', 'F1B06']]}})
    screened = finished_result(api, screen)
    assert len(screened['ranking']) == 2 and screened['details'][0]['products'] and screened['ssnip']['groups']
    ranking = declared('get', '/v1/jobs/{job_id}/ranking',
                       api.get(f"/v1/jobs/{screen['id']}/ranking", params={'sort': 'guppi_max', 'order': 'asc'}))
    assert [row['rank'] for row in ranking['ranking']] == [1, 2] and ranking['sort'] == 'guppi_max'

    listed = declared('get', '/v1/jobs', api.get('/v1/jobs', params={'limit': 3}))
    assert len(listed['items']) == 3 and listed['next_cursor']
    declared('get', '/v1/datasets/{dataset_id}', api.get(f"/v1/datasets/{datasets['products']}"))
    problem = declared('post', '/v1/jobs', api.post('/v1/jobs', json={
        'product_data': {'dataset_id': datasets['products']},
        'spec': {'problem': {'product_formulations': [{'formula': '0 + pricez'}]}, 'solve': {'method': '1s'}}}))
    assert problem['status'] == 422 and 'pricez' in problem['detail']
    declared('get', '/v1/jobs/{job_id}', api.get('/v1/jobs/no-such-job'))
