"""SIGKILL of `redis-server` (the broker and the job store at once) and a restart from its append-only file, with
the shipped persistence settings (appendonly yes, appendfsync everysec, noeviction; tests/support/processes.py):
every job answered 202 ends `succeeded`, or `failed` with a reason; none vanishes, none stays queued or running.

- during a burst of submissions, just after one job's record was written and before its task was published: that
  POST and the others during the outage get 503 problem+json, the client's retries with their Idempotency-Keys are
  answered once Redis is back, and the job whose message was never published runs all the same (the reaper
  requeues a submission the API did not confirm, jobstore/submissions.py);
- during a multi-start: the starts that were running are solved again, each start counted once, same answer.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from processes import RedisServer
from queue_support import LOGIT_SPEC, Worker, broker_lists, rc_spec, submit, upload, wait_for

from examples import cereal
from jobstore.settings import Settings
from jobstore.submissions import mint_job_id
from service import queue
from service.main import create_app

pytestmark = pytest.mark.queue

BOUNDS = {'sigma_bounds': [[[0, 0], [0, 0]], [[0, 0], [0, 10]]], 'pi_bounds': [[[-5], [-20]], [[5], [20]]]}
OUTAGE_SECONDS = 1.5
# The shipped lease and reaper (30 s, every 10 s) bound how long a job orphaned by the outage waits; the margin is
# for the burst's jobs to run on a loaded machine.
SHIPPED = Settings()
SETTLE_BOUND = SHIPPED.job_lease_seconds + SHIPPED.reaper_interval_seconds + 60


def sigkill(server: RedisServer) -> None:
    """SIGKILL: no AOF flush, no goodbye to clients."""
    assert server.process is not None
    server.process.kill()
    server.process.wait(timeout=10)


def sigkill_and_restart(server: RedisServer, outage: float = OUTAGE_SECONDS) -> None:
    """SIGKILL, then a restart on the same port and directory, as a supervisor would (from the main thread: a child
    dies with the thread that started it, PR_SET_PDEATHSIG)."""
    sigkill(server)
    time.sleep(outage)
    server.start()


def api_on(server: RedisServer) -> TestClient:
    """An API that gives up on Redis within a second, as in test_queue_faults.py; one owner's burst is not limited."""
    settings = Settings(redis_url=server.url, redis_socket_timeout=1, redis_connect_timeout=1, submission_burst=1000)
    return TestClient(create_app(settings), raise_server_exceptions=False)


def settle(api: TestClient, job_ids: list[str], timeout: float) -> dict[str, dict]:
    """Wait until every job has ended (or the timeout passed); the last view of each, 404s included."""
    deadline, views = time.monotonic() + timeout, {}
    pending = list(job_ids)
    while pending and time.monotonic() < deadline:
        for job_id in list(pending):
            response = api.get(f'/v1/jobs/{job_id}')
            views[job_id] = {'http': response.status_code, **response.json()}
            if response.status_code != 200 or views[job_id]['status'] in ('succeeded', 'failed', 'cancelled'):
                pending.remove(job_id)
        time.sleep(0.2)
    return views


def test_a_sigkill_of_redis_loses_no_acknowledged_write(tmp_path: Path):
    """What `appendfsync everysec` loses when only the process dies: Redis write()s the AOF before it answers, so an
    acknowledged write is in the kernel's page cache and survives a SIGKILL; only a crash of the machine (or a disk
    whose fsync stalls for over a second) can lose the last second. Measured, five kills under a stream of writes."""
    server = RedisServer(tmp_path / 'redis')
    try:
        for round_ in range(5):
            acknowledged, stop = [0], threading.Event()

            def write(acknowledged: list[int] = acknowledged, stop: threading.Event = stop) -> None:
                client = redis.Redis(port=server.port, socket_timeout=1)
                while not stop.is_set():
                    try:
                        acknowledged[0] = client.incr('counter')
                    except redis.RedisError:
                        return

            writer = threading.Thread(target=write)
            writer.start()
            time.sleep(0.3 + 0.1 * round_)  # mid-second, at different points of the fsync cycle
            sigkill(server)
            stop.set()
            writer.join()
            server.start()
            kept = int(redis.Redis(port=server.port).get('counter'))
            print(f'kill {round_ + 1}: {acknowledged[0]} increments acknowledged, {kept} kept after the restart')
            # the one in flight at the kill may have been applied without its answer arriving
            assert acknowledged[0] <= kept <= acknowledged[0] + 1
    finally:
        server.stop()


