"""The Celery app of the worker: `celery -A worker.celery_app worker --pool prefork`.

Messages are JSON only; a task is acknowledged after it ran (acks_late) and requeued if its process dies,
each process takes one task at a time, and time limits bound every job. Job state is kept in our own
Redis keys (jobstore.store), not in a Celery result backend. A heartbeat thread in the main process
tells the API's /readyz that a worker is alive and keeps the leases of the tasks it holds (worker.leases).
"""

from __future__ import annotations

import logging
import socket
import threading
from functools import lru_cache
from typing import Callable

from celery import Celery, bootsteps, signals
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual as kombu_virtual

import worker  # noqa: F401  (pins BLAS threads before numpy loads)
from jobstore.settings import Settings
from jobstore.store import Store, connect

log = logging.getLogger(__name__)


# Messages of jobs this worker was running when it lost Redis, to publish again once it has reconnected.
_unrestored: list = []


def _restore_unacked_or_keep_them(self, client=None):  # noqa: ANN001, ANN202
    """kombu's Redis QoS.restore_unacked, made safe when Redis went away (a restart, a network cut).

    On a lost connection Celery terminates the jobs it was running (they can no longer be acknowledged) and
    closes the channel, which puts their messages back in the queue. With Redis gone that fails: kombu 5.7
    raises an AttributeError that kills the worker ("Unrecoverable error"), or a connection error, and the
    messages wait in Redis's unacked hash for the visibility timeout (over an hour) while their jobs show
    `running`. Instead keep them, and `Republish` sends them again as soon as the worker has reconnected.
    The stale copy the visibility timeout restores later finds its job finished (or running) and is skipped.
    """
    try:
        return _restore_unacked(self, client)
    except Exception as error:  # noqa: BLE001  (whatever it is, the worker must live and the jobs run again)
        log.warning('could not requeue %d unacknowledged message(s) (%r): publishing them again after reconnecting',
                    len(self._delivered), error)
        _unrestored.extend(self._delivered.values())
        self._delivered.clear()


_restore_unacked = kombu_redis.QoS.restore_unacked
kombu_redis.QoS.restore_unacked = _restore_unacked_or_keep_them  # type: ignore[method-assign]  # a deliberate patch


def _ack_or_let_go(self, delivery_tag):  # noqa: ANN001, ANN202
    """kombu's Redis QoS.ack, made safe when Redis hangs or goes away during the ack.

    kombu frees the message's place in the prefetch window only after Redis confirms the ack. When that fails
    (seen: Redis paused just as a finished job was acknowledged), the place stays taken and, with one message in
    flight per process, the worker never takes another message although it reconnects and its heartbeat is fine.
    So free the place either way and let the error be logged as before: the message stays in Redis's unacked index,
    the restore after the visibility timeout delivers it again, and the duplicate-delivery guard skips its job,
    which has ended.
    """
    try:
        _ack(self, delivery_tag)
    except Exception:
        kombu_virtual.QoS.ack(self, delivery_tag)
        raise


_ack = kombu_redis.QoS.ack
kombu_redis.QoS.ack = _ack_or_let_go  # type: ignore[method-assign]  # a deliberate patch


class Republish(bootsteps.StartStopStep):
    """Consumer step: on every (re)connection, publish the messages `_restore_unacked_or_keep_them` kept."""

    requires = ('celery.worker.consumer.tasks:Tasks',)

    def start(self, consumer) -> None:  # noqa: ANN001
        with consumer.app.producer_or_acquire() as producer:
            while _unrestored:
                message = _unrestored[0]
                producer.publish(message.body, headers=message.headers, content_type=message.content_type,
                                 content_encoding=message.content_encoding, exchange='',
                                 routing_key=message.delivery_info.get('routing_key') or 'celery',
                                 retry=True, retry_policy={'max_retries': 5})
                _unrestored.pop(0)
                log.warning('requeued task %s after reconnecting', message.headers.get('id'))


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings()


@lru_cache(maxsize=1)
def job_store() -> Store:
    """One store per process (redis-py reconnects by itself after the prefork pool forks)."""
    config = settings()
    return Store(connect(config.redis_url, config.redis_socket_timeout, config.redis_connect_timeout),
                 result_ttl=config.result_ttl_seconds)


def make_app(config: Settings) -> Celery:
    celery = Celery('blp', broker=config.redis_url,
                    include=['worker.console', 'worker.leases', 'worker.memory', 'worker.warmup', 'worker.tasks',
                             'worker.multistart', 'worker.bootstrap_chunks', 'worker.merger_screen', 'worker.sweeps'])
    celery.conf.update(
        task_serializer='json', result_serializer='json', accept_content=['json'],
        task_ignore_result=True,
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        task_soft_time_limit=config.job_soft_time_limit, task_time_limit=config.job_time_limit,
        broker_transport_options=config.broker_transport_options(),
        broker_connection_retry_on_startup=True,
        # A job running when the worker lost Redis is terminated (its message can no longer be acknowledged:
        # kombu's Redis transport fails, and kills the worker, if it tries) and published again once the worker
        # has reconnected (Republish): it runs again from the start, as after a crash.
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_hijack_root_logger=False,
        # A pool process still holding more than a job's budget after its task is replaced (worker.memory).
        worker_max_memory_per_child=config.max_job_memory_bytes // 1024,
    )
    celery.steps['consumer'].add(Republish)
    return celery


app = make_app(settings())


# What else the heartbeat thread does each beat, given the worker's hostname (worker.leases renews and reaps).
CHORES: list[Callable[[str], None]] = []


class _Heartbeat:
    """Marks this worker alive in Redis every few seconds, and does the CHORES, until the worker shuts down."""

    def __init__(self, hostname: str) -> None:
        self.hostname, self.stop = hostname, threading.Event()
        self.thread = threading.Thread(target=self._run, name='blp-heartbeat', daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                job_store().heartbeat(self.hostname)
                for chore in CHORES:
                    chore(self.hostname)
            except Exception as error:  # Redis down: keep trying, /readyz reports it meanwhile
                log.warning('heartbeat failed: %s', error)
            self.stop.wait(settings().worker_heartbeat_seconds)


_heartbeats: list[_Heartbeat] = []


@signals.worker_ready.connect
def _start_heartbeat(sender=None, **_: object) -> None:
    beat = _Heartbeat(getattr(sender, 'hostname', None) or socket.gethostname())
    _heartbeats.append(beat)
    beat.thread.start()


@signals.worker_shutdown.connect
def _stop_heartbeat(**_: object) -> None:
    for beat in _heartbeats:
        beat.stop.set()
        try:
            job_store().forget_worker(beat.hostname)
        except Exception:
            pass
