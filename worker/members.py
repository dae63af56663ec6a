"""A job fanned out as one row per member (a bootstrap's chunks, a sweep's variants, a merger screen's candidates):
the parent publishes one task per member, each member runs once and records its row whatever happens to it, and the
one writer whose row completed the job publishes finalize.

Why one module: the bootstrap, the sweep and the merger screen published, ran, recorded and lost their members by the
same steps, which had been written once per kind. A member that finds its row written (a duplicate, or a redelivery
after the write) publishes finalize again when every row is in, since the first writer may have died before
publishing; a member past JOB_MAX_ATTEMPTS deliveries is recorded lost rather than run again; one that fails is
recorded failed, never the job; a task killed by the hard time limit is recorded by `MemberTask.on_failure`.
(Multi-start keeps its own: its members run in phases and record schedules.)
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

from celery import Task

import blp
from jobstore.fanout import FanOut
from jobstore.records import JobRecord
from jobstore.store import Store, now
from worker.celery_app import app, job_store, settings
from worker.failures import failed_row, lost_problem_details, problem_details_of, worker_lost
from worker.leases import LeasedTask
from worker.tasks import JobTask, cancel, durably, publish, take_parent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Members:
    """How one kind's members are kept (`name`, `unit`: the ledger's keys and progress), published (`member_task`,
    in the order of `order`, skipping those `refused` gives a row for), counted (`total`), computed (`compute`: the
    row of a member that succeeded) and shown (`identify`: fields every row starts with)."""

    name: str
    unit: str
    subject: str  # 'chunk', 'variant', 'candidate': what task ids and problem documents call a member
    member_task: str
    finalize_task: str
    total: Callable[[JobRecord], int]
    compute: Callable[[Store, JobRecord, int], dict[str, Any]]
    identify: Callable[[JobRecord, int], dict[str, Any]]
    order: Optional[Callable[[JobRecord], Iterable[int]]] = None  # default: by index
    refused: Optional[Callable[[JobRecord, int], Optional[dict[str, Any]]]] = None  # the row of one never run

    def ledger(self, store: Store, job_id: str) -> FanOut:
        return FanOut(store, job_id, self.name, self.unit)

    def publish_finalize(self, job_id: str) -> None:
        publish(self.finalize_task, [job_id], f'{job_id}.finalize')

    def fan_out(self, store: Store, job_id: str, hostname: str = '') -> str:
        """The parent: publish one task per member, or record the row of one refused at submission (again, if a
        previous delivery died while publishing: a member already recorded is not recorded twice)."""
        ledger = self.ledger(store, job_id)
        record = take_parent(store, ledger, hostname)
        if record is None:
            return 'skipped'
        total, unit = self.total(record), self.unit
        store.set_fields(job_id, progress={f'{unit}_done': 0, f'{unit}_total': total, f'{unit}_failed': 0,
                                           'updated_at': now()})
        for index in self.order(record) if self.order else range(total):
            row = self.refused(record, index) if self.refused else None
            if row is not None:
                self.record(ledger, record, index, row)
            else:
                publish(self.member_task, [job_id, index], f'{job_id}.{self.subject}.{index}')
        ledger.put(**{'published:1': True})
        return 'published'

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


def register(members: Members, parent_task: str, finalize: Callable[[Store, str], str]) -> None:
    """The three tasks of a fanned-out kind: the parent publishes the members (`Members.fan_out`), each member runs
    through `members`, and `finalize` concludes once every row is in."""
    member_base = type(f'{members.subject.title()}Task', (MemberTask,), {'members': members, '__module__': __name__})

    @app.task(name=parent_task, base=JobTask, bind=True)
    def parent(self: Task, job_id: str) -> str:
        return members.fan_out(job_store(), job_id, self.request.hostname or '')

    @app.task(name=members.member_task, base=member_base, bind=True)
    def member(self: Task, job_id: str, index: int) -> str:
        return members.run(job_store(), job_id, index, self.request.hostname or '')

    @app.task(name=members.finalize_task, base=JobTask, bind=True)
    def conclude(self: Task, job_id: str) -> str:
        return finalize(job_store(), job_id)
