"""Worker death: jobs delivered to a worker that is SIGKILLed run again on the next worker.

More faults (a killed pool process, Redis restarts and outages, time limits) are in test_queue_faults.py.
"""

from __future__ import annotations

import pytest
import redis
from fastapi.testclient import TestClient

from examples import cereal
from jobstore.settings import Settings
from queue_support import LOGIT_SPEC, SLOW_SOLVE, Worker, iterating, rc_spec, submit, upload, wait_for
from service.main import create_app

pytestmark = pytest.mark.queue

# Short enough to see a redelivery within the test; production keeps it above the hard time limit.
FAST_REDELIVERY = {'BROKER_VISIBILITY_TIMEOUT': '3', 'BROKER_UNACKED_RESTORE_INTERVAL': '1'}


def test_jobs_of_a_killed_worker_run_on_the_restarted_one(redis_url, tmp_path, rc_products):
    url = f'{redis_url}/2'
    redis.Redis.from_url(url).flushdb()
    with TestClient(create_app(Settings(redis_url=url))) as api:
        products, agents = upload(api, rc_products), upload(api, cereal.agent_data(1000))
        worker = Worker(url, 'doomed', tmp_path / 'doomed.log', concurrency=1, **FAST_REDELIVERY)
        try:
            running = submit(api, rc_spec(**SLOW_SOLVE), products, agents).json()['id']
            queued = submit(api, LOGIT_SPEC, products).json()['id']
            wait_for(api, running, iterating)
            worker.kill()
        finally:
            worker.stop()
        assert api.get(f'/v1/jobs/{queued}').json()['status'] == 'queued'
        revived = Worker(url, 'revived', tmp_path / 'revived.log', concurrency=1, **FAST_REDELIVERY)
        try:
            again = wait_for(api, running, lambda job: job['attempts'] == 2 or job['status'] != 'running')
            assert again['status'] == 'running' and again['attempts'] == 2
            api.delete(f'/v1/jobs/{running}')  # its rerun is proven; no need to wait for the whole estimate
            assert wait_for(api, running)['status'] == 'cancelled'
            assert wait_for(api, queued)['status'] == 'succeeded'
        finally:
            revived.stop()
