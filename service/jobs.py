"""Turning requests into validated, queued jobs, and job records into what the API shows.

Everything a job needs is checked before it is queued, by building the problem with the core in a numerics process
(service.numerics): a client learns about a bad column or parameter from the 422 of its POST, not from a failed job
later.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, Optional

import pandas as pd
from celery import Celery

from blp.configurations.budget import Table
from jobstore.problems import ProblemDetails
from jobstore.quotas import RateLimit
from jobstore.records import TERMINAL, InputIds, JobKind, JobRecord, dataset_ids
from jobstore.settings import Settings
from jobstore.store import CapReached, Store, now
from jobstore.submissions import mint_job_id
from service import datasets, queue
from service.budget import check_budget, table
from service.dataset_cache import stored_frame
from service.models import CounterfactualRequest, DataInput, DatasetRef, JobRequest
from service.numerics import Numerics

log = logging.getLogger(__name__)
# Kinds whose result is an estimate: they have elasticities, diversion ratios and counterfactuals.
ESTIMATES: tuple[JobKind, ...] = ('estimate', 'multistart', 'optimal_instruments')


def body_hash(document: Any) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(',', ':')).encode()).hexdigest()


def key_hash(idempotency_key: str) -> str:
    if not 1 <= len(idempotency_key) <= 255 or not idempotency_key.isprintable():
        raise ProblemDetails(422, 'invalid-idempotency-key', 'Invalid Idempotency-Key',
                             'the Idempotency-Key header must have 1 to 255 printable characters', field='Idempotency-Key')
    return hashlib.sha256(idempotency_key.encode()).hexdigest()


# ------------------------------------------------------------------------------------------ data

# Inline data checked but not yet stored: (description, bytes), written once the whole request is valid.
Staged = list[tuple[dict[str, Any], bytes]]


def store_staged(store: Store, staged: Staged, owner: str) -> None:
    for meta, data in staged:
        store.put_dataset(meta, data, owner)


def resolve(store: Store, data: DataInput, owner: str, field: str,
            staged: Optional[Staged] = None) -> tuple[str, Optional[pd.DataFrame]]:
    """A job's data input as (dataset id, frame): a stored dataset of this owner (its frame is None: the checking
    process reads it), or inline columns.

    Inline columns are stored now, or, when `staged` is given, appended to it for `store_staged` once every
    other check of the request has passed, so that a rejected request leaves nothing behind.
    """
    if isinstance(data, DatasetRef):
        if not (store.get_dataset(data.dataset_id, owner) and store.has_dataset_bytes(data.dataset_id)):
            raise ProblemDetails(422, 'unknown-dataset', 'Unknown dataset', f'no dataset {data.dataset_id}',
                                 field=f'{field}.dataset_id')
        return data.dataset_id, None
    try:
        frame = datasets.from_columns(data.columns)
    except datasets.DatasetError as error:
        raise datasets.dataset_problem_details(error, f'{field}.columns') from None
    if staged is None:
        meta, frame, _ = datasets.store_frame(store, frame, owner, f'{field}.columns')
    else:
        meta, frame, raw = datasets.prepare_frame(frame, f'{field}.columns')
        staged.append((meta, raw))
    return meta['id'], frame


def refuse_over_budget(store: Store, settings: Settings, body: JobRequest,
                       product: tuple[str, Optional[pd.DataFrame]],
                       agent: tuple[Optional[str], Optional[pd.DataFrame]]) -> None:
    """422 for a job over the budget from its data's sizes (stored datasets' descriptions, inline frames), here in
    the API process in microseconds. Why: the numerics processes run at nice 19, and with every core busy the same
    422 waited 7.8 s for one. Datasets stored before their largest market was recorded are costed there only."""
    tables = described(store, product, agent)
    if tables is not None:
        check_budget(body.spec, *tables, settings.budget(), starts=body.starts.count if body.starts else 1)


def described(store: Store, product: tuple[str, Optional[pd.DataFrame]],
              agent: tuple[Optional[str], Optional[pd.DataFrame]]) -> Optional[tuple[Table, Optional[Table]]]:
    """The cost model's tables of a job's data, (dataset id, inline frame or None) each, from the stored datasets'
    descriptions (nothing is read); None when a dataset is gone or was described before its largest market was."""
    tables = [_table(store, *data) for data in (product, agent)]
    if tables[0] is None or (agent[0] is not None and tables[1] is None):
        return None
    return tables[0], tables[1]


def _table(store: Store, dataset_id: Optional[str], frame: Optional[pd.DataFrame]) -> Optional[Table]:
    if frame is not None:
        return Table.of(frame)
    return None if dataset_id is None else table(store.get_dataset(dataset_id))


# ------------------------------------------------------------------------------------------ submission

def _existing(store: Store, entry: dict[str, str], owner: str, document_hash: str) -> JobRecord:
    if entry['body'] != document_hash:
        raise ProblemDetails(422, 'idempotency-key-reused', 'Idempotency-Key reused',
                             'this Idempotency-Key was used with a different request body', field='Idempotency-Key')
    record = store.get_job(entry['job'], owner)
    if record is None:
        raise ProblemDetails(409, 'idempotency-key-stale', 'Idempotency-Key refers to a deleted job',
                             field='Idempotency-Key')
    return record


def _queue(store: Store, celery: Celery, settings: Settings, record: JobRecord,
           idempotency: Optional[tuple[str, str]]) -> tuple[JobRecord, bool]:
    """Write the record and publish its task; returns (record, created) — not created for a repeated key."""
    idem = (idempotency[0], idempotency[1], settings.idempotency_ttl) if idempotency else None
    datasets_read = dataset_ids(record['inputs'])
    try:
        existing = store.create_job(record, datasets_read, idem, cap=settings.max_active_jobs_per_key)
    except CapReached:
        raise _cap_problem_details(settings) from None
    if existing is not None:
        assert idempotency is not None  # create_job returns an entry only for an Idempotency-Key it was given
        return _existing(store, existing, record['owner'], idempotency[1]), False
    job_id = record['id']
    if not all(store.has_dataset_bytes(dataset_id) for dataset_id in datasets_read):
        store.transition(job_id, ['queued'], 'failed', finished_at=now(),
                         error=ProblemDetails(409, 'dataset-deleted', 'Dataset deleted',
                                              'a dataset of this job was deleted while it was submitted').to_dict())
        raise ProblemDetails(409, 'dataset-deleted', 'Dataset deleted', 'a dataset of this job was deleted meanwhile')
    try:
        # The owner's backlog orders the queue: its first job ahead of anyone's tenth (fairness between keys).
        queue.enqueue(celery, record['kind'], job_id, priority=store.active_jobs(record['owner']) - 1)
    except Exception as error:
        log.exception('could not enqueue job %s', job_id)
        problem = ProblemDetails(503, 'queue-unavailable', 'Service unavailable',
                                 f'the job could not be queued: {error}', headers={'Retry-After': '5'})
        store.transition(job_id, ['queued'], 'failed', finished_at=now(), error=problem.to_dict())
        raise problem from None
    return store.get_job(job_id) or record, True


def _cap_problem_details(settings: Settings) -> ProblemDetails:
    return ProblemDetails(429, 'too-many-jobs', 'Too many unfinished jobs',
                          f'this API key already has {settings.max_active_jobs_per_key} queued or running jobs; wait for '
                          'some to finish', headers={'Retry-After': '10'}, limit=settings.max_active_jobs_per_key)


def admit(store: Store, settings: Settings, owner: str) -> None:
    """429 with Retry-After when the owner submits faster than its rate, or has its cap of unfinished jobs."""
    wait = RateLimit(store, settings.submissions_per_minute, settings.submission_burst).take(owner)
    if wait:
        raise ProblemDetails(429, 'rate-limited', 'Too many requests',
                             f'this API key may submit {settings.submissions_per_minute:g} jobs a minute (bursts of '
                             f'{settings.submission_burst}); retry in {wait} s', headers={'Retry-After': str(wait)},
                             limit=settings.submissions_per_minute)
    if store.active_jobs(owner) >= settings.max_active_jobs_per_key:
        raise _cap_problem_details(settings)


def _new_record(kind: JobKind, owner: str, inputs: InputIds, spec: dict[str, Any],
                parent: Optional[str] = None, request: Optional[dict[str, Any]] = None) -> JobRecord:
    record: JobRecord = {'id': mint_job_id(), 'kind': kind, 'owner': owner, 'created_at': now(), 'inputs': inputs,
                         'spec': spec, 'attempts': 0}
    if parent is not None:  # a None is not stored (Store.create_job): absent, as in a record read back
        record['parent'] = parent
    if request is not None:
        record['request'] = request
    return record


def replay(store: Store, owner: str, idempotency_key: Optional[str],
           document: dict[str, Any]) -> tuple[Optional[tuple[str, str]], Optional[JobRecord]]:
    """(the idempotency key and body hashes, the job this request already made when it is a replay, else None)."""
    if idempotency_key is None:
        return None, None
    idempotency = (key_hash(idempotency_key), body_hash(document))
    entry = store.find_idempotent(owner, idempotency[0])
    return idempotency, None if entry is None else _existing(store, entry, owner, idempotency[1])


def submit_estimate(store: Store, celery: Celery, settings: Settings, numerics: Numerics, body: JobRequest,
                    owner: str, idempotency_key: Optional[str]) -> tuple[JobRecord, bool]:
    """Check an estimate's cost, validate it against the core (within the budget) and queue it; (record, created)."""
    idempotency, existing = replay(store, owner, idempotency_key, body.model_dump(mode='json'))
    if existing is not None:
        return existing, False
    admit(store, settings, owner)
    staged: Staged = []  # inline data is stored only once the whole request has been checked
    product_id, product = resolve(store, body.product_data, owner, 'product_data', staged)
    agent_id, agent = (resolve(store, body.agent_data, owner, 'agent_data', staged) if body.agent_data
                       else (None, None))
    refuse_over_budget(store, settings, body, (product_id, product), (agent_id, agent))
    numerics.check(body.spec.model_dump_json(), body.starts.model_dump_json() if body.starts else None,
                      (product_id, product), (agent_id, agent))
    store_staged(store, staged, owner)
    inputs: InputIds = {'product_data': product_id, 'agent_data': agent_id}
    record = _new_record(body.kind, owner, inputs, body.spec.model_dump(mode='json'),
                         request=body.starts.model_dump(mode='json') if body.starts else None)
    return _queue(store, celery, settings, record, idempotency)


