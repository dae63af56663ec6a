"""PyBLP's nested quadrature through the JSON spec: `nested_product` and `nested_grid` jobs are checked and queued,
the budget costs the nodes their rules build, and levels beyond the nested rules are refused naming the size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from api_support import assert_problem, upload
from test_api_budget import rc_job

from blp.configurations.integration import Integration
from examples import cereal


@pytest.mark.parametrize('specification', ['nested_product', 'nested_grid'])
def test_a_nested_rule_is_checked_and_queued(client, specification: str) -> None:
    products = upload(client, cereal.product_data()).json()['id']
    response = client.post('/v1/jobs', json=rc_job(products, {'specification': specification, 'size': 5}))
    assert response.status_code == 202, response.text
    job = client.get(response.headers['Location']).json()
    assert job['status'] == 'queued'


@pytest.mark.parametrize('specification, size', [('nested_product', 17), ('nested_grid', 12)])
def test_the_budget_costs_the_nodes_the_rule_builds(make_client, specification: str, size: int) -> None:
    client = make_client(max_agents_per_market=100)
    products = upload(client, cereal.product_data()).json()['id']
    built = len(Integration(specification, size).build(2, markets=1)[0][0])  # two random coefficients
    assert built > 100
    body = assert_problem(client.post('/v1/jobs', json=rc_job(products, {'specification': specification, 'size': size})),
                          422, parameter='spec.problem.integration.size')
    assert body['sizes']['agents_per_market'] == built
    assert f'{built:,} agents per market' in body['detail'] or str(built) in body['detail']


@pytest.mark.parametrize('specification', ['nested_product', 'nested_grid'])
def test_levels_beyond_the_nested_rules_are_refused_naming_the_size(client, specification: str) -> None:
    products = upload(client, cereal.product_data()).json()['id']
    response = client.post('/v1/jobs', json=rc_job(products, {'specification': specification, 'size': 26}))
    problem = assert_problem(response, 422, parameter='integration.size')
    assert '26' in problem['detail'] and 'nested Gauss-Hermite' in problem['detail']


def test_the_openapi_document_lists_the_nested_rules() -> None:
    document = json.loads((Path(__file__).resolve().parents[2] / 'openapi' / 'openapi.json').read_text())
    schema = document['components']['schemas']['IntegrationSpec']
    assert {'nested_product', 'nested_grid'} <= set(schema['properties']['specification']['enum'])


def test_a_gauss_hermite_grid_level_far_beyond_the_rules_is_refused_at_once(client) -> None:
    """Counting the level's nodes once took the API process ~20 minutes; levels the core refuses count as its highest."""
    products = upload(client, cereal.product_data()).json()['id']
    response = client.post('/v1/jobs', json=rc_job(products, {'specification': 'grid', 'size': 100_000}))
    problem = assert_problem(response, 422)
    assert problem['parameter'].endswith('integration.size')
