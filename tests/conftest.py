"""Shared fixtures: a real redis-server on a free loopback port for the session, and API clients on it."""

from __future__ import annotations

import shutil
from typing import Callable, Iterator

import processes
import pytest
import redis
from fastapi.testclient import TestClient

from jobstore.settings import Settings
from service.main import create_app


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile the inner loop (or load it from numba's cache) once, before any worker process the fixtures start: on a
    fresh machine several workers starting together would each compile it (seconds of CPU each) and start late."""
    from blp.model.logit_kernel import warm
    warm()


@pytest.fixture
def free_port() -> int:
    """A loopback port nothing listens on (now)."""
    return processes.free_port()


@pytest.fixture(scope='session')
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway redis-server (AOF on, nothing saved elsewhere), stopped after the session."""
    assert shutil.which('redis-server'), 'redis-server is not installed (apt-get install redis-server)'
    server = processes.RedisServer(tmp_path_factory.mktemp('redis'))
    yield f'redis://127.0.0.1:{server.port}'
    server.stop()


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
