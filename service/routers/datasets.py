"""`/v1/datasets`: upload product or agent data (CSV, Parquet, JSON columns), read its description, delete it."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from jobstore.problems import ProblemDetails
from service.deps import DatasetId, OwnerDep, StoreDep
from service.models import Dataset
from service.openapi import problems
from service.spool import spool_body

router = APIRouter(prefix='/v1/datasets', tags=['datasets'])

# One binary body in three media types. JSON columns (`{"columns": {...}}`, as a job's inline data) are read too but
# left out here: openapi-python-client 0.29 generates an upload function that fails on import for an operation with
# a JSON and a binary body (its body union refers to a name it does not import).
_UPLOAD_BODY = {
    'required': True,
    'description': 'The data as a file: CSV (a header row, then one row per product or agent) or Parquet. A binary '
                   'body as generators send it (`application/octet-stream`) is read as Parquet. JSON columns '
                   '(`application/json`, `{"columns": {"name": [values, ...]}}`) are accepted too.',
    'content': {
        'text/csv': {'schema': {'type': 'string', 'format': 'binary', 'contentMediaType': 'text/csv'},
                     'example': 'market_ids,product_ids,shares,prices\nm1,p1,0.2,1.5\n'},
        'application/vnd.apache.parquet': {'schema': {'type': 'string', 'format': 'binary',
                                                      'contentMediaType': 'application/vnd.apache.parquet'}},
        'application/octet-stream': {'schema': {'type': 'string', 'format': 'binary'}},
    },
}


def _view(meta: dict) -> dict:
    return {**meta, 'links': {'self': f"/v1/datasets/{meta['id']}"}}


@router.post('', response_model=Dataset, status_code=201, openapi_extra={'requestBody': _UPLOAD_BODY},
             responses={200: {'model': Dataset, 'description': 'the same data was uploaded before'},
                        **problems(413, 415, 422)})
async def upload_dataset(request: Request, response: Response, store: StoreDep, owner: OwnerDep) -> dict:
    """Store product or agent data; its id is the hash of its content, so re-uploading it changes nothing (200)."""
    content_type = request.headers.get('content-type', '')
    path = await spool_body(request)
    try:
        meta, created = await run_in_threadpool(request.app.state.parsers.store, store, path, content_type, owner)
    finally:
        os.unlink(path)
    # so the first job on it is checked without reading it (in a thread: it may have to start the processes)
    await run_in_threadpool(request.app.state.numerics.prime, meta)
    response.status_code = 201 if created else 200
    response.headers['Location'] = f"/v1/datasets/{meta['id']}"
    return _view(meta)


@router.get('/{dataset_id}', response_model=Dataset, responses=problems(404))
def get_dataset(dataset_id: DatasetId, store: StoreDep, owner: OwnerDep) -> dict:
    meta = store.get_dataset(dataset_id, owner)
    if meta is None:
        raise ProblemDetails(404, 'not-found', 'Not found', f'no dataset {dataset_id}')
    return _view(meta)


@router.delete('/{dataset_id}', status_code=204, responses=problems(404, 409))
def delete_dataset(dataset_id: DatasetId, store: StoreDep, owner: OwnerDep) -> Response:
    """Forget a dataset; refused (409) while a job that reads it has not finished."""
    if store.get_dataset(dataset_id, owner) is None:
        raise ProblemDetails(404, 'not-found', 'Not found', f'no dataset {dataset_id}')
    blocking = store.delete_dataset(dataset_id, owner)
    if blocking:
        raise ProblemDetails(409, 'dataset-in-use', 'Dataset in use',
                             f'{len(blocking)} unfinished job(s) read this dataset; cancel them or wait')
    return Response(status_code=204)
