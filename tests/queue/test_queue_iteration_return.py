"""A job with PyBLP's `Iteration('return')` run by a real Celery worker: evaluated at the spec's `delta` (no
contraction), its estimate, SEs and objective are the library's `solve(iteration=Iteration('return'), delta=...)`, and
post-estimation served from it (elasticities) is at that delta, not at the contraction's fixed point."""

from __future__ import annotations

import numpy as np
import pytest
from queue_support import rc_spec, submit, wait_for

import blp
from blp.spec import EstimateSpec, solve_options
from examples import cereal

pytestmark = pytest.mark.queue


def test_a_return_iteration_job_is_the_librarys_evaluation_at_its_delta(api, datasets, rc_products):
    outside = 1 - rc_products.groupby('market_ids')['shares'].transform('sum')
    delta = np.log(rc_products['shares'] / outside).to_numpy() + np.linspace(-0.3, 0.3, len(rc_products))
    spec = rc_spec(optimization={'method': 'return'}, iteration={'method': 'return'}, delta=delta.tolist())
    job = submit(api, spec, datasets['products'], datasets['agents50']).json()
    assert wait_for(api, job['id'], timeout=120)['status'] == 'succeeded'
    result = api.get(f"/v1/jobs/{job['id']}/result").json()['results']
    parsed = EstimateSpec.model_validate(spec)
    problem = blp.Problem.from_spec(parsed.problem, rc_products, cereal.agent_data(50))
    library = problem.estimate(solve_options(parsed.solve))
    assert int(np.sum(library.contraction_evaluations)) == 0
    np.testing.assert_allclose(result['objective'], float(library.objective), rtol=1e-10)
    table = {(entry['kind'], entry['row'], entry['column']): entry for entry in result['parameters']}
    expected = {('beta', 'prices', None): (library.beta[0, 0], library.beta_se[0, 0]),
                ('sigma', 'prices', 'prices'): (library.sigma[1, 1], library.sigma_se[1, 1]),
                ('pi', 'mushy', 'log_income'): (library.pi[0, 0], library.pi_se[0, 0]),
                ('pi', 'prices', 'log_income'): (library.pi[1, 0], library.pi_se[1, 0])}
    for key, (value, se) in expected.items():
        assert table[key]['value'] == pytest.approx(value, rel=1e-10), key
        assert table[key]['se'] == pytest.approx(se, rel=1e-8), key
    elasticities = api.get(f"/v1/jobs/{job['id']}/elasticities?market=C01Q1")
    assert elasticities.status_code == 200, elasticities.text
    np.testing.assert_allclose(elasticities.json()['matrix'], library.compute_elasticities(market_id='C01Q1'),
                               rtol=1e-10)
    fixed_point = problem.estimate(solve_options(parsed.solve).replace(iteration=blp.Iteration()))
    assert abs(float(fixed_point.objective) - float(library.objective)) > 1e-3 * float(library.objective)
