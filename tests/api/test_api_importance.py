"""Importance sampling and micro values refused before any numerics (no worker): each a 4xx problem document naming
the field at fault, or 202 while the estimate runs. What they answer is checked in tests/queue/test_queue_importance.py."""

from __future__ import annotations

import pytest
from api_support import LOGIT_SPEC, assert_problem, succeed, upload

import blp
from blp.spec import EstimateSpec, solve_options
from examples import cereal
from jobstore.store import now

RC_SPEC = {'problem': {'product_formulations': [{'formula': '0 + prices', 'absorb': 'C(market_ids) + C(product_ids)'},
                                                {'formula': '0 + prices'}],
                       'agent_formulation': {'formula': '0 + log_income'}},
           'solve': {'sigma': [[0.5]], 'pi': [[0.2]], 'method': '1s', 'optimization': {'method': 'return'}}}
AGENTS = 20


def submit(client, spec, product_id, agent_id=None):
    body = {'product_data': {'dataset_id': product_id}, 'spec': spec}
    if agent_id:
        body['agent_data'] = {'dataset_id': agent_id}
    response = client.post('/v1/jobs', json=body)
    assert response.status_code == 202, response.text
    return response.json()


def succeed_rc(store, job_id, products, agents) -> None:
    """Make the queued random-coefficients job finished as a worker would, evaluating it here at its theta."""
    spec = EstimateSpec.model_validate(RC_SPEC)
    results = blp.Problem.from_spec(spec.problem, products, agents).estimate(solve_options(spec.solve))
    assert store.transition(job_id, ['queued'], 'running', started_at=now(), attempts=1) is True
    store.put_result(job_id, {'job_id': job_id, 'kind': 'estimate', 'results': results.to_document(),
                              'provenance': {'spec': RC_SPEC, 'versions': {'blp': blp.__version__}}})
    assert store.transition(job_id, ['running'], 'succeeded', finished_at=now()) is True


@pytest.fixture
def jobs(client, products):
    """A queued logit job, a finished logit job and a finished random-coefficients job (AGENTS per market)."""
    product_id = upload(client, products).json()['id']
    rc_products, agents = cereal.product_data(), cereal.agent_data(AGENTS)
    rc_id, agent_id = upload(client, rc_products).json()['id'], upload(client, agents).json()['id']
    queued, logit, rc = (submit(client, LOGIT_SPEC, product_id), submit(client, LOGIT_SPEC, product_id),
                         submit(client, RC_SPEC, rc_id, agent_id))
    succeed(client.app.state.store, logit['id'], products)
    succeed_rc(client.app.state.store, rc['id'], rc_products, agents)
    return {'queued': queued['id'], 'logit': logit['id'], 'rc': rc['id']}


def test_a_running_estimate_answers_202(client, jobs):
    for response in (client.get(f"/v1/jobs/{jobs['queued']}/micro-values"),
                     client.post(f"/v1/jobs/{jobs['queued']}/importance-sampling", json={'draws': 5})):
        assert response.status_code == 202 and response.json()['status'] == 'queued', response.text


def test_links_are_only_on_estimates_that_have_them(client, jobs):
    logit, rc = (client.get(f'/v1/jobs/{jobs[name]}').json()['links'] for name in ('logit', 'rc'))
    assert 'importance_sampling' not in logit and 'micro_values' not in logit
    assert rc['importance_sampling'] == f"/v1/jobs/{jobs['rc']}/importance-sampling" and 'micro_values' not in rc


def test_an_estimate_without_micro_moments_has_no_micro_values(client, jobs):
    for name in ('logit', 'rc'):
        assert_problem(client.get(f'/v1/jobs/{jobs[name]}/micro-values'), 422, field='spec.solve.micro_moments')


def test_a_logit_estimate_has_no_agents_to_sample(client, jobs):
    response = client.post(f"/v1/jobs/{jobs['logit']}/importance-sampling", json={'draws': 5})
    assert_problem(response, 422, field='spec.problem.product_formulations')


@pytest.mark.parametrize('body, field', [
    ({}, 'draws'), ({'draws': 0}, 'draws'), ({'draws': 100_001}, 'draws'), ({'draws': 5, 'ar_constant': 0.5}, 'ar_constant'),
    ({'draws': 5, 'seed': -1}, 'seed'), ({'draws': 5, 'delta': [0.0]}, 'delta'),
    ({'draws': 5, 'agent_data': {'dataset_id': '0' * 64}}, 'agent_data.dataset_id'),
    ({'draws': 5, 'integration': {'specification': 'halton', 'size': 0}}, 'integration.size'),
    # over the candidates of the largest market: the estimate's own agents, or the integration's draws
    ({'draws': AGENTS + 1}, 'draws'),
    ({'draws': 101, 'integration': {'specification': 'halton', 'size': 100}}, 'draws')])
def test_bad_requests_are_refused_naming_the_field(client, jobs, body, field):
    assert_problem(client.post(f"/v1/jobs/{jobs['rc']}/importance-sampling", json=body), 422, field=field)


def test_candidates_over_the_budget_are_refused_before_anything_is_built(client, jobs):
    """94 markets x 24 products x 100,000 Monte Carlo candidates: ~7 GB of choice probabilities, over the 4 GB budget."""
    body = {'draws': 5, 'integration': {'specification': 'monte_carlo', 'size': 100_000}}
    problem = assert_problem(client.post(f"/v1/jobs/{jobs['rc']}/importance-sampling", json=body), 422)
    assert problem['parameter'] == 'integration.size' and 'allows' in problem['detail'], problem


def test_an_answer_carries_at_most_a_million_sampled_agents(client, jobs):
    body = {'draws': 20_000, 'integration': {'specification': 'monte_carlo', 'size': 20_000}}
    problem = assert_problem(client.post(f"/v1/jobs/{jobs['rc']}/importance-sampling", json=body), 422, field='draws')
    assert problem['limit'] == 1_000_000


def test_unknown_jobs_and_other_media_types_are_refused(client, jobs):
    assert_problem(client.post('/v1/jobs/' + 'a' * 32 + '/importance-sampling', json={'draws': 5}), 404)
    assert_problem(client.get('/v1/jobs/' + 'a' * 32 + '/micro-values'), 404)
    response = client.post(f"/v1/jobs/{jobs['rc']}/importance-sampling", content=b'draws=5',
                           headers={'Content-Type': 'text/plain'})
    assert_problem(response, 415)


def test_candidates_the_core_refuses_are_a_problem_naming_what_is_missing(client, jobs):
    """Nodes from an integration alone have no log income for the estimate's demographics (as in PyBLP)."""
    body = {'draws': 5, 'integration': {'specification': 'halton', 'size': 50}}
    problem = assert_problem(client.post(f"/v1/jobs/{jobs['rc']}/importance-sampling", json=body), 422,
                             parameter='agent_formulation')
    assert 'agent_data' in problem['detail']
