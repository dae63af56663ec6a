"""The service's side of Celery: a producer that enqueues tasks by name and revokes them, never importing worker code."""

from __future__ import annotations

import logging

from celery import Celery

from jobstore import tasks
from jobstore.records import JobKind
from jobstore.settings import Settings

log = logging.getLogger(__name__)


def make_celery(settings: Settings) -> Celery:
    """A Celery app used only to publish: JSON messages, bounded waits when the broker is gone."""
    app = Celery('blp-api', broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        task_serializer='json', accept_content=['json'], result_serializer='json', task_ignore_result=True,
        broker_transport_options=settings.broker_transport_options(),
        broker_connection_timeout=settings.redis_connect_timeout,
        task_publish_retry_policy={'max_retries': 2, 'interval_start': 0, 'interval_step': 0.5, 'interval_max': 1},
    )
    return app


def warm(celery: Celery) -> None:
    """Do now what a process's first publish does besides publishing: import the Redis transport, resolve the
    (disabled) result backend, build the producer pool and connect; 71 ms of the API's first POST /v1/jobs.
    Blocks while the broker is unreachable: run it in a thread. Best effort: the first publish connects anyway."""
    try:
        celery.backend  # noqa: B018  (a property that loads the backend's class)
        with celery.producer_or_acquire() as producer:  # back into the pool connected, for the first publish
            producer.connection.ensure_connection(max_retries=1)  # not Celery's default of 100 retries
            producer.connection.default_channel  # noqa: B018  (a property that opens the channel)
    except Exception:
        log.warning('could not connect to the broker ahead of the first job', exc_info=True)


def enqueue(celery: Celery, kind: JobKind, job_id: str, priority: int = 0) -> None:
    """Publish the job's task; the task id is the job id, so a revoke names the job. Priority 0 is taken first,
    9 last (the Redis transport keeps one list per priority; larger numbers are capped at 9)."""
    celery.send_task(tasks.BY_KIND[kind], args=[job_id], task_id=job_id, priority=max(0, min(9, priority)))


def revoke(celery: Celery, job_id: str) -> None:
    """Tell workers to skip a queued job. Never terminate: a running job is cancelled cooperatively."""
    celery.control.revoke(job_id)
