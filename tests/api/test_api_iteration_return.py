"""`{"method": "return"}` as a job's iteration (PyBLP's `Iteration('return')`): accepted without the contraction's
default options, with or without a starting `delta`; options with it, or a delta of the wrong length, a 422 naming
the field. A finished 'return' job answers post-estimation at its own delta (the stored estimate keeps it): the
elasticities the API serves are the library's. The job run by a real worker: tests/queue/test_queue_iteration_return.py."""

from __future__ import annotations

import numpy as np
import pytest
from api_support import assert_problem, upload

import blp
from blp.spec import EstimateSpec, solve_options
from examples import cereal
from jobstore.store import now

AGENTS = 20


def spec(**solve) -> dict:
    return {'problem': {'product_formulations': [{'formula': '0 + prices', 'absorb': 'C(market_ids) + C(product_ids)'},
                                                 {'formula': '0 + prices'}],
                        'agent_formulation': {'formula': '0 + log_income'}},
            'solve': {'sigma': [[0.5]], 'pi': [[0.2]], 'method': '1s', 'optimization': {'method': 'return'},
                      'iteration': {'method': 'return'}, **solve}}


def given_delta() -> list[float]:
    """A delta off the contraction's fixed point: the logit delta moved by a deterministic ramp."""
    products = cereal.product_data()
    outside = 1 - products.groupby('market_ids')['shares'].transform('sum')
    logit = np.log(products['shares'] / outside).to_numpy()
    return (logit + np.linspace(-0.3, 0.3, logit.size)).tolist()


@pytest.fixture
def ids(client) -> dict[str, str]:
    return {'products': upload(client, cereal.product_data()).json()['id'],
            'agents': upload(client, cereal.agent_data(AGENTS)).json()['id']}


def submit(client, ids, job_spec):
    return client.post('/v1/jobs', json={'product_data': {'dataset_id': ids['products']},
                                         'agent_data': {'dataset_id': ids['agents']}, 'spec': job_spec})


def test_return_alone_has_no_options_and_is_queued(client, ids):
    assert EstimateSpec.model_validate(spec()).solve.iteration.method_options == {}
    assert EstimateSpec.model_validate(spec(iteration={})).solve.iteration.method_options == {'atol': 1e-14}
    for job_spec in (spec(), spec(delta=given_delta())):
        response = submit(client, ids, job_spec)
        assert response.status_code == 202, response.text


@pytest.mark.parametrize('iteration', [{'method': 'return', 'method_options': {'atol': 1e-12}},
                                       {'method': 'return', 'method_options': {'max_evaluations': 10}}])
def test_return_with_options_is_a_problem_naming_them(client, ids, iteration):
    assert_problem(submit(client, ids, spec(iteration=iteration)), 422, field='spec.solve.iteration.method_options')


def test_a_delta_not_one_per_product_is_a_problem_naming_delta(client, ids):
    assert_problem(submit(client, ids, spec(delta=given_delta()[:-1])), 422, parameter='delta')


def test_a_finished_return_job_answers_at_its_own_delta(client, ids):
    """Finished as a worker finishes it; its elasticities come from the stored estimate restored in a numerics
    process, which must evaluate at the job's delta again, not at the contraction's fixed point."""
    job_spec = spec(delta=given_delta())
    job = submit(client, ids, job_spec).json()
    parsed = EstimateSpec.model_validate(job_spec)
    problem = blp.Problem.from_spec(parsed.problem, cereal.product_data(), cereal.agent_data(AGENTS))
    results = problem.estimate(solve_options(parsed.solve))
    np.testing.assert_array_equal(results.delta[:, 0], job_spec['solve']['delta'])
    store = client.app.state.store
    assert store.transition(job['id'], ['queued'], 'running', started_at=now(), attempts=1) is True
    store.put_result(job['id'], {'job_id': job['id'], 'kind': 'estimate', 'results': results.to_document(),
                                 'provenance': {'spec': job_spec, 'versions': {'blp': blp.__version__}}})
    assert store.transition(job['id'], ['running'], 'succeeded', finished_at=now()) is True
    response = client.get(f"/v1/jobs/{job['id']}/elasticities?market=C01Q1")
    assert response.status_code == 200, response.text
    expected = results.compute_elasticities(market_id='C01Q1')
    np.testing.assert_allclose(response.json()['matrix'], expected, rtol=1e-10)
    fixed_point = problem.estimate(solve_options(EstimateSpec.model_validate(spec(iteration={})).solve))
    assert np.abs(fixed_point.compute_elasticities(market_id='C01Q1') - expected).max() > 1e-3