def test_a_burst_of_submissions_across_a_redis_sigkill_loses_no_accepted_job(tmp_path: Path, monkeypatch):
    server = RedisServer(tmp_path / 'redis')
    worker = None
    try:
        with api_on(server) as api:
            products = upload(api, cereal.product_data())
            worker = Worker(server.url, 'burst', tmp_path / 'burst.log', concurrency=2)
            body = {'kind': 'estimate', 'product_data': {'dataset_id': products}, 'spec': LOGIT_SPEC}
            killed = threading.Event()
            publish = queue.enqueue

            def enqueue_or_die(*args, **kwargs) -> None:
                """The 11th publish finds Redis SIGKILLed: its job's record is written, its message is not."""
                if enqueue_or_die.calls == 10:
                    sigkill(server)
                    killed.set()
                enqueue_or_die.calls += 1
                publish(*args, **kwargs)

            enqueue_or_die.calls = 0
            monkeypatch.setattr(queue, 'enqueue', enqueue_or_die)
            answers: dict[int, list[tuple[int, dict]]] = {}

            def burst() -> None:
                """50 submissions, each retried with its Idempotency-Key until it is answered, as a client should."""
                for index in range(50):
                    while True:
                        response = api.post('/v1/jobs', json=body, headers={'Idempotency-Key': f'burst-{index}'})
                        answers.setdefault(index, []).append((response.status_code, response.json()))
                        if response.status_code != 503:
                            break
                        time.sleep(0.1)

            # The submissions in a thread, the restart here: a child dies with the thread that started it
            # (PR_SET_PDEATHSIG), and the restarted Redis must outlive the burst.
            submitter = threading.Thread(target=burst)
            submitter.start()
            assert killed.wait(timeout=120)
            time.sleep(OUTAGE_SECONDS)
            server.start()
            submitter.join(timeout=300)

            final = {index: tries[-1] for index, tries in answers.items()}
            assert all(status in (200, 202) for status, _ in final.values()), final
            refused = [problem for tries in answers.values() for status, problem in tries if status == 503]
            assert refused and all(problem['type'] and problem['detail'] for problem in refused)
            accepted = [view['id'] for _, view in final.values()]
            assert len(set(accepted)) == 50  # a retried submission is the same job, not a second one
            orphan = answers[10][-1][1]['id']  # its record was written when Redis died, its message never was
            print(f'50 submissions: {len(refused)} answers 503 during the outage, then answered on retry')
            started = time.monotonic()
            views = settle(api, accepted, SETTLE_BOUND)
            lost = {job_id: view for job_id, view in views.items() if view['http'] != 200}
            stuck = {job_id: view['status'] for job_id, view in views.items()
                     if view['http'] == 200 and view['status'] not in ('succeeded', 'failed')}
            assert not lost and not stuck, (lost, stuck)
            failed = {job_id: view['error'] for job_id, view in views.items() if view['status'] == 'failed'}
            assert all(error and error['detail'] for error in failed.values()), failed
            print(f'all settled {time.monotonic() - started:.1f} s after the restart: {50 - len(failed)} succeeded, '
                  f'{len(failed)} failed with a reason {sorted({error["type"] for error in failed.values()})}')
            assert views[orphan]['status'] == 'succeeded' and views[orphan]['attempts'] == 1
            log = (tmp_path / 'burst.log').read_text()
            assert f'requeued job {orphan}: its task message was lost' in log
            # nothing left behind: no job of the owner stays queued or running, so none holds a place under its cap
            listed = api.get('/v1/jobs?limit=200').json()['items']
            assert len(listed) == 50 and not [job['id'] for job in listed if job['status'] in ('queued', 'running')]
    finally:
        if worker:
            worker.stop()
        server.stop()


def test_a_redis_sigkill_during_a_multistart_costs_time_only(tmp_path: Path):
    server = RedisServer(tmp_path / 'redis')
    workers: list[Worker] = []
    try:
        with api_on(server) as api:
            data = {'product_data': {'dataset_id': upload(api, cereal.product_data())},
                    'agent_data': {'dataset_id': upload(api, cereal.agent_data(100))}}
            workers = [Worker(server.url, name, tmp_path / f'{name}.log', concurrency=1) for name in ('one', 'two')]
            body = {'kind': 'multistart', **data, 'spec': rc_spec(), 'starts': {'count': 8, 'seed': 0, 'bounds': BOUNDS}}

            def run(disturb: bool) -> dict:
                response = api.post('/v1/jobs', json=body)
                assert response.status_code == 202, response.text
                job_id = response.json()['id']
                if disturb:  # once some starts are recorded and others are being solved
                    wait_for(api, job_id, lambda job: (job['progress'] or {}).get('starts_done', 0) >= 2, timeout=120)
                    sigkill_and_restart(server)
                started = time.monotonic()
                finished = settle(api, [job_id], SETTLE_BOUND)[job_id]
                print(f'multi-start {"across a Redis SIGKILL" if disturb else "undisturbed"}: ended '
                      f'{finished["status"]} {time.monotonic() - started:.1f} s later')
                assert finished['http'] == 200 and finished['status'] == 'succeeded', finished
                return api.get(f'/v1/jobs/{job_id}/result').json()

            undisturbed, disturbed = run(False), run(True)
            starts = disturbed['multistart']['starts']
            assert [start['index'] for start in starts] == list(range(8))
            assert all(start['status'] == 'succeeded' for start in starts)
            assert any(start['attempts'] >= 2 for start in starts)  # the outage cut some start short
            print('attempts per start:', [start['attempts'] for start in starts])
            assert disturbed['results']['objective'] == pytest.approx(undisturbed['results']['objective'], rel=1e-9)
            assert disturbed['multistart']['chosen_start'] == undisturbed['multistart']['chosen_start']
    finally:
        for worker in workers:
            worker.stop()
        server.stop()


