"""Multi-start jobs on the queue: one estimate fanned out as one task per start over every worker, each start
recorded under its own key, and the parent finished once every start is accounted for.

Tasks (acks_late like every task here: a start whose process dies is redelivered and solved again):
  blp.estimation.multistart(job_id)                       the parent: publishes one task per start of phase 1
  blp.estimation.multistart.start(job_id, phase, index)   solves one start and records its row
  blp.estimation.multistart.finalize(job_id, phase)       once a phase is complete: phase 2 of a two-step, or the result

The parent publishes the starts longest expected first (`blp.estimation.multistart.expected_order`, from the spec's sizes
and starting values alone; phase 2 by the starts' phase-1 seconds), so that the workers end together rather than
one idling while another runs a long start last. It publishes before it builds anything, so that every worker
builds the problem at the same time rather than the others waiting for the parent's build; then it builds the
problem into its process's cache (its next start finds it built) and draws the plan. A start that begins before
the plan is written draws it itself from the same seed (the draw is deterministic). The plan, the order and when
it was published go in the ledger. Each pool process keeps the built problem of its recent jobs (`worker.cache`),
so every later start on a process finds the problem built. Each row records its schedule (position in the order,
worker process, queue wait, read/build/solve seconds), and the report sums it up per phase: the busy seconds of
each worker process and the speed-up they allow (busy / busiest).

Why this survives redelivery and duplicates (no chord: Celery counts chord members, and a redelivered member
breaks that count): a start's row is written with HSETNX under its index, and one Lua script writes the row,
counts the rows and updates the parent's progress, so exactly one writer learns that its row completed the
phase; that writer publishes finalize. A start that finds its row already written (a duplicate, or a redelivery
after the write) publishes finalize again when the phase is complete, since the first writer may have died
before publishing. Finalize is idempotent: its inputs are the rows, which never change once written, its output
is the same for the same rows, and the parent leaves `running` through the store's atomic transition, once.

The reads that begin each task and the writes that record a start or finish the parent wait out a short Redis
restart (`worker.tasks.durably`); each of them is idempotent.

Weighting: objectives are comparable only under one W, so every start runs as one GMM step with a shared W
(see `blp.estimation.multistart`): one phase for '1s'; for '2s', phase 1 with the 2SLS W, then phase 2 from each start's
phase-1 theta with the updated W of the best phase-1 start.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable, Optional

import numpy as np
from celery import Task

import blp
from blp.estimation.multistart import continue_from, draw_starts, expected_order, outcome, solve_start, summarize
from blp.estimation.parameters import Parameters
from blp.spec import EstimateSpec, StartsSpec, starts_kwargs
from jobstore import tasks as names
from jobstore.fanout import FanOut
from jobstore.problems import ProblemDetails, core_problem_details
from jobstore.records import JobRecord
from jobstore.store import Store, now
from worker import cache
from worker.celery_app import app, job_store, settings
from worker.failures import failed_row, lost_problem_details, problem_details_of, worker_lost
from worker.leases import LeasedTask
from worker.tasks import JobTask, _finish, _seconds, _versions, cancel, durably, publish, succeed, take_parent
from worker.threads import capped_options
from worker.trace import Trace

log = logging.getLogger(__name__)
CANCEL_CHECK_SECONDS = 0.2
# Row fields kept for finalize but left out of the report (the chosen start's `results` become the result's).
_INTERNAL = ('results', 'updated_W')

# ------------------------------------------------------------------------------------------ shared pieces

def _spec(record: JobRecord) -> tuple[EstimateSpec, StartsSpec]:
    return EstimateSpec.model_validate(record['spec']), StartsSpec.model_validate(record['request'])


def _phases(spec: EstimateSpec) -> int:
    return 2 if spec.solve.method == '2s' else 1


def _problem(store: Store, record: JobRecord, spec: EstimateSpec, timings: Optional[dict] = None) -> Any:
    """The job's problem, shared by the tasks of one pool process (read-only; `worker.cache`)."""
    return cache.problem(store, record['inputs'], EstimateSpec(problem=spec.problem), timings)


