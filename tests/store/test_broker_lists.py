"""The broker's lists as jobstore.broker names them are the lists kombu's Redis transport really uses: a message
published at each priority to a real Redis lands in the list named for it, and the reaper's look-up
(worker.leases.broker_task_ids) finds every one of them, with the shipped transport options and with kombu's own."""

from __future__ import annotations

import uuid

import pytest
import redis
from celery import Celery

from jobstore.broker import priority_lists, queue_lists
from jobstore.settings import Settings
from service import queue
from worker import leases


@pytest.fixture
def settings(redis_url: str) -> Settings:
    url = f'{redis_url}/11'
    redis.Redis.from_url(url).flushdb()
    return Settings(redis_url=url)


def test_a_message_of_each_priority_lands_in_the_list_named_for_it(settings, monkeypatch):
    publisher = queue.make_celery(settings)  # the API's publisher: the shipped transport options
    options = settings.broker_transport_options()
    named = dict(zip(options['priority_steps'], queue_lists(settings)))
    published = {priority: uuid.uuid4().hex for priority in range(10)}
    for priority, job_id in published.items():
        queue.enqueue(publisher, 'estimate', job_id, priority=priority)
    client = redis.Redis.from_url(settings.redis_url)
    lists = {key.decode() for key in client.keys() if client.type(key) == b'list'}
    found = {job_id: name for name in lists for blob in client.lrange(name, 0, -1)
             for job_id in published.values() if job_id.encode() in blob}
    assert found == {job_id: named[priority] for priority, job_id in published.items()}
    assert lists == set(named.values()) and len(lists) == 10  # one list per step, 'celery' for step 0
    monkeypatch.setattr(leases, 'app', publisher)  # the reaper reads the lists through the app's connection
    assert leases.broker_task_ids(list(published.values()) + [uuid.uuid4().hex]) == set(published.values())


def test_the_reaper_reads_the_steps_and_separator_in_force_kombus_defaults_too(settings, monkeypatch):
    """A broker configured without `priority_steps` and `sep` (kombu's defaults: steps 0, 3, 6, 9 and '\\x06\\x16')."""
    publisher = Celery('defaults', broker=settings.redis_url, set_as_current=False)
    published = [uuid.uuid4().hex for _ in range(10)]
    for priority, job_id in enumerate(published):
        publisher.send_task('blp.estimate', args=[job_id], task_id=job_id, priority=priority)
    client = redis.Redis.from_url(settings.redis_url)
    lists = {key.decode() for key in client.keys() if client.type(key) == b'list'}
    assert lists == set(priority_lists('celery', [0, 3, 6, 9], '\x06\x16'))
    monkeypatch.setattr(leases, 'app', publisher)
    assert leases.broker_task_ids(published) == set(published)
