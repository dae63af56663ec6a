"""Micro and agent scores of a finished estimate (`POST /v1/jobs/{id}/micro-scores`, `/agent-scores`), without a
worker: the estimate is evaluated here at its theta and stored as a worker stores it. The answers are the library's
`compute_micro_scores` / `compute_agent_scores` at the same estimate, through the API and the client; bad requests
are 4xx problems naming the field. End to end with a real worker: tests/queue/test_queue_library_parity.py."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import test_api_importance as importance
from api_support import assert_problem, upload

import blp
import blp_client
from blp.configurations.integration import Integration
from blp.micro.from_spec import build_micro_dataset
from blp.spec import EstimateSpec, solve_options
from blp.spec.micro import MicroDatasetSpec
from examples import cereal

SURVEY = {'name': 'survey', 'observations': 100, 'first_choices': 'all', 'market_ids': ['C01Q1', 'C01Q2']}
MUSHY = {'name': 'mushy buyers', 'observations': 50, 'products': 'mushy'}
AGENTS = importance.AGENTS
jobs = importance.jobs  # the fixture of a queued and a finished logit job and a finished random-coefficients job


def micro_data() -> pd.DataFrame:
    """Survey observations in two markets: each a first choice (0: the outside good) and a log income."""
    state = np.random.default_rng(3)
    return pd.DataFrame({'market_ids': ['C01Q1'] * 6 + ['C01Q2'] * 6, 'choice_indices': state.integers(0, 25, 12),
                         'log_income': state.normal(size=12)})


def library_results() -> Any:
    """The library's estimate of the random-coefficients job, on its data (as the fixture's job was stored)."""
    spec = EstimateSpec.model_validate(importance.RC_SPEC)
    problem = blp.Problem.from_spec(spec.problem, cereal.product_data(), cereal.agent_data(AGENTS))
    return problem.estimate(solve_options(spec.solve))


def test_micro_and_agent_scores_are_the_librarys(client, jobs):
    results = library_results()
    survey, mushy = (build_micro_dataset(MicroDatasetSpec.model_validate(d), results.problem) for d in (SURVEY, MUSHY))
    data = micro_data()
    response = client.post(f"/v1/jobs/{jobs['rc']}/micro-scores", json={
        'dataset': SURVEY, 'micro_data': {'dataset_id': upload(client, data).json()['id']},
        'integration': {'specification': 'product', 'size': 3}})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = results.compute_micro_scores(survey, data, Integration.seeded('product', 3, 0))
    assert body['dataset'] == 'survey' and body['parameters'] == list(results.theta_labels) == ['prices x prices',
                                                                                                  'prices x log_income']
    assert len(body['scores']) == 2 and all(len(scores) == len(data) for scores in body['scores'])
    np.testing.assert_allclose(np.array(body['scores'], dtype=float), np.array(expected), rtol=1e-12, atol=0)

    with blp_client.Client('http://testserver', transport=client._transport) as api:
        agent = api.agent_scores(jobs['rc'], MUSHY)
    expected_agents = results.compute_agent_scores(mushy)
    assert agent.dataset == 'mushy buyers' and len(agent.scores) == 2
    for ours, theirs in zip(agent.scores, expected_agents):
        assert list(ours) == [str(market) for market in theirs]
        for market, values in theirs.items():
            # the JSON form's weights always carry the outside good (weight 0 here): its column is there, null
            assert np.shape(ours[str(market)]) == values.shape == (AGENTS, 25)
            assert all(row[0] is None for row in ours[str(market)])
            np.testing.assert_allclose(np.array(ours[str(market)], dtype=float), values, rtol=1e-12, atol=0)


def test_links_name_the_scores_where_there_are_agents(client, jobs):
    logit, rc = (client.get(f'/v1/jobs/{jobs[name]}').json()['links'] for name in ('logit', 'rc'))
    assert 'micro_scores' not in logit and 'agent_scores' not in logit
    assert rc['micro_scores'] == f"/v1/jobs/{jobs['rc']}/micro-scores"
    assert rc['agent_scores'] == f"/v1/jobs/{jobs['rc']}/agent-scores"


def test_a_running_estimate_answers_202(client, jobs):
    response = client.post(f"/v1/jobs/{jobs['queued']}/agent-scores", json={'dataset': SURVEY})
    assert response.status_code == 202 and response.json()['status'] == 'queued', response.text


@pytest.mark.parametrize('path, body, field', [
    ('micro-scores', {'dataset': SURVEY}, 'micro_data'),
    ('agent-scores', {'dataset': 'survey'}, 'dataset'),  # the estimate has no micro dataset of that name
    ('agent-scores', {}, 'dataset'),
    ('agent-scores', {'dataset': {'name': 'x', 'observations': 0}}, 'dataset.observations'),
    ('agent-scores', {'dataset': SURVEY, 'micro_data': {'dataset_id': '0' * 64}}, 'micro_data.dataset_id'),
    ('agent-scores', {'dataset': SURVEY, 'integration': {'specification': 'product', 'size': 0}}, 'integration.size'),
    # 94 markets x 20 agents x 25 choices x 20,000 nodes each: over the work computed at once
    ('agent-scores', {'dataset': SURVEY, 'integration': {'specification': 'product', 'size': 20_000}},
     'integration.size')])
def test_bad_requests_are_refused_naming_the_field(client, jobs, path, body, field):
    problem = assert_problem(client.post(f"/v1/jobs/{jobs['rc']}/{path}", json=body), 422)
    assert field in (problem.get('field'), problem.get('parameter')) or \
        any(error.get('field') == field for error in problem.get('errors', [])), problem


def test_a_logit_estimate_has_no_scores(client, jobs):
    response = client.post(f"/v1/jobs/{jobs['logit']}/agent-scores", json={'dataset': SURVEY})
    assert_problem(response, 422, field='spec.problem.product_formulations')


def test_micro_data_the_core_refuses_is_a_problem_naming_it(client, jobs):
    """Without integration the observations need their own nodes and weights (micro_ids, weights), as in PyBLP."""
    body = {'dataset': SURVEY, 'micro_data': {'dataset_id': upload(client, micro_data()).json()['id']}}
    problem = assert_problem(client.post(f"/v1/jobs/{jobs['rc']}/micro-scores", json=body), 422,
                             parameter='micro_data')
    assert 'micro_ids' in problem['detail']
