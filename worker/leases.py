"""The worker's side of task leases (jobstore.leases): take them, renew them, and requeue the lapsed ones.

Every task runs through `LeasedTask`: a delivery older than the task's last republication is skipped, otherwise
it holds the lease while it runs. The worker's main process claims a lease as soon as it receives a task, and its
heartbeat thread renews the leases of every task the worker still holds and, every REAPER_INTERVAL_SECONDS (in one
worker at a time), republishes the tasks whose lease lapsed (those of a worker that died as a whole) and the queued
jobs whose task message was lost (Redis died between the record and the publish, or as a worker took the message:
jobstore.submissions).
"""

from __future__ import annotations

import logging
import re
import socket
import time
from functools import lru_cache
from typing import Any

from celery import Task, signals
from celery.worker import state

from jobstore import tasks as names
from jobstore.broker import priority_lists
from jobstore.leases import LEASES, Leases
from jobstore.records import TERMINAL
from jobstore.submissions import Submissions
from worker.celery_app import CHORES, app, job_store, settings

log = logging.getLogger(__name__)
STALE = 'stale'


@lru_cache(maxsize=1)
def leases() -> Leases:
    return Leases(job_store(), settings().job_lease_seconds)


class LeasedTask(Task):
    """A task that holds its lease while it runs; `epoch` (set by the reaper when it republishes) marks stale
    deliveries, which return 'stale' without running."""

    def __call__(self, *args: Any, epoch: int = 0, **kwargs: Any) -> Any:
        task_id, holder = self.request.id or '', self.request.hostname or socket.gethostname()
        if not leases().start(task_id, self.name, list(args), holder, epoch):
            log.warning('task %s[%s]: a stale delivery (epoch %s), skipped', self.name, task_id, epoch)
            return STALE
        try:
            return super().__call__(*args, **kwargs)
        finally:
            try:
                leases().release(task_id, holder)
            except Exception:  # Redis gone: the lease lapses, the reaper finds the job finished and drops it
                log.warning('could not release the lease of %s', task_id, exc_info=True)


@signals.task_received.connect
def _claim(request: Any = None, **_: object) -> None:
    """A received task is leased at once: if this worker dies before running it, it is requeued as well."""
    try:
        leases().claim(request.id, request.name, list(request.args), request.hostname,
                       int((request.kwargs or {}).get('epoch', 0)))
    except Exception:
        log.warning('could not lease task %s on receipt', request.id, exc_info=True)


def republish(task_id: str) -> bool:
    """Requeue a task whose lease lapsed, unless its job has ended (then its lease is just dropped)."""
    taken = leases().reap(task_id)
    if taken is None:
        return False
    name, args, job_id, epoch = taken
    status, _ = job_store().status_and_cancel(job_id)
    if status is None or status in TERMINAL:
        job_store().retain(job_id)  # the epoch just written expires with the job's other keys
        return False
    app.send_task(name, args=args, kwargs={'epoch': epoch}, task_id=task_id)
    log.warning('requeued task %s[%s] of job %s: its lease lapsed (epoch %d)', name, task_id, job_id, epoch)
    return True


def requeue_unpublished(job_id: str) -> bool:
    """Publish a job whose message is lost (jobstore.submissions), if it is still queued and no worker holds it;
    at a raised epoch, so a message that was delivered after all is skipped as stale."""
    taken = Submissions(job_store()).take_orphan(job_id, LEASES)
    if taken is None:
        return False
    kind, epoch = taken
    app.send_task(names.BY_KIND[kind], args=[job_id], kwargs={'epoch': epoch}, task_id=job_id)
    log.warning('requeued job %s: its task message was lost (epoch %d)', job_id, epoch)
    return True


_TASK_ID = re.compile(rb'(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])')


def broker_task_ids(task_ids: list[str]) -> set[str]:
    """Those of `task_ids` whose message is in the broker: waiting in a queue list (any priority) or delivered and
    not yet acknowledged. Read as lists, then the unacknowledged hash, so a message that moves between them meanwhile
    is seen in one of the two (kombu pops it before recording it: in that instant it is in neither, and the job is
    requeued at a raised epoch, which runs it once all the same)."""
    with app.connection_for_read() as connection:
        channel: Any = connection.default_channel  # its `priority_steps` and `sep`: the transport options in force
        pipe = channel.client.pipeline(transaction=False)
        for queue in app.amqp.queues:
            for name in priority_lists(queue, channel.priority_steps, channel.sep):
                pipe.lrange(name, 0, -1)
        pipe.hvals(channel.unacked_key)
        present = {match.decode() for found in pipe.execute() for blob in found for match in _TASK_ID.findall(blob)}
    return present.intersection(task_ids)


def reap(holder: str) -> int:
    """One round of the reaper (if no other worker's reaper holds the lock): how many tasks were requeued, those
    whose lease lapsed and queued jobs whose message is lost (jobstore.submissions)."""
    interval = settings().reaper_interval_seconds
    if not leases().lock_reaper(holder, interval * 0.9):
        return 0
    submissions = Submissions(job_store())
    stale = submissions.unconfirmed(older_than=settings().job_lease_seconds)
    waiting = broker_task_ids(stale) if stale else set()
    submissions.postpone(sorted(waiting))
    return (sum(republish(task_id) for task_id in leases().lapsed())
            + sum(requeue_unpublished(job_id) for job_id in stale if job_id not in waiting))


_next_reap = [0.0]  # monotonic time of this worker's next reaper round


def upkeep(hostname: str) -> None:
    """Each heartbeat: renew the leases of the tasks this worker holds (received and not finished), and every
    reaper interval requeue the lapsed ones."""
    leases().renew(list(state.requests), hostname)  # a copy of the ids: the dict changes meanwhile
    if time.monotonic() >= _next_reap[0]:
        _next_reap[0] = time.monotonic() + settings().reaper_interval_seconds
        reap(hostname)


CHORES.append(upkeep)
