"""The API connects its Celery producer at start-up, so its first POST /v1/jobs does not (71 ms of imports, the
result backend's lookup and the broker's connection, measured), and a broker that is down does not keep it from
starting."""

from __future__ import annotations

import time

from jobstore.settings import Settings
from service.queue import make_celery, warm


def test_warming_leaves_a_connected_producer_for_the_first_publish(redis_url):
    celery = make_celery(Settings(redis_url=redis_url + '/0'))
    warm(celery)
    with celery.producer_or_acquire() as producer:
        assert producer.connection.connected


def test_warming_against_a_broker_that_is_down_gives_up_quickly(free_port):
    celery = make_celery(Settings(redis_url=f'redis://127.0.0.1:{free_port}/0'))  # the shipped timeouts
    clock = time.monotonic()
    warm(celery)  # logs and returns: the first publish then connects (or answers 503) as before
    assert time.monotonic() - clock < 15
