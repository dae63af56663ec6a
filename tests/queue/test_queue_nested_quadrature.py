"""A nested-grid estimate through the API and a real worker process: the job's estimate is the core's on the same
spec and data (PyBLP's side of the rule is checked in tests/reference/test_nested_quadrature_against_pyblp.py)."""

from __future__ import annotations

import pytest
from queue_support import ABSORB, submit, upload, wait_for

pytestmark = pytest.mark.queue

SPEC = {'problem': {'product_formulations': [{'formula': '0 + prices', 'absorb': ABSORB},
                                             {'formula': '0 + mushy + prices'}],
                    'integration': {'specification': 'nested_grid', 'size': 4}},
        'solve': {'sigma': [[0.5, 0], [0, 1]], 'method': '1s'}}


def test_a_nested_grid_estimate_through_a_worker_is_the_cores(api, rc_products) -> None:
    import blp
    from blp.spec import EstimateSpec, solve_options

    job_id = submit(api, SPEC, upload(api, rc_products)).json()['id']
    assert wait_for(api, job_id, timeout=120)['status'] == 'succeeded'
    document = api.get(f'/v1/jobs/{job_id}/result').json()['results']
    spec = EstimateSpec.model_validate(SPEC)
    expected = blp.Problem.from_spec(spec.problem, rc_products).estimate(solve_options(spec.solve))
    assert document['objective'] == pytest.approx(float(expected.objective), rel=1e-8)
    sigma = {(p['row'], p['column']): p['value'] for p in document['parameters'] if p['kind'] == 'sigma'}
    assert sigma[('prices', 'prices')] == pytest.approx(float(expected.sigma[1, 1]), rel=1e-8)
    assert sigma[('mushy', 'mushy')] == pytest.approx(float(expected.sigma[0, 0]), rel=1e-8, abs=1e-10)
