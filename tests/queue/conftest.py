"""Queue fixtures: a real Celery worker (prefork, two processes) on the session's Redis, and API clients on it."""

from __future__ import annotations

from typing import Iterator

import pandas as pd
import pytest
import redis
from fastapi.testclient import TestClient
from queue_support import Worker, upload

from examples import cereal
from jobstore.settings import Settings
from service.main import create_app

WORKER_DB = 1
TWO_WORKERS_DB = 8


@pytest.fixture(scope='module')
def worker_url(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of the session's Redis served by one worker for the module; the worker is stopped after it."""
    url = f'{redis_url}/{WORKER_DB}'
    redis.Redis.from_url(url).flushdb()
    worker = Worker(url, 'main', tmp_path_factory.mktemp('worker') / 'worker.log', concurrency=2)
    yield url
    worker.stop()


@pytest.fixture(scope='module')
def two_workers(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[Worker]]]:
    """A database served by two worker processes of one pool process each, like two hosts: a fan-out spreads over
    both, and killing one pool process leaves the other working. Stopped after the module."""
    url = f'{redis_url}/{TWO_WORKERS_DB}'
    redis.Redis.from_url(url).flushdb()
    directory = tmp_path_factory.mktemp('two-workers')
    workers: list[Worker] = []
    try:
        for name in ('left', 'right'):
            workers.append(Worker(url, name, directory / f'{name}.log', concurrency=1))
        yield url, workers
    finally:
        for worker in workers:
            worker.stop()


@pytest.fixture(scope='module')
def two_workers_api(two_workers: tuple[str, list[Worker]]) -> Iterator[TestClient]:
    """An API client on the two workers' database."""
    with TestClient(create_app(Settings(redis_url=two_workers[0]))) as client:
        yield client


@pytest.fixture(scope='module')
def api(worker_url: str) -> Iterator[TestClient]:
    # Queue tests submit many jobs as one owner: its submission rate is not what they test.
    with TestClient(create_app(Settings(redis_url=worker_url, submission_burst=1000))) as client:
        yield client


@pytest.fixture(scope='session')
def rc_products() -> pd.DataFrame:
    return cereal.product_data()


@pytest.fixture(scope='module')
def datasets(api: TestClient, rc_products: pd.DataFrame) -> dict[str, str]:
    """Ids of the cereal product data and of agent data with 50 and 1000 draws per market."""
    return {'products': upload(api, rc_products), 'agents50': upload(api, cereal.agent_data(50)),
            'agents1000': upload(api, cereal.agent_data(1000))}
