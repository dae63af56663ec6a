"""Turning requests into validated, queued jobs, and job records into what the API shows.

Everything a job needs is checked here, before it is queued, by building the problem with the core:
a client learns about a bad column or parameter from the 422 of its POST, not from a failed job later.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from typing import Any, Optional

import pandas as pd
from celery import Celery

from blp.spec import EstimateSpec
from service import datasets, queue
from service.models import CounterfactualRequest, DataInput, DatasetRef, JobRequest
from service.problems import Problem, core_problem
from service.settings import Settings
from service.store import Store, TERMINAL, now

log = logging.getLogger(__name__)


def body_hash(document: Any) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(',', ':')).encode()).hexdigest()


def key_hash(idempotency_key: str) -> str:
    if not 1 <= len(idempotency_key) <= 255:
        raise Problem(422, 'invalid-idempotency-key', 'Invalid Idempotency-Key',
                      'the Idempotency-Key header must have 1 to 255 characters', field='Idempotency-Key')
    return hashlib.sha256(idempotency_key.encode()).hexdigest()


def dataset_problem(error: datasets.DatasetError, field: Optional[str] = None) -> Problem:
    slug = 'unsupported-media-type' if error.status == 415 else 'invalid-dataset'
    title = 'Unsupported media type' if error.status == 415 else 'Invalid dataset'
    return Problem(error.status, slug, title, str(error), column=error.column, row=error.row, market=error.market,
                   field=field)


# ------------------------------------------------------------------------------------------ data

def store_frame(store: Store, frame: pd.DataFrame, owner: str,
                field: Optional[str] = None) -> tuple[dict[str, Any], pd.DataFrame, bool]:
    """Canonicalize and store a frame: (its description, the canonical frame, whether it is new to this owner)."""
    try:
        frame, meta, data = datasets.prepare(frame)
    except datasets.DatasetError as error:
        raise dataset_problem(error, field) from None
    created = store.put_dataset(meta, data, owner)
    return meta, frame, created


def resolve(store: Store, data: DataInput, owner: str, field: str) -> tuple[str, pd.DataFrame]:
    """A job's data input as (dataset id, frame): a stored dataset of this owner, or inline columns stored now."""
    if isinstance(data, DatasetRef):
        raw = store.dataset_bytes(data.dataset_id) if store.get_dataset(data.dataset_id, owner) else None
        if raw is None:
            raise Problem(422, 'unknown-dataset', 'Unknown dataset', f'no dataset {data.dataset_id}',
                          field=f'{field}.dataset_id')
        return data.dataset_id, datasets.read_frame(raw)
    try:
        frame = datasets.from_columns(data.columns)
    except datasets.DatasetError as error:
        raise dataset_problem(error, f'{field}.columns') from None
    meta, frame, _ = store_frame(store, frame, owner, f'{field}.columns')
    return meta['id'], frame


def build_problem(spec: EstimateSpec, product: pd.DataFrame, agent: Optional[pd.DataFrame]) -> Any:
    """Build the core's problem and check the solve arguments against it, without solving.

    The core's DataError/SpecificationError become a 422 naming the column, market, row or parameter.
    """
    import blp
    from blp.spec import solve_kwargs

    try:
        problem = blp.Problem.from_spec(spec.problem, product, agent)
        problem.check_solve(**solve_kwargs(spec.solve))  # shapes, bounds, instrument counts; solves nothing
        return problem
    except blp.BLPError as error:
        raise core_problem(error) from None
    except Exception as error:  # a core bug on odd input must still not be a 500 for the client
        log.exception('building the problem failed')
        raise Problem(422, 'invalid-problem', 'Invalid problem',
                      f'the problem could not be built: {type(error).__name__}: {error}') from None


# ------------------------------------------------------------------------------------------ submission

def _existing(store: Store, entry: dict[str, str], owner: str, document_hash: str) -> dict[str, Any]:
    if entry['body'] != document_hash:
        raise Problem(422, 'idempotency-key-reused', 'Idempotency-Key reused',
                      'this Idempotency-Key was used with a different request body', field='Idempotency-Key')
    record = store.get_job(entry['job'], owner)
    if record is None:
        raise Problem(409, 'idempotency-key-stale', 'Idempotency-Key refers to a deleted job',
                      field='Idempotency-Key')
    return record


def _queue(store: Store, celery: Celery, settings: Settings, record: dict[str, Any], dataset_ids: list[str],
           idempotency: Optional[tuple[str, str]]) -> tuple[dict[str, Any], bool]:
    """Write the record and publish its task; returns (record, created) — not created for a repeated key."""
    idem = (idempotency[0], idempotency[1], settings.idempotency_ttl) if idempotency else None
    existing = store.create_job(record, dataset_ids, idem)
    if existing is not None:
        return _existing(store, existing, record['owner'], idempotency[1]), False
    job_id = record['id']
    if not all(store.dataset_bytes(dataset_id) is not None for dataset_id in dataset_ids):
        store.transition(job_id, ['queued'], 'failed', finished_at=now(),
                         error=Problem(409, 'dataset-deleted', 'Dataset deleted',
                                       'a dataset of this job was deleted while it was submitted').to_dict())
        raise Problem(409, 'dataset-deleted', 'Dataset deleted', 'a dataset of this job was deleted meanwhile')
    try:
        queue.enqueue(celery, record['kind'], job_id)
    except Exception as error:
        log.exception('could not enqueue job %s', job_id)
        problem = Problem(503, 'queue-unavailable', 'Service unavailable',
                          f'the job could not be queued: {error}', headers={'Retry-After': '5'})
        store.transition(job_id, ['queued'], 'failed', finished_at=now(), error=problem.to_dict())
        raise problem from None
    return store.get_job(job_id) or record, True


