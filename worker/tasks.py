"""The tasks: run a stored job with the core and store its result, ending every job in a final state.

A job is picked up only from `queued` (or `running`, when its previous worker died and the broker
redelivered it); it ends `succeeded`, `failed` with a problem document, or `cancelled`. Nothing the
numerics raise leaves a job hanging.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from datetime import datetime
from typing import Any, Callable, Optional

import numpy as np
import pandas
import redis
import scipy
from celery import Task

import blp
from blp.spec import EstimateSpec
from jobstore import tasks as names
from jobstore.fanout import FanOut
from jobstore.records import InputIds, JobRecord, JobStatus
from jobstore.store import Store, now
from worker import cache, memory, optimal
from worker.celery_app import app, job_store, settings
from worker.failures import lost_problem_details, problem_details_of, worker_lost
from worker.leases import LeasedTask
from worker.trace import Trace

log = logging.getLogger(__name__)
PROGRESS_SECONDS = 0.2
PROGRESS_KEYS = ('step', 'iteration', 'evaluations', 'objective', 'gradient_norm', 'contraction_iterations')
# A Redis restart takes a second or two: the writes that record a job's state wait that long, not fail the job.
STORE_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
STORE_RETRY_SECONDS = 60.0


def durably(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a store method, retrying on connection errors with backoff for up to STORE_RETRY_SECONDS.

    Only for idempotent calls (reads, SET, the status transition), since a write whose reply was lost may
    have been applied.
    """
    deadline, delay = time.monotonic() + STORE_RETRY_SECONDS, 0.25
    while True:
        try:
            return call(*args, **kwargs)
        except STORE_ERRORS as error:
            if time.monotonic() + delay > deadline:
                raise
            log.warning('job store unavailable (%s); retrying in %.2f s', error, delay)
            time.sleep(delay)
            delay = min(2 * delay, 5.0)


def _process_start(pid: int) -> Optional[str]:
    """When the process started (clock ticks after boot, /proc/PID/stat field 22), or None if it is gone.

    With the pid it names a process uniquely, even once pids are reused (a restarted container has the same
    hostname and often the same pids)."""
    try:
        with open(f'/proc/{pid}/stat') as stat:
            return stat.read().rpartition(')')[2].split()[19]
    except (OSError, IndexError):
        return None


def _running_elsewhere(record: JobRecord, hostname: str) -> bool:
    """The job is `running` in another live process of this worker: this delivery is a duplicate.

    That happens when the broker connection was lost and the worker restored its unacknowledged messages
    while the job went on running (worker_cancel_long_running_tasks_on_connection_loss is off).
    """
    pid, _, started = str(record.get('process') or '').partition(':')
    if record['status'] != 'running' or record.get('worker') != hostname or not pid.isdigit():
        return False
    return int(pid) != os.getpid() and _process_start(int(pid)) == started


class JobTask(LeasedTask):
    """Marks a running job failed whenever its task fails: the hard time limit killed its process (Celery calls
    this in the main process then), or something escaped `run` (a bug, Redis gone at the wrong moment)."""

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:  # noqa: ANN001
        details = lost_problem_details(exc, 'job')
        try:  # in the worker's main process for the hard limit: no waiting out a Redis outage there
            _finish(job_store(), args[0], 'failed', details.to_dict(), retry=False)
        except Exception:
            log.exception('could not mark job %s failed', args[0])


def _finish(store: Store, job_id: str, status: JobStatus, error: Optional[dict] = None, retry: bool = True) -> None:
    fields: dict[str, Any] = {'finished_at': now()}
    if error is not None:
        fields['error'] = error
    (durably if retry else lambda call, *args, **kwargs: call(*args, **kwargs))(
        store.transition, job_id, ['running'], status, **fields)


def cancel(store: Store, job_id: str) -> str:
    """End a running job cancelled (a fanned-out job's member or finalizer found its cancel flag)."""
    store.transition(job_id, ['running'], 'cancelled', finished_at=now())
    return 'cancelled'


def take_parent(store: Store, ledger: FanOut, hostname: str) -> Optional[JobRecord]:
    """The record of a fanned-out job (multi-start, bootstrap) once its parent task has moved it to `running`; None
    when this delivery has nothing to do: the job is gone or has ended, or a previous delivery published its members
    (one that died while publishing leaves them unpublished: they are published again)."""
    record = durably(store.get_job, ledger.job_id)
    if record is None or record['status'] not in ('queued', 'running'):
        return None
    if record['status'] == 'running' and ledger.published(1):
        return None
    moved = store.transition(ledger.job_id, ['queued', 'running'], 'running',
                             started_at=record.get('started_at') or now(), attempts=record['attempts'] + 1,
                             worker=hostname)
    return record if moved is True else None


