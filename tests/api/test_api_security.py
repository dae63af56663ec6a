"""Security: API keys (constant-time, per-key isolation, never logged), JSON-only Celery, pinned versions, non-root.

Formulas are never evaluated (see test_api_bad_input_catalogue.py); a pickle message never runs on a real
worker (see tests/queue/test_queue_faults.py).
"""

from __future__ import annotations

import hashlib
import logging
import re
import tomllib
from pathlib import Path

import httpx
from api_support import LOGIT_SPEC, assert_problem, succeed, upload
from processes import start_uvicorn, wait_for_http

from jobstore.settings import Settings
from service import deps
from service.queue import make_celery

ROOT = Path(__file__).resolve().parents[2]
ALPHA, BETA = 'alpha-7f3c9e2d41b84a06', 'beta-0c5d8e1f92a3b7c6'
KEYS = f'{ALPHA},{BETA}'


def bearer(key: str) -> dict[str, str]:
    return {'Authorization': f'Bearer {key}'}


def test_every_key_is_compared_in_constant_time(make_client, monkeypatch):
    compared: list[tuple[bytes, bytes]] = []
    real = deps.hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(deps.hmac, 'compare_digest', counting)
    client = make_client(api_keys=f'{KEYS},gamma-short')
    for token in (ALPHA, 'wrong', 'x' * 500):
        compared.clear()
        client.get('/v1/jobs', headers=bearer(token))
        assert len(compared) == 3  # every configured key, whichever matched
        assert {len(a) for a, _ in compared} | {len(b) for _, b in compared} == {32}  # digests: no length leaks


def test_a_key_sees_only_its_own_datasets_jobs_results_events_and_matrices(make_client, products):
    client = make_client(api_keys=KEYS)
    alpha, beta = bearer(ALPHA), bearer(BETA)
    dataset_id = upload(client, products, **alpha).json()['id']
    body = {'product_data': {'dataset_id': dataset_id}, 'spec': LOGIT_SPEC}
    done = client.post('/v1/jobs', json=body, headers=alpha).json()['id']
    queued = client.post('/v1/jobs', json=body, headers={**alpha, 'Idempotency-Key': 'k1'}).json()['id']
    succeed(client.app.state.store, done, products)
    reads = [f'/v1/datasets/{dataset_id}', f'/v1/jobs/{done}', f'/v1/jobs/{done}/result',
             f'/v1/jobs/{done}/events', f'/v1/jobs/{done}/elasticities?market=C01Q1',
             f'/v1/jobs/{done}/diversion-ratios?market=C01Q1', f'/v1/jobs/{queued}']
    for path in reads:
        assert client.get(path, headers=alpha).status_code == 200, path
        assert_problem(client.get(path, headers=beta), 404)
    counterfactual = {'market': 'C01Q1', 'prices': {'a': 1.0}}
    assert_problem(client.post(f'/v1/jobs/{done}/counterfactuals', json=counterfactual, headers=beta), 404)
    assert_problem(client.post(f'/v1/jobs/{queued}/cancel', headers=beta), 404)
    assert_problem(client.delete(f'/v1/jobs/{queued}', headers=beta), 404)
    assert_problem(client.delete(f'/v1/datasets/{dataset_id}', headers=beta), 404)
    assert client.get('/v1/jobs', headers=beta).json()['items'] == []
    # beta cannot run a job on alpha's data by knowing its id, nor replay alpha's idempotency key
    assert_problem(client.post('/v1/jobs', json=body, headers=beta), 422, field='product_data.dataset_id')
    assert client.get(f'/v1/jobs/{queued}', headers=alpha).json()['status'] == 'queued'
    assert client.get(f'/v1/datasets/{dataset_id}', headers=alpha).status_code == 200
    # uploading the same data makes it beta's too (stored once), and only then can beta use it
    assert upload(client, products, **beta).status_code == 201
    assert client.get(f'/v1/datasets/{dataset_id}', headers=beta).status_code == 200
    assert client.get(f'/v1/jobs/{done}', headers=beta).status_code == 404


