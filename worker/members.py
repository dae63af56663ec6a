"""The member side of a job fanned out as one row per member (a bootstrap's chunks, a sweep's variants): run a member
once, record its row whatever happens to it, and let the one writer whose row completed the job publish finalize.

Why one module: the bootstrap and the sweep ran, recorded and lost their members by the same steps, written twice.
(Multi-start keeps its own: its members run in phases and record schedules.)
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from celery import Task

import blp
from jobstore.fanout import FanOut
from jobstore.records import JobRecord
from jobstore.store import Store
from worker.celery_app import app, job_store, settings
from worker.failures import failed_row, lost_problem_details, problem_details_of, worker_lost
from worker.leases import LeasedTask
from worker.tasks import JobTask, cancel, durably, publish

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Members:
    """How one kind's members are kept (`name`, `unit`: the ledger's keys and progress), counted (`total`), computed
    (`compute`: the row of a member that succeeded) and shown (`identify`: fields every row starts with)."""

    name: str
    unit: str
    subject: str  # 'chunk', 'variant': what the problem documents call a member
    finalize_task: str
    total: Callable[[JobRecord], int]
    compute: Callable[[Store, JobRecord, int], dict[str, Any]]
    identify: Callable[[JobRecord, int], dict[str, Any]]

    def ledger(self, store: Store, job_id: str) -> FanOut:
        return FanOut(store, job_id, self.name, self.unit)

    def publish_finalize(self, job_id: str) -> None:
        publish(self.finalize_task, [job_id], f'{job_id}.finalize')

    def run(self, store: Store, job_id: str, index: int, hostname: str = '') -> str:
        """Compute one member and record its row; a member that fails is recorded failed, never the job."""
        record = durably(store.get_job, job_id)
        if record is None or record['status'] != 'running':
            return 'skipped'
        ledger = self.ledger(store, job_id)
        if durably(ledger.row, 1, index) is not None:  # a duplicate, or redelivered after its row was written
            if len(ledger.rows(1)) >= self.total(record):
                self.publish_finalize(job_id)
            return 'duplicate'
        if record['cancel_requested']:
            return cancel(store, job_id)
        attempt = ledger.begin(1, index, hostname)
        clock = time.perf_counter()
        if attempt > settings().job_max_attempts:
            row = failed_row(worker_lost(self.subject, attempt))
        else:
            try:
                row = self.compute(store, record, index)
            except blp.Cancelled:  # the job was cancelled, or has ended meanwhile
                current = store.get_job(job_id)
                return cancel(store, job_id) if current and current['cancel_requested'] else 'skipped'
            except Exception as error:
                row = failed_row(problem_details_of(error, self.subject, f'{self.subject} {index} of job {job_id}'))
        row.update(seconds=time.perf_counter() - clock, attempts=attempt, worker=hostname)
        return self.record(ledger, record, index, row)

    def record(self, ledger: FanOut, record: JobRecord, index: int, row: dict[str, Any], retry: bool = True) -> str:
        """Write the member's row once (waiting out a Redis restart unless `retry` is off); the call whose row
        completes the job publishes finalize."""
        arguments = (1, index, {**self.identify(record, index), **row}, self.total(record), 1)
        added, complete = durably(ledger.record, *arguments) if retry else ledger.record(*arguments)
        if added and complete:
            self.publish_finalize(ledger.job_id)
        return row['status'] if added else 'not recorded'

    def complete(self, store: Store, job_id: str) -> tuple[str, Optional[JobRecord], list[dict[str, Any]]]:
        """What finalize works from: ('ready', the record, every row in member order) once every row is in; else
        ('skipped', ...) when the job has ended, ('cancelled', ...) once it is cancelled, ('incomplete', ...)."""
        record = durably(store.get_job, job_id)
        if record is None or record['status'] != 'running':
            return 'skipped', None, []
        if record['cancel_requested']:
            return cancel(store, job_id), None, []
        stored, total = self.ledger(store, job_id).rows(1), self.total(record)
        if len(stored) < total:
            return 'incomplete', None, []
        return 'ready', record, [stored[index] for index in range(total)]

    def lost(self, exc: BaseException, job_id: str, index: int) -> None:
        """Record a member failed when its task failed outside `run` (the hard time limit), so the job ends."""
        try:
            store = job_store()
            record = store.get_job(job_id)
            if record is not None and record['status'] == 'running':
                self.record(self.ledger(store, job_id), record, index,
                            failed_row(lost_problem_details(exc, self.subject)), retry=False)
        except Exception:
            log.exception('could not record %s %s of job %s failed', self.subject, index, job_id)


class MemberTask(LeasedTask):
    """A member's task: its `members` record it failed when the task fails outside `Members.run` (Celery calls this
    in the worker's main process when the hard time limit killed the pool process)."""

    members: Members

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:  # noqa: ANN001
        job_id, index = args
        self.members.lost(exc, job_id, index)


def register(members: Members, parent_task: str, member_task: str, fan_out: Callable[[Store, str, str], str],
             finalize: Callable[[Store, str], str]) -> None:
    """The three tasks of a fanned-out kind: the parent publishes the members (`fan_out`), each member runs through
    `members`, and `finalize` concludes once every row is in."""
    member_base = type(f'{members.subject.title()}Task', (MemberTask,), {'members': members, '__module__': __name__})

    @app.task(name=parent_task, base=JobTask, bind=True)
    def parent(self: Task, job_id: str) -> str:
        return fan_out(job_store(), job_id, self.request.hostname or '')

    @app.task(name=member_task, base=member_base, bind=True)
    def member(self: Task, job_id: str, index: int) -> str:
        return members.run(job_store(), job_id, index, self.request.hostname or '')

    @app.task(name=members.finalize_task, base=JobTask, bind=True)
    def conclude(self: Task, job_id: str) -> str:
        return finalize(job_store(), job_id)
