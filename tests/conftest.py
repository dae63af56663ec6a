"""Shared fixtures: a real redis-server on a free loopback port for the session, and API clients on it."""

from __future__ import annotations

import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from jobstore.settings import Settings
from service.main import create_app

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `examples` is not an installed package


def die_with_parent() -> None:
    """For subprocesses (Linux): SIGKILL them when the test run dies, so no server outlives a killed run."""
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


@pytest.fixture
def free_port() -> int:
    """A loopback port nothing listens on (now)."""
    return _free_port()


@pytest.fixture(scope='session')
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway redis-server (AOF on, nothing saved elsewhere), stopped after the session."""
    server = shutil.which('redis-server')
    assert server, 'redis-server is not installed (apt-get install redis-server)'
    port, directory = _free_port(), tmp_path_factory.mktemp('redis')
    process = subprocess.Popen(
        [server, '--port', str(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes',
         '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction', '--dir', str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
    client = redis.Redis(port=port, socket_connect_timeout=1)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert process.poll() is None and time.monotonic() < deadline, 'redis-server did not start'
            time.sleep(0.05)
    yield f'redis://127.0.0.1:{port}'
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def make_client(redis_url: str) -> Iterator[Callable[..., TestClient]]:
    """Builds API clients on a flushed database 0 of the session's Redis; settings may be overridden."""
    clients: list[TestClient] = []
    redis.Redis.from_url(redis_url + '/0').flushdb()

    def make(**overrides: object) -> TestClient:
        settings = Settings(**{'redis_url': redis_url + '/0', **overrides})
        client = TestClient(create_app(settings), raise_server_exceptions=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()