def test_no_key_material_in_logs(make_client, products, free_port, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client(api_keys=KEYS)
    down = make_client(api_keys=KEYS, redis_url=f'redis://127.0.0.1:{free_port}/0', redis_connect_timeout=0.5)
    dataset_id = upload(client, products, **bearer(ALPHA)).json()['id']
    client.post('/v1/jobs', json={'product_data': {'dataset_id': dataset_id}, 'spec': LOGIT_SPEC},
                headers=bearer(ALPHA))
    client.post('/v1/jobs', json={'product_data': {'dataset_id': dataset_id}, 'spec': {'bad': 1}},
                headers=bearer(BETA))
    client.get('/v1/jobs/nope', headers=bearer(BETA))
    client.get('/v1/jobs', headers={'Authorization': f'Bearer {ALPHA}x'})  # a near miss: 401
    client.get('/v1/jobs', headers={'Authorization': f'Basic {ALPHA}'})
    down.get('/v1/jobs', headers=bearer(ALPHA))  # Redis down: a logged 503
    logged = caplog.text + ''.join(str(record.__dict__) for record in caplog.records)
    assert caplog.records, 'nothing was logged: the test would prove nothing'
    for secret in (ALPHA, BETA, hashlib.sha256(ALPHA.encode()).hexdigest()):
        assert secret not in logged


def test_no_key_material_in_the_server_log(free_port, redis_url, tmp_path):
    """uvicorn's own access and debug log, as deployed (keys in the environment, requests over loopback)."""
    log = tmp_path / 'api.log'
    environment = {'REDIS_URL': f'{redis_url}/0', 'API_KEYS': KEYS, 'PATH': '/usr/bin:/bin'}
    server = start_uvicorn(free_port, environment, log, '--log-level', 'debug')
    try:
        base = f'http://127.0.0.1:{free_port}'
        wait_for_http(f'{base}/healthz', server, log, timeout=20)
        with httpx.Client(base_url=base, timeout=10) as http:
            for key in (ALPHA, BETA, 'not-a-key'):
                http.get('/v1/jobs', headers=bearer(key))
                http.get('/v1/jobs/nope', headers=bearer(key))
                http.post('/v1/jobs', json={'spec': 1}, headers=bearer(key))
    finally:
        server.terminate()
        server.wait(timeout=10)
    text = log.read_text()
    assert 'GET /v1/jobs HTTP/1.1' in text  # the access log was on
    assert ALPHA not in text and BETA not in text


def test_celery_speaks_json_only():
    from worker.celery_app import app as worker_app

    for conf in (worker_app.conf, make_celery(Settings()).conf):
        assert conf.task_serializer == 'json' and conf.result_serializer == 'json'
        assert list(conf.accept_content) == ['json']
    assert worker_app.conf.task_acks_late and worker_app.conf.task_reject_on_worker_lost


def test_every_dependency_is_pinned_to_one_version():
    project = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']
    requirements = list(project['dependencies'])
    for extra in project.get('optional-dependencies', {}).values():
        requirements += extra
    assert requirements
    for requirement in requirements:
        assert re.fullmatch(r'[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,_-]+\])?==[0-9][0-9A-Za-z.+!-]*', requirement), \
            f'{requirement!r} is not pinned with =='


def test_images_are_pinned_and_containers_run_as_non_root():
    dockerfile = (ROOT / 'Dockerfile').read_text()
    bases = re.findall(r'^FROM\s+(\S+)', dockerfile, re.M)
    assert bases and all(re.search(r':\d+\.\d+', base) for base in bases), bases
    users = re.findall(r'^USER\s+(\S+)', dockerfile, re.M)
    assert users and users[-1] not in ('root', '0') and not users[-1].startswith('0:'), users
    assert dockerfile.rfind('USER') > dockerfile.rfind('RUN ')  # nothing runs as root after the switch
    compose = (ROOT / 'docker-compose.yml').read_text()
    images = re.findall(r'^\s+image:\s*(\S+)', compose, re.M)
    assert images and all(re.search(r':\d+\.\d+', image) for image in images), images
    assert not re.search(r'^\s+(user:\s*["\']?(root|0)\b|privileged:\s*true)', compose, re.M)
