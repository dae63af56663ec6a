"""Micro moments through the API's checks: a spec with the JSON form of exercise 3 is accepted (202), and bad micro
moments are 422 problem documents naming the moment (or the field) and the cause, with nothing stored."""

from __future__ import annotations

import copy
from typing import Any, Callable, Iterator

import numpy as np
import pytest
import redis
from api_support import assert_problem, csv_bytes
from fastapi.testclient import TestClient

from examples import cereal
from examples.micro_moments import EXERCISE3_ALL, EXERCISE3_INCOME
from jobstore.settings import Settings
from service.main import create_app

MICRO_DB = 6
ABSORB = 'C(market_ids) + C(product_ids)'


def spec(micro: dict, sigma: Any = ((0, 0, 0), (0, 0, 0), (0, 0, 1.0))) -> dict:
    return {'problem': {'product_formulations': [{'formula': '0 + prices', 'absorb': ABSORB},
                                                 {'formula': '1 + mushy + prices'}],
                        'agent_formulation': {'formula': '0 + log_income'}},
            'solve': {'sigma': [list(row) for row in sigma], 'pi': [[1], [0.2], [1]], 'method': '1s',
                      'optimization': {'method': 'return'}, 'micro_moments': micro}}


@pytest.fixture(scope='module')
def client(redis_url: str) -> Iterator[tuple[TestClient, redis.Redis, dict]]:
    url = f'{redis_url}/{MICRO_DB}'
    r = redis.Redis.from_url(url)
    r.flushdb()
    products = cereal.product_data()
    markets = products['market_ids'].unique()[:10]  # fewer markets leave the instruments collinear with the FE
    products = products[products['market_ids'].isin(markets)].reset_index(drop=True)
    agents = cereal.agent_data(20)
    agents = agents[agents['market_ids'].isin(markets)].reset_index(drop=True)
    with TestClient(create_app(Settings(redis_url=url)), raise_server_exceptions=False) as api:
        ids = {}
        for name, frame in (('products', products), ('agents', agents)):
            response = api.post('/v1/datasets', content=csv_bytes(frame), headers={'Content-Type': 'text/csv'})
            assert response.status_code == 201, response.text
            ids[name] = response.json()['id']
        yield api, r, ids


def post(api: TestClient, ids: dict, body_spec: dict) -> Any:
    return api.post('/v1/jobs', json={'kind': 'estimate', 'product_data': {'dataset_id': ids['products']},
                                      'agent_data': {'dataset_id': ids['agents']}, 'spec': body_spec})


def test_exercise3_micro_moments_are_accepted(client):
    api, _, ids = client
    response = post(api, ids, spec(EXERCISE3_INCOME))
    assert response.status_code == 202, response.text
    assert post(api, ids, spec(EXERCISE3_ALL, sigma=((1, 0, 0), (0, 1, 0), (0, 0, 1)))).status_code == 202


def _changed(change: Callable[[dict], None]) -> dict:
    micro = copy.deepcopy(EXERCISE3_INCOME)
    change(micro)
    return micro


CORE_CASES = [  # refused by the core's checks: the parameter names the moment
    ('unknown agent column', lambda s: s['parts'][0].update(agents='log_wealth'), "'log_wealth'"),
    ('unknown product column', lambda s: s['datasets'][0].update(products='sugar'), "'sugar'"),
    ('code in an expression', lambda s: s['parts'][0].update(agents='log_income.__class__'), 'Attribute'),
    ('a market without products or agents', lambda s: s['datasets'][0].update(market_ids=['C01Q1', 'C09Q9']),
     "'C09Q9'"),
]
SCHEMA_CASES = [  # refused by the request schema: the field names where
    ('a part that does not exist', lambda s: s['moments'][0].update(part='nothing'), "uses part 'nothing'"),
    ('both part and ratio', lambda s: s['moments'][0].update(ratio=['a', 'b']), 'exactly one of part or ratio'),
    ('no observations', lambda s: s['datasets'][0].update(observations=0), 'greater than or equal to 1'),
    ('a non-finite value', lambda s: s['moments'][0].update(value=float('inf')), 'finite'),
]