def test_jobs_lost_with_the_unsynced_tail_of_the_log_are_reported_lost_not_unknown(tmp_path: Path):
    """A machine crash under `everysec`, emulated: Redis is SIGKILLed and its append-only file cut back to what it held
    at the last fsync before the crash (the page cache dies with the machine). The jobs answered 202 after that point
    are gone; asking for one says it was accepted and lost in the restart, unlike an id that never existed."""
    server = RedisServer(tmp_path / 'redis')
    try:
        with api_on(server) as api:
            products = upload(api, cereal.product_data())
            kept = [submit(api, LOGIT_SPEC, products).json()['id'] for _ in range(3)]
            (log,) = (tmp_path / 'redis').glob('appendonlydir/*.incr.aof')
            synced = log.stat().st_size  # no worker runs: nothing else writes meanwhile
            lost = [submit(api, LOGIT_SPEC, products).json()['id'] for _ in range(3)]
            assert log.stat().st_size > synced
            sigkill(server)
            with open(log, 'r+b') as aof:
                aof.truncate(synced)
            time.sleep(1.1)  # a reboot takes longer than this
            server.start()

            assert [api.get(f'/v1/jobs/{job_id}').json()['status'] for job_id in kept] == ['queued'] * 3
            for job_id in lost:
                problem = api.get(f'/v1/jobs/{job_id}').json()
                assert problem['status'] == 404 and problem['type'] == 'urn:blp:problem:job-lost', problem
                assert problem['job_id'] == job_id and problem['accepted_at'] < problem['redis_started_at']
                assert 'submit it again' in problem['detail']
                assert api.get(f'/v1/jobs/{job_id}/result').json()['type'] == 'urn:blp:problem:job-lost'
            print('a lost job:', problem['detail'])
            time.sleep(2.5)  # Redis tells its start to the second: ids minted within 2 s of it are given the benefit
            never = [mint_job_id(time.time() - 3600), mint_job_id(), uuid.uuid4().hex, 'nonsense']
            for job_id in never:  # minted long before, after the restart, or not by us: nothing to say but 'no job'
                assert api.get(f'/v1/jobs/{job_id}').json()['type'] == 'urn:blp:problem:not-found', job_id
    finally:
        server.stop()


def test_a_message_lost_after_its_publish_is_requeued_and_a_waiting_one_is_left_alone(tmp_path: Path):
    """A message can vanish after the API published it: Redis dies as a worker pops it, before the worker records it
    as unacknowledged (the first fresh-clone CI run of the burst test above found a job stranded `queued` that way).
    Emulated deterministically: one job's message is removed from the queue list before any worker runs. The
    reaper (shipped lease and interval) must requeue that job, and must not requeue a job whose message is waiting."""
    server = RedisServer(tmp_path / 'redis')
    worker = None
    try:
        with api_on(server) as api:
            products = upload(api, cereal.product_data())
            body = {'kind': 'estimate', 'product_data': {'dataset_id': products}, 'spec': LOGIT_SPEC}
            lost, waiting = (api.post('/v1/jobs', json=body).json()['id'] for _ in range(2))
            broker = redis.Redis.from_url(server.url)
            queues = broker_lists(server.url)
            removed = sum(broker.lrem(name, 1, blob) for name in queues for blob in broker.lrange(name, 0, -1)
                          if lost.encode() in blob)
            assert removed == 1 and any(waiting.encode() in blob for name in queues for blob in broker.lrange(name, 0, -1))
            # Past the grace period, the waiting job's message is still there: a reaper round must leave it queued.
            time.sleep(SHIPPED.job_lease_seconds + 1)
            worker = Worker(server.url, 'reaper', tmp_path / 'reaper.log', concurrency=1,
                            WORKER_HEARTBEAT_SECONDS=str(SHIPPED.worker_heartbeat_seconds))
            views = settle(api, [lost, waiting], SHIPPED.reaper_interval_seconds + 60)
            assert views[lost]['status'] == 'succeeded' and views[waiting]['status'] == 'succeeded', views
            log = (tmp_path / 'reaper.log').read_text()
            assert f'requeued job {lost}: its task message was lost' in log
            assert f'requeued job {waiting}' not in log
    finally:
        if worker is not None:
            worker.stop()
        server.stop()
