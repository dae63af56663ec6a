"""Fairness between API keys: a key's first job is taken before another key's backlog, so one key flooding the
queue does not starve the others (one worker process, so the order is the queue's)."""

from __future__ import annotations

import pytest
import redis
from fastapi.testclient import TestClient
from queue_support import LOGIT_SPEC, Worker, rc_spec, upload, wait_for

from examples import cereal
from jobstore.settings import Settings
from service.main import create_app

pytestmark = pytest.mark.queue
FLOOD, FLOODER, OTHER = 30, 'flooding-key-0123456789', 'patient-key-0123456789'


def test_a_second_keys_job_starts_while_the_first_key_still_has_dozens_queued(redis_url, tmp_path, rc_products):
    settings = Settings(redis_url=f'{redis_url}/5', api_keys=f'{FLOODER},{OTHER}', submission_burst=100)
    redis.Redis.from_url(settings.redis_url).flushdb()
    flooder, other = {'Authorization': f'Bearer {FLOODER}'}, {'Authorization': f'Bearer {OTHER}'}
    with TestClient(create_app(settings)) as api:
        api.headers.update(flooder)
        products, agents = upload(api, rc_products), upload(api, cereal.agent_data(50))
        body = {'product_data': {'dataset_id': products}, 'agent_data': {'dataset_id': agents}, 'spec': rc_spec()}
        flood = [api.post('/v1/jobs', json=body).json()['id'] for _ in range(FLOOD)]
        api.headers.update(other)
        assert upload(api, rc_products) == products  # the same data, now the other key's too
        patient = api.post('/v1/jobs', json={'product_data': {'dataset_id': products}, 'spec': LOGIT_SPEC})
        # The worker starts once everything is queued, so the order it takes jobs in is the queue's alone (not how
        # fast a loaded machine lets the flood be submitted while the worker already runs it).
        worker = Worker(settings.redis_url, 'fair', tmp_path / 'fair.log', concurrency=1)
        try:
            done = wait_for(api, patient.json()['id'], timeout=120)
            api.headers.update(flooder)
            states = [api.get(f'/v1/jobs/{job_id}').json() for job_id in flood]
            started_after = [job for job in states if job['started_at'] is None or job['started_at'] > done['started_at']]
            print(f"the other key's job started with {len(started_after)} of the {FLOOD} flooding jobs still queued")
            assert done['status'] == 'succeeded'
            assert len(started_after) >= 24
            for job_id in flood:
                api.post(f'/v1/jobs/{job_id}/cancel')
        finally:
            worker.stop()
