"""`/v1/jobs`: submit, list, watch, cancel, delete estimates and counterfactuals, and read their results.

Results are read from what the worker stored; elasticities, diversion ratios, passthrough, micro values and scores, and
importance sampling are computed from the stored estimate in a numerics process (service.numerics): no numerics in the API
process.
"""

from __future__ import annotations

import csv
import io
import logging
from typing import Annotated, Any, AsyncIterator, Literal, Optional

import anyio
from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from blp.spec import OptimalInstrumentsSpec
from blp.spec.results import (
    JOB_RESULT,
    AgentScores,
    ImportanceSample,
    JobResult,
    MergerRanking,
    MicroScores,
    MicroValues,
    PassthroughMatrix,
    SortColumn,
    SubstitutionMatrix,
)
from jobstore.jsonsafe import dumps
from jobstore.problems import ProblemDetails
from jobstore.records import TERMINAL, JobRecord, JobStatus
from jobstore.store import Store
from jobstore.submissions import Submissions
from service.bootstrap_submission import BootstrapRequest, submit_bootstrap
from service.deps import PRINTABLE, CeleryDep, JobId, NumericsDep, OwnerDep, SettingsDep, StoreDep, require_json
from service.importance_sampling import (
    ImportanceSamplingRequest,
    agents_csv,
    checked_request,
    micro_moments_of,
    sample_view,
)
from service.jobs import ESTIMATES, cancel, job_view, submit_counterfactual, submit_estimate
from service.merger_screen import MergerScreenRequest, ranked, ranking_csv, submit_merger_screen
from service.micro_scores import ScoreKind, ScoresRequest, scores_view
from service.micro_scores import checked_request as scores_request
from service.models import CounterfactualRequest, Job, JobList, JobRequest
from service.numerics import Numerics
from service.openapi import problems
from service.optimal_instruments import submit_optimal_instruments
from service.sweep_submission import submit_sweep

log = logging.getLogger(__name__)
router = APIRouter(prefix='/v1/jobs')

_ERRORS = problems(404, 409, 422)
_LOCATION = {'Location': {'description': 'the job: /v1/jobs/{id}', 'schema': {'type': 'string'}}}
_ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {'description': 'queued', 'headers': _LOCATION},
    200: {'model': Job, 'description': 'an Idempotency-Key replay: the job created before', 'headers': _LOCATION}}
_RUNNING: dict[int | str, dict[str, Any]] = {
    202: {'model': Job, 'description': 'the job is queued or running: no result yet',
          'headers': {**_LOCATION, 'Retry-After': {'description': 'seconds to wait before asking again',
                                                   'schema': {'type': 'integer'}}}}}
IdempotencyKey = Annotated[Optional[str], Header(alias='Idempotency-Key',
                                                 description='retries with the same key and body return the same job')]


def _load(store: Store, job_id: str, owner: str) -> JobRecord:
    record = store.get_job(job_id, owner)
    if record is None:
        lost = Submissions(store).lost_in_restart(job_id)
        if lost:  # accepted, then lost with the last unsynced second of Redis's log: say so, not "no such job"
            raise ProblemDetails(404, 'job-lost', 'Job lost',
                                 f"job {job_id} was accepted at {lost['accepted_at']} but Redis restarted at about "
                                 f"{lost['redis_started_at']} without the last writes before its crash (appendfsync "
                                 'everysec); submit it again', job_id=job_id, **lost)
        raise ProblemDetails(404, 'not-found', 'Not found', f'no job {job_id}')
    return record


def _accepted(record: JobRecord, created: bool) -> JSONResponse:
    """202 for a new job, 200 when an Idempotency-Key replay returns the original; Location names the job."""
    view = Job.model_validate(job_view(record)).model_dump(mode='json')
    return JSONResponse(view, status_code=202 if created else 200, headers={'Location': view['links']['self']})


@router.post('', tags=['jobs'], response_model=Job, status_code=202, responses={**_ACCEPTED, **problems(415, 429), **_ERRORS},
             dependencies=[Depends(require_json)])
