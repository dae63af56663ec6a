"""The members of a single-phase fanned-out job (a bootstrap's chunks, a merger screen's candidates): the parent
publishes one task per member, each member computes its row once and records it once in the job's fan-out ledger
(`jobstore.fanout`), and the writer whose row completes the job publishes finalize.

Why one module: each kind had its own copy of the same redelivery rules. A member that finds its row written (a
duplicate, or a redelivery after the write) publishes finalize again when all rows are in, since the first writer may
have died before publishing; a member past JOB_MAX_ATTEMPTS deliveries is recorded lost rather than run again; one
that fails is recorded failed, never the parent; a task killed by the hard time limit is recorded by `on_failure`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Union

from celery import Task

from jobstore.fanout import FanOut
from jobstore.records import JobRecord
from jobstore.store import Store, now
from worker.celery_app import app, job_store, settings
from worker.failures import failed_row, lost_problem_details, problem_details_of, worker_lost
from worker.leases import LeasedTask
from worker.tasks import JobTask, cancel, durably, publish, take_parent

log = logging.getLogger(__name__)
Compute = Callable[[Store, JobRecord, int], dict[str, Any]]


@dataclass(frozen=True)
class Members:
    """A kind of member: its ledger's name and unit (`chunks`, `candidates`: keys and progress), the task names, how
    many members a job has, and the fields every row has (a failed row gets them too)."""

    name: str
    unit: str
    subject: str  # what a member is called in problems and logs: 'chunk', 'candidate'
    parent_task: str
    member_task: str
    finalize_task: str
    count: Callable[[dict[str, Any]], int]  # members of a job, from its request
    defaults: tuple[tuple[str, Any], ...] = ()

    def ledger(self, store: Store, job_id: str) -> FanOut:
        return FanOut(store, job_id, self.name, self.unit)

    def total(self, record: JobRecord) -> int:
        return self.count(record['request'])


def fan_out(members: Members, store: Store, job_id: str, hostname: str = '') -> str:
    """Publish one task per member (again, if a previous delivery died while publishing)."""
    ledger = members.ledger(store, job_id)
    record = take_parent(store, ledger, hostname)
    if record is None:
        return 'skipped'
    total, unit = members.total(record), members.unit
    store.set_fields(job_id, progress={f'{unit}_done': 0, f'{unit}_total': total, f'{unit}_failed': 0,
                                       'updated_at': now()})
    for index in range(total):
        publish(members.member_task, [job_id, index], f'{job_id}.{members.subject}.{index}')
    ledger.put(**{'published:1': True})
    return 'published'


def run_member(members: Members, compute: Compute, store: Store, job_id: str, index: int, hostname: str = '') -> str:
    """Compute member `index` and record its row."""
    record = durably(store.get_job, job_id)
    if record is None or record['status'] != 'running':
        return 'skipped'
    ledger = members.ledger(store, job_id)
    if durably(ledger.row, 1, index) is not None:  # a duplicate, or redelivered after its row was written
        if len(ledger.rows(1)) >= members.total(record):
            publish(members.finalize_task, [job_id], f'{job_id}.finalize')
        return 'duplicate'
    if record['cancel_requested']:
        return cancel(store, job_id)
    attempt = ledger.begin(1, index, hostname)
    clock = time.perf_counter()
    if attempt > settings().job_max_attempts:
        row = failed_row(worker_lost(members.subject, attempt))
    else:
        try:
            row = compute(store, record, index)
        except Exception as error:
            row = failed_row(problem_details_of(error, members.subject, f'{members.subject} {index} of job {job_id}'))
    row.update(seconds=time.perf_counter() - clock, attempts=attempt, worker=hostname)
    return record_member(members, ledger, record, index, row)


def record_member(members: Members, ledger: FanOut, record: JobRecord, index: int, row: dict[str, Any],
                  retry: bool = True) -> str:
    """Write the row once; the write that completes the job publishes finalize."""
    row = {'index': index, **dict(members.defaults), **row}
    arguments = (1, index, row, members.total(record), 1)
    added, complete = durably(ledger.record, *arguments) if retry else ledger.record(*arguments)
    if added and complete:
        publish(members.finalize_task, [ledger.job_id], f'{ledger.job_id}.finalize')
    return row['status'] if added else 'not recorded'


def _member_task(members: Members) -> type[LeasedTask]:
    class MemberTask(LeasedTask):
        """Records the member failed when its task fails outside `run_member` (the hard time limit), so the job ends."""

        def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:  # noqa: ANN001
            job_id, index = args
            try:
                store = job_store()
                record = store.get_job(job_id)
                if record is not None and record['status'] == 'running':
                    record_member(members, members.ledger(store, job_id), record, index,
                                  failed_row(lost_problem_details(exc, members.subject)), retry=False)
            except Exception:
                log.exception('could not record %s %s of job %s failed', members.subject, index, job_id)

    return MemberTask


def register(members: Members, compute: Compute, finalize: Callable[[Store, str], str]) -> tuple[Task, Task, Task]:
    """The kind's three tasks: the parent (fan out), a member, finalize."""

    def parent(self: Task, job_id: str) -> str:
        return fan_out(members, job_store(), job_id, self.request.hostname or '')

    def member(self: Task, job_id: str, index: int) -> str:
        return run_member(members, compute, job_store(), job_id, index, self.request.hostname or '')

    def finish(self: Task, job_id: str) -> str:
        return finalize(job_store(), job_id)

    return (app.task(name=members.parent_task, base=JobTask, bind=True)(parent),
            app.task(name=members.member_task, base=_member_task(members), bind=True)(member),
            app.task(name=members.finalize_task, base=JobTask, bind=True)(finish))


def rows_to_finalize(members: Members, store: Store, job_id: str) -> Union[str, tuple[JobRecord, list[dict[str, Any]]]]:
    """(the record, every member's row in order) when the job is running with all rows in; else what finalize
    returns: 'skipped' (the job ended), 'cancelled' (it is now) or 'incomplete'."""
    record = durably(store.get_job, job_id)
    if record is None or record['status'] != 'running':
        return 'skipped'
    if record['cancel_requested']:
        return cancel(store, job_id)
    stored, total = members.ledger(store, job_id).rows(1), members.total(record)
    if len(stored) < total:
        return 'incomplete'
    return record, [stored[index] for index in range(total)]
