"""Model breadth through the API, a real Redis and a real Celery worker: built instruments in the spec."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from queue_support import LOGIT_SPEC, rc_spec, submit, wait_for

import blp
from examples import cereal

pytestmark = pytest.mark.queue
DIFFERENTIATION = {'formula': '0 + price_instrument', 'version': 'quadratic'}


def estimates(result: dict) -> dict:
    return {(p['kind'], p['row']): (p['value'], p['se']) for p in result['results']['parameters']}


def test_an_estimate_with_built_differentiation_instruments_matches_the_core_with_the_columns_by_hand(api, datasets):
    spec = copy.deepcopy(LOGIT_SPEC)
    spec['problem']['instruments'] = {'differentiation': DIFFERENTIATION}
    job = submit(api, spec, datasets['products']).json()
    assert wait_for(api, job['id'])['status'] == 'succeeded'
    result = api.get(f"/v1/jobs/{job['id']}/result").json()
    assert result['provenance']['spec']['problem']['instruments']['differentiation']['version'] == 'quadratic'

    products = cereal.product_data()
    built = blp.build_differentiation_instruments(blp.Formulation('0 + price_instrument'), products, 'quadratic')
    first = 1 + max(int(c.removeprefix('demand_instruments')) for c in products if c.startswith('demand_instruments'))
    for offset in range(built.shape[1]):
        products[f'demand_instruments{first + offset}'] = built[:, offset]
    core = blp.Problem(blp.Formulation('0 + prices', absorb='C(market_ids) + C(product_ids)'), products).solve(
        method='1s')
    assert result['results']['dimensions']['MD'] == core.problem.MD == 6
    value, se = estimates(result)[('beta', 'prices')]
    np.testing.assert_allclose([value, se], [core.beta[0, 0], core.beta_se[0, 0]], rtol=1e-10)


def core_re_estimate(products, agents, spec):
    """The same estimate and re-estimate with approximate optimal instruments in the core, as the worker does."""
    formulations = [blp.Formulation(f['formula'], f.get('absorb')) for f in spec['problem']['product_formulations']]
    problem = blp.Problem(formulations, products, blp.Formulation(spec['problem']['agent_formulation']['formula']),
                          agents)
    solve = spec['solve']
    optimization = blp.Optimization(solve['optimization']['method'], solve['optimization']['method_options'])
    first = problem.solve(sigma=solve['sigma'], pi=solve['pi'], method='1s', optimization=optimization)
    instruments = first.compute_optimal_instruments()
    return first, instruments.to_problem().solve(sigma=first.sigma, pi=first.pi, method='1s', optimization=optimization)


def test_optimal_instruments_in_one_job_and_from_a_finished_estimate_agree_with_the_core(api, datasets):
    spec = rc_spec()
    both = copy.deepcopy(spec)
    both['optimal_instruments'] = {'method': 'approximate'}
    one_job = submit(api, both, datasets['products'], datasets['agents50']).json()
    estimate = submit(api, spec, datasets['products'], datasets['agents50']).json()
    assert wait_for(api, estimate['id'], timeout=120)['status'] == 'succeeded'
    child = api.post(f"/v1/jobs/{estimate['id']}/optimal-instruments", json={'method': 'approximate'})
    assert child.status_code == 202, child.text
    assert child.json()['kind'] == 'optimal_instruments' and child.json()['parent_job_id'] == estimate['id']
    for job in (one_job, child.json()):
        assert wait_for(api, job['id'], timeout=120)['status'] == 'succeeded'
    first, updated = core_re_estimate(cereal.product_data(), cereal.agent_data(50), spec)
    expected = {('sigma', 'prices'): updated.sigma[1, 1], ('pi', 'mushy'): updated.pi[0, 0],
                ('pi', 'prices'): updated.pi[1, 0], ('beta', 'prices'): updated.beta[0, 0]}
    for job in (one_job, child.json()):
        result = api.get(f"/v1/jobs/{job['id']}/result").json()
        report = result['optimal_instruments']
        assert report['method'] == 'approximate' and report['instruments'][-1] == 'expected[prices]'
        initial = {(p['kind'], p['row']): p['value'] for p in report['initial']['results']['parameters']}
        assert initial[('sigma', 'prices')] == pytest.approx(first.sigma[1, 1], rel=1e-8)
        got = {key: value for key, (value, _) in estimates(result).items()}
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, rel=1e-6), key
    # an estimate with optimal instruments is an estimate: elasticities and counterfactuals start from it
    elasticities = api.get(f"/v1/jobs/{child.json()['id']}/elasticities?market=C01Q1")
    assert elasticities.status_code == 200
    merger = api.post(f"/v1/jobs/{child.json()['id']}/counterfactuals", json={'market': 'C01Q1',
                                                                               'prices': {'F1B04': 0.05}})
    assert merger.status_code == 202, merger.text
    assert wait_for(api, merger.json()['id'], timeout=120)['status'] == 'succeeded'


def test_optimal_instruments_refuse_an_estimate_that_did_not_converge(api, datasets):
    spec = rc_spec(optimization={'method': 'l-bfgs-b', 'method_options': {'maxiter': 1}})
    estimate = submit(api, spec, datasets['products'], datasets['agents50']).json()
    assert wait_for(api, estimate['id'], timeout=120)['status'] == 'succeeded'
    assert api.get(f"/v1/jobs/{estimate['id']}/result").json()['results']['converged'] is False
    response = api.post(f"/v1/jobs/{estimate['id']}/optimal-instruments", json={})
    assert response.status_code == 422 and response.headers['content-type'].startswith('application/problem+json')
    assert response.json()['parameter'] == 'optimal_instruments' and response.json()['converged'] is False