def _publish_finalize(job_id: str, phase: int) -> None:
    publish(names.MULTISTART_FINALIZE, [job_id, phase], f'{job_id}.finalize.{phase}')


def _stop_when_cancelled(store: Store, job_id: str, every: float = CANCEL_CHECK_SECONDS) -> Callable[[dict], None]:
    """The optimizer callback of a start: stop when the parent was cancelled or has ended (asked at most every
    `every` seconds)."""
    last = [float('-inf')]

    def check(_: dict) -> None:
        if time.monotonic() - last[0] < every:
            return
        last[0] = time.monotonic()
        status, cancel = store.status_and_cancel(job_id)
        if cancel or status != 'running':
            raise blp.Cancelled('the multi-start was cancelled or has ended')

    return check


# ------------------------------------------------------------------------------------------ the parent: fan out

def fan_out(store: Store, job_id: str, hostname: str = '') -> str:
    """Publish one task per start. A redelivered parent whose starts were published does nothing; one that died
    while publishing publishes them all again (a start already recorded is skipped)."""
    ledger = FanOut(store, job_id, 'multistart', 'starts')
    record = take_parent(store, ledger, hostname)
    if record is None:
        return 'skipped'
    spec, starts = _spec(record)
    store.set_fields(job_id, progress={'phase': 1, 'phases': _phases(spec), 'starts_done': 0,
                                       'starts_total': starts.count, 'starts_failed': 0, 'updated_at': now()})
    options, drawing = capped_options(spec.solve), starts_kwargs(starts)
    try:
        order = expected_order(options, **drawing)
    except blp.BLPError:  # the sizes alone did not say (the built problem will): publish in the drawn order
        order = list(range(starts.count))
    _publish_in_order(ledger, job_id, 1, order)  # before building: the other workers build meanwhile
    try:
        problem = _problem(store, record, spec)  # into this process's cache, for the start it takes next
        ledger.put(**{'plan:1': draw_starts(problem, options, **drawing)})
    except blp.BLPError as error:  # e.g. a dataset deleted under the job, or over the budget
        return _fail(store, job_id, core_problem_details(error))
    return 'published'


def _publish_in_order(ledger: FanOut, job_id: str, phase: int, order: list[int],
                      plan: Optional[list[Optional[dict]]] = None) -> None:
    """Write the phase's order (and plan, when known), then publish its starts in that order (Celery hands them out
    in it)."""
    fields: dict[str, Any] = {f'order:{phase}': order, f'published_at:{phase}': time.time()}
    if plan is not None:
        fields[f'plan:{phase}'] = plan
    ledger.put(**fields)
    for index in order:
        publish(names.MULTISTART_START, [job_id, phase, index], f'{job_id}.{phase}.{index}')
    ledger.put(**{f'published:{phase}': True})


# ------------------------------------------------------------------------------------------ one start

