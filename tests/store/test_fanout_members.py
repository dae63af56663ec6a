"""A fanned-out job's members in the worker (worker.multistart starts, worker.bootstrap_chunks chunks, worker.sweeps
variants), run in this process
on a real Redis: how a failure becomes a member's row, and the solve options a start is solved with.

The member's own computation is replaced here (a MemoryError, a capture of its options): what is tested is the
task's handling around it, which real workers run the same way (tests/queue run whole jobs)."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from jobstore.fanout import FanOut
from jobstore.store import Store, connect
from worker import bootstrap_chunks, merger_screen, multistart, sweeps
from worker.celery_app import app
from worker.failures import failed_row, problem_details_of
from worker.members import ASIDE, guided
from worker.memory import OutOfMemory

SPEC = {'problem': {'product_formulations': [{'formula': '1 + prices'}]}, 'solve': {'method': '1s', 'threads': 2}}


@pytest.fixture
def store(redis_url: str) -> Store:
    url = f'{redis_url}/10'
    redis.Redis.from_url(url).flushdb()
    return Store(connect(url))


def running_job(store: Store, job_id: str, kind: str, request: dict[str, Any]) -> None:
    """A running job of two members, so that recording one of them completes nothing (no finalize is published)."""
    store.create_job({'id': job_id, 'kind': kind, 'owner': 'owner', 'created_at': '2026-01-01T00:00:00Z',
                      'inputs': {'product_data': 'products', 'agent_data': None}, 'spec': SPEC, 'request': request,
                      'parent': 'estimate', 'attempts': 0}, [])
    assert store.transition(job_id, ['queued'], 'running', started_at='2026-01-01T00:00:01Z') is True


def start_row(store: Store, job_id: str = 'multistart') -> dict[str, Any]:
    running_job(store, job_id, 'multistart', {'count': 2})
    FanOut(store, job_id, 'multistart', 'starts').put(**{'plan:1': [{'theta': [], 'sigma': None}] * 2})
    assert multistart.run_start(store, job_id, 1, 0, 'host') == 'failed'
    return FanOut(store, job_id, 'multistart', 'starts').rows(1)[0]


def chunk_row(store: Store, job_id: str = 'bootstrap') -> dict[str, Any]:
    running_job(store, job_id, 'bootstrap', {'draws': 2, 'chunk_size': 1, 'seed': 0, 'level': 0.95})
    assert bootstrap_chunks.run_chunk(store, job_id, 0, 'host') == 'failed'
    return bootstrap_chunks.ledger_of(store, job_id).rows(1)[0]


def candidate_row(store: Store, job_id: str = 'merger_screen') -> dict[str, Any]:
    running_job(store, job_id, 'merger_screen', {'candidates': [['F1', 'F2'], ['F1', 'F3']], 'credit': 0.0})
    assert merger_screen.run_candidate(store, job_id, 1, 'host') == 'failed'
    return merger_screen.ledger_of(store, job_id).rows(1)[1]


def variant_row(store: Store, job_id: str = 'sweep') -> dict[str, Any]:
    variants = [{'index': index, 'label': f'variant {index}', 'override': {}, 'spec': SPEC, 'error': None}
                for index in range(2)]
    running_job(store, job_id, 'sweep', {'variants': variants, 'counterfactual': None, 'on_invalid': 'refuse'})
    assert sweeps.run_variant(store, job_id, 0, 'host') == 'failed'
    return sweeps.ledger_of(store, job_id).rows(1)[0]


def out_of_memory(*_: Any, **__: Any) -> Any:
    raise MemoryError


def test_a_chunk_out_of_memory_records_the_memory_problem_a_start_does(store, monkeypatch):
    monkeypatch.setattr(multistart, '_solve', out_of_memory)
    monkeypatch.setattr(bootstrap_chunks, '_compute', out_of_memory)
    monkeypatch.setattr(merger_screen, '_compute', out_of_memory)
    monkeypatch.setattr(sweeps, '_estimate', out_of_memory)
    start, chunk, variant, candidate = start_row(store), chunk_row(store), variant_row(store), candidate_row(store)
    assert start['error']['type'] == 'urn:blp:problem:out-of-memory', start
    assert chunk['error'] == variant['error'] == start['error'] == candidate['error'], (chunk, variant, start, candidate)
    assert (variant['index'], variant['label'], variant['attempts']) == (0, 'variant 0', 1)
    assert chunk['draws'] == [] and candidate['index'] == 1 and candidate['worker'] == 'host'
    assert chunk['error']['status'] == 507 and chunk['error']['detail'].startswith('out of memory while ')


def test_a_chunk_and_a_start_that_raise_anything_else_record_the_same_500(store, monkeypatch):
    def broken(*_: Any, **__: Any) -> Any:
        raise ZeroDivisionError('a bug')

    monkeypatch.setattr(multistart, '_solve', broken)
    monkeypatch.setattr(bootstrap_chunks, '_compute', broken)
    start, chunk = start_row(store)['error'], chunk_row(store)['error']
    assert (start['status'], start['type'], start['title']) == (500, 'urn:blp:problem:numerics-failed', 'Start failed')
    assert (chunk['status'], chunk['type'], chunk['title']) == (500, 'urn:blp:problem:numerics-failed', 'Chunk failed')
    assert chunk['detail'] == start['detail'] == 'ZeroDivisionError: a bug'


def test_a_start_is_solved_with_threads_capped_at_the_workers_share_of_the_cores(store, monkeypatch):
    """Two pool processes on two cores: one thread each, although the spec asks for two."""
    solved_with = []

    def solve_start(problem: Any, options: Any, *_: Any, **__: Any) -> Any:
        solved_with.append(options)
        raise MemoryError

    monkeypatch.setattr(multistart, '_problem', lambda *_, **__: None)
    monkeypatch.setattr(multistart, 'solve_start', solve_start)
    monkeypatch.setattr('os.sched_getaffinity', lambda _: {0, 1})
    monkeypatch.setitem(app.conf, 'worker_concurrency', 2)
    start_row(store)
    assert [options.threads for options in solved_with] == [1]
    monkeypatch.setitem(app.conf, 'worker_concurrency', 1)  # a worker with the cores to itself honours the request
    start_row(store, 'another')
    assert [options.threads for options in solved_with] == [1, 2]


@pytest.mark.parametrize('error', [MemoryError(), OutOfMemory('solving')], ids=['MemoryError', 'OutOfMemory'])
def test_the_failure_ladder_gives_a_job_a_start_and_a_chunk_the_same_memory_problem(error):
    """The one ladder (worker.failures) every task kind records its failures through: out of memory is the 507 of
    worker.memory whatever ran out, and names what it was doing."""
    job, start, chunk = (problem_details_of(error, subject, f'{subject} 0').to_dict()
                         for subject in ('job', 'start', 'chunk'))
    assert job == start == chunk, (job, start, chunk)
    assert (chunk['status'], chunk['type']) == (507, 'urn:blp:problem:out-of-memory')
    doing = 'solving' if isinstance(error, OutOfMemory) else 'running the job'
    assert chunk['detail'].startswith(f'out of memory while {doing} ')
    assert failed_row(problem_details_of(error, 'chunk', 'chunk 0')) == {'status': 'failed', 'error': chunk}


@pytest.mark.parametrize('make_row', [start_row, chunk_row, variant_row], ids=['multistart', 'bootstrap', 'sweep'])
def test_an_ended_fanned_out_job_keeps_no_key_past_retention_and_delete_frees_them_all(store, make_row):
    """Every key of a fanned-out job (its ledger, rows, attempts, running members) expires with the job and goes
    when it is deleted: a kind whose ledger the store does not know of would keep its keys in Redis for ever."""
    job_id = make_row.__name__
    make_row(store, job_id)
    keys = sorted(store.r.scan_iter(match=f'blp:job:{job_id}*'))
    assert any(key.decode().endswith(':1') for key in keys), keys  # the member's rows, attempts, running
    store.result_ttl = 3600
    store.retain(job_id)
    assert {key: store.r.ttl(key) for key in keys if store.r.ttl(key) <= 0} == {}
    store.delete_job(store.get_job(job_id))
    assert sorted(store.r.scan_iter(match=f'blp:job:{job_id}*')) == []


class Killed(BaseException):
    """A pool process killed in the middle of a member: nothing after it runs and nothing more is recorded."""


def screened(index: int) -> dict[str, Any]:
    return {'status': 'succeeded', 'summary': {'candidate': index}, ASIDE: {f'details:{index}': {'index': index}}}


def test_a_batch_writes_its_rows_and_their_details_at_once_and_progress_in_members(store, monkeypatch):
    monkeypatch.setattr(merger_screen, '_compute', lambda _store, _record, index: screened(index))
    running_job(store, 'batch', 'merger_screen', {'candidates': [['F1', 'F2']] * 5, 'credit': 0.0})
    assert merger_screen.CANDIDATES.run(store, 'batch', [0, 1, 2, 3], 'host') == ', '.join(['succeeded'] * 4)
    ledger = merger_screen.ledger_of(store, 'batch')
    rows = ledger.rows(1)
    assert {index: (row['summary'], row['attempts'], row['worker']) for index, row in rows.items()} == {
        index: ({'candidate': index}, 1, 'host') for index in range(4)}
    assert all(ASIDE not in row for row in rows.values())
    assert ledger.get_many([f'details:{index}' for index in range(5)]) == [{'index': index} for index in range(4)] + [None]
    progress = store.get_job('batch')['progress']
    assert (progress['candidates_done'], progress['candidates_total'], progress['candidates_failed']) == (4, 5, 0)
    assert merger_screen.CANDIDATES.run(store, 'batch', [2, 3], 'host') == 'duplicate'


def test_a_batch_delivered_again_isolates_the_member_that_kills_its_process(store, monkeypatch):
    """The first delivery counts every member's attempt at once and records at its end; the deliveries after a kill
    count and record member by member, so only the member that kills its process runs out of attempts (3)."""
    computed = []

    def compute(_store: Store, _record: Any, index: int) -> dict[str, Any]:
        computed.append(index)
        if index == 1:
            raise Killed
        return screened(index)

    monkeypatch.setattr(merger_screen, '_compute', compute)
    running_job(store, 'poisoned', 'merger_screen', {'candidates': [['F1', 'F2']] * 5, 'credit': 0.0})
    for _ in range(3):
        with pytest.raises(Killed):
            merger_screen.CANDIDATES.run(store, 'poisoned', [0, 1, 2, 3], 'host')
    assert merger_screen.CANDIDATES.run(store, 'poisoned', [0, 1, 2, 3], 'host') == 'failed, succeeded, succeeded'
    assert computed == [0, 1, 0, 1, 1, 2, 3]
    rows = merger_screen.ledger_of(store, 'poisoned').rows(1)
    assert {index: (row['status'], row['attempts']) for index, row in rows.items()} == {
        0: ('succeeded', 2), 1: ('failed', 4), 2: ('succeeded', 2), 3: ('succeeded', 2)}
    assert rows[1]['error']['type'] == 'urn:blp:problem:worker-lost'


def test_a_batch_stops_at_a_cancel_between_its_members(store, monkeypatch):
    def compute(_store: Store, _record: Any, index: int) -> dict[str, Any]:
        store.request_cancel('cancelled')
        monkeypatch.setattr('worker.members.CHECK_SECONDS', -1.0)  # the next member checks at once
        return screened(index)

    monkeypatch.setattr(merger_screen, '_compute', compute)
    running_job(store, 'cancelled', 'merger_screen', {'candidates': [['F1', 'F2']] * 5, 'credit': 0.0})
    assert merger_screen.CANDIDATES.run(store, 'cancelled', [0, 1, 2], 'host') == 'cancelled'
    assert store.get_job('cancelled')['status'] == 'cancelled'


def test_guided_batches_shrink_to_single_members_and_cover_each_once():
    members = list(range(277))
    batches = guided(members)
    assert [index for batch in batches for index in batch] == members
    sizes = [len(batch) for batch in batches]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == 16 and sizes[-5:] == [1] * 5
    assert len(batches) < len(members) / 7
    assert guided([4, 9]) == [[4], [9]] and guided([]) == []
