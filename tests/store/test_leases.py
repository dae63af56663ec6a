"""Task leases on a real Redis: who may take, renew and reap them, and which deliveries are stale."""

from __future__ import annotations

import time

import pytest
import redis

from jobstore.leases import Leases
from jobstore.store import Store, connect


@pytest.fixture
def leases(redis_url: str) -> Leases:
    url = f'{redis_url}/3'
    redis.Redis.from_url(url).flushdb()
    return Leases(Store(connect(url)), seconds=0.3)


def test_a_lapsed_lease_is_reaped_once_and_makes_older_deliveries_stale(leases):
    assert leases.start('job1', 'blp.estimate', ['job1'], 'a@host')
    assert leases.lapsed() == []
    time.sleep(0.35)
    assert leases.lapsed() == ['job1']
    assert leases.reap('job1') == ('blp.estimate', ['job1'], 'job1', 1)
    assert leases.reap('job1') is None  # a second reaper gets nothing
    assert not leases.start('job1', 'blp.estimate', ['job1'], 'a@host', epoch=0)  # the dead worker's old message
    assert leases.start('job1', 'blp.estimate', ['job1'], 'b@host', epoch=1)  # the republished one


def test_only_the_holder_renews_or_releases_and_a_claim_never_takes_a_held_lease(leases):
    assert leases.start('job2.1.0', 'blp.estimation.multistart.start', ['job2', 1, 0], 'a@host')
    assert not leases.claim('job2.1.0', 'blp.estimation.multistart.start', ['job2', 1, 0], 'b@host')
    assert leases.holder('job2.1.0') == 'a@host'
    time.sleep(0.2)
    assert leases.renew(['job2.1.0'], 'b@host') == 0
    assert leases.renew(['job2.1.0'], 'a@host') == 1
    time.sleep(0.2)
    assert leases.lapsed() == []  # renewed 0.2 s ago, so not lapsed after 0.4 s
    leases.release('job2.1.0', 'b@host')
    assert leases.holder('job2.1.0') == 'a@host'
    leases.release('job2.1.0', 'a@host')
    assert leases.holder('job2.1.0') is None and leases.lapsed(time.time() + 10) == []
    assert leases.claim('job2.1.0', 'blp.estimation.multistart.start', ['job2', 1, 0], 'b@host')


def test_one_reaper_at_a_time(leases):
    assert leases.lock_reaper('a@host', 0.2)
    assert not leases.lock_reaper('b@host', 0.2)
    time.sleep(0.25)
    assert leases.lock_reaper('b@host', 0.2)