def _start(store: Store, record: JobRecord, ledger: FanOut, phase: int, index: int,
           schedule: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """The start's values from the phase's plan: phase 1 the parent's draw, phase 2 the start's phase-1 theta."""
    plan = ledger.get(f'plan:{phase}')
    if plan is None:  # the parent publishes phase 1 before drawing its plan: draw as it does (deterministic)
        spec, starts = _spec(record)
        plan = draw_starts(_problem(store, record, spec, schedule), capped_options(spec.solve), **starts_kwargs(starts))
    return plan[index]


def _solve(store: Store, record: JobRecord, ledger: FanOut, phase: int, start: dict[str, Any],
           schedule: dict[str, Any]) -> dict:
    spec, _ = _spec(record)
    W = np.array(ledger.get('W:2'), dtype=float) if phase == 2 else None
    # read_seconds, build_seconds (0 when the process had the problem), unless _start built it to draw the plan
    problem = _problem(store, record, spec, None if 'build_seconds' in schedule else schedule)
    clock = time.perf_counter()
    trace = Trace(_stop_when_cancelled(store, record['id']))
    results = solve_start(problem, capped_options(spec.solve), start, W=W, step=phase, progress=trace)
    schedule['solve_seconds'] = time.perf_counter() - clock
    row = {**outcome(results), 'results': trace.added_to(results.to_document())}
    if phase == 1 and _phases(spec) == 2:
        row['updated_W'] = results.updated_W.tolist()
    return row


def run_start(store: Store, job_id: str, phase: int, index: int, hostname: str = '') -> str:
    """Solve one start and record its row; whatever happens to the start, it is recorded, never the parent failed."""
    record = durably(store.get_job, job_id)
    if record is None or record['status'] != 'running':
        return 'skipped'
    ledger = FanOut(store, job_id, 'multistart', 'starts')
    spec, starts = _spec(record)
    if durably(ledger.row, phase, index) is not None:  # a duplicate, or redelivered after its row was written
        if len(ledger.rows(phase)) >= starts.count and not (phase == 1 and ledger.published(2)):
            _publish_finalize(job_id, phase)
        return 'duplicate'
    if record['cancel_requested']:
        return cancel(store, job_id)
    attempt = ledger.begin(phase, index, hostname)
    clock, start = time.perf_counter(), None
    schedule = _schedule(ledger, phase, index, hostname)
    if attempt > settings().job_max_attempts:
        row = failed_row(worker_lost('start', attempt))
    else:
        try:
            start = _start(store, record, ledger, phase, index, schedule)
            row = _solve(store, record, ledger, phase, start, schedule)
        except blp.Cancelled:  # the parent was cancelled, or has ended meanwhile
            current = store.get_job(job_id)
            return cancel(store, job_id) if current and current['cancel_requested'] else 'skipped'
        except Exception as error:
            row = failed_row(problem_details_of(error, 'start', f'start {index} of job {job_id}'))
    row.update(start=start, seconds=time.perf_counter() - clock, attempts=attempt, worker=hostname, schedule=schedule)
    return _record(ledger, record, phase, index, row)


def _schedule(ledger: FanOut, phase: int, index: int, hostname: str) -> dict[str, Any]:
    """When and where a start runs: its place in the phase's order, its worker process, how long it waited in the
    queue since the phase was published (clocks of different hosts may differ a little)."""
    published, order = ledger.get(f'published_at:{phase}'), ledger.get(f'order:{phase}') or []
    return {'position': order.index(index) if index in order else None, 'process': f'{hostname}:{os.getpid()}',
            'started': time.time(), 'queue_seconds': time.time() - published if published else None}


def _record(ledger: FanOut, record: JobRecord, phase: int, index: int, row: dict[str, Any],
            retry: bool = True) -> str:
    """Write the row (waiting out a Redis restart unless `retry` is off: the write is idempotent, and minutes of
    work hang on it); the one call whose row completes the phase publishes finalize."""
    spec, starts = _spec(record)
    arguments = (phase, index, {'index': index, **row}, starts.count, _phases(spec))
    added, complete = durably(ledger.record, *arguments) if retry else ledger.record(*arguments)
    if added and complete:
        _publish_finalize(ledger.job_id, phase)
    return row['status'] if added else 'not recorded'


class StartTask(LeasedTask):
    """Records a start failed when its task fails outside `run_start` (the hard time limit killed its process:
    Celery calls this in the worker's main process then), so the phase is still completed."""

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:  # noqa: ANN001
        job_id, phase, index = args
        details = lost_problem_details(exc, 'start')
        try:
            store = job_store()
            record = store.get_job(job_id)
            if record is not None and record['status'] == 'running':
                _record(FanOut(store, job_id, 'multistart', 'starts'), record, phase, index, failed_row(details), retry=False)
        except Exception:
            log.exception('could not record start %s of job %s failed', index, job_id)


# ------------------------------------------------------------------------------------------ finalize

def finalize(store: Store, job_id: str, phase: int) -> str:
    """Act on a complete phase: start phase 2 of a two-step, or choose the estimate and finish the parent."""
    record = durably(store.get_job, job_id)
    if record is None or record['status'] != 'running':
        return 'skipped'
    if record['cancel_requested']:
        return cancel(store, job_id)
    ledger, (spec, starts) = FanOut(store, job_id, 'multistart', 'starts'), _spec(record)
    rows = ledger.rows(phase)
    if len(rows) < starts.count:
        return 'incomplete'
    table = [rows[index] for index in range(starts.count)]
    try:
        if phase < _phases(spec):
            return _second_phase(store, record, ledger, spec, starts, table)
        return _conclude(store, record, ledger, spec, starts, table)
    except blp.BLPError as error:  # e.g. a dataset deleted under the job
        return _fail(store, job_id, core_problem_details(error))


def _fail(store: Store, job_id: str, details: ProblemDetails) -> str:
    _finish(store, job_id, 'failed', details.to_dict())
    return 'failed'


def _second_phase(store: Store, record: JobRecord, ledger: FanOut, spec: EstimateSpec, starts: StartsSpec,
                  table: list[dict[str, Any]]) -> str:
    """W for phase 2 is the updated W of the best acceptable phase-1 start (the lowest objective among those that
    succeeded, if none is acceptable); every phase-1 start that succeeded continues from its theta."""
    job_id = record['id']
    if ledger.published(2):
        return 'skipped'
    chosen = summarize(table, starts.gradient_tolerance, starts.theta_tolerance)['chosen']
    succeeded = [index for index, row in enumerate(table) if row['status'] == 'succeeded']
    if chosen is None and not succeeded:
        return _fail(store, job_id, _no_start('no start of the first phase (2SLS weighting) succeeded', table))
    source = chosen if chosen is not None else min(succeeded, key=lambda index: table[index]['objective'])
    problem, options = _problem(store, record, spec), capped_options(spec.solve)
    plan = [continue_from(problem, options, row['theta']) if row['status'] == 'succeeded' else None
            for row in table]
    ledger.put(**{'W:2': table[source]['updated_W'],
                  'weighting': {'phase_1': '2SLS', 'phase_2_from_start': source,
                                'phase_2_source_acceptable': chosen is not None}})
    for index in range(len(table)):
        if plan[index] is None:
            carried = {**failed_row(ProblemDetails(422, 'first-phase-failed', 'First phase failed',
                                             'the start failed in the first phase')),
                       'seconds': 0.0, 'attempts': 0, 'worker': ''}
            ledger.record(2, index, {'index': index, **carried}, starts.count, 2)
    # The phase-1 seconds are the best guess of the phase-2 ones: the longest first.
    order = sorted((index for index in range(len(table)) if plan[index] is not None),
                   key=lambda index: -(table[index].get('seconds') or 0.0))
    _publish_in_order(ledger, job_id, 2, order, plan)
    return 'published'


def _report_row(row: dict[str, Any], acceptable: bool, first: Optional[dict[str, Any]]) -> dict[str, Any]:
    """A start as the report shows it: its outcome and, for a two-step, its first phase (which holds the drawn
    starting values; the second phase starts from the first phase's theta)."""
    hidden = _INTERNAL + ('index',)
    entry = {'index': row['index'], **{key: value for key, value in row.items() if key not in hidden},
             'acceptable': acceptable}
    if first is not None:
        entry['first_phase'] = {key: value for key, value in first.items() if key not in hidden}
        entry['start'] = first.get('start')
    return entry


def _scheduling(ledger: FanOut, phase: int, table: list[dict[str, Any]]) -> dict[str, Any]:
    """How a phase ran: its order, each worker process's starts and busy seconds, and the speed-up those busy
    seconds allow (all busy seconds over the busiest process's: 2.0 on two processes is a perfect balance; unlike
    the wall time, it does not count how much the processes slowed each other)."""
    processes: dict[str, dict[str, Any]] = {}
    for row in table:
        process = (row.get('schedule') or {}).get('process')
        if process:
            entry = processes.setdefault(process, {'starts': [], 'busy_seconds': 0.0})
            entry['starts'].append(row['index'])
            entry['busy_seconds'] += row.get('seconds') or 0.0
    busy = sum(entry['busy_seconds'] for entry in processes.values())
    busiest = max((entry['busy_seconds'] for entry in processes.values()), default=0.0)
    return {'phase': phase, 'order': ledger.get(f'order:{phase}'), 'ordered_by': 'longest expected first',
            'published_at': ledger.get(f'published_at:{phase}'), 'processes': processes, 'busy_seconds': busy,
            'busiest_process_seconds': busiest,
            'speedup_from_busy_seconds': busy / busiest if busiest else None}


def _no_start(detail: str, table: list[dict[str, Any]]) -> ProblemDetails:
    reasons = [{'index': index, 'status': row['status'], 'gradient_norm': row.get('gradient_norm'),
                'smallest_hessian_eigenvalue': row.get('smallest_hessian_eigenvalue'),
                'error': (row.get('error') or {}).get('detail')} for index, row in enumerate(table)]
    return ProblemDetails(422, 'no-acceptable-start', 'No acceptable start', detail, starts=reasons)


def _agreement_message(summary: dict[str, Any]) -> str:
    distinct = summary['distinct_optima']
    return (f"{summary['reached_chosen']} of {summary['starts']} starts reached the chosen optimum; "
            f"{distinct} distinct optim{'um' if distinct == 1 else 'a'} among {summary['acceptable']} acceptable "
            f"starts; {summary['starts'] - summary['succeeded']} failed")


def _conclude(store: Store, record: JobRecord, ledger: FanOut, spec: EstimateSpec, starts: StartsSpec,
              table: list[dict[str, Any]]) -> str:
    """Choose the estimate, store the report, and finish the parent (once)."""
    job_id, phases = record['id'], _phases(spec)
    summary = summarize(table, starts.gradient_tolerance, starts.theta_tolerance,
                        statistics=('mean_own_price_elasticity', 'beta'))
    chosen = summary.pop('chosen')
    if chosen is None:
        return _fail(store, job_id, _no_start(
            f'no start met the first- and second-order conditions (projected gradient norm below '
            f'{starts.gradient_tolerance} and a positive definite Hessian)', table))
    clock = time.perf_counter()
    problem = _problem(store, record, spec)  # the labels only: restoring the chosen start took longer than choosing
    theta_labels = Parameters.of(problem, capped_options(spec.solve)).labels
    usable = {index for optimum in summary['optima'] for index in optimum['starts']}
    first_rows = ledger.rows(1) if phases == 2 else {}
    report = [_report_row(row, index in usable, first_rows.get(index)) for index, row in enumerate(table)]
    result = {
        'job_id': job_id, 'kind': 'multistart', 'results': table[chosen]['results'],
        'multistart': {
            'chosen_start': chosen, 'method': spec.solve.method, 'phases': phases,
            'weighting': ledger.get('weighting') if phases == 2 else {'phase_1': '2SLS'},
            'theta_labels': list(theta_labels), 'beta_labels': list(problem.X1_labels),
            'agreement': {**summary, 'message': _agreement_message(summary)},
            'starts': report,
            'scheduling': [_scheduling(ledger, phase, list(ledger.rows(phase).values()))
                           for phase in range(1, phases + 1)],
        },
        'provenance': {
            'product_data': record['inputs'].get('product_data'), 'agent_data': record['inputs'].get('agent_data'),
            'spec': spec.model_dump(mode='json'), 'starts': starts.model_dump(mode='json'), 'versions': _versions(),
            'timings': {'queued_seconds': _seconds(record['created_at'], record['started_at']),
                        'starts_seconds': sum(row.get('seconds') or 0.0 for row in table)},
            'started_at': record['started_at'], 'attempts': record['attempts'],
        },
    }
    log.info('multi-start %s concluded in %.2f s: %s', job_id, time.perf_counter() - clock,
             result['multistart']['agreement']['message'])
    return succeed(store, job_id, result)


# ------------------------------------------------------------------------------------------ the tasks

@app.task(name=names.MULTISTART, base=JobTask, bind=True)
def multistart(self: Task, job_id: str) -> str:
    return fan_out(job_store(), job_id, self.request.hostname or '')


@app.task(name=names.MULTISTART_START, base=StartTask, bind=True)
def multistart_start(self: Task, job_id: str, phase: int, index: int) -> str:
    return run_start(job_store(), job_id, phase, index, self.request.hostname or '')


@app.task(name=names.MULTISTART_FINALIZE, base=JobTask, bind=True)
def multistart_finalize(self: Task, job_id: str, phase: int) -> str:
    return finalize(job_store(), job_id, phase)
