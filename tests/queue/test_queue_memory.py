"""A job that runs out of memory in the worker fails with a clear problem, and the next job runs: each pool process
has a hard memory limit (RLIMIT_AS), here 1.2 GB, below what a 30,000-agent problem needs (the API's budget, 4 GB,
lets it through: the cost model's estimate is 2.5 GB)."""

from __future__ import annotations

import pytest
import redis
from fastapi.testclient import TestClient
from queue_support import ABSORB, LOGIT_SPEC, Worker, submit, upload, wait_for

from jobstore.settings import Settings
from service.main import create_app

pytestmark = pytest.mark.queue
LIMIT = 1_200_000_000
LARGE = {'problem': {'product_formulations': [{'formula': '0 + prices', 'absorb': ABSORB},
                                              {'formula': '0 + mushy + prices'}],
                     'integration': {'specification': 'halton', 'size': 30_000}},
         'solve': {'sigma': [[0.5, 0], [0, 1]], 'method': '1s'}}


def test_a_job_out_of_memory_fails_cleanly_and_the_next_job_runs(redis_url, tmp_path, rc_products):
    settings = Settings(redis_url=f'{redis_url}/6')
    redis.Redis.from_url(settings.redis_url).flushdb()
    with TestClient(create_app(settings)) as api:
        products = upload(api, rc_products)
        worker = Worker(settings.redis_url, 'small', tmp_path / 'small.log', concurrency=1,
                        WORKER_MEMORY_LIMIT_BYTES=str(LIMIT))
        try:
            large = submit(api, LARGE, products).json()['id']
            after = submit(api, LOGIT_SPEC, products).json()['id']
            failed = wait_for(api, large, timeout=120)
            assert failed['status'] == 'failed', failed
            assert failed['error']['type'] == 'urn:blp:problem:out-of-memory'
            assert failed['error']['detail'].startswith('out of memory while ') and f'{LIMIT:,}' in failed['error']['detail']
            assert wait_for(api, after, timeout=60)['status'] == 'succeeded'
            assert worker.process.poll() is None and api.get('/readyz').status_code == 200
            assert failed['attempts'] == 1  # not redelivered: it failed, it did not kill its process
        finally:
            worker.stop()