def publish(name: str, args: list[Any], task_id: str) -> None:
    """Publish a task of a fanned-out job (a member, a finalizer) under a task id of its own."""
    app.send_task(name, args=args, task_id=task_id)


def succeed(store: Store, job_id: str, result: dict[str, Any]) -> str:
    """A fanned-out job's last step: the result is written before the transition, so a succeeded job always has
    one; a second finalize of the same rows writes the same document, and only one of them moves the job."""
    durably(store.put_result, job_id, result)
    moved = durably(store.transition, job_id, ['running'], 'succeeded', finished_at=now())
    return 'succeeded' if moved is True else 'skipped'


def _versions() -> dict[str, str]:
    return {'blp': blp.__version__, 'numpy': np.__version__, 'scipy': scipy.__version__,
            'pandas': pandas.__version__, 'python': platform.python_version()}


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end.replace('Z', '+00:00')) -
            datetime.fromisoformat(start.replace('Z', '+00:00'))).total_seconds()


def _frames(store: Store, inputs: InputIds) -> tuple[Any, Any]:
    return cache.frames(store, inputs)


def run(store: Store, job_id: str, work: Callable[[Store, JobRecord], dict[str, Any]],
        hostname: str = '') -> str:
    """Take the job if it is still wanted, run `work`, store what it returns, and record how it ended."""
    record = durably(store.get_job, job_id)
    if record is None or record['status'] not in ('queued', 'running'):
        return 'skipped'
    if _running_elsewhere(record, hostname):
        log.warning('job %s is still running in process %s: skipping a duplicate delivery', job_id, record['process'])
        return 'skipped'
    attempts = record['attempts'] + 1
    if record['status'] == 'running' and attempts > settings().job_max_attempts:
        _finish(store, job_id, 'failed', worker_lost('job', attempts).to_dict())
        return 'failed'
    process = f'{os.getpid()}:{_process_start(os.getpid())}'  # which process runs it, for operators and duplicates
    moved = durably(store.transition, job_id, ['queued', 'running'], 'running', started_at=now(), attempts=attempts,
                    worker=hostname, pid=os.getpid(), process=process)
    if moved is not True:
        return 'skipped'
    record = durably(store.get_job, job_id) or record
    try:
        durably(store.put_result, job_id, work(store, record))
    except blp.Cancelled:
        _finish(store, job_id, 'cancelled')
        return 'cancelled'
    except Exception as error:
        _finish(store, job_id, 'failed', problem_details_of(error, 'job', f'job {job_id}', 'Estimation failed').to_dict())
        return 'failed'
    _finish(store, job_id, 'succeeded')
    return 'succeeded'


def _progress(store: Store, job_id: str, every: float = PROGRESS_SECONDS) -> Callable[[dict], None]:
    """The optimizer callback: publish progress and stop the solve when a cancel was requested.

    Some optimizers iterate thousands of times a second, so Redis is asked at most every `every` seconds.
    """
    last = [float('-inf')]

    def report(info: dict) -> None:
        if time.monotonic() - last[0] < every:
            return
        last[0] = time.monotonic()
        progress = {key: _plain(info.get(key)) for key in PROGRESS_KEYS}
        try:
            cancel = store.report_progress(job_id, {**progress, 'updated_at': now()})
        except STORE_ERRORS as error:  # progress is best effort: a Redis restart must not fail the job
            log.warning('progress of job %s not recorded: %s', job_id, error)
            return
        if cancel:
            raise blp.Cancelled('cancelled on request')

    return report


def _plain(value: Any) -> Any:
    """numpy scalars to Python numbers, so progress is JSON."""
    return value.item() if isinstance(value, np.generic) else value


def estimate_work(store: Store, record: JobRecord) -> dict[str, Any]:
    timings: dict[str, float] = {'queued_seconds': _seconds(record['created_at'], record['started_at'])}
    spec = EstimateSpec.model_validate(record['spec'])
    problem = cache.problem(store, record['inputs'], spec, timings)  # read_seconds, build_seconds (0 when cached)
    clock = time.perf_counter()
    parent = _parent_result(store, record) if record['kind'] == 'optimal_instruments' else None
    trace = Trace(_progress(store, record['id']))
    with memory.doing('solving'):
        results, optimal_report = optimal.solve(problem, spec, trace, parent)
    timings['solve_seconds'] = time.perf_counter() - clock
    # Elasticities and diversion ratios are computed on demand from this (a few kB), not stored (megabytes).
    result = {
        'job_id': record['id'], 'kind': record['kind'], 'results': trace.added_to(results.to_document()),
        **({'optimal_instruments': optimal_report} if optimal_report else {}),
        'provenance': {
            'product_data': record['inputs'].get('product_data'), 'agent_data': record['inputs'].get('agent_data'),
            'spec': spec.model_dump(mode='json'), 'versions': _versions(), 'timings': timings,
            'started_at': record['started_at'], 'attempts': record['attempts'],
        },
    }
    return result


