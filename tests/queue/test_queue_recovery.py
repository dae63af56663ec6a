"""Worker death with the production settings: the jobs of a SIGKILLed worker resume on the next worker within
about a minute (their leases lapse and a reaper requeues them), not after the broker's visibility timeout.

More faults (a killed pool process, Redis restarts and outages, time limits) are in test_queue_faults.py.
"""

from __future__ import annotations

import re
import time

import pytest
import redis
from fastapi.testclient import TestClient
from queue_support import LOGIT_SPEC, Worker, iterating, rc_spec, submit, upload, wait_for

from examples import cereal
from jobstore.leases import LEASES
from jobstore.settings import Settings
from service.main import create_app

pytestmark = pytest.mark.queue

# The defaults a deployment runs with (heartbeat 10 s, lease 30 s, reaper every 10 s, visibility timeout over an
# hour): nothing shortened for the test.
PRODUCTION = {'WORKER_HEARTBEAT_SECONDS': str(Settings().worker_heartbeat_seconds)}


def parameters(client: TestClient, job_id: str) -> dict[tuple, float]:
    result = client.get(f'/v1/jobs/{job_id}/result').json()
    return {(p['kind'], p['row'], p.get('column')): p['value'] for p in result['results']['parameters']}


def test_jobs_of_a_sigkilled_worker_resume_on_a_new_worker_within_a_minute(redis_url, tmp_path, rc_products):
    settings = Settings(redis_url=f'{redis_url}/2')
    assert settings.visibility_timeout > 3600  # what the broker alone would wait
    redis.Redis.from_url(settings.redis_url).flushdb()
    with TestClient(create_app(settings)) as api:
        products, agents = upload(api, rc_products), upload(api, cereal.agent_data(1000))
        doomed = Worker(settings.redis_url, 'doomed', tmp_path / 'doomed.log', concurrency=1, **PRODUCTION)
        try:
            running = submit(api, rc_spec(), products, agents).json()['id']
            queued = submit(api, LOGIT_SPEC, products).json()['id']
            wait_for(api, running, iterating)
            doomed.kill()  # the whole process group, as a host crash or `docker kill` would
        finally:
            doomed.stop()
        assert api.get(f'/v1/jobs/{running}').json()['status'] == 'running'
        revived = Worker(settings.redis_url, 'revived', tmp_path / 'revived.log', concurrency=1, **PRODUCTION)
        started = time.monotonic()
        try:
            again = wait_for(api, running, timeout=90)
            elapsed = time.monotonic() - started
            assert again['status'] == 'succeeded' and again['attempts'] == 2, again
            assert wait_for(api, queued)['status'] == 'succeeded'
            reference = submit(api, rc_spec(), products, agents).json()['id']
            assert wait_for(api, reference, timeout=90)['status'] == 'succeeded'
        finally:
            revived.stop()
        assert parameters(api, running) == pytest.approx(parameters(api, reference), rel=1e-8)
    log = (tmp_path / 'revived.log').read_text()
    assert len(re.findall(rf"\[{running}\] succeeded in [0-9.e-]+s: 'succeeded'", log)) == 1, log[-3000:]
    assert 'its lease lapsed' in log
    assert redis.Redis.from_url(settings.redis_url).zcard(LEASES) == 0  # every finished task let go of its lease
    print(f'resumed and finished {elapsed:.1f} s after the new worker started')
