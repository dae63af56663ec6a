"""What a finished estimate costs in Redis: its record and result, kilobytes (matrices are computed on demand from
the stored estimate), measured with MEMORY USAGE; DELETE of a finished job frees every key it had."""

from __future__ import annotations

import numpy as np
import pytest
import redis
from queue_support import rc_spec, submit, wait_for

pytestmark = pytest.mark.queue


def job_keys(client: redis.Redis, job_id: str) -> list[bytes]:
    return sorted(client.scan_iter(match=f'blp:job:{job_id}*', count=1000))


def test_a_finished_cereal_estimate_costs_kilobytes_and_delete_frees_its_keys(api, datasets, worker_url):
    client = redis.Redis.from_url(worker_url)
    job_id = submit(api, rc_spec(), datasets['products'], datasets['agents1000']).json()['id']
    assert wait_for(api, job_id, timeout=120)['status'] == 'succeeded'
    keys = job_keys(client, job_id)
    used = sum(client.memory_usage(key, samples=0) for key in keys)
    dataset = sum(client.memory_usage(key, samples=0) for key in client.scan_iter(
        match=f"blp:dataset:{datasets['agents1000']}*"))
    print(f'finished RC estimate: {used:,} bytes of Redis in {len(keys)} keys; its 1000-agent dataset {dataset:,}')
    assert used < 100_000
    assert all(client.ttl(key) > 0 for key in keys)  # kept RESULT_TTL_SECONDS, then gone

    elasticities = api.get(f'/v1/jobs/{job_id}/elasticities?market=C01Q1').json()
    matrix = np.array(elasticities['matrix'], dtype=float)
    off_diagonal = ~np.eye(24, dtype=bool)
    assert matrix.shape == (24, 24) and (np.diag(matrix) < 0).all() and (matrix[off_diagonal] > 0).all()
    diversion = np.array(api.get(f'/v1/jobs/{job_id}/diversion-ratios?market=C01Q1').json()['matrix'], dtype=float)
    np.testing.assert_allclose(diversion.sum(axis=1), 1.0, rtol=1e-10)  # lost sales go somewhere, or outside
    csv = api.get(f'/v1/jobs/{job_id}/elasticities?market=C01Q2&format=csv').text
    assert csv.startswith('product_ids,') and len(csv.splitlines()) == 25
    unknown = api.get(f'/v1/jobs/{job_id}/elasticities?market=nowhere')
    assert unknown.status_code == 422 and unknown.json()['parameter'] == 'market'

    assert api.delete(f'/v1/jobs/{job_id}').status_code == 204
    assert job_keys(client, job_id) == []
    assert not client.sismember(f"blp:dataset:{datasets['products']}:jobs", job_id)
    assert api.get(f'/v1/jobs/{job_id}').status_code == 404
    assert api.get(f'/v1/jobs/{job_id}/result').status_code == 404
