"""Submitting robustness sweeps without a worker: every variant is checked as an estimate is (spec, data, budget)
and the whole sweep costed before anything is queued; a refusal names the variant (index and label) and the field
or sizes at fault; with `on_invalid: report` the others are queued and the refused variant waits in its row."""

from __future__ import annotations

import pytest
from api_support import assert_problem, upload

from examples import cereal
from service.sweep_submission import expand, merged

ABSORB = 'C(market_ids) + C(product_ids)'
# Exercise 2 (sigma on prices, pi on log income) with built nodes and the demographics of 30 agent rows per market.
SPEC = {'problem': {'product_formulations': [{'formula': '0 + prices', 'absorb': ABSORB},
                                             {'formula': '0 + mushy + prices'}],
                    'agent_formulation': {'formula': '0 + log_income'},
                    'integration': {'specification': 'halton', 'size': 20}},
        'solve': {'sigma': [[0, 0], [0, 1]], 'pi': [[0.2], [1]], 'method': '1s',
                  'optimization': {'method': 'trust-constr', 'method_options': {'gtol': 1e-8}}}}


def rule(specification: str, size: int, label: str | None = None) -> dict:
    variant: dict = {'override': {'problem': {'integration': {'specification': specification, 'size': size}}}}
    if label:
        variant['label'] = label
    return variant


@pytest.fixture(scope='module')
def data(redis_url):
    return cereal.product_data(), cereal.agent_data(30)


def sweep(client, data, variants=None, axes=None, **options):
    products, agents = (upload(client, frame).json()['id'] for frame in data)
    body = {'kind': 'sweep', 'product_data': {'dataset_id': products}, 'agent_data': {'dataset_id': agents},
            'spec': SPEC, 'sweep': {**({'variants': variants} if variants else {'axes': axes}), **options}}
    return client.post('/v1/jobs', json=body)


def test_overrides_merge_key_by_key_and_axes_multiply():
    base = {'solve': {'method': '2s', 'optimization': {'method': 'l-bfgs-b', 'method_options': {'gtol': 1e-8}}}}
    assert merged(base, {'solve': {'optimization': {'method': 'bfgs', 'method_options': {'maxiter': 5}}}}) == \
        {'solve': {'method': '2s', 'optimization': {'method': 'bfgs', 'method_options': {'maxiter': 5}}}}
    from service.models import SweepSpec
    axes = SweepSpec.model_validate({'axes': [
        {'name': 'rule', 'values': [rule('halton', 10, 'halton 10'), rule('product', 3)]},
        {'name': 'steps', 'values': [{'override': {'solve': {'method': '1s'}}, 'label': '1s'},
                                     {'override': {'solve': {'method': '2s'}}, 'label': '2s'}]}]})
    variants = expand(axes)
    assert [label for label, _ in variants] == ['rule=halton 10, steps=1s', 'rule=halton 10, steps=2s',
                                                'rule=1, steps=1s', 'rule=1, steps=2s']
    assert variants[3][1] == {'problem': {'integration': {'specification': 'product', 'size': 3}},
                              'solve': {'method': '2s'}}


def test_a_valid_sweep_is_queued_as_one_job_and_a_retry_with_its_key_returns_it(client, data):
    axes = [{'name': 'rule', 'values': [rule('halton', 20), rule('product', 5)]},
            {'name': 'steps', 'values': [{'override': {'solve': {'method': '2s'}}}]}]
    client.headers['Idempotency-Key'] = 'sweep-1'
    response = sweep(client, data, axes=axes)
    assert response.status_code == 202, response.text
    assert response.json()['kind'] == 'sweep' and response.json()['status'] == 'queued'
    again = sweep(client, data, axes=axes)
    assert again.status_code == 200 and again.json()['id'] == response.json()['id']
    changed = sweep(client, data, axes=axes[:1])
    assert changed.status_code == 422 and changed.json()['field'] == 'Idempotency-Key'