def _parent_result(store: Store, record: JobRecord) -> dict[str, Any]:
    parent = store.get_result(record['parent'])
    if parent is None:
        raise blp.DataError(f"the estimate {record['parent']} has no stored result")
    return parent


def _by_product(product: Any, market: str, changes: dict[str, float], current: np.ndarray) -> np.ndarray:
    """The market's rows of `current` with the requested products' values replaced."""
    in_market = product['market_ids'].astype(str).to_numpy() == market
    ids = product['product_ids'].astype(str).to_numpy()[in_market]
    return np.array([changes.get(i, value) for i, value in zip(ids, current[in_market])], dtype=float)


def _one_market(request: dict[str, Any]) -> str:
    """The market that a request's prices or costs are given in (the API refuses them without one)."""
    market = request.get('market')
    if market is None:
        raise blp.DataError('prices and costs are given by product id within one market: the request names none')
    return market


def _counterfactual_table(results: Any, product: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Prices taken as given, or a new equilibrium after a merger (`firm_ids`) and/or new costs."""
    market = request.get('market')
    if request.get('prices') is not None:
        prices = product['prices'].to_numpy(dtype=float)
        return results.counterfactual(prices=_by_product(product, _one_market(request), request['prices'], prices),
                                      market_id=market)
    firms = product['firm_ids'].astype(str)
    in_market = np.ones(len(product), dtype=bool) if market is None else \
        product['market_ids'].astype(str).to_numpy() == market
    firm_ids = firms.replace(request['firm_ids']).to_numpy()[in_market] if request.get('firm_ids') else None
    costs = None
    if request.get('costs'):
        current = np.asarray(results.compute_costs(), dtype=float).ravel()
        costs = _by_product(product, _one_market(request), request['costs'], current)
    return results.counterfactual(firm_ids=firm_ids, costs=costs, market_id=market,
                                  constant_costs=request.get('constant_costs', True))


def counterfactual_work(store: Store, record: JobRecord) -> dict[str, Any]:
    """Prices taken as given, or a new equilibrium (merger, costs), at the stored estimate (restored, not
    re-optimized)."""
    timings: dict[str, float] = {'queued_seconds': _seconds(record['created_at'], record['started_at'])}
    clock = time.perf_counter()
    parent = _parent_result(store, record)
    spec = EstimateSpec.model_validate(record['spec'])
    product, agent = _frames(store, record['inputs'])
    memory.check_budget(spec, product, agent, post_estimation=True)  # choices over every market
    with memory.doing('computing the counterfactual'):
        results = optimal.restore(spec, product, agent, parent)
        table = dict(_counterfactual_table(results, product, record['request']))
    timings['compute_seconds'] = time.perf_counter() - clock
    result = {
        'job_id': record['id'], 'kind': 'counterfactual', 'market': record['request'].get('market'),
        'mode': table.pop('kind'),  # 'prices' (taken as given) or 'equilibrium' (firms re-price)
        **table,
        'provenance': {
            'estimate_job': record['parent'], 'product_data': record['inputs'].get('product_data'),
            'agent_data': record['inputs'].get('agent_data'), 'request': record['request'],
            'versions': _versions(), 'timings': timings, 'started_at': record['started_at'],
        },
    }
    return result


@app.task(name=names.ESTIMATE, base=JobTask, bind=True)
def estimate(self: Task, job_id: str) -> str:
    return run(job_store(), job_id, estimate_work, self.request.hostname or '')


@app.task(name=names.OPTIMAL_INSTRUMENTS, base=JobTask, bind=True)
def optimal_instruments(self: Task, job_id: str) -> str:
    """An estimate re-estimated with optimal instruments, starting from its parent's stored estimate."""
    return run(job_store(), job_id, estimate_work, self.request.hostname or '')


@app.task(name=names.COUNTERFACTUAL, base=JobTask, bind=True)
def counterfactual(self: Task, job_id: str) -> str:
    return run(job_store(), job_id, counterfactual_work, self.request.hostname or '')
