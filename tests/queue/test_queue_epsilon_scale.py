"""A scaled logit error (`epsilon_scale` in the problem spec) end to end: a simulation's data at e = 1.5 uploaded,
random coefficients with a demographic and a supply side estimated by a real Celery worker, the result compared with
PyBLP's stored numbers (`tests/reference/generate_epsilon_scale_fixtures.py`: estimates 1e-4, standard errors 1e-3,
objective 1e-6)."""

from __future__ import annotations

import numpy as np
import pytest
from epsilon_scale_workloads import demand
from queue_support import submit, upload, wait_for
from simulation_option_workloads import simulate
from test_epsilon_scale_against_pyblp import stored

import blp

pytestmark = pytest.mark.queue

SPEC = {'problem': {'product_formulations': [{'formula': '1 + prices + v'}, {'formula': '0 + prices'},
                                             {'formula': '1 + x + w'}],
                    'agent_formulation': {'formula': '0 + income'}, 'epsilon_scale': 1.5},
        'solve': {'sigma': 0.3, 'pi': [[0.1]], 'beta': [None, -1, None], 'method': '1s',
                  'optimization': {'method': 'l-bfgs-b', 'method_options': {'gtol': 1e-10}}}}


def test_an_estimate_with_a_scaled_logit_error_matches_pyblp(api):
    solved = simulate(blp, demand(blp, 1.5)).replace_endogenous()
    problem = solved.to_problem()
    assert problem.agents is not None
    job = submit(api, SPEC, upload(api, problem.products.frame), upload(api, problem.agents.frame)).json()
    assert wait_for(api, job['id'], timeout=120)['status'] == 'succeeded'
    result = api.get(f"/v1/jobs/{job['id']}/result").json()
    assert result['provenance']['spec']['problem']['epsilon_scale'] == 1.5
    table, reference = result['results']['parameters'], stored('supply')
    for kind in ('beta', 'sigma', 'pi', 'gamma'):
        entries = [entry for entry in table if entry['kind'] == kind]
        assert len(entries) == reference[kind].size, kind
        np.testing.assert_allclose([entry['value'] for entry in entries], reference[kind], rtol=1e-4, err_msg=kind)
        np.testing.assert_allclose([entry['se'] for entry in entries], reference[f'{kind}_se'], rtol=1e-3,
                                   err_msg=f'{kind}_se')
    np.testing.assert_allclose(result['results']['objective'], reference['objective'], rtol=1e-6)