@pytest.mark.parametrize('name, change, cause', CORE_CASES, ids=[case[0] for case in CORE_CASES])
def test_bad_micro_moments_are_422_naming_the_moment(client, name, change, cause):
    api, r, ids = client
    before = set(r.keys())
    body = assert_problem(post(api, ids, spec(_changed(change))), 422, parameter='micro_moments[E[log income | inside]]')
    assert cause in body['detail'], body
    assert set(r.keys()) == before


@pytest.mark.parametrize('name, change, cause', SCHEMA_CASES, ids=[case[0] for case in SCHEMA_CASES])
def test_malformed_micro_moments_are_422_naming_the_field(client, name, change, cause):
    api, r, ids = client
    before = set(r.keys())
    micro = _changed(change)
    response = api.post('/v1/jobs', content=__import__('json').dumps(
        {'kind': 'estimate', 'product_data': {'dataset_id': ids['products']},
         'agent_data': {'dataset_id': ids['agents']}, 'spec': spec(micro)}, allow_nan=True),
        headers={'Content-Type': 'application/json'})
    body = assert_problem(response, 422)
    assert body['field'].startswith('spec.solve.micro_moments') and cause in body['detail'], body
    assert set(r.keys()) == before


def _eliminated(index: Any = 0, second_choices: Any = 'all') -> dict:
    """Exercise 3's diversion survey with its first choice's group eliminated (product_ids<index>)."""
    micro = copy.deepcopy(EXERCISE3_ALL)
    micro['datasets'][1].update(eliminated_product_ids_index=index, second_choices=second_choices)
    return micro


def test_an_eliminated_group_survey_is_accepted(client):
    api, _, ids = client
    assert post(api, ids, spec(_eliminated(0))).status_code == 202  # the product_ids column: groups of one


@pytest.mark.parametrize('micro, field, cause', [
    (_eliminated(0, None), 'spec.solve.micro_moments', 'eliminated_product_ids_index needs second_choices'),
    (_eliminated(-1), 'spec.solve.micro_moments.datasets.1.eliminated_product_ids_index', 'greater than or equal'),
    (_eliminated(True), 'spec.solve.micro_moments.datasets.1.eliminated_product_ids_index', 'integer')])
def test_a_malformed_eliminated_index_is_422_naming_the_field(client, micro, field, cause):
    api, _, ids = client
    body = assert_problem(post(api, ids, spec(micro)), 422)
    assert body['field'].startswith(field) and cause in body['detail'], body


def test_an_eliminated_index_without_its_column_is_422_naming_the_moment(client):
    api, r, ids = client
    before = set(r.keys())
    body = assert_problem(post(api, ids, spec(_eliminated(3))), 422,
                          parameter='micro_moments[P(outside second | inside)]')
    assert "'product_ids3' column" in body['detail'], body
    assert set(r.keys()) == before


@pytest.mark.parametrize('covariances, cause', [
    ([[1e-3, 0], [0, 1e-3]], '3 by 3'), ([[1e-3, 0, 0], [0, -1e-3, 0], [0, 0, 1e-3]], 'positive semidefinite')])
def test_bad_micro_sample_covariances_are_422(client, covariances, cause):
    api, r, ids = client
    before = set(r.keys())
    body_spec = spec(EXERCISE3_ALL)
    body_spec['solve']['micro_sample_covariances'] = covariances
    body = assert_problem(post(api, ids, body_spec), 422)
    assert cause in body['detail'] and 'micro_sample_covariances' in (body.get('field') or body.get('parameter')), body
    assert set(r.keys()) == before
    body_spec['solve']['micro_sample_covariances'] = np.diag([1e-3, 2e-4, 3e-4]).tolist()
    assert post(api, ids, body_spec).status_code == 202
