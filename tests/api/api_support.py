"""Helpers for the API tests: upload bodies of a frame, and the checks of a problem document."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
from fastapi.testclient import TestClient

import blp
from blp.spec import EstimateSpec, solve_options
from jobstore.store import now

LOGIT_SPEC = {'problem': {'product_formulations': [{'formula': '0 + prices',
                                                     'absorb': 'C(market_ids) + C(product_ids)'}]},
              'solve': {'method': '1s'}}
PRODUCT_COLUMNS = ['market_ids', 'product_ids', 'firm_ids', 'shares', 'prices', 'mushy', 'demand_instruments0']


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def upload(client: TestClient, frame: pd.DataFrame, **headers: str) -> Any:
    return client.post('/v1/datasets', content=csv_bytes(frame), headers={'Content-Type': 'text/csv', **headers})


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def assert_problem(response: Any, status: int, **fields: Any) -> dict:
    """The response is a problem document with this status and these extension fields."""
    assert response.status_code == status, response.text
    assert response.headers['content-type'].startswith('application/problem+json')
    body = response.json()
    assert body['status'] == status and body['type'] and body['title']
    for name, value in fields.items():
        assert body.get(name) == value, (name, body)
    return body


def succeed(store, job_id: str, products) -> None:
    """Make a queued logit job finished as a worker would, solving it here (no worker needed)."""
    spec = EstimateSpec.model_validate(LOGIT_SPEC)
    results = blp.Problem.from_spec(spec.problem, products).estimate(solve_options(spec.solve))
    assert store.transition(job_id, ['queued'], 'running', started_at=now(), attempts=1) is True
    provenance = {'product_data': None, 'spec': LOGIT_SPEC, 'versions': {'blp': blp.__version__},
                  'timings': {'solve_seconds': 0.0}, 'started_at': now()}
    store.put_result(job_id, {'job_id': job_id, 'kind': 'estimate', 'results': results.to_document(),
                              'provenance': provenance})
    assert store.transition(job_id, ['running'], 'succeeded', finished_at=now()) is True
