"""Passthrough through the API, a real Redis and a real Celery worker: a finished estimate's dp/dc in one market is
PyBLP's `compute_passthrough` of the same estimate (1e-6), as JSON, CSV and through the client; without firm_ids it
is a 422 naming them."""

from __future__ import annotations

import numpy as np
import pytest
from queue_support import ABSORB, LOGIT_SPEC, submit, upload, wait_for

import blp_client

pytestmark = pytest.mark.queue
MARKET = 'C01Q1'


def pyblp_passthrough(products) -> np.ndarray:
    """PyBLP's passthrough in MARKET of the logit estimate LOGIT_SPEC describes."""
    import pyblp
    pyblp.options.verbose = False
    problem = pyblp.Problem([pyblp.Formulation('0 + prices', absorb=ABSORB)], products)
    return problem.solve(method='1s').compute_passthrough(market_id=MARKET)


def test_passthrough_of_an_estimate_is_pyblps(api, rc_products):
    job = submit(api, LOGIT_SPEC, upload(api, rc_products)).json()
    assert wait_for(api, job['id'])['status'] == 'succeeded'
    assert job['links']['passthrough'] == f"/v1/jobs/{job['id']}/passthrough"
    response = api.get(f"/v1/jobs/{job['id']}/passthrough", params={'market': MARKET})
    assert response.status_code == 200, response.text
    body = response.json()
    ids = rc_products.loc[rc_products['market_ids'] == MARKET, 'product_ids'].astype(str).tolist()
    assert body['market'] == MARKET and body['product_ids'] == ids
    np.testing.assert_allclose(np.array(body['matrix']), pyblp_passthrough(rc_products), rtol=1e-6, atol=0)
    table = api.get(f"/v1/jobs/{job['id']}/passthrough", params={'market': MARKET, 'format': 'csv'})
    assert table.headers['content-type'].startswith('text/csv')
    lines = table.text.splitlines()
    assert lines[0] == ','.join(['product_ids', *ids]) and len(lines) == 1 + len(ids)
    with blp_client.Client('http://testserver', transport=api._transport) as client:
        frame = client.passthrough(job['id'], MARKET)
    assert list(frame.index) == ids and np.allclose(frame.to_numpy(), body['matrix'], rtol=0, atol=0)
    unknown = api.get(f"/v1/jobs/{job['id']}/passthrough", params={'market': 'NOWHERE'})
    assert unknown.status_code == 422 and unknown.json()['parameter'] == 'market'


def test_passthrough_without_firm_ids_is_a_problem_naming_them(api, rc_products):
    job = submit(api, LOGIT_SPEC, upload(api, rc_products.drop(columns=['firm_ids']))).json()
    assert wait_for(api, job['id'])['status'] == 'succeeded'
    response = api.get(f"/v1/jobs/{job['id']}/passthrough", params={'market': MARKET})
    assert response.status_code == 422, response.text
    assert response.headers['content-type'].startswith('application/problem+json')
    assert response.json()['parameter'] == 'firm_ids'