def start_child(store: Store, settings: Settings, parent: JobRecord, owner: str, idempotency_key: Optional[str],
                document: dict[str, Any], what: str) -> tuple[Optional[tuple[str, str]], Optional[JobRecord]]:
    """The checks of a job started from an estimate (counterfactuals, optimal instruments, bootstrap): (the
    idempotency key and body hashes, the existing job when this is a replay); refuses parents that are not succeeded
    estimates, and owners over their rate or cap (429)."""
    idempotency = None
    if idempotency_key is not None:
        idempotency = (key_hash(idempotency_key), body_hash({'parent': parent['id'], **document}))
        entry = store.find_idempotent(owner, idempotency[0])
        if entry is not None:
            return idempotency, _existing(store, entry, owner, idempotency[1])
    admit(store, settings, owner)
    if parent['kind'] not in ESTIMATES:
        raise ProblemDetails(409, 'not-an-estimate', 'Not an estimate', f'{what} start from an estimate job')
    if parent['status'] != 'succeeded':
        raise ProblemDetails(409, 'estimate-not-finished', 'Estimate not finished',
                             f"the estimate is {parent['status']}; {what} need a succeeded estimate",
                             job_status=parent['status'])
    return idempotency, None


def submit_counterfactual(store: Store, celery: Celery, settings: Settings, parent: JobRecord,
                          body: CounterfactualRequest, owner: str,
                          idempotency_key: Optional[str]) -> tuple[JobRecord, bool]:
    """Check the market and product ids against the estimate's data and queue the counterfactual."""
    idempotency, existing = start_child(store, settings, parent, owner, idempotency_key,
                                        body.model_dump(mode='json'), 'counterfactuals')
    if existing is not None:
        return existing, False
    product_id = parent['inputs']['product_data']
    product = stored_frame(store, product_id)
    if product is None:
        raise ProblemDetails(409, 'dataset-deleted', 'Dataset deleted', f'the product data {product_id} was deleted')
    check_counterfactual(product, body)
    inputs = parent['inputs'].copy()
    record = _new_record('counterfactual', owner, inputs, parent['spec'], parent=parent['id'],
                         request=body.model_dump(mode='json'))
    return _queue(store, celery, settings, record, idempotency)


