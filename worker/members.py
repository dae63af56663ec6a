"""A job fanned out as one row per member (a bootstrap's chunks, a sweep's variants, a merger screen's candidates):
the parent publishes one task per member, each member runs once and records its row whatever happens to it, and the
one writer whose row completed the job publishes finalize.

Why one module: the bootstrap, the sweep and the merger screen published, ran, recorded and lost their members by the
same steps, which had been written once per kind. A member that finds its row written (a duplicate, or a redelivery
after the write) publishes finalize again when every row is in, since the first writer may have died before
publishing; a member past JOB_MAX_ATTEMPTS deliveries is recorded lost rather than run again; one that fails is
recorded failed, never the job; a task killed by the hard time limit is recorded by `MemberTask.on_failure`.
(Multi-start keeps its own: its members run in phases and record schedules.)

A kind whose members take milliseconds (a merger screen's candidates) gives each task a batch of them (`batches`):
the task's delivery, lease and job record are paid once per batch, its members' first attempts are counted by one
script call and their rows written by another, at the batch's end. A batch delivered again (its process died) counts
and records each member as it goes, so the member that kills its process is the only one that runs out of attempts.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

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

# A computed row's entry of fields for the ledger's plan hash (a member's bulky output, kept out of the rows that the
# ledger's script decodes at every write), written with the row.
ASIDE = 'aside'
CHECK_SECONDS = 1.0  # a batch looks for a cancel between its members at most this often


@dataclass(frozen=True)
class Members:
    """How one kind's members are kept (`name`, `unit`: the ledger's keys and progress), published (`member_task`,
    in the order of `order`, skipping those `refused` gives a row for, in `batches`), counted (`total`), computed
    (`compute`: the row of a member that succeeded, with its ASIDE fields) and shown (`identify`: fields every row
    starts with)."""

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
    batches: Optional[Callable[[list[int]], list[list[int]]]] = None  # members per task; default one each

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
        pending = []
        for index in self.order(record) if self.order else range(total):
            row = self.refused(record, index) if self.refused else None
            if row is not None:
                self.record(ledger, record, {index: row})
            else:
                pending.append(index)
        for batch in self.batches(pending) if self.batches else [[index] for index in pending]:
            more = f'+{len(batch) - 1}' if len(batch) > 1 else ''
            publish(self.member_task, [job_id, *batch], f'{job_id}.{self.subject}.{batch[0]}{more}')
        ledger.put(**{'published:1': True})
        return 'published'

    def run(self, store: Store, job_id: str, indices: Sequence[int], hostname: str = '') -> str:
        """Compute a batch of members and record their rows (their statuses, comma-separated); a member that fails
        is recorded failed, never the job."""
        record = durably(store.get_job, job_id)
        if record is None or record['status'] != 'running':
            return 'skipped'
        ledger = self.ledger(store, job_id)
        written = durably(ledger.written, 1, indices)
        todo = [index for index in indices if index not in written]
        if not todo:  # a duplicate, or redelivered after its rows were written
            if durably(ledger.count, 1) >= self.total(record):
                self.publish_finalize(job_id)
            return 'duplicate'
        if record['cancel_requested']:
            return cancel(store, job_id)
        statuses: list[str] = []
        pending: dict[int, dict[str, Any]] = {}
        plan: dict[str, Any] = {}
        for index, attempt, wanted in self._attempts(store, ledger, job_id, todo, hostname):
            if not wanted:  # a batch notices a cancel between its members
                return _stopped(store, job_id)
            clock = time.perf_counter()
            try:
                row = self._row(store, record, index, attempt)
            except blp.Cancelled:  # the job was cancelled, or has ended meanwhile
                return _stopped(store, job_id)
            plan.update(row.pop(ASIDE, {}))
            row.update(seconds=time.perf_counter() - clock, attempts=attempt, worker=hostname)
            pending[index] = row
            if attempt > 1 or row['status'] != 'succeeded':  # delivered before, or failing: written at once
                statuses += self.record(ledger, record, pending, plan)
                pending, plan = {}, {}
        if pending:
            statuses += self.record(ledger, record, pending, plan)
        return ', '.join(statuses)

    def _attempts(self, store: Store, ledger: FanOut, job_id: str, todo: list[int],
                  hostname: str) -> Iterator[tuple[int, int, bool]]:
        """Each member of the batch as it begins: (index, its attempt, whether the job still wants it). A first
        delivery counts every attempt at once and checks the job at most every CHECK_SECONDS; a batch delivered
        before counts and checks each member."""
        first = len(todo) > 1 and durably(ledger.begin_first, 1, todo, hostname)
        checked = time.monotonic()
        for index in todo:
            if not first:
                attempt, wanted = durably(ledger.begin_checked, 1, index, hostname)
                yield index, attempt, wanted
            elif time.monotonic() - checked > CHECK_SECONDS:
                checked = time.monotonic()
                yield index, 1, durably(store.status_and_cancel, job_id) == ('running', False)
            else:
                yield index, 1, True

    def _row(self, store: Store, record: JobRecord, index: int, attempt: int) -> dict[str, Any]:
        """The member's row: computed, failed, or lost after too many deliveries (blp.Cancelled passes through)."""
        if attempt > settings().job_max_attempts:
            return failed_row(worker_lost(self.subject, attempt))
        try:
            return self.compute(store, record, index)
        except blp.Cancelled:
            raise
        except Exception as error:
            return failed_row(problem_details_of(error, self.subject, f"{self.subject} {index} of job {record['id']}"))

    def record(self, ledger: FanOut, record: JobRecord, rows: dict[int, dict[str, Any]],
               plan: Optional[dict[str, Any]] = None, retry: bool = True) -> list[str]:
        """Write the members' rows once, and the `plan` fields they set aside, (waiting out a Redis restart unless
        `retry` is off); the call whose rows complete the job publishes finalize. The rows' statuses, 'not recorded'
        for those written before."""
        rows = {index: {**self.identify(record, index), **row} for index, row in rows.items()}
        arguments = (1, rows, self.total(record), 1, plan)
        added, complete = durably(ledger.record_many, *arguments) if retry else ledger.record_many(*arguments)
        if complete and any(added.values()):
            self.publish_finalize(ledger.job_id)
        return [row['status'] if added[index] else 'not recorded' for index, row in rows.items()]

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

    def lost(self, exc: BaseException, job_id: str, indices: Sequence[int]) -> None:
        """Record members failed when their task failed outside `run` (the hard time limit), so the job ends."""
        try:
            store = job_store()
            record = store.get_job(job_id)
            if record is not None and record['status'] == 'running':
                row = failed_row(lost_problem_details(exc, self.subject))
                self.record(self.ledger(store, job_id), record, {index: row for index in indices}, retry=False)
        except Exception:
            log.exception('could not record %s %s of job %s failed', self.subject, list(indices), job_id)