def _new_record(kind: str, owner: str, inputs: dict[str, Optional[str]], spec: dict[str, Any],
                parent: Optional[str] = None, request: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    return {'id': uuid.uuid4().hex, 'kind': kind, 'owner': owner, 'created_at': now(), 'inputs': inputs,
            'spec': spec, 'parent': parent, 'request': request, 'attempts': 0}


def submit_estimate(store: Store, celery: Celery, settings: Settings, body: JobRequest, owner: str,
                    idempotency_key: Optional[str]) -> tuple[dict[str, Any], bool]:
    """Validate an estimate against the core and queue it; (record, created)."""
    idempotency = None
    if idempotency_key is not None:
        idempotency = (key_hash(idempotency_key), body_hash(body.model_dump(mode='json')))
        entry = store.find_idempotent(owner, idempotency[0])
        if entry is not None:
            return _existing(store, entry, owner, idempotency[1]), False
    product_id, product = resolve(store, body.product_data, owner, 'product_data')
    agent_id, agent = resolve(store, body.agent_data, owner, 'agent_data') if body.agent_data else (None, None)
    build_problem(body.spec, product, agent)
    inputs = {'product_data': product_id, 'agent_data': agent_id}
    record = _new_record('estimate', owner, inputs, body.spec.model_dump(mode='json'))
    return _queue(store, celery, settings, record, [i for i in inputs.values() if i], idempotency)


def submit_counterfactual(store: Store, celery: Celery, settings: Settings, parent: dict[str, Any],
                          body: CounterfactualRequest, owner: str,
                          idempotency_key: Optional[str]) -> tuple[dict[str, Any], bool]:
    """Check the market and product ids against the estimate's data and queue the counterfactual."""
    idempotency = None
    if idempotency_key is not None:
        idempotency = (key_hash(idempotency_key), body_hash({'parent': parent['id'], **body.model_dump(mode='json')}))
        entry = store.find_idempotent(owner, idempotency[0])
        if entry is not None:
            return _existing(store, entry, owner, idempotency[1]), False
    if parent['kind'] != 'estimate':
        raise Problem(409, 'not-an-estimate', 'Not an estimate', 'counterfactuals start from an estimate job')
    if parent['status'] != 'succeeded':
        raise Problem(409, 'estimate-not-finished', 'Estimate not finished',
                      f"the estimate is {parent['status']}; counterfactuals need a succeeded estimate")
    product_id = parent['inputs']['product_data']
    raw = store.dataset_bytes(product_id)
    if raw is None:
        raise Problem(409, 'dataset-deleted', 'Dataset deleted', f'the product data {product_id} was deleted')
    product = datasets.read_frame(raw)
    check_prices(product, body)
    inputs = dict(parent['inputs'])
    record = _new_record('counterfactual', owner, inputs, parent['spec'], parent=parent['id'],
                         request=body.model_dump(mode='json'))
    return _queue(store, celery, settings, record, [i for i in inputs.values() if i], idempotency)


def check_prices(product: pd.DataFrame, body: CounterfactualRequest) -> None:
    """The market must exist and every priced product must be sold in it (422 naming the market or products)."""
    for column in ('product_ids', 'prices'):
        if column not in product.columns:
            raise Problem(422, 'invalid-counterfactual', 'Invalid counterfactual',
                          f'the product data has no {column} column', column=column)
    in_market = product.loc[product['market_ids'].astype(str) == body.market, 'product_ids'].astype(str)
    if in_market.empty:
        raise Problem(422, 'unknown-market', 'Unknown market', f'no market {body.market!r} in the product data',
                      field='market', market=body.market)
    unknown = sorted(set(body.prices) - set(in_market))
    if unknown:
        raise Problem(422, 'unknown-products', 'Unknown products',
                      f'products not sold in market {body.market!r}: {", ".join(unknown)}',
                      field='prices', market=body.market, products=unknown)


# ------------------------------------------------------------------------------------------ views and cancel

def job_view(record: dict[str, Any]) -> dict[str, Any]:
    """A record as the API shows it (the `Job` model), with links to what can be asked next."""
    job_id = record['id']
    base = f'/v1/jobs/{job_id}'
    links = {'self': base, 'events': f'{base}/events', 'result': f'{base}/result'}
    if record['kind'] == 'estimate':
        links.update(elasticities=f'{base}/elasticities', diversion_ratios=f'{base}/diversion-ratios',
                     counterfactuals=f'{base}/counterfactuals')
    if record.get('parent'):
        links['parent'] = f"/v1/jobs/{record['parent']}"
    return {
        'id': job_id, 'kind': record['kind'], 'status': record['status'], 'created_at': record['created_at'],
        'started_at': record.get('started_at'), 'finished_at': record.get('finished_at'),
        'attempts': record.get('attempts', 0), 'cancel_requested': record.get('cancel_requested', False),
        'parent_job_id': record.get('parent'), 'inputs': record.get('inputs') or {},
        'progress': record.get('progress'), 'error': record.get('error'), 'links': links,
    }


def cancel(store: Store, celery: Celery, record: dict[str, Any]) -> tuple[dict[str, Any], int]:
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
        elif status == 'cancelled':
            return record, 200
        elif status in TERMINAL:
            raise Problem(409, 'job-finished', 'Job already finished', f'the job has {status}; nothing to cancel')
        record = store.get_job(job_id) or record
    raise Problem(409, 'job-busy', 'Job changing state', 'the job changed state repeatedly; retry')