def check_counterfactual(product: pd.DataFrame, body: CounterfactualRequest) -> None:
    """The market must exist, priced or costed products must be sold in it under an id no other product there has,
    given prices must be positive and merged firms must exist (422 naming the market, products or firms)."""
    needed = ['product_ids', 'prices'] + (['firm_ids'] if body.prices is None else [])
    for column in needed:
        if column not in product.columns:
            raise ProblemDetails(422, 'invalid-counterfactual', 'Invalid counterfactual',
                                 f'the product data has no {column} column', column=column)
    if body.market is not None:
        in_market = product.loc[product['market_ids'].astype(str) == body.market, 'product_ids'].astype(str)
        if in_market.empty:
            raise ProblemDetails(422, 'unknown-market', 'Unknown market', f'no market {body.market!r} in the product data',
                                 field='market', market=body.market)
        repeated = set(in_market[in_market.duplicated()])
        for field in ('prices', 'costs'):
            unknown = sorted(set(getattr(body, field) or {}) - set(in_market))
            if unknown:
                raise ProblemDetails(422, 'unknown-products', 'Unknown products',
                                     f'products not sold in market {body.market!r}: {", ".join(unknown)}',
                                     field=field, market=body.market, products=unknown)
            ambiguous = sorted(set(getattr(body, field) or {}) & repeated)
            if ambiguous:  # product_ids may repeat (PyBLP's groups), but a price names one product
                raise ProblemDetails(422, 'ambiguous-products', 'Ambiguous products',
                                     f'product ids repeated in market {body.market!r}, so {field} cannot name one '
                                     f'product by them: {", ".join(ambiguous)}', field=field, market=body.market,
                                     products=ambiguous)
        for product_id, price in (body.prices or {}).items():
            if not price > 0:  # utility is linear in price: a price of -5 gives a share of 1 and "succeeds"
                raise ProblemDetails(422, 'invalid-price', 'Invalid price',
                                     f'the price of product {product_id!r} in market {body.market!r} is {price:g}: '
                                     'prices must be positive', field=f'prices.{product_id}', market=body.market,
                                     product=product_id)
    if body.firm_ids is not None:
        unknown = sorted(set(body.firm_ids) - set(product['firm_ids'].astype(str)))
        if unknown:
            raise ProblemDetails(422, 'unknown-firms', 'Unknown firms', f'no firm {", ".join(unknown)} in the product data',
                                 field='firm_ids', firms=unknown)


