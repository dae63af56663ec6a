"""Submitting multi-starts without a worker: the starts are checked (bounds to draw within, count, sampler) before
anything is queued, and a valid one is queued as one job of kind `multistart`."""

from __future__ import annotations

import copy

import pytest
from api_support import LOGIT_SPEC, assert_problem, upload

from examples import cereal

ABSORB = 'C(market_ids) + C(product_ids)'
# sigma on prices from ten Halton draws: a random-coefficients model that needs no agent data.
RC_SPEC = {'problem': {'product_formulations': [{'formula': '0 + prices', 'absorb': ABSORB}, {'formula': '0 + prices'}],
                       'integration': {'specification': 'halton', 'size': 10}},
           'solve': {'sigma': [[1.0]], 'method': '1s'}}
SIGMA_BOUNDS = [[[0.0]], [[10.0]]]


@pytest.fixture(scope='module')
def rc_products():
    """The cereal products with the four random-coefficients instruments."""
    return cereal.product_data()[['market_ids', 'product_ids', 'firm_ids', 'shares', 'prices', 'mushy',
                                  'demand_instruments0', 'demand_instruments1', 'demand_instruments2',
                                  'demand_instruments3']]


def multistart(client, dataset_id, starts, spec=RC_SPEC, kind='multistart'):
    body = {'kind': kind, 'product_data': {'dataset_id': dataset_id}, 'spec': spec}
    if starts is not None:
        body['starts'] = starts
    return client.post('/v1/jobs', json=body)


def test_multistart_is_queued_as_one_job_with_estimate_links(client, rc_products):
    response = multistart(client, upload(client, rc_products).json()['id'],
                          {'count': 4, 'bounds': {'sigma_bounds': SIGMA_BOUNDS}})
    assert response.status_code == 202, response.text
    job = response.json()
    assert job['kind'] == 'multistart' and job['status'] == 'queued'
    assert {'elasticities', 'diversion_ratios', 'counterfactuals', 'result'} <= set(job['links'])
    assert client.get(f"/v1/jobs/{job['id']}").json() == job
    assert client.get(f"/v1/jobs/{job['id']}/result").status_code == 202


def test_bounds_default_to_the_solves_own(client, rc_products):
    spec = copy.deepcopy(RC_SPEC)
    spec['solve']['sigma_bounds'] = SIGMA_BOUNDS
    response = multistart(client, upload(client, rc_products).json()['id'], {'count': 3, 'sampler': 'uniform'}, spec)
    assert response.status_code == 202, response.text


def test_a_parameter_without_finite_bounds_to_draw_within_is_named(client, rc_products):
    # The default bounds of sigma's diagonal are [0, +inf): no box to draw starting values from.
    problem = assert_problem(multistart(client, upload(client, rc_products).json()['id'], {'count': 4}), 422,
                             parameter='sigma[prices, prices]')
    assert 'starts.bounds' in problem['detail']


def test_a_draw_box_outside_the_solve_bounds_is_named(client, rc_products):
    starts = {'count': 4, 'bounds': {'sigma_bounds': [[[-1.0]], [[10.0]]]}}
    problem = assert_problem(multistart(client, upload(client, rc_products).json()['id'], starts), 422,
                             parameter='sigma[prices, prices]')
    assert 'outside its bounds' in problem['detail']


@pytest.mark.parametrize('count', [0, 1, 65])
def test_count_outside_two_to_sixty_four_is_refused(client, rc_products, count):
    starts = {'count': count, 'bounds': {'sigma_bounds': SIGMA_BOUNDS}}
    assert_problem(multistart(client, upload(client, rc_products).json()['id'], starts), 422, field='starts.count')


def test_unknown_sampler_is_refused_by_name(client, rc_products):
    starts = {'count': 4, 'sampler': 'latin-hypercube', 'bounds': {'sigma_bounds': SIGMA_BOUNDS}}
    assert_problem(multistart(client, upload(client, rc_products).json()['id'], starts), 422, field='starts.sampler')


def test_starts_are_required_for_a_multistart_and_refused_for_an_estimate(client, rc_products):
    dataset_id = upload(client, rc_products).json()['id']
    assert_problem(multistart(client, dataset_id, None), 422, field='starts')
    assert_problem(multistart(client, dataset_id, {'count': 4}, kind='estimate'), 422, field='starts')


def test_a_model_without_nonlinear_parameters_cannot_multistart(client, products):
    problem = assert_problem(multistart(client, upload(client, products).json()['id'], {'count': 4}, LOGIT_SPEC), 422)
    assert problem['parameter'] == 'sigma' and 'nonlinear' in problem['detail']
