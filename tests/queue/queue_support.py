"""Helpers for the queue tests: start and stop real Celery workers, upload the cereal data, wait for jobs."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import redis
from fastapi.testclient import TestClient
from processes import die_with_parent

from jobstore.broker import queue_lists
from jobstore.records import TERMINAL
from jobstore.settings import Settings
from jobstore.store import Store, connect

ROOT = Path(__file__).resolve().parents[2]
ABSORB = 'C(market_ids) + C(product_ids)'
LOGIT_SPEC = {'problem': {'product_formulations': [{'formula': '0 + prices', 'absorb': ABSORB}]},
              'solve': {'method': '1s'}}


def rc_spec(**solve: Any) -> dict:
    """The cereal exercise's random-coefficients spec (sigma on prices, pi on log income), solve options overridden."""
    return {'problem': {'product_formulations': [{'formula': '0 + prices', 'absorb': ABSORB},
                                                 {'formula': '0 + mushy + prices'}],
                        'agent_formulation': {'formula': '0 + log_income'}},
            'solve': {'sigma': [[0, 0], [0, 1]], 'pi': [[0.2], [1]], 'method': '1s',
                      'optimization': {'method': 'trust-constr', 'method_options': {'gtol': 1e-8, 'xtol': 1e-8}},
                      **solve}}


# Plain fixed-point iteration instead of SQUAREM, on one thread: the same estimate, more work to cancel or kill (1.5 s
# on a quiet machine, not 1 s; with the default threads an idle worker's two cores finished it in 0.96 s).
SLOW_SOLVE = {'iteration': {'method': 'simple', 'method_options': {'atol': 1e-14, 'max_evaluations': 100000}},
              'threads': 1}


class Worker:
    """A `celery -A worker.celery_app worker` process group with its own environment and log file."""

    def __init__(self, redis_url: str, name: str, log: Path, concurrency: int = 2, **env: str) -> None:
        self.redis_url, self.name, self.log = redis_url, name, log
        environment = {**os.environ, 'REDIS_URL': redis_url, 'PYTHONPATH': str(ROOT),
                       'WORKER_HEARTBEAT_SECONDS': '0.5', **env}
        command = [sys.executable, '-m', 'celery', '-A', 'worker.celery_app', 'worker', '--pool', 'prefork',
                   '--concurrency', str(concurrency), '--loglevel', 'INFO', '--hostname', f'{name}@%h',
                   '--without-mingle', '--without-gossip']
        with open(log, 'ab') as output:
            self.process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=output,
                                            stderr=subprocess.STDOUT, start_new_session=True,
                                            preexec_fn=die_with_parent)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30) -> None:
        store = Store(connect(self.redis_url))
        deadline = time.monotonic() + timeout
        while not any(worker.startswith(self.name + '@') for worker in store.live_workers(within=2)):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f'worker {self.name} did not start:\n{self.log.read_text()[-3000:]}')
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children), as a crash or OOM kill would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def broker_lists(url: str) -> list[str]:
    """The broker's lists of waiting task messages, one per priority (`celery`, `celery:1` ... `celery:9`)."""
    return queue_lists(Settings(redis_url=url))


def queued_messages(url: str) -> int:
    """Task messages waiting in the broker, over its priority lists."""
    client = redis.Redis.from_url(url)
    return sum(client.llen(name) for name in broker_lists(url))


def parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def upload(client: TestClient, frame: pd.DataFrame) -> str:
    response = client.post('/v1/datasets', content=parquet(frame),
                           headers={'Content-Type': 'application/vnd.apache.parquet'})
    assert response.status_code in (200, 201), response.text
    return response.json()['id']


def submit(client: TestClient, spec: dict, product_id: str, agent_id: str | None = None, **headers: str) -> Any:
    body = {'kind': 'estimate', 'product_data': {'dataset_id': product_id}, 'spec': spec}
    if agent_id:
        body['agent_data'] = {'dataset_id': agent_id}
    response = client.post('/v1/jobs', json=body, headers=headers)
    assert response.status_code in (200, 202), response.text
    return response


def wait_for(client: TestClient, job_id: str, done: Any = TERMINAL, timeout: float = 30) -> dict:
    """Poll the job until `done(job)` holds (by default: it has finished); fails after `timeout` seconds."""
    check = done if callable(done) else (lambda job: job['status'] in done)
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f'/v1/jobs/{job_id}').json()
        if check(job):
            return job
        assert time.monotonic() < deadline, f'job {job_id} still {job["status"]} after {timeout} s: {job}'
        time.sleep(0.05)


def merger(client: TestClient, job_id: str, firm_ids: dict) -> dict:
    """Run a merger counterfactual (`firm_ids`: before -> after) from a finished estimate and return its table; the
    merging firms' prices must rise in every market whose equilibrium converged."""
    response = client.post(f'/v1/jobs/{job_id}/counterfactuals', json={'firm_ids': firm_ids})
    assert response.status_code == 202, response.text
    assert wait_for(client, response.json()['id'], timeout=300)['status'] == 'succeeded'
    table = client.get(f"/v1/jobs/{response.json()['id']}/result").json()
    converged = {market['market_id'] for market in table['markets'] if market['converged']}
    merged = [row for row in table['products']
              if row['firm_id_before'] in {*firm_ids, *firm_ids.values()} and row['market_id'] in converged]
    assert merged and all(row['price_change'] > 0 for row in merged)
    return table


def iterating(job: dict) -> bool:
    """The job is inside the optimizer (it has reported at least one iteration)."""
    return job['status'] == 'running' and bool(job['progress']) and (job['progress'].get('iteration') or 0) >= 1