def _stopped(store: Store, job_id: str) -> str:
    """How a member ends that found its job cancelled ('cancelled', once the job is) or ended ('skipped')."""
    current = store.get_job(job_id)
    return cancel(store, job_id) if current and current['cancel_requested'] else 'skipped'


class MemberTask(LeasedTask):
    """A member's task: its `members` record it failed when the task fails outside `Members.run` (Celery calls this
    in the worker's main process when the hard time limit killed the pool process)."""

    members: Members

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:  # noqa: ANN001
        job_id, *indices = args
        self.members.lost(exc, job_id, indices)


def register(members: Members, parent_task: str, finalize: Callable[[Store, str], str]) -> None:
    """The three tasks of a fanned-out kind: the parent publishes the members (`Members.fan_out`), each member (or
    batch of members: the task's arguments are the job and the members' indices) runs through `members`, and
    `finalize` concludes once every row is in."""
    member_base = type(f'{members.subject.title()}Task', (MemberTask,), {'members': members, '__module__': __name__})

    @app.task(name=parent_task, base=JobTask, bind=True)
    def parent(self: Task, job_id: str) -> str:
        return members.fan_out(job_store(), job_id, self.request.hostname or '')

    @app.task(name=members.member_task, base=member_base, bind=True)
    def member(self: Task, job_id: str, index: int, *more: int) -> str:
        return members.run(job_store(), job_id, [index, *more], self.request.hostname or '')

    @app.task(name=members.finalize_task, base=JobTask, bind=True)
    def conclude(self: Task, job_id: str) -> str:
        return finalize(job_store(), job_id)


def guided(members: list[int], largest: int = 16, parts: int = 8) -> list[list[int]]:
    """Batches of `members` that shrink towards the end (guided self-scheduling): each is an eighth of those left,
    at most `largest`, at least one, so the first batches pay the per-task costs seldom and the last ones, single
    members, keep every worker busy until the end."""
    batches, start = [], 0
    while start < len(members):
        size = max(1, min(largest, -(-(len(members) - start) // parts)))
        batches.append(members[start:start + size])
        start += size
    return batches
