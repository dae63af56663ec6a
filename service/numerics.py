"""The API's numerics in separate processes: checking a job request, and elasticities or diversion ratios of a
finished estimate computed on demand, so that neither ever stalls the API.

Why: building even a budgeted problem holds the GIL for up to ~0.2 s at a time (pandas and numpy on large agent
data), which stalled /healthz and status reads in the same process; and storing every market's matrices cost
megabytes of Redis per estimate. The work runs in a small pool of processes at a lower CPU priority; at most
MAX_CONCURRENT_VALIDATIONS run at once, each within the job memory budget (RLIMIT_AS), and a request that takes
over VALIDATION_TIMEOUT_SECONDS gets 503. Stored datasets are read by the process itself (only their ids cross
over; inline data is sent along), and a restored estimate is kept for the next market's request. The processes
warm up on a tiny request when the API starts, and read each small upload into their caches as it is stored, so
the first job on a dataset is checked about as fast as the next.
"""

from __future__ import annotations

import logging
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache, partial
from typing import Any, Callable, Optional, TypeVar

import pandas as pd

from jobstore.problems import Problem, core_problem
from jobstore.settings import Settings
from jobstore.store import Store, connect
from service.dataset_cache import CACHE, stored_frame
from service.process_slots import NoSlot, ProcessSlots

log = logging.getLogger(__name__)
# (dataset id, the frame when it is inline data not yet stored, else None)
Data = tuple[Optional[str], Optional[pd.DataFrame]]
HEADROOM_BYTES = 1024**3  # the interpreter and its libraries, on top of the job's own budget
T = TypeVar('T')


@lru_cache(maxsize=4)
def _store(url: str, socket_timeout: float, connect_timeout: float) -> Store:
    return Store(connect(url, socket_timeout, connect_timeout))


def _frame(store: Store, data: Data, field: str) -> Optional[pd.DataFrame]:
    dataset_id, frame = data
    if frame is None and dataset_id is not None:
        frame = stored_frame(store, dataset_id)
        if frame is None:
            raise Problem(422, 'unknown-dataset', 'Unknown dataset', f'no dataset {dataset_id}',
                          field=f'{field}.dataset_id')
    return frame


def _warm(settings: Settings) -> Optional[dict[str, Any]]:
    """Check a tiny made-up request (read from Parquet, a multi-start's draw included) as a real one is checked;
    its fault, None when it passed (as it should: else the warm-up stopped short of the build and the draw).

    Why: a process's first check of the cereal data took 0.25-0.41 s, 0.24 s of it importing the modules the check
    needs (scipy.optimize through the core's estimation) and first-call set-up."""
    import json

    from jobstore.warmup import SPEC, STARTS, import_core, stored_tiny_data

    import_core()
    product, agent = stored_tiny_data()
    return _check(settings, json.dumps(SPEC), json.dumps(STARTS), (None, product), (None, agent))


def _prime(settings: Settings, dataset_id: str) -> bool:
    """In a numerics process: read a stored dataset into its frame cache; whether it is cached now (it is not when
    it is too large to keep, or gone)."""
    try:
        stored_frame(_store(settings.redis_url, settings.redis_socket_timeout, settings.redis_connect_timeout),
                     dataset_id)
    except Exception:  # Redis away, a process near its memory limit: the first check reads it, as without this
        return False
    return CACHE.cached_frame(dataset_id) is not None


def _fault(problem: Problem) -> dict[str, Any]:
    """A Problem as plain data (exceptions with keyword arguments do not survive pickling)."""
    return {'status': problem.status, 'slug': problem.slug, 'title': problem.title, 'detail': problem.detail,
            'headers': problem.headers, 'fields': problem.fields}


def _out_of_memory(settings: Settings, doing: str) -> dict[str, Any]:
    return _fault(Problem(422, 'over-budget', 'Job over budget', f'out of memory while {doing} (limit '
                          f'{settings.max_job_memory_bytes:,} bytes per job)'))


def _check(settings: Settings, spec_json: str, starts_json: Optional[str], product: Data,
           agent: Data) -> Optional[dict[str, Any]]:
    """In a numerics process: the cost, then the problem built on a few nodes, then the starts. Returns the
    problem document of the first fault (with its status and headers), or None."""
    from blp.spec import EstimateSpec, StartsSpec
    from service.budget import check_cost, checkable
    from service.jobs import build_problem, check_starts

    try:
        spec = EstimateSpec.model_validate_json(spec_json)
        starts = StartsSpec.model_validate_json(starts_json) if starts_json else None
        store = _store(settings.redis_url, settings.redis_socket_timeout, settings.redis_connect_timeout)
        product_frame, agent_frame = _frame(store, product, 'product_data'), _frame(store, agent, 'agent_data')
        check_cost(spec, product_frame, agent_frame, settings.budget(), starts=starts.count if starts else 1)
        spec = checkable(spec)
        problem = build_problem(spec, product_frame, agent_frame, (product[0], agent[0]))
        if starts is not None:
            check_starts(problem, spec, starts)
    except Problem as problem:
        return _fault(problem)
    except MemoryError:
        return _out_of_memory(settings, 'checking the request')
    return None