# ------------------------------------------------------------------------------------------ views and cancel

def job_view(record: JobRecord) -> dict[str, Any]:
    """A record as the API shows it (the `Job` model), with links to what can be asked next."""
    job_id = record['id']
    base = f'/v1/jobs/{job_id}'
    links = {'self': base, 'events': f'{base}/events', 'result': f'{base}/result'}
    if record['kind'] in ESTIMATES:
        links.update(elasticities=f'{base}/elasticities', diversion_ratios=f'{base}/diversion-ratios',
                     passthrough=f'{base}/passthrough',
                     counterfactuals=f'{base}/counterfactuals', optimal_instruments=f'{base}/optimal-instruments',
                     merger_screen=f'{base}/merger-screen')
        spec = record.get('spec') or {}
        formulations = spec.get('problem', {}).get('product_formulations') or []
        if len(formulations) > 1 and formulations[1] is not None:  # agents to sample
            links.update(importance_sampling=f'{base}/importance-sampling', micro_scores=f'{base}/micro-scores',
                         agent_scores=f'{base}/agent-scores')
        if spec.get('solve', {}).get('micro_moments'):
            links['micro_values'] = f'{base}/micro-values'
    if record['kind'] == 'merger_screen':
        links['ranking'] = f'{base}/ranking'
    if record['kind'] == 'sweep':
        links['comparison'] = f'{base}/comparison'
    if record.get('parent'):
        links['parent'] = f"/v1/jobs/{record['parent']}"
    return {
        'id': job_id, 'kind': record['kind'], 'status': record['status'], 'created_at': record['created_at'],
        'started_at': record.get('started_at'), 'finished_at': record.get('finished_at'),
        'attempts': record.get('attempts', 0), 'cancel_requested': record.get('cancel_requested', False),
        'parent_job_id': record.get('parent'), 'inputs': record.get('inputs') or {},
        'progress': record.get('progress'), 'error': record.get('error'), 'links': links,
    }


def cancel(store: Store, celery: Celery, record: JobRecord) -> tuple[JobRecord, int]:
    """Cancel a job: a queued one at once (200), a running one by a flag its worker checks every iteration (202)."""
    job_id = record['id']
    for _ in range(5):
        status = record['status']
        if status == 'queued':
            moved = store.transition(job_id, ['queued'], 'cancelled', finished_at=now(), cancel_requested=1)
            if moved is True:
                try:
                    queue.revoke(celery, job_id)
                except Exception:  # the record already says cancelled, and the worker checks it first
                    log.warning('revoke of %s failed', job_id, exc_info=True)
                return store.get_job(job_id) or record, 200
        elif status == 'running':
            store.request_cancel(job_id)
            return store.get_job(job_id) or record, 202
        elif status in TERMINAL:  # it ended meanwhile
            return record, 200
        record = store.get_job(job_id) or record
    raise ProblemDetails(409, 'job-busy', 'Job changing state', 'the job changed state repeatedly; retry')
