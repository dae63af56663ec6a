"""RCNL and a lognormal price coefficient end to end: uploaded data, a job spec, a real Celery worker, the result
compared with PyBLP's stored numbers (estimates 1e-4, standard errors 1e-3, objective 1e-6), and post-estimation
from the finished job."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from queue_support import submit, upload, wait_for
from test_against_pyblp import FIXTURES, assert_close
from workloads import WORKLOADS

pytestmark = pytest.mark.queue


def spec_of(workload: dict) -> dict:
    """The workload as a job spec (what a client would send)."""
    solve = {key: np.asarray(value).tolist() if key in ('sigma', 'pi', 'rho', 'sigma_bounds', 'pi_bounds') else value
             for key, value in workload['solve'].items() if key != 'optimization'}
    method, options = workload['solve']['optimization']
    solve['optimization'] = {'method': method, 'method_options': dict(options)}
    problem: dict[str, Any] = {'product_formulations': [{'formula': formula, 'absorb': absorb}
                                                        for formula, absorb in workload['formulations']]}
    if 'agent_formulation' in workload:
        problem['agent_formulation'] = {'formula': workload['agent_formulation']}
    if 'rc_types' in workload:
        problem['rc_types'] = workload['rc_types']
    return {'problem': problem, 'solve': solve}


def summary_of(results: dict, workload: dict) -> dict:
    """beta, sigma, pi, rho and their SEs as PyBLP-shaped lists from the job's parameter table."""
    table = results['parameters']
    X2 = [entry['row'] for entry in table if entry['kind'] == 'sigma' and entry['row'] == entry['column']]
    demographics = list(dict.fromkeys(entry['column'] for entry in table if entry['kind'] == 'pi'))
    nests = [entry['row'] for entry in table if entry['kind'] == 'rho']
    shapes = {'beta': (sum(entry['kind'] == 'beta' for entry in table), 1), 'sigma': (len(X2), len(X2)),
              'pi': (len(X2), len(demographics)), 'rho': (len(nests), 1)}
    summary: dict[str, Any] = {}
    for kind, shape in shapes.items():
        values, se = np.zeros(shape), np.full(shape, np.nan)
        for index, entry in enumerate(e for e in table if e['kind'] == kind):
            if kind == 'beta' or kind == 'rho':
                location: tuple[int, int] = (index, 0)
            else:
                location = (X2.index(entry['row']), (X2 if kind == 'sigma' else demographics).index(entry['column']))
            values[location] = entry['value']
            se[location] = np.nan if entry['se'] is None else entry['se']
        summary[kind], summary[f'{kind}_se'] = values.tolist(), se.tolist()
    summary['objective'] = results['objective']
    return summary


@pytest.mark.parametrize('name', ['nevo_rcnl', 'cereal_lognormal_prices'])
def test_estimate_through_the_api_matches_pyblp(api, name):
    workload = WORKLOADS[name]()
    job = submit(api, spec_of(workload), upload(api, workload['products']), upload(api, workload['agents'])).json()
    finished = wait_for(api, job['id'], timeout=300)
    assert finished['status'] == 'succeeded', finished
    result = api.get(f"/v1/jobs/{job['id']}/result").json()
    reference = json.loads((FIXTURES / f'{name}.json').read_text())
    assert_close(f'{name} through the API', summary_of(result['results'], workload), reference)
    market = str(workload['products']['market_ids'].iloc[0])
    elasticities = api.get(f"/v1/jobs/{job['id']}/elasticities?market={market}").json()['matrix']
    assert all(row[j] < 0 for j, row in enumerate(elasticities))  # own-price elasticities
    if name == 'cereal_lognormal_prices':
        assert result['provenance']['spec']['problem']['rc_types'] == ['log']
