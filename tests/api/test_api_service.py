"""API keys, health and readiness, metrics, an unreachable Redis, and the exported OpenAPI document."""

from __future__ import annotations

import json
import time
from pathlib import Path

import export_openapi
import pytest
from api_support import LOGIT_SPEC, assert_problem, upload
from pydantic import ValidationError

from jobstore.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_api_keys_are_required_when_configured(make_client, products):
    client = make_client(api_keys='alpha,beta')
    assert_problem(client.get('/v1/jobs'), 401)
    assert_problem(client.get('/v1/jobs', headers={'Authorization': 'Bearer gamma'}), 401)
    assert_problem(client.get('/v1/jobs', headers={'Authorization': 'Basic alpha'}), 401)
    assert client.get('/v1/jobs', headers={'Authorization': 'Bearer alpha'}).status_code == 200
    assert client.get('/healthz').status_code == 200



def test_readiness_needs_a_worker_heartbeat(client):
    assert client.get('/healthz').json() == {'status': 'ok', 'checks': {}}
    assert_problem(client.get('/readyz'), 503, reason='worker')
    client.app.state.store.heartbeat('test-worker@host')
    ready = client.get('/readyz')
    assert ready.status_code == 200 and ready.json()['checks'] == {'redis': 'ok', 'workers': 1}


def test_unreachable_redis_is_503_quickly(make_client, products, free_port):
    client = make_client(redis_url=f'redis://127.0.0.1:{free_port}/0', redis_connect_timeout=0.5,
                         redis_socket_timeout=0.5)
    started = time.monotonic()
    assert_problem(upload(client, products.head(24)), 503)
    assert_problem(client.get('/v1/jobs/abc'), 503)
    assert_problem(client.get('/readyz'), 503, reason='redis')
    assert 'blp_store_up 0' in client.get('/metrics').text
    assert time.monotonic() - started < 10


def test_metrics_count_requests_and_jobs(client, products):
    dataset_id = upload(client, products).json()['id']
    client.post('/v1/jobs', json={'product_data': {'dataset_id': dataset_id}, 'spec': LOGIT_SPEC})
    client.get('/v1/jobs/unknown')
    text = client.get('/metrics').text
    assert 'blp_http_requests_total{method="POST",route="/v1/datasets",status="201"} 1' in text
    assert 'blp_http_requests_total{method="GET",route="/v1/jobs/{job_id}",status="404"} 1' in text
    assert 'blp_jobs{status="queued"} 1' in text


def test_unknown_routes_and_methods_are_problem_json(client):
    assert_problem(client.get('/v2/nothing'), 404)
    not_allowed = client.put('/v1/jobs')
    assert_problem(not_allowed, 405)
    assert not_allowed.headers['allow'] == 'GET, HEAD, POST'


@pytest.mark.parametrize('method, path, allowed', [
    ('PUT', '/v1/jobs', 'GET, HEAD, POST'), ('PATCH', '/v1/jobs/abc', 'DELETE, GET, HEAD'),
    ('POST', '/v1/datasets/abc', 'DELETE, GET, HEAD'), ('GET', '/v1/jobs/abc/cancel', 'POST'),
    ('HEAD', '/v1/jobs/abc/counterfactuals', 'POST'), ('DELETE', '/v1/datasets', 'POST')])
def test_405_allows_every_method_of_the_path(client, method, path, allowed):
    response = client.request(method, path)
    assert response.status_code == 405 and response.headers['allow'] == allowed, (response.headers, response.text)
    if method != 'HEAD':
        assert_problem(response, 405)


def test_head_answers_where_get_does_with_its_headers_and_no_body(client, products):
    dataset_id = upload(client, products).json()['id']
    for path in ('/healthz', '/v1/jobs', f'/v1/datasets/{dataset_id}', '/v1/jobs/nope', '/metrics'):
        got, head = client.get(path), client.head(path)
        assert head.status_code == got.status_code and head.content == b'', path
        assert head.headers['content-type'] == got.headers['content-type'], path
        if path != '/metrics':  # its counts change between the two requests
            assert head.headers['content-length'] == got.headers['content-length'], path


def test_exported_openapi_document_is_current():
    exported = json.loads((ROOT / 'openapi' / 'openapi.json').read_text())
    assert exported == json.loads(export_openapi.render()), 'run: python scripts/export_openapi.py'
    assert {'/v1/datasets', '/v1/jobs', '/v1/jobs/{job_id}/events', '/readyz'} <= set(exported['paths'])


def test_settings_refuse_a_soft_time_limit_at_or_above_the_hard_one():
    with pytest.raises(ValidationError, match='JOB_SOFT_TIME_LIMIT'):
        Settings(job_soft_time_limit=60, job_time_limit=60)
    assert Settings(api_keys=' a, b ,').api_keys == ('a', 'b')


def test_head_of_a_streamed_answer_ends_it(client, products):
    """A HEAD of a queued job's events (a stream that, as GET, lasts until the job ends) answers at once."""
    dataset_id = upload(client, products).json()['id']
    job = client.post('/v1/jobs', json={'product_data': {'dataset_id': dataset_id}, 'spec': LOGIT_SPEC}).json()
    started = time.monotonic()
    head = client.head(f"/v1/jobs/{job['id']}/events")
    assert head.status_code == 200 and head.content == b'' and time.monotonic() - started < 5
    time.sleep(0.5)  # a request is counted once it has ended: the stream must have been stopped, not left running
    counted = 'blp_http_requests_total{method="HEAD",route="/v1/jobs/{job_id}/events",status="200"} 1'
    assert counted in client.get('/metrics').text
