"""The API's numerics in separate processes: checking a job request, and what a finished estimate answers on demand
(elasticities, diversion ratios, passthrough, micro values and scores, importance sampling), so that neither ever stalls the API.

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

import json
import logging
from functools import lru_cache, partial
from typing import Any, Callable, Optional, TypeVar

import pandas as pd

import blp
from blp.spec import EstimateSpec, StartsSpec, drop_indices_problem, solve_options, starts_kwargs
from jobstore.cache import problem_key
from jobstore.problems import ProblemDetails, core_problem_details
from jobstore.records import InputIds, JobRecord
from jobstore.settings import Settings
from jobstore.store import Store
from jobstore.warmup import SPEC, STARTS, import_core, stored_tiny_data
from service.budget import check_cost, checkable
from service.dataset_cache import CACHE, stored_frame
from service.process_slots import Fault, ProcessSlots, fault, from_fault, helper_store

log = logging.getLogger(__name__)
# (dataset id, the frame when it is inline data not yet stored, else None)
Data = tuple[Optional[str], Optional[pd.DataFrame]]
HEADROOM_BYTES = 1024**3  # the interpreter and its libraries, on top of the job's own budget
T = TypeVar('T')


def quiet_core() -> None:
    """A numerics process's setup: PyBLP's status lines are for a person at a console; the service answers with
    problem details and results. (Set as the process starts, not when this module is imported: importing it changes
    no option of the importing process.)"""
    blp.options.verbose = False


def _frame(store: Store, data: Data, field: str) -> Optional[pd.DataFrame]:
    dataset_id, frame = data
    if frame is None and dataset_id is not None:
        frame = stored_frame(store, dataset_id)
        if frame is None:
            raise ProblemDetails(422, 'unknown-dataset', 'Unknown dataset', f'no dataset {dataset_id}',
                                 field=f'{field}.dataset_id')
    return frame


def _warm(settings: Settings) -> Optional[Fault]:
    """Check a tiny made-up request (read from Parquet, a multi-start's draw included) as a real one is checked;
    its fault, None when it passed (as it should: else the warm-up stopped short of the build and the draw).

    Why: a process's first check of the cereal data took 0.25-0.41 s, 0.24 s of it importing the modules the check
    needs (scipy.optimize through the core's estimation) and first-call set-up."""
    import_core()
    product, agent = stored_tiny_data()
    return _check(settings, json.dumps(SPEC), json.dumps(STARTS), (None, product), (None, agent))


def _prime(settings: Settings, dataset_id: str) -> bool:
    """In a numerics process: read a stored dataset into its frame cache; whether it is cached now (it is not when
    it is too large to keep, or gone)."""
    try:
        stored_frame(helper_store(settings), dataset_id)
    except Exception:  # Redis away, a process near its memory limit: the first check reads it, as without this
        return False
    return CACHE.cached_frame(dataset_id) is not None


def _out_of_memory(settings: Settings, doing: str) -> Fault:
    return fault(ProblemDetails(422, 'over-budget', 'Job over budget', f'out of memory while {doing} (limit '
                                f'{settings.max_job_memory_bytes:,} bytes per job)'))


def build_problem(spec: EstimateSpec, product: pd.DataFrame, agent: Optional[pd.DataFrame],
                  data_ids: Optional[tuple[Optional[str], Optional[str]]] = None) -> Any:
    """In a numerics process: build the core's problem and check the solve arguments against it, without solving.

    The core's DataError/SpecificationError become a 422 naming the column, market, row or parameter.
    With `data_ids` (the datasets' ids) the built problem is cached: the same data and problem spec build the
    same problem (only the solve arguments are checked again). Callers must not modify it.
    """
    from blp.estimation.problem import Problem as CoreProblem  # the core: only numerics processes load it

    key = problem_key(*data_ids, spec.problem) if data_ids else None
    try:
        problem = CACHE.cached_problem(key) if key else None
        if problem is None:
            problem = CoreProblem.from_spec(spec.problem, product, agent)
            if key:
                CACHE.keep_problem(key, problem, product, agent)
        labels = problem.check_solve(solve_options(spec.solve))  # shapes, bounds, instrument counts; solves nothing
    except blp.BLPError as error:
        raise core_problem_details(error) from None
    except Exception as error:  # a core bug on odd input must still not be a 500 for the client
        log.exception('building the problem failed')
        raise ProblemDetails(422, 'invalid-problem', 'Invalid problem',
                             f'the problem could not be built: {type(error).__name__}: {error}') from None
    wanted = spec.optimal_instruments
    wrong = drop_indices_problem(wanted.drop_indices, len(labels)) if wanted is not None else None
    if wrong:
        raise ProblemDetails(422, 'invalid-problem', 'Invalid problem', wrong,
                             parameter='optimal_instruments.drop_indices')
    column = wanted.expected_prices_column if wanted is not None else None
    if column is not None and column not in product.columns:
        raise ProblemDetails(422, 'invalid-problem', 'Invalid problem',
                             f'optimal_instruments.expected_prices_column: product_data has no column {column!r}',
                             column=column, dataset='product_data')
    return problem


def check_starts(problem: Any, spec: EstimateSpec, starts: StartsSpec) -> None:
    """In a numerics process: draw a multistart's starting values as the worker will, so a parameter without finite
    bounds to draw within (or drawn outside the solve's bounds) is a 422 naming it now, not a failed job later."""
    from blp.estimation.multistart import draw_starts  # the core: only numerics processes load it

    try:
        draw_starts(problem, solve_options(spec.solve), **starts_kwargs(starts))
    except blp.BLPError as error:
        raise core_problem_details(error) from None


def _check(settings: Settings, spec_json: str, starts_json: Optional[str], product: Data,
           agent: Data) -> Optional[Fault]:
    """In a numerics process: the cost, then the problem built on a few nodes, then the starts. Returns the
    problem document of the first fault (with its status and headers), or None."""
    try:
        spec = EstimateSpec.model_validate_json(spec_json)
        starts = StartsSpec.model_validate_json(starts_json) if starts_json else None
        store = helper_store(settings)
        product_frame, agent_frame = _frame(store, product, 'product_data'), _frame(store, agent, 'agent_data')
        check_cost(spec, product_frame, agent_frame, settings.budget(), starts=starts.count if starts else 1)
        spec = checkable(spec, agent_frame)
        problem = build_problem(spec, product_frame, agent_frame, (product[0], agent[0]))
        if starts is not None:
            check_starts(problem, spec, starts)
    except ProblemDetails as details:
        return fault(details)
    except MemoryError:
        return _out_of_memory(settings, 'checking the request')
    return None


@lru_cache(maxsize=4)
def _restored(settings: Settings, job_id: str, spec_json: str, product_id: str, agent_id: Optional[str],
              restore_json: str) -> Any:
    """A finished estimate's results, rebuilt once per process from its stored spec, data and estimate."""
    from blp.estimation.problem import Problem as CoreProblem  # the core: only numerics processes load it
    from blp.post.optimal import restore_stored  # the core: only numerics processes load it

    store = helper_store(settings)
    product, agent = _frame(store, (product_id, None), 'product_data'), _frame(store, (agent_id, None), 'agent_data')
    spec = EstimateSpec.model_validate_json(spec_json)
    problem = CoreProblem.from_spec(spec.problem, product, agent)
    return restore_stored(problem, json.loads(restore_json), spec.solve.micro_moments or ())


def _matrix(results: Any, spec: EstimateSpec, settings: Settings, table: str, market: str) -> Any:
    """One market's elasticities, diversion ratios (of prices) or passthrough; 422 naming an unknown market."""
    try:
        if table == 'passthrough':
            by_market = results.compute_passthrough(market_id=market, as_dict=True)
        else:
            compute = results.compute_elasticities if table == 'elasticities' else results.compute_diversion_ratios
            by_market = compute(name='prices', market_id=market, as_dict=True)
    except blp.BLPError as error:
        if core_problem_details(error).fields.get('parameter') != 'market':
            raise
        raise ProblemDetails(422, 'unknown-market', 'Unknown market', f'no market {market!r} in this estimate',
                             parameter='market', market=market) from None
    return next(iter(by_market.values()))


def _micro_values(results: Any, spec: EstimateSpec, settings: Settings, table: str, argument: Any) -> Any:
    """f_m(v) of the estimate's own micro moments."""
    from blp.serialization import jsonable  # the core: only numerics processes load it

    return jsonable(results.compute_micro_values(spec.solve.micro_moments))


def _importance_sample(results: Any, spec: EstimateSpec, settings: Settings, table: str,
                       request: dict[str, Any]) -> Any:
    """Agents sampled at the estimate from its own agents, or from a stored `agent_data` and/or an `integration`."""
    from blp.configurations.integration import Integration  # the core: only numerics processes load it

    agent_id, rule = request.get('agent_data'), request.get('integration')
    agent = _frame(helper_store(settings), (agent_id, None), 'agent_data') if agent_id else None
    integration = None if rule is None else Integration.seeded(rule['specification'], rule['size'], rule.get('seed'))
    return results.importance_sampling(request['draws'], request['ar_constant'], request['seed'], agent_data=agent,
                                       integration=integration).to_document()


def _scores(results: Any, spec: EstimateSpec, settings: Settings, table: str, request: dict[str, Any]) -> Any:
    """Micro or agent scores (`table`) of the checked request's micro dataset at the estimate, per element of theta."""
    from blp.configurations.integration import Integration  # the core: only numerics processes load it
    from blp.micro.from_spec import build_micro_dataset
    from blp.serialization import jsonable
    from blp.spec.micro import MicroDatasetSpec

    micro_id, rule = request.get('micro_data'), request.get('integration')
    micro = _frame(helper_store(settings), (micro_id, None), 'micro_data') if micro_id else None
    integration = None if rule is None else Integration.seeded(rule['specification'], rule['size'], rule.get('seed'))
    dataset = build_micro_dataset(MicroDatasetSpec.model_validate(request['dataset']), results.problem)
    if table == 'micro-scores':
        scores = [jsonable(values) for values in results.compute_micro_scores(dataset, micro, integration)]
    else:
        scores = [{str(market): jsonable(values) for market, values in by_market.items()}
                  for by_market in results.compute_agent_scores(dataset, micro, integration)]
    return {'parameters': list(results.theta_labels), 'scores': scores}


# What a finished estimate answers on demand, by the name the API asks for it with.
AT_ESTIMATE: dict[str, Callable[..., Any]] = {
    'elasticities': _matrix, 'diversion-ratios': _matrix, 'passthrough': _matrix,
    'micro-values': _micro_values, 'importance-sampling': _importance_sample,
    'micro-scores': _scores, 'agent-scores': _scores}


def _at_estimate(settings: Settings, job_id: str, spec_json: str, inputs: InputIds, restore_json: str,
                 what: str, argument: Any) -> dict[str, Any]:
    """In a numerics process: `AT_ESTIMATE[what]` of a stored estimate, as `{"answer": ...}` or `{"fault": ...}`."""
    try:
        results = _restored(settings, job_id, spec_json, inputs['product_data'], inputs.get('agent_data'),
                            restore_json)
        answer = AT_ESTIMATE[what](results, EstimateSpec.model_validate_json(spec_json), settings, what, argument)
    except blp.BLPError as error:
        return {'fault': fault(core_problem_details(error))}
    except ProblemDetails as details:
        return {'fault': fault(details)}
    except MemoryError:
        return {'fault': _out_of_memory(settings, f'computing {what}')}
    return {'answer': answer}


class Numerics:
    """The numerics processes of one API process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.processes = ProcessSlots('numerics', settings.max_concurrent_validations,
                                      settings.max_job_memory_bytes + HEADROOM_BYTES,
                                      setup='service.numerics:quiet_core')

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
        """Raise the request's first fault as a ProblemDetails (cost, data, spec, starts)."""
        found = self._run(_check, spec_json, starts_json, product, agent)
        if found is not None:
            raise from_fault(found)

    def at_estimate(self, record: JobRecord, result: dict[str, Any], what: str, argument: Any) -> Any:
        """What a finished estimate answers on demand (`AT_ESTIMATE`): 'elasticities' or 'diversion-ratios' (prices)
        or 'passthrough' of one market (`argument`), `{"product_ids", "matrix"}`; 'micro-values' of its micro
        moments; 'importance-sampling', 'micro-scores' and 'agent-scores' with `argument` the checked request."""
        # what restoring needs: the estimate, and for a re-estimate with optimal instruments its report
        restore = json.dumps({key: result[key] for key in ('results', 'optimal_instruments') if key in result},
                             sort_keys=True)
        answer = self._run(_at_estimate, record['id'], json.dumps(record['spec'], sort_keys=True), record['inputs'],
                           restore, what, argument)
        if 'fault' in answer:
            raise from_fault(answer['fault'])
        return answer['answer']

    def _run(self, call: Callable[..., T], *args: Any) -> T:
        """`call(settings, *args)` in a numerics process: a slot and the result within the time limit (one limit
        for both), or 503."""
        timeout = self.settings.validation_timeout_seconds
        return self.processes.call(
            call, self.settings, *args, wait=timeout, timeout=timeout,
            busy=ProblemDetails(503, 'numerics-busy', 'Service busy', 'too many requests are being computed; retry',
                                headers={'Retry-After': '5'}),
            late=ProblemDetails(503, 'numerics-timeout', 'Request took too long',
                                f'this request took over {timeout:g} s to check or compute; retry later',
                                headers={'Retry-After': '30'}),
            died=ProblemDetails(503, 'numerics-failed', 'Service unavailable', 'a numerics process died; retry',
                                headers={'Retry-After': '5'}))