@lru_cache(maxsize=4)
def _restored(settings: Settings, job_id: str, spec_json: str, product_id: str, agent_id: Optional[str],
              restore_json: str) -> Any:
    """A finished estimate's results, rebuilt once per process from its stored spec, data and estimate."""
    import json

    import blp
    from blp.post.optimal import restore_stored
    from blp.spec import EstimateSpec

    store = _store(settings.redis_url, settings.redis_socket_timeout, settings.redis_connect_timeout)
    product, agent = _frame(store, (product_id, None), 'product_data'), _frame(store, (agent_id, None), 'agent_data')
    spec = EstimateSpec.model_validate_json(spec_json)
    problem = blp.Problem.from_spec(spec.problem, product, agent)
    return restore_stored(problem, json.loads(restore_json), spec.solve.micro_moments or ())


def _matrix(settings: Settings, job_id: str, spec_json: str, inputs: dict[str, Optional[str]], restore_json: str,
            table: str, market: str) -> dict[str, Any]:
    """In a numerics process: one market's elasticities or diversion ratios at a stored estimate."""
    import blp

    try:
        results = _restored(settings, job_id, spec_json, inputs['product_data'], inputs.get('agent_data'),
                            restore_json)
        compute = results.compute_elasticities if table == 'elasticities' else results.compute_diversion_ratios
        by_market = compute(name='prices', market_id=market, as_dict=True)
    except blp.BLPError as error:
        fault = core_problem(error)
        if fault.fields.get('parameter') == 'market':
            fault = Problem(422, 'unknown-market', 'Unknown market', f'no market {market!r} in this estimate',
                            parameter='market', market=market)
        return {'fault': _fault(fault)}
    except Problem as problem:
        return {'fault': _fault(problem)}
    except MemoryError:
        return {'fault': _out_of_memory(settings, f'computing {table}')}
    return {'matrix': next(iter(by_market.values()))}


class Numerics:
    """The numerics processes of one API process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.processes = ProcessSlots('numerics', settings.max_concurrent_validations,
                                      settings.max_job_memory_bytes + HEADROOM_BYTES)

    def warm(self) -> None:
        """Start the processes and load the core in them now, in the background."""
        self.processes.warm(partial(_warm, self.settings))

    def prime(self, meta: dict[str, Any]) -> None:
        """Read a just-stored dataset into every numerics process's cache, in the background: a process's first
        check of a job on it then builds without reading it (0.05-0.1 s of the cereal data's first POST /v1/jobs in
        each process). Only for data small enough for the cache to keep (rows x columns x 8 bytes at least)."""
        if meta['rows'] * len(meta['columns']) * 8 <= CACHE.max_bytes:
            try:
                self.processes.warm(partial(_prime, self.settings, meta['id']))
            except Exception:  # a broken pool: the next check answers 503 and starts a fresh one; the upload stands
                log.warning('could not prime the numerics processes with dataset %s', meta['id'], exc_info=True)

    def check(self, spec_json: str, starts_json: Optional[str], product: Data, agent: Data) -> None:
        """Raise the request's first fault as a Problem (cost, data, spec, starts)."""
        fault = self._run(_check, spec_json, starts_json, product, agent)
        if fault is not None:
            raise _problem(fault)

    def matrix(self, record: dict[str, Any], result: dict[str, Any], table: str, market: str) -> dict[str, Any]:
        """`{"product_ids", "matrix"}` of one market: `table` is 'elasticities' or 'diversion-ratios' (prices)."""
        import json

        # what restoring needs: the estimate, and for a re-estimate with optimal instruments its report
        restore = json.dumps({key: result[key] for key in ('results', 'optimal_instruments') if key in result},
                             sort_keys=True)
        answer = self._run(_matrix, record['id'], json.dumps(record['spec'], sort_keys=True), record['inputs'],
                           restore, table, market)
        if 'fault' in answer:
            raise _problem(answer['fault'])
        return answer['matrix']

    def _run(self, call: Callable[..., T], *args: Any) -> T:
        """`call(settings, *args)` in a numerics process: a slot and the time limit, or 503."""
        timeout = self.settings.validation_timeout_seconds
        try:
            return self.processes.run(call, self.settings, *args, wait=timeout, timeout=timeout)
        except NoSlot:
            raise Problem(503, 'numerics-busy', 'Service busy', 'too many requests are being computed; retry',
                          headers={'Retry-After': '5'}) from None
        except FutureTimeout:
            raise Problem(503, 'numerics-timeout', 'Request took too long',
                          f'this request took over {timeout:g} s to check or compute; retry later',
                          headers={'Retry-After': '30'}) from None
        except BrokenProcessPool:  # a numerics process died (killed, out of memory): the next request starts afresh
            raise Problem(503, 'numerics-failed', 'Service unavailable', 'a numerics process died; retry',
                          headers={'Retry-After': '5'}) from None


def _problem(fault: dict[str, Any]) -> Problem:
    return Problem(fault['status'], fault['slug'], fault['title'], fault['detail'], headers=fault['headers'],
                   **fault['fields'])

