"""An estimate with a memory budget and threads through the whole path (spec, worker, core): chunked, capped at the
worker's share of the cores (all of them: one pool process), with the estimate of the job that asked for no
threads (given what its worker spared)."""

from __future__ import annotations

import os
from typing import Iterator

import pytest
from fastapi.testclient import TestClient
from queue_support import Worker, rc_spec, submit, upload, wait_for

from examples import cereal
from jobstore.settings import Settings
from service.main import create_app


@pytest.fixture(scope='module')
def api(two_workers: tuple[str, list[Worker]]) -> Iterator[TestClient]:
    # checking a job before queueing it can take long on a loaded machine: not what this test is about
    with TestClient(create_app(Settings(redis_url=two_workers[0], validation_timeout_seconds=300))) as client:
        yield client


def parameters(api: TestClient, job: dict) -> dict:
    finished = wait_for(api, job['id'], timeout=300)
    assert finished['status'] == 'succeeded', finished
    result = api.get(f"/v1/jobs/{job['id']}/result").json()['results']
    return {(p['kind'], p['row'], p['column']): (p['value'], p['se']) for p in result['parameters']}


def test_a_chunked_threaded_estimate_matches_the_whole_one_and_threads_are_capped(api, two_workers):
    products, agents = upload(api, cereal.product_data()), upload(api, cereal.agent_data(50))
    cores = len(os.sched_getaffinity(0))
    asked = cores + 1  # more than any worker may give one job
    chunked = submit(api, rc_spec(memory_budget_mb=0.05, threads=asked), products, agents).json()
    whole = submit(api, rc_spec(), products, agents).json()
    expected, actual = parameters(api, whole), parameters(api, chunked)
    assert expected.keys() == actual.keys() and ('sigma', 'prices', 'prices') in expected
    for key, (value, se) in expected.items():
        assert actual[key][0] == pytest.approx(value, rel=1e-8, abs=1e-10), key
        assert actual[key][1] == (None if se is None else pytest.approx(se, rel=1e-6, abs=1e-10)), key
    logs = ''.join(worker.log.read_text() for worker in two_workers[1])  # workers of one pool process each
    assert f'threads {asked} capped at {cores} (worker concurrency 1)' in logs
    # the job that asked for no threads got what its worker spared: every core (its one pool process ran only it)
    assert f'threads {cores}: what this worker spares now ({cores} cores, 1 tasks running)' in logs
