"""The whole stack as a user meets it: a real Celery worker and a real uvicorn server on a free loopback port,
on the session's redis-server, with an API key required. The client and browser tests talk HTTP to it."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator, NamedTuple

import pytest
import redis
from processes import free_port, start_uvicorn
from queue_support import ROOT, Worker

import blp_client

LIVE_DB = 12
API_KEY = 'live-test-key'


class Stack(NamedTuple):
    url: str
    api_key: str
    redis_url: str


def _wait_ready(url: str, server: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f'{url}/readyz', timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f'the API did not become ready:\n{log.read_text()[-3000:]}')
        time.sleep(0.2)


@pytest.fixture(scope='session')
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    url = f'{redis_url}/{LIVE_DB}'
    redis.Redis.from_url(url).flushdb()
    directory = tmp_path_factory.mktemp('live')
    worker = Worker(url, 'live', directory / 'worker.log', concurrency=2)
    port, log = free_port(), directory / 'api.log'
    environment = {**os.environ, 'REDIS_URL': url, 'API_KEYS': API_KEY, 'PYTHONPATH': str(ROOT)}
    server = start_uvicorn(port, environment, log)
    try:
        _wait_ready(f'http://127.0.0.1:{port}', server, log)
        yield Stack(f'http://127.0.0.1:{port}', API_KEY, url)
    finally:
        server.terminate()
        server.wait(timeout=15)
        worker.stop()


@pytest.fixture(scope='session')
def client(stack: Stack) -> Iterator[blp_client.Client]:
    with blp_client.Client(stack.url, stack.api_key, progress=False) as api:
        yield api


@pytest.fixture(scope='session')
def data(client: blp_client.Client) -> dict[str, str]:
    """Dataset ids of the cereal products and of agents with 1000 and 50 draws per market."""
    from examples import cereal

    return {'products': client.upload(cereal.product_data()), 'agents': client.upload(cereal.agent_data()),
            'agents50': client.upload(cereal.agent_data(50))}
