"""The API stays healthy during its heaviest legitimate upload: a 2,000,000-row product CSV just under the default
MAX_BODY_BYTES (256 MiB), sent to `uvicorn --workers 2` as docker-compose.yml runs it, with the shipped defaults.

/healthz is polled every 10 ms on a connection the uploading worker itself serves (tests/support/upload_probe.py
says why that matters), and the memory of the API's whole process tree (both workers, their numerics and parse
processes) is sampled every 20 ms. Before uploads were spooled and parsed in chunks in a parse process, this upload
gave /healthz p99 1.2 s (max 4.5 s) and grew the uploading worker to 2.45 GB, 9.4 times the file.
"""

from __future__ import annotations

import redis
from upload_probe import Api, MemorySampler, Poller, p99, pinned_connections, rss, upload_on, write_products_csv

ROWS = 2_000_000
MAX_BODY_BYTES = 256 * 1024**2  # the shipped default (jobstore.settings, docker-compose.yml)
# The stated bounds: the API's process tree grows by at most 1.5 times the file (measured 1.17: the parse process),
# and the uploading worker itself by at most a tenth of it (measured under 10 MB: it only spools the body).
TREE_MULTIPLE, WORKER_MULTIPLE = 1.5, 0.1


def test_a_maximum_size_csv_upload_keeps_healthz_fast_and_memory_within_a_multiple_of_the_file(redis_url, tmp_path):
    path = tmp_path / 'products.csv'
    size = write_products_csv(path, ROWS, MAX_BODY_BYTES - 64 * 1024)
    assert size > 250_000_000
    redis.Redis.from_url(f'{redis_url}/6').flushdb()
    api = Api(f'{redis_url}/6', workers=2)  # the shipped settings but Redis: no environment overrides
    try:
        sampler = MemorySampler(api)
        idle_total = sampler.settled()
        idle_worker = {pid: rss(pid) for pid in api.workers()}
        poller = Poller(pinned_connections(api, want=2))
        sampler.start()
        poller.start()
        status, body, owner = upload_on(api, path)
        poller.stop()
        sampler.stop()
    finally:
        api.stop()
        path.unlink()
        redis.Redis.from_url(f'{redis_url}/6').flushdb()
    assert status == 201, body
    assert body['rows'] == ROWS and body['markets'] == ROWS // 1000
    assert owner in poller.latencies, (owner, list(poller.latencies))
    latencies = poller.latencies[owner]
    others = {pid: round(p99(values) * 1000, 1) for pid, values in poller.latencies.items() if pid != owner}
    summary = (f'{len(latencies)} polls of the uploading worker: p99 {p99(latencies) * 1000:.1f} ms (the other worker: '
               f'{others} ms); tree grew {(sampler.peak_total - idle_total) / size:.2f}x the file, the uploading worker '
               f'{(sampler.peak_by_pid[owner] - idle_worker[owner]) / size:.3f}x')
    print(summary)
    assert not poller.failures, poller.failures[:3]
    assert len(latencies) >= 100, summary
    assert p99(latencies) < 0.05, summary
    assert sampler.peak_total - idle_total <= TREE_MULTIPLE * size, summary
    assert sampler.peak_by_pid[owner] - idle_worker[owner] <= WORKER_MULTIPLE * size, summary
