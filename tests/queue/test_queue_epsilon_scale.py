"""A scaled logit error (`epsilon_scale` in the problem spec) end to end: a simulation's data at e = 1.5 uploaded,
random coefficients with a demographic and a supply side estimated by a real Celery worker, the result compared with
PyBLP's stored numbers (`tests/reference/generate_epsilon_scale_fixtures.py`: estimates 1e-4, standard errors 1e-3,
objective 1e-6); then demand alone with micro moments in their JSON form, against
`tests/reference/generate_epsilon_scale_micro_fixtures.py` (fitted micro values 1e-6), and at the simulation's theta
the micro values and importance sampling endpoints (values 1e-10, the same agents sampled, weights 1e-10)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from epsilon_scale_micro_workloads import agents
from epsilon_scale_workloads import demand
from queue_support import submit, upload, wait_for
from simulation_option_workloads import simulate
from test_epsilon_scale_against_pyblp import stored
from test_epsilon_scale_micro_against_pyblp import stored as stored_micro

import blp

pytestmark = pytest.mark.queue

SPEC = {'problem': {'product_formulations': [{'formula': '1 + prices + v'}, {'formula': '0 + prices'},
                                             {'formula': '1 + x + w'}],
                    'agent_formulation': {'formula': '0 + income'}, 'epsilon_scale': 1.5},
        'solve': {'sigma': 0.3, 'pi': [[0.1]], 'beta': [None, -1, None], 'method': '1s',
                  'optimization': {'method': 'l-bfgs-b', 'method_options': {'gtol': 1e-10}}}}


# `epsilon_scale_micro_workloads.micro_moments` in the API's JSON form (`blp/spec/micro.py`)
MICRO = {
    'datasets': [{'name': 'Income', 'observations': 200, 'market_ids': list(range(10)), 'first_choices': 'inside'},
                 {'name': 'Outside', 'observations': 500, 'first_choices': 'all'},
                 {'name': 'Diversion', 'observations': 300, 'market_ids': list(range(20)), 'first_choices': 'inside',
                  'second_choices': 'all'}],
    'parts': [{'name': 'income | inside', 'dataset': 'Income', 'agents': 'income'},
              {'name': 'outside', 'dataset': 'Outside', 'first': {'expression': '0', 'outside': 1}},
              {'name': 'outside second', 'dataset': 'Diversion', 'second': {'expression': '0', 'outside': 1}}],
    'moments': [{'name': 'E[income | inside]', 'value': 0.5, 'part': 'income | inside'},
                {'name': 'P(outside)', 'value': 0.55, 'part': 'outside'},
                {'name': 'P(outside second | inside)', 'value': 0.6, 'part': 'outside second'}],
}
MICRO_SPEC = {'problem': {'product_formulations': [{'formula': '1 + prices + v'}, {'formula': '0 + prices'}],
                          'agent_formulation': {'formula': '0 + income'}, 'epsilon_scale': 1.5},
              'solve': {'sigma': 0.3, 'pi': [[0.1]], 'method': '1s', 'micro_moments': MICRO,
                        'optimization': {'method': 'l-bfgs-b', 'method_options': {'gtol': 1e-10}}}}


def estimate(api, spec: dict) -> dict:
    """The simulation's data at e = 1.5 uploaded and `spec` estimated by the worker: its result (with the job)."""
    solved = simulate(blp, demand(blp, 1.5)).replace_endogenous()
    problem = solved.to_problem()
    assert problem.agents is not None
    job = submit(api, spec, upload(api, problem.products.frame), upload(api, problem.agents.frame)).json()
    assert wait_for(api, job['id'], timeout=120)['status'] == 'succeeded'
    result = api.get(f"/v1/jobs/{job['id']}/result").json()
    assert result['provenance']['spec']['problem']['epsilon_scale'] == 1.5
    return {**result, 'job': job}


def assert_parameters(result: dict, reference: dict, kinds: tuple[str, ...]) -> None:
    table = result['results']['parameters']
    for kind in kinds:
        entries = [entry for entry in table if entry['kind'] == kind]
        assert len(entries) == reference[kind].size, kind
        np.testing.assert_allclose([entry['value'] for entry in entries], reference[kind], rtol=1e-4, err_msg=kind)
        np.testing.assert_allclose([entry['se'] for entry in entries], reference[f'{kind}_se'], rtol=1e-3,
                                   err_msg=f'{kind}_se')
    np.testing.assert_allclose(result['results']['objective'], reference['objective'], rtol=1e-6)


def test_an_estimate_with_a_scaled_logit_error_matches_pyblp(api):
    assert_parameters(estimate(api, SPEC), stored('supply'), ('beta', 'sigma', 'pi', 'gamma'))


def test_micro_moments_with_a_scaled_logit_error_match_pyblp(api):
    result, reference = estimate(api, MICRO_SPEC), stored_micro('micro')
    assert_parameters(result, reference, ('beta', 'sigma', 'pi'))
    fitted = [entry['fitted'] for entry in result['results']['micro_moments']]
    np.testing.assert_allclose(fitted, reference['micro_values'], rtol=1e-6)


def test_micro_values_and_importance_sampling_with_a_scaled_logit_error_are_pyblps(api):
    """At the simulation's sigma and pi (`optimization: return`), as the stored `micro` workload's fixed theta."""
    spec = {'problem': MICRO_SPEC['problem'],
            'solve': {**MICRO_SPEC['solve'], 'sigma': 0.5, 'pi': [[0.3]], 'optimization': {'method': 'return'},
                      'iteration': {'method': 'squarem', 'method_options': {'atol': 1e-14}}}}
    job, reference = estimate(api, spec)['job'], stored_micro('micro')
    response = api.get(job['links']['micro_values'])
    assert response.status_code == 200, response.text
    values = [moment['value'] for moment in response.json()['micro_moments']]
    np.testing.assert_allclose(values, reference['fixed_micro_values'], rtol=1e-10, atol=0)
    candidates = upload(api, pd.DataFrame(agents(1, 40)))
    response = api.post(job['links']['importance_sampling'],
                        json={'draws': 3, 'seed': 0, 'agent_data': {'dataset_id': candidates}})
    assert response.status_code == 200, response.text
    sampled = pd.DataFrame(response.json()['sampled_agents'])
    np.testing.assert_array_equal(sampled['nodes0'].to_numpy(), reference['sampled_nodes'])
    np.testing.assert_allclose(sampled['weights'].to_numpy(), reference['sampled_weights'], rtol=1e-10, atol=0)
