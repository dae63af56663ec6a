"""Unconfirmed submissions on a real Redis: which jobs the reaper may requeue after a lost publish, and only once."""

from __future__ import annotations

import time

import pytest
import redis

from jobstore.leases import LEASES, Leases
from jobstore.store import Store, connect
from jobstore.submissions import Submissions


@pytest.fixture
def store(redis_url: str) -> Store:
    url = f'{redis_url}/4'
    redis.Redis.from_url(url).flushdb()
    return Store(connect(url))


def queue_job(store: Store, job_id: str) -> None:
    store.create_job({'id': job_id, 'kind': 'estimate', 'owner': 'public', 'created_at': 'now', 'attempts': 0}, [])


def test_a_submission_is_unconfirmed_from_its_record_until_its_publish_is_confirmed(store):
    submissions = Submissions(store)
    queue_job(store, 'confirmed')
    queue_job(store, 'lost')
    assert submissions.unconfirmed(older_than=0, now=time.time() + 1) == ['confirmed', 'lost']
    assert submissions.unconfirmed(older_than=30) == []  # within the grace period: its publish may be under way
    submissions.confirm('confirmed')
    assert submissions.unconfirmed(older_than=0, now=time.time() + 1) == ['lost']


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
