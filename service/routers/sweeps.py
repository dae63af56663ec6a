"""`GET /v1/jobs/{id}/comparison`: a finished sweep's comparison table, as JSON or CSV (one row per variant)."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from service.deps import JobId, OwnerDep, StoreDep
from service.models import SweepComparison
from service.routers.jobs import result_of, table_responses

router = APIRouter(prefix='/v1/jobs')


def _csv(table: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=table['columns'], lineterminator='\n', extrasaction='ignore')
    writer.writeheader()
    for row in table['rows']:
        writer.writerow({key: '' if value is None else repr(value) if isinstance(value, float) else value
                         for key, value in row.items()})
    return buffer.getvalue()


@router.get('/{job_id}/comparison', response_model=SweepComparison, tags=['results'],
            responses=table_responses('the table as JSON, or with `format=csv` as CSV (a line per variant)'))
def get_comparison(job_id: JobId, store: StoreDep, owner: OwnerDep,
                     fmt: Annotated[Literal['json', 'csv'], Query(alias='format')] = 'json') -> Response:
    """A sweep's variants side by side: per variant its estimates with SEs, objective, convergence, mean own-price
    elasticity, the counterfactual's headline numbers, seconds and error (a failed variant's row says why). 202
    while the sweep runs, 409 when it failed or was cancelled."""
    _, result = result_of(store, job_id, owner, ('sweep',), 'only sweeps have a comparison table')
    if isinstance(result, Response):
        return result
    table = result['comparison']
    if fmt == 'csv':
        return Response(_csv(table), media_type='text/csv')
    return JSONResponse({'job_id': job_id, **table})
