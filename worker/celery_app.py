"""The Celery app of the worker: `celery -A worker.celery_app worker --pool prefork`.

Messages are JSON only; a task is acknowledged after it ran (acks_late) and requeued if its process dies,
each process takes one task at a time, and time limits bound every job. Job state is kept in our own
Redis keys (service.store), not in a Celery result backend. A heartbeat thread in the main process
tells the API's /readyz that a worker is alive.
"""

from __future__ import annotations

import logging
import socket
import threading
from functools import lru_cache

from celery import Celery, signals

import worker  # noqa: F401  (pins BLAS threads before numpy loads)
from service.settings import Settings
from service.store import Store, connect

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings()


@lru_cache(maxsize=1)
def job_store() -> Store:
    """One store per process (redis-py reconnects by itself after the prefork pool forks)."""
    config = settings()
    return Store(connect(config.redis_url, config.redis_socket_timeout, config.redis_connect_timeout))


def make_app(config: Settings) -> Celery:
    celery = Celery('blp', broker=config.redis_url, include=['worker.tasks'])
    celery.conf.update(
        task_serializer='json', result_serializer='json', accept_content=['json'],
        task_ignore_result=True,
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        task_soft_time_limit=config.job_soft_time_limit, task_time_limit=config.job_time_limit,
        broker_transport_options=config.broker_transport_options(),
        broker_connection_retry_on_startup=True,
        # A worker that lost the broker connection would have its unacked tasks redelivered elsewhere.
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_hijack_root_logger=False,
    )
    return celery


app = make_app(settings())


class _Heartbeat:
    """Marks this worker alive in Redis every few seconds until the worker shuts down."""

    def __init__(self, hostname: str) -> None:
        self.hostname, self.stop = hostname, threading.Event()
        self.thread = threading.Thread(target=self._run, name='blp-heartbeat', daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                job_store().heartbeat(self.hostname)
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
