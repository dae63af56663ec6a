"""Work budgets at the door: a job over the budget is refused from its sizes before anything is built, naming the
sizes, the estimate and the limit; Gauss-Hermite rules that are not finite are refused naming integration.size."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from api_support import assert_problem, upload

from blp.spec import EstimateSpec
from examples import cereal
from jobstore.problems import ProblemDetails
from jobstore.settings import Settings
from service import numerics
from service.budget import check_cost

RC = [{'formula': '0 + prices', 'absorb': 'C(market_ids) + C(product_ids)'}, {'formula': '0 + mushy + prices'}]


def rc_job(dataset_id: str, integration: dict | None = None, agent_id: str | None = None) -> dict:
    problem: dict = {'product_formulations': copy.deepcopy(RC)}
    if integration:
        problem['integration'] = integration
    body = {'kind': 'estimate', 'product_data': {'dataset_id': dataset_id},
            'spec': {'problem': problem, 'solve': {'sigma': [[1, 0], [0, 1]], 'method': '1s'}}}
    if agent_id:
        body['agent_data'] = {'dataset_id': agent_id}
    return body


def test_a_product_rule_of_2_25_million_agents_is_refused_from_its_sizes(client):
    products = upload(client, cereal.product_data()).json()['id']
    response = client.post('/v1/jobs', json=rc_job(products, {'specification': 'product', 'size': 1500}))
    body = assert_problem(response, 422, parameter='spec.problem.integration.size')
    assert body['type'] == 'urn:blp:problem:over-budget'
    assert '94 × 24 × 2,250,000 agent array' in body['detail'] and 'this service allows 4.0 GB per job' in body['detail']
    assert body['sizes']['agents_per_market'] == 1500 ** 2 and body['sizes']['markets'] == 94
    assert body['estimate']['agent_array_bytes'] == 94 * 24 * 1500 ** 2 * 8
    assert body['limit']['memory_bytes'] == 4_000_000_000
    assert client.get('/v1/jobs').json()['items'] == []


def test_agent_data_with_more_agents_per_market_than_allowed_is_refused_naming_it(make_client):
    client = make_client(max_agents_per_market=40)
    products, agents = (upload(client, frame).json()['id'] for frame in (cereal.product_data(), cereal.agent_data(50)))
    body = assert_problem(client.post('/v1/jobs', json=rc_job(products, agent_id=agents)), 422, parameter='agent_data')
    assert body['detail'] == '50 agents per market; this service allows 40'


def test_multistart_work_is_counted_per_start(make_client):
    client = make_client(max_job_work=94 * 24 * 64 * 3)
    products = upload(client, cereal.product_data()).json()['id']
    body = rc_job(products, {'specification': 'halton', 'size': 64})
    body.update(kind='multistart', starts={'count': 4})
    problem = assert_problem(client.post('/v1/jobs', json=body), 422)
    assert problem['sizes']['starts'] == 4 and problem['estimate']['work'] == 94 * 24 * 64 * 4


def test_the_cost_is_checked_before_anything_is_built(monkeypatch, redis_url):
    """The checking process's steps, run here: an over-budget spec never reaches the build."""
    def build(*_, **__):
        raise AssertionError('the problem was built')
    monkeypatch.setattr(numerics, 'build_problem', build)
    spec = EstimateSpec.model_validate(rc_job('x', {'specification': 'product', 'size': 1500})['spec'])
    fault = numerics._check(Settings(redis_url=redis_url), spec.model_dump_json(), None,
                              ('x', cereal.product_data()), (None, None))
    assert fault['slug'] == 'over-budget' and fault['fields']['parameter'] == 'spec.problem.integration.size'


def test_gauss_hermite_rules_that_are_not_finite_are_refused_naming_the_size(client):
    products = upload(client, cereal.product_data()).json()['id']
    body = rc_job(products, {'specification': 'product', 'size': 400})
    body['spec']['problem']['product_formulations'][1]['formula'] = '0 + prices'
    body['spec']['solve']['sigma'] = [[1]]
    problem = assert_problem(client.post('/v1/jobs', json=body), 422, parameter='integration.size')
    assert '400' in problem['detail'] and 'not finite' in problem['detail']


def test_a_job_within_the_budget_is_checked_on_a_few_nodes_and_queued(client):
    products = upload(client, cereal.product_data()).json()['id']
    response = client.post('/v1/jobs', json=rc_job(products, {'specification': 'product', 'size': 30}))
    assert response.status_code == 202, response.text
    assert client.get(response.headers['Location']).json()['status'] == 'queued'


def million_products(T: int = 10_000, J: int = 100, supply: bool = False) -> pd.DataFrame:
    """T x J products (by default 10,000 x 100, bench/scale.py's) with the simulated benchmark's columns: the budget
    check reads only the columns and market counts."""
    columns = {'market_ids': np.repeat(np.arange(T), J), 'firm_ids': np.tile(np.arange(J) % 5, T)}
    for name in ('shares', 'prices', 'x', *(f'demand_instruments{k}' for k in range(6)),
                 *(('supply_instruments0', 'supply_instruments1') if supply else ())):
        columns[name] = np.full(T * J, 0.001)
    return pd.DataFrame(columns)


def million_spec(supply: bool = False, agents: int = 100) -> EstimateSpec:
    formulations = [{'formula': '1 + prices + x'}, {'formula': '0 + prices + x'}] + \
        ([{'formula': '1 + x'}] if supply else [])
    return EstimateSpec.model_validate({
        'problem': {'product_formulations': formulations, 'agent_formulation': {'formula': '0 + income'},
                    'integration': {'specification': 'monte_carlo', 'size': agents}},
        'solve': {'sigma': [[0.44, 0], [0, 1.1]], 'pi': [[0.33], [0]], 'method': '1s',
                  **({'beta': [None, -2.0, None]} if supply else {})}})


def test_a_million_product_job_fits_the_default_budget_and_oversized_ones_are_refused_naming_the_sizes():
    settings = Settings()
    for supply in (False, True):  # demand and the supply side in default chunks, no memory_budget_mb needed
        check_cost(million_spec(supply), million_products(supply=supply), None, settings.budget())
    with pytest.raises(ProblemDetails) as caught:
        check_cost(million_spec(agents=5000), million_products(), None, settings.budget())
    problem = caught.value
    assert problem.status == 422 and problem.fields['parameter'] == 'spec.problem.integration.size'
    assert '10,000 × 100 × 5,000 agent array would be 40 GB whole' in problem.detail
    assert problem.fields['sizes']['markets'] == 10_000 and problem.fields['sizes']['agents_per_market'] == 5000


def test_a_job_over_the_budget_only_because_of_its_supply_side_is_refused_naming_it():
    """A million products in 100 markets of 10,000: demand fits, but one market's J x J supply matrices do not."""
    products = million_products(T=100, J=10_000, supply=True)
    check_cost(million_spec(), products, None, Settings().budget())
    with pytest.raises(ProblemDetails) as caught:
        check_cost(million_spec(supply=True), products, None, Settings().budget())
    problem = caught.value
    assert problem.status == 422 and problem.fields['parameter'] == 'spec.problem.product_formulations'
    assert 'the supply side (X3)' in problem.detail and 'without supply it would need' in problem.detail
    assert problem.fields['estimate']['blocks']['supply'] > 0
