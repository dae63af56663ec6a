"""Exercise 3 through the API, a real Redis and a real Celery worker: the JSON form of the survey statistics
(`examples/micro_moments.py`) on the exercise-2 agent draws gives PyBLP's estimates (1e-4) and standard errors
(1e-3) for Q1 and Q2, the Q3 price cut within 1e-6 of PyBLP's, and a multi-start with micro moments finishes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from queue_support import ABSORB, submit, upload, wait_for
from test_against_pyblp import FIXTURES, assert_close

from examples import cereal
from examples.micro_moments import EXERCISE3_ALL, EXERCISE3_INCOME

pytestmark = pytest.mark.queue
TRUST_CONSTR = {'method': 'trust-constr', 'method_options': {'gtol': 1e-8, 'xtol': 1e-8}}
CASES = {'exercise3_income': (EXERCISE3_INCOME, np.diag([0, 0, 1.0])),
         'exercise3_diversion': (EXERCISE3_ALL, np.diag([1.0, 1.0, 1.0]))}


def exercise3_spec(micro: dict, sigma: np.ndarray) -> dict:
    return {'problem': {'product_formulations': [{'formula': '0 + prices', 'absorb': ABSORB},
                                                 {'formula': '1 + mushy + prices'}],
                        'agent_formulation': {'formula': '0 + log_income'}},
            'solve': {'sigma': sigma.tolist(), 'pi': [[1], [0.2], [1]], 'method': '1s', 'optimization': TRUST_CONSTR,
                      'micro_moments': micro}}


def as_summary(results: dict) -> dict:
    """The API's parameter table as the matrices `assert_close` compares (NaN SEs where fixed, as PyBLP)."""
    labels = {'beta': ['prices'], 'sigma': ['1', 'mushy', 'prices'], 'pi': ['log_income']}
    summary: dict = {'objective': results['objective'], 'rho': None, 'rho_se': None,
                     'beta': np.zeros((1, 1)), 'beta_se': np.zeros((1, 1)), 'sigma': np.zeros((3, 3)),
                     'sigma_se': np.full((3, 3), np.nan), 'pi': np.zeros((3, 1)), 'pi_se': np.full((3, 1), np.nan)}
    for entry in results['parameters']:
        kind = entry['kind']
        row = labels['sigma'].index(entry['row']) if kind != 'beta' else 0
        column = 0 if entry['column'] is None else labels['sigma' if kind == 'sigma' else 'pi'].index(entry['column'])
        summary[kind][row, column] = entry['value']
        if not entry['fixed']:
            summary[f'{kind}_se'][row, column] = entry['se']
    return summary


@pytest.fixture(scope='module')
def data(api, rc_products) -> dict[str, str]:
    return {'products': upload(api, rc_products), 'agents': upload(api, cereal.agent_data(1000))}


@pytest.mark.parametrize('name', sorted(CASES))
def test_exercise3_through_the_api_matches_pyblp(api, data, name):
    reference = json.loads((FIXTURES / f'{name}.json').read_text())
    job = submit(api, exercise3_spec(*CASES[name]), data['products'], data['agents']).json()
    finished = wait_for(api, job['id'], timeout=900)
    assert finished['status'] == 'succeeded', finished
    result = api.get(f"/v1/jobs/{job['id']}/result").json()
    assert_close(f'{name} through the API', as_summary(result['results']), reference)
    fitted = [entry['fitted'] for entry in result['results']['micro_moments']]
    np.testing.assert_allclose(fitted, reference['micro_values'], rtol=1e-6)
    assert result['provenance']['spec']['solve']['micro_moments']['moments'][0]['value'] == 7.9

    # Q3: F1B04's price halved in C01Q2, at the stored estimate (restored with its micro moments)
    products = cereal.product_data()
    price = products.loc[(products['market_ids'] == 'C01Q2') & (products['product_ids'] == 'F1B04'), 'prices']
    response = api.post(f"/v1/jobs/{job['id']}/counterfactuals",
                        json={'market': 'C01Q2', 'prices': {'F1B04': float(price.iloc[0]) / 2}})
    assert response.status_code == 202, response.text
    counterfactual = response.json()['id']
    assert wait_for(api, counterfactual, timeout=120)['status'] == 'succeeded'
    rows = api.get(f'/v1/jobs/{counterfactual}/result').json()['products']
    np.testing.assert_allclose([row['share_after'] for row in rows], reference['price_cut_after'], rtol=1e-6)
    np.testing.assert_allclose([row['share_before'] for row in rows], reference['price_cut_before'], rtol=1e-6)


def test_multistart_accepts_micro_moments(api, data):
    agents = upload(api, cereal.agent_data(50))
    spec = exercise3_spec(EXERCISE3_INCOME, np.diag([0, 0, 1.0]))
    spec['solve']['optimization'] = {'method': 'l-bfgs-b', 'method_options': {'gtol': 1e-8}}
    body = {'kind': 'multistart', 'product_data': {'dataset_id': data['products']}, 'agent_data': {'dataset_id': agents},
            'spec': spec, 'starts': {'count': 2, 'seed': 0, 'bounds': {
                'sigma_bounds': [[[0, 0, 0], [0, 0, 0], [0, 0, 0]], [[0, 0, 0], [0, 0, 0], [0, 0, 10]]],
                'pi_bounds': [[[-2], [-2], [-10]], [[2], [2], [10]]]}}}
    response = api.post('/v1/jobs', json=body)
    assert response.status_code == 202, response.text
    finished = wait_for(api, response.json()['id'], timeout=600)
    assert finished['status'] == 'succeeded', finished
    result = api.get(f"/v1/jobs/{response.json()['id']}/result").json()
    assert [start['status'] for start in result['multistart']['starts']] == ['succeeded', 'succeeded']
    assert abs(result['results']['micro_moments'][0]['difference']) < 1e-6  # just identified: matched
