"""Unconfirmed submissions on a real Redis: which jobs the reaper may requeue after a lost publish, and only once."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from jobstore import submissions
from jobstore.leases import LEASES, Leases
from jobstore.store import Store, connect
from jobstore.submissions import Submissions, mint_job_id, minted_at


@pytest.fixture
def store(redis_url: str) -> Store:
    url = f'{redis_url}/4'
    redis.Redis.from_url(url).flushdb()
    return Store(connect(url))


def queue_job(store: Store, job_id: str) -> None:
    store.create_job({'id': job_id, 'kind': 'estimate', 'owner': 'public', 'created_at': 'now', 'attempts': 0}, [])


def test_a_submission_stays_until_dealt_with_and_a_waiting_one_is_looked_at_again_later(store):
    submissions = Submissions(store)
    queue_job(store, 'waiting')
    queue_job(store, 'lost')
    assert sorted(submissions.unconfirmed(older_than=0, now=time.time() + 1)) == ['lost', 'waiting']
    assert submissions.unconfirmed(older_than=30) == []  # within the grace period: its publish may be under way
    submissions.postpone(['waiting', 'never-written'], now=time.time() + 60)  # its message was seen in the broker
    assert submissions.unconfirmed(older_than=0, now=time.time() + 1) == ['lost']
    assert sorted(submissions.unconfirmed(older_than=0, now=time.time() + 61)) == ['lost', 'waiting']


def test_only_a_still_queued_unheld_job_is_taken_and_only_once_at_a_raised_epoch(store):
    submissions, leases = Submissions(store), Leases(store, seconds=30)
    for job_id in ('orphan', 'held', 'ended'):
        queue_job(store, job_id)
    assert leases.claim('held', 'blp.estimate', ['held'], 'a@host')  # a worker received its message after all
    store.transition('ended', ['queued'], 'cancelled')
    assert submissions.take_orphan('orphan', LEASES) == ('estimate', 1)
    assert submissions.take_orphan('orphan', LEASES) is None  # a second reaper gets nothing
    assert not leases.start('orphan', 'blp.estimate', ['orphan'], 'b@host', epoch=0)  # the original message: stale
    assert leases.start('orphan', 'blp.estimate', ['orphan'], 'b@host', epoch=1)  # the requeued one runs
    assert submissions.take_orphan('held', LEASES) is None and submissions.take_orphan('ended', LEASES) is None
    assert submissions.unconfirmed(older_than=0, now=time.time() + 1) == []  # every entry dealt with


def test_deleting_a_job_drops_its_entry(store):
    queue_job(store, 'gone')
    store.transition('gone', ['queued'], 'cancelled')
    store.delete_job(store.get_job('gone'))
    assert Submissions(store).unconfirmed(older_than=0, now=time.time() + 1) == []


def test_ids_tell_when_they_were_minted_and_only_ours_do():
    before = time.time()
    job_id = mint_job_id()
    assert len(job_id) == 32 and int(job_id, 16) >= 0 and job_id != mint_job_id()
    assert before - 0.001 <= minted_at(job_id) <= time.time()
    assert minted_at(uuid.uuid4().hex) is None and minted_at('nonsense') is None and minted_at('x' * 32) is None


def test_only_a_missing_job_minted_before_redis_started_is_reported_lost(store, monkeypatch):
    monkeypatch.setattr(submissions, 'CLOCK_SLACK_SECONDS', 1e9)  # any record may be the last that survived
    started = time.time() - int(store.r.info('server')['uptime_in_seconds'])
    missing, existing = mint_job_id(started - 2), mint_job_id(started - 2)
    queue_job(store, existing)  # (another owner's job, say: there, so not lost)
    assert Submissions(store).lost_in_restart(existing) is None
    assert Submissions(store).lost_in_restart(missing)['accepted_at'] < Submissions(store).lost_in_restart(
        missing)['redis_started_at']
    assert Submissions(store).lost_in_restart(mint_job_id(time.time() + 3)) is None  # minted after the start