def create_job(body: JobRequest, store: StoreDep, celery: CeleryDep, settings: SettingsDep, owner: OwnerDep,
               numerics: NumericsDep, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Validate the spec and data with the core, then queue the estimate (202, `Location: /v1/jobs/{id}`).

    With `"kind": "multistart"` and `starts`, the estimate is solved from several starting values in parallel; its
    result is the best start that meets the first- and second-order conditions, with every start and how they agree.
    With `"kind": "sweep"` and `sweep`, the estimate is made under each variant of the spec (fanned out over the
    workers) and the result compares them; see `GET /v1/jobs/{id}/comparison`.
    """
    submit = submit_sweep if body.kind == 'sweep' else submit_estimate
    record, created = submit(store, celery, settings, numerics, body, owner, idempotency_key)
    return _accepted(record, created)


@router.get('', tags=['jobs'], response_model=JobList, responses=problems(422))
def list_jobs(store: StoreDep, owner: OwnerDep, status: Optional[JobStatus] = None,
              limit: Annotated[int, Query(ge=1, le=200)] = 50,
              cursor: Annotated[Optional[str], Query(pattern=r'^\d+$')] = None) -> dict:
    """The caller's jobs, newest first; follow `next_cursor` for more."""
    records, next_cursor = store.list_jobs(owner, status, limit, int(cursor) if cursor else None)
    return {'items': [job_view(record) for record in records],
            'next_cursor': None if next_cursor is None else str(next_cursor)}


@router.get('/{job_id}', tags=['jobs'], response_model=Job, responses=problems(404))
def get_job(job_id: JobId, store: StoreDep, owner: OwnerDep) -> dict:
    return job_view(_load(store, job_id, owner))


@router.delete('/{job_id}', tags=['jobs'], status_code=204,
               responses={204: {'description': 'a finished job deleted with its result'}, **problems(404, 409)})
def delete_job(job_id: JobId, store: StoreDep, owner: OwnerDep) -> Response:
    """Delete a job that has ended (succeeded, failed, cancelled) with its result (204). A queued or running job is
    refused (409): cancel it first, so that a retried DELETE never cancels a job by accident."""
    record = _load(store, job_id, owner)
    status = record['status']
    if status not in TERMINAL:
        raise ProblemDetails(409, 'job-not-finished', 'Job not finished',
                             f'the job is {status}: cancel it first (POST /v1/jobs/{job_id}/cancel), then delete it',
                             job_status=status)
    store.delete_job(record)
    return Response(status_code=204)


@router.post('/{job_id}/cancel', tags=['jobs'], response_model=Job,
             responses={202: {'model': Job, 'description': 'a running job asked to stop'}, **problems(404)})
def cancel_job(job_id: JobId, store: StoreDep, celery: CeleryDep, owner: OwnerDep) -> JSONResponse:
    """Cancel: a queued job ends `cancelled` at once (200); a running one stops at its next iteration (202). A job that
    has already ended is returned as it is (200), so a retried cancel is harmless; DELETE then removes it."""
    record, status_code = cancel(store, celery, _load(store, job_id, owner))
    return JSONResponse(Job.model_validate(job_view(record)).model_dump(mode='json'), status_code=status_code)


# One Server-Sent Event as a client parses it (schemathesis validates each event of the stream against this).
_EVENT = {'type': 'object', 'required': ['event', 'data'], 'properties': {
    'event': {'type': 'string', 'enum': ['job', 'end']},
    'data': {'type': 'string', 'description': 'the Job as JSON (`end`: the last state, or {"status": "deleted"})'},
    'id': {'type': 'string', 'description': 'the number of the `job` event'}}}


@router.get('/{job_id}/events', tags=['jobs'], response_class=StreamingResponse,
            responses={200: {'content': {'text/event-stream': {'schema': _EVENT}},
                             'description': '`job` events with the Job as data, then one `end` event'},
                       **problems(404)})
async def get_job_events(job_id: JobId, store: StoreDep, owner: OwnerDep, settings: SettingsDep) -> StreamingResponse:
    """Server-Sent Events: `job` events with the job's state whenever it changes, then `end` once it has finished."""
    await run_in_threadpool(_load, store, job_id, owner)

    async def events() -> AsyncIterator[str]:
        last, quiet, number = None, 0.0, 0
        while True:
            record = await run_in_threadpool(store.get_job, job_id)
            if record is None:
                yield 'event: end\ndata: {"status": "deleted"}\n\n'
                return
            view = dumps(job_view(record))
            if view != last:
                number += 1
                last, quiet = view, 0.0
                yield f'id: {number}\nevent: job\ndata: {view}\n\n'
            if record['status'] in TERMINAL:
                yield f'event: end\ndata: {view}\n\n'
                return
            if quiet >= 15:
                quiet = 0.0
                yield ': keep-alive\n\n'
            await anyio.sleep(settings.sse_poll_seconds)
            quiet += settings.sse_poll_seconds

    return StreamingResponse(events(), media_type='text/event-stream',
                             headers={'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no'})


def _finished(record: JobRecord) -> Optional[Response]:
    """None when the job succeeded; else the answer: 202 while it runs, 409 once it failed or was cancelled."""
    status = record['status']
    if status == 'succeeded':
        return None
    if status in ('queued', 'running'):
        return JSONResponse(Job.model_validate(job_view(record)).model_dump(mode='json'), status_code=202,
                            headers={'Retry-After': '2', 'Location': f"/v1/jobs/{record['id']}"})
    raise ProblemDetails(409, f'job-{status}', f'Job {status}', f'the job {status}; it has no result',
                         job_status=status, error=record.get('error'))


def stored_result(store: Store, record: JobRecord) -> Response | dict[str, Any]:
    """A succeeded job's stored result, or the answer while it has none (202 running, 409 failed, 404 gone)."""
    waiting = _finished(record)
    if waiting is not None:
        return waiting
    result = store.get_result(record['id'])
    if result is None:
        raise ProblemDetails(404, 'result-missing', 'Result missing', 'the job succeeded but its result is gone')
    return result


@router.get('/{job_id}/result', response_model=JobResult, tags=['results'], responses={**_RUNNING, **problems(404, 409)})
def get_result(job_id: JobId, store: StoreDep, owner: OwnerDep) -> Any:
    """The result with provenance; 202 while the job is queued or running, 409 when it failed or was cancelled."""
    result = stored_result(store, _load(store, job_id, owner))
    if isinstance(result, Response):
        return result
    try:
        typed = JOB_RESULT.validate_python(result)
    except ValidationError as error:  # stored by an older worker: sent as it is rather than lost behind a 500
        log.warning('result of job %s does not fit the result models (%s): sent as stored', job_id,
                    error.errors()[0]['loc'])
        return JSONResponse(result)
    return JSONResponse(JOB_RESULT.dump_python(typed, mode='json'))


def result_of(store: Store, job_id: str, owner: str, kinds: tuple[str, ...],
              what: str) -> tuple[JobRecord, Response | dict[str, Any]]:
    """A job of one of `kinds` (else 404: `what` says which kinds have this) and its stored result, or the answer
    while it has none (`stored_result`)."""
    record = _load(store, job_id, owner)
    if record['kind'] not in kinds:
        raise ProblemDetails(404, 'not-found', 'Not found', what)
    return record, stored_result(store, record)


def _matrix(store: Store, numerics: Numerics, job_id: str, owner: str, table: str, market: str, fmt: str) -> Response:
    record, result = result_of(store, job_id, owner, ESTIMATES,
                               'only estimates have elasticities, diversion ratios and passthrough')
    if isinstance(result, Response):
        return result
    matrix = numerics.at_estimate(record, result, table, market)
    if fmt == 'csv':
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator='\n')
        writer.writerow(['product_ids', *matrix['product_ids']])
        for product, row in zip(matrix['product_ids'], matrix['matrix']):
            writer.writerow([product, *('' if value is None else repr(float(value)) for value in row)])
        return Response(buffer.getvalue(), media_type='text/csv')
    model = PassthroughMatrix if table == 'passthrough' else SubstitutionMatrix
    return JSONResponse(model.model_validate({'job_id': job_id, 'market': market, **matrix}).model_dump(mode='json'))