def test_instruments_and_optimal_instruments_can_vary_and_the_job_links_its_comparison(client, data):
    variants = [{'label': 'differentiation', 'override': {'problem': {'instruments': {
                    'differentiation': {'formula': '0 + predicted_prices'}}}}},
                {'label': 'optimal', 'override': {'optimal_instruments': {'method': 'approximate'}}},
                {'label': 'bfgs', 'override': {'solve': {'optimization': {'method': 'bfgs'}}}}]
    response = sweep(client, data, variants)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job['links']['comparison'] == f"/v1/jobs/{job['id']}/comparison"
    stored = client.app.state.store.get_job(job['id'])['request']['variants']
    assert stored[1]['spec']['optimal_instruments']['method'] == 'approximate'
    assert stored[2]['spec']['solve']['optimization'] == {'method': 'bfgs', 'method_options': {'gtol': 1e-8},
                                                          'compute_gradient': True}  # the base's options kept
    assert [variant['work'] for variant in stored] == [94 * 24 * 20] * 3
    assert client.get(f"/v1/jobs/{job['id']}/comparison").status_code == 202  # queued: no table yet


def test_an_invalid_variant_is_refused_naming_its_index_and_field(client, data):
    bad = {'override': {'problem': {'integration': {'specification': 'lattice', 'size': 10}}}, 'label': 'lattice'}
    body = assert_problem(sweep(client, data, [rule('halton', 20), bad]), 422, variant=1, label='lattice',
                          field='spec.problem.integration.specification')
    assert body['detail'].startswith('variant 1 (lattice): ')


def test_a_rule_needing_more_agent_rows_than_the_data_has_is_refused_naming_the_size(client, data):
    body = assert_problem(sweep(client, data, [rule('halton', 20), rule('product', 6)]), 422, variant=1,
                          parameter='spec.problem.integration.size')
    assert 'at least as many agent rows as the integration builds (36)' in body['detail']


def test_a_variant_over_a_single_estimates_budget_is_refused_naming_it_and_its_sizes(make_client, data):
    client = make_client(max_agents_per_market=25)
    body = assert_problem(sweep(client, data, [rule('halton', 20), rule('monte_carlo', 30, 'mc 30')]), 422,
                          variant=1, label='mc 30', parameter='spec.problem.integration.size')
    assert body['type'] == 'urn:blp:problem:over-budget' and body['sizes']['agents_per_market'] == 30


def test_with_on_invalid_report_the_refused_variant_is_kept_for_its_row(make_client, data):
    client = make_client(max_agents_per_market=25)
    response = sweep(client, data, [rule('halton', 20), rule('monte_carlo', 30, 'mc 30')], on_invalid='report')
    assert response.status_code == 202, response.text
    record = client.app.state.store.get_job(response.json()['id'])
    variants = record['request']['variants']
    assert variants[0]['spec']['problem']['integration'] == {'specification': 'halton', 'size': 20, 'seed': 0}
    assert variants[1]['spec'] is None and variants[1]['error']['type'] == 'urn:blp:problem:over-budget'
    assert variants[1]['error']['variant'] == 1


def test_a_sweep_over_the_work_budget_as_a_whole_is_refused_naming_its_largest_variant(make_client, data):
    cells = 94 * 24 * 20  # one halton-20 variant fits; three of them do not
    client = make_client(max_job_work=2 * cells + 1)
    body = assert_problem(sweep(client, data, [rule('halton', 20), rule('product', 5), rule('halton', 20)]), 422,
                          parameter='sweep', variant=1)
    assert body['estimate']['work'] == 94 * 24 * (20 + 25 + 20)
    assert [entry['variant'] for entry in body['variants']] == [1, 0, 2]


def test_sweep_needs_kind_sweep_and_kind_sweep_needs_it(client, data):
    products = upload(client, data[0]).json()['id']
    body = {'kind': 'estimate', 'product_data': {'dataset_id': products}, 'spec': SPEC,
            'sweep': {'variants': [rule('halton', 10)]}}
    assert client.post('/v1/jobs', json=body).status_code == 422
    assert client.post('/v1/jobs', json={**body, 'kind': 'sweep', 'sweep': None}).status_code == 422