Format = Annotated[Literal['json', 'csv'], Query(alias='format')]
Market = Annotated[str, Query(min_length=1, max_length=1000, pattern=PRINTABLE,
                              description='a market id of the product data')]


def table_responses(csv_form: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a finished job's table read as JSON or, with `format=csv`, as CSV (`csv_form` says how)."""
    return {200: {'content': {'text/csv': {'schema': {'type': 'string'}}}, 'description': csv_form},
            **_RUNNING, **problems(404, 409, 422)}


_MATRIX = table_responses('the matrix as JSON, or with `format=csv` as CSV (a header of product ids, a row per product)')


@router.get('/{job_id}/elasticities', response_model=SubstitutionMatrix, tags=['results'], responses=_MATRIX)
def get_elasticities(job_id: JobId, market: Market, store: StoreDep, owner: OwnerDep, numerics: NumericsDep,
                 name: Literal['prices'] = 'prices', fmt: Format = 'json') -> Response:
    """Elasticities in one market: entry (j, k) is the elasticity of j's share with respect to k's `name` (prices)."""
    return _matrix(store, numerics, job_id, owner, 'elasticities', market, fmt)


@router.get('/{job_id}/diversion-ratios', response_model=SubstitutionMatrix, tags=['results'], responses=_MATRIX)
def get_diversion_ratios(job_id: JobId, market: Market, store: StoreDep, owner: OwnerDep, numerics: NumericsDep,
                     fmt: Format = 'json') -> Response:
    """Diversion ratios in one market: (j, k) is the share of j's lost sales going to k; the diagonal, to the outside good."""
    return _matrix(store, numerics, job_id, owner, 'diversion-ratios', market, fmt)


@router.get('/{job_id}/passthrough', response_model=PassthroughMatrix, tags=['results'], responses=_MATRIX)
def get_passthrough(job_id: JobId, market: Market, store: StoreDep, owner: OwnerDep, numerics: NumericsDep,
                    fmt: Format = 'json') -> Response:
    """Passthrough in one market: (j, k) is dp_j / dc_k, how much j's equilibrium price moves per unit of k's
    marginal cost under the product data's firm_ids (PyBLP's `compute_passthrough`); 422 without firm_ids."""
    return _matrix(store, numerics, job_id, owner, 'passthrough', market, fmt)


@router.get('/{job_id}/micro-values', response_model=MicroValues, tags=['results'],
            responses={**_RUNNING, **problems(404, 409, 422)})
def get_micro_values(job_id: JobId, store: StoreDep, owner: OwnerDep, numerics: NumericsDep) -> Response:
    """The estimate's micro moments at its estimate (PyBLP's `compute_micro_values`) beside their observed values;
    422 naming `spec.solve.micro_moments` when it was estimated without them."""
    record, result = result_of(store, job_id, owner, ESTIMATES, 'only estimates have micro values')
    if isinstance(result, Response):
        return result
    moments = micro_moments_of(record)
    values = numerics.at_estimate(record, result, 'micro-values', None)
    rows = [{'name': moment['name'], 'value': value, 'observed': moment['value']}
            for moment, value in zip(moments, values)]
    return JSONResponse(MicroValues.model_validate({'job_id': job_id, 'micro_moments': rows}).model_dump(mode='json'))


def _scores(store: Store, numerics: Numerics, job_id: str, owner: str, body: ScoresRequest,
            kind: ScoreKind) -> Response:
    record, result = result_of(store, job_id, owner, ESTIMATES, 'only estimates have scores')
    if isinstance(result, Response):
        return result
    request = scores_request(store, record, body, owner, kind)
    view = scores_view(job_id, kind, request, numerics.at_estimate(record, result, kind, request))
    return JSONResponse(view.model_dump(mode='json'))


_SCORES: dict[int | str, dict[str, Any]] = {**_RUNNING, **problems(404, 409, 415, 422)}


@router.post('/{job_id}/micro-scores', response_model=MicroScores, tags=['results'], responses=_SCORES,
             dependencies=[Depends(require_json)])
def create_micro_scores(job_id: JobId, body: ScoresRequest, store: StoreDep, owner: OwnerDep,
                        numerics: NumericsDep) -> Response:
    """Scores d log P_n / d theta of the observations in `micro_data` at the estimate (PyBLP's
    `compute_micro_scores`), one list per element of theta: observations sampled by `dataset` (one of the estimate's
    micro datasets by name, or one in full), integrated over their own nodes or `integration`'s. Costed first: 422
    naming `micro_data` or `integration.size` when the answer or the work would be too large."""
    return _scores(store, numerics, job_id, owner, body, 'micro-scores')


@router.post('/{job_id}/agent-scores', response_model=AgentScores, tags=['results'], responses=_SCORES,
             dependencies=[Depends(require_json)])
def create_agent_scores(job_id: JobId, body: ScoresRequest, store: StoreDep, owner: OwnerDep,
                        numerics: NumericsDep) -> Response:
    """Scores of every agent-choice at the estimate (PyBLP's `compute_agent_scores`): per element of theta, by market,
    agents x choices, for the estimate's own agents or those of `micro_data`, sampled by `dataset`."""
    return _scores(store, numerics, job_id, owner, body, 'agent-scores')


@router.post('/{job_id}/importance-sampling', response_model=ImportanceSample, tags=['results'],
             responses={**table_responses('the sample as JSON, or with `format=csv` the sampled agents as CSV: agent '
                                          'data that `POST /v1/datasets` takes as it is'), **problems(415)},
             dependencies=[Depends(require_json)])
def create_importance_sample(job_id: JobId, body: ImportanceSamplingRequest, store: StoreDep, owner: OwnerDep,
                             settings: SettingsDep, numerics: NumericsDep, fmt: Format = 'json') -> Response:
    """Agents sampled at the estimate (PyBLP's `importance_sampling`): `draws` per market accepted with probability
    (1 - s_i0t) / `ar_constant` from the candidates (the estimate's agents, or `agent_data` and/or `integration`), with
    their importance weights and each market's effective draws. The sampled agents are agent data: upload them (the
    CSV as it is) and estimate with them as `agent_data`, PyBLP's `to_problem()`. Costed before it runs: 422 naming
    `integration.size`, `agent_data` or `draws` when over the budget."""
    record, result = result_of(store, job_id, owner, ESTIMATES, 'only estimates have agents to sample')
    if isinstance(result, Response):
        return result
    request = checked_request(store, settings, record, body, owner)
    sample = sample_view(job_id, request, numerics.at_estimate(record, result, 'importance-sampling', request))
    if fmt == 'csv':
        return Response(agents_csv(sample), media_type='text/csv')
    return JSONResponse(sample.model_dump(mode='json'))


@router.post('/{job_id}/counterfactuals', response_model=Job, status_code=202, tags=['derived jobs'],
             responses={**_ACCEPTED, **problems(415, 429), **_ERRORS},
             dependencies=[Depends(require_json)])
def create_counterfactual(job_id: JobId, body: CounterfactualRequest, store: StoreDep, celery: CeleryDep,
                          settings: SettingsDep, owner: OwnerDep, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """From a succeeded estimate, a new job of kind `counterfactual`: shares at given prices in one market, or a
    new equilibrium after a merger (`firm_ids`) or cost changes, with before/after prices, shares, markups,
    profits, consumer surplus and HHI."""
    parent = _load(store, job_id, owner)
    record, created = submit_counterfactual(store, celery, settings, parent, body, owner, idempotency_key)
    return _accepted(record, created)


@router.post('/{job_id}/optimal-instruments', response_model=Job, status_code=202, tags=['derived jobs'],
             responses={**_ACCEPTED, **problems(415, 429), **_ERRORS}, dependencies=[Depends(require_json)])
def create_optimal_instruments(job_id: JobId, body: OptimalInstrumentsSpec, store: StoreDep, celery: CeleryDep,
                               settings: SettingsDep, owner: OwnerDep,
                               idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """From a succeeded, converged estimate, a new job of kind `optimal_instruments`: feasible optimal instruments
    (`method` approximate, normal or empirical) and the problem re-estimated with them from the estimate's values.
    Its result is shaped like an estimate's, with an `optimal_instruments` report."""
    parent = _load(store, job_id, owner)
    record, created = submit_optimal_instruments(store, celery, settings, parent, body, owner, idempotency_key)
    return _accepted(record, created)


@router.post('/{job_id}/bootstrap', response_model=Job, status_code=202, tags=['derived jobs'],
             responses={**_ACCEPTED, **problems(415, 429), **_ERRORS}, dependencies=[Depends(require_json)])
def create_bootstrap(job_id: JobId, body: BootstrapRequest, store: StoreDep, celery: CeleryDep, settings: SettingsDep,
                     owner: OwnerDep, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """From a succeeded estimate, a new job of kind `bootstrap`: PyBLP's parametric bootstrap with its draws
    computed in chunks over every worker (progress: `chunks_done`, `chunks_total`), and percentile intervals of theta,
    beta, the mean own-price elasticity and a merger's price changes in the result."""
    parent = _load(store, job_id, owner)
    record, created = submit_bootstrap(store, celery, settings, parent, body, owner, idempotency_key)
    return _accepted(record, created)


@router.post('/{job_id}/merger-screen', response_model=Job, status_code=202, tags=['derived jobs'],
             responses={**_ACCEPTED, **problems(415, 429), **_ERRORS}, dependencies=[Depends(require_json)])
def create_merger_screen(job_id: JobId, body: MergerScreenRequest, store: StoreDep, celery: CeleryDep,
                         settings: SettingsDep, owner: OwnerDep, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """From a succeeded estimate, a new job of kind `merger_screen`: every pair of firms (or the given mergers) screened
    (diversion, GUPPI, UPP, CMCR, delta HHI) and simulated (prices, consumer surplus, profits, welfare), one task per
    candidate over every worker (progress: `candidates_done`, `candidates_total`), ranked by consumer-surplus loss
    (or `sort`); `ssnip` adds hypothetical monopolist tests. The ranking: `GET /v1/jobs/{id}/ranking`."""
    parent = _load(store, job_id, owner)
    record, created = submit_merger_screen(store, celery, settings, parent, body, owner, idempotency_key)
    return _accepted(record, created)


@router.get('/{job_id}/ranking', response_model=MergerRanking, tags=['results'],
            responses=table_responses('the ranking as JSON, or with `format=csv` as CSV (a line per candidate)'))
def get_ranking(job_id: JobId, store: StoreDep, owner: OwnerDep, sort: Optional[SortColumn] = None,
                order: Optional[Literal['desc', 'asc']] = None, fmt: Format = 'json') -> Response:
    """A merger screen's candidates ranked by `sort` (default: the request's, consumer-surplus loss) in `order`, as
    JSON or CSV (`format=csv`); each JSON row has the `counterfactual` body that simulates it in full. 202 while the
    screen runs, 409 when it failed or was cancelled."""
    _, result = result_of(store, job_id, owner, ('merger_screen',), 'only merger screens have a ranking')
    if isinstance(result, Response):
        return result
    sort, order = sort or result['sort'], order or result['order']
    rows = ranked(result['ranking'], sort, order)
    if fmt == 'csv':
        return Response(ranking_csv(rows), media_type='text/csv')
    ranking = MergerRanking.model_validate({'job_id': job_id, 'sort': sort, 'order': order, 'ranking': rows})
    return JSONResponse(ranking.model_dump(mode='json'))
