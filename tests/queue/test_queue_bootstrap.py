"""Bootstrap jobs through a real Redis and two real worker processes: chunks of draws fan out over both workers,
progress counts them, the intervals equal the core's bootstrap of the same estimate and seed, and a chunk recorded
twice counts once."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from fastapi.testclient import TestClient
from generate_bootstrap_supply_fixtures import FIXTURE
from queue_support import rc_spec, submit, upload, wait_for
from supply_workloads import bootstrap_supply

import blp
from blp.post.bootstrap import draw_summaries, percentile_intervals
from examples import cereal
from jobstore.settings import Settings
from jobstore.store import Store, connect
from service.main import create_app
from worker.bootstrap_chunks import ledger_of

pytestmark = pytest.mark.queue
DRAWS, CHUNK, SEED, MERGER = 12, 3, 5, {'F6': 'F4'}


@pytest.fixture(scope='module')
def api(two_workers_api: TestClient) -> TestClient:
    return two_workers_api


@pytest.fixture(scope='module')
def estimate(api: TestClient, rc_products) -> str:
    products, agents = upload(api, rc_products), upload(api, cereal.agent_data(50))
    job = submit(api, rc_spec(), products, agents).json()
    assert wait_for(api, job['id'], timeout=120)['status'] == 'succeeded'
    return job['id']


def core_bootstrap() -> list[dict]:
    spec = rc_spec()
    problem = blp.Problem([blp.Formulation('0 + prices', 'C(market_ids) + C(product_ids)'),
                           blp.Formulation('0 + mushy + prices')], cereal.product_data(),
                          blp.Formulation('0 + log_income'), cereal.agent_data(50))
    optimization = blp.Optimization(spec['solve']['optimization']['method'],
                                    spec['solve']['optimization']['method_options'])
    results = problem.solve(sigma=spec['solve']['sigma'], pi=spec['solve']['pi'], method='1s',
                            optimization=optimization)
    merged = cereal.product_data()['firm_ids'].astype(str).replace(MERGER).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        return draw_summaries(results, DRAWS, SEED, range(DRAWS), merged)


def test_a_bootstrap_fans_out_in_chunks_and_its_intervals_equal_the_cores(api, estimate, two_workers):
    response = api.post(f'/v1/jobs/{estimate}/bootstrap', json={'draws': DRAWS, 'chunk_size': CHUNK, 'seed': SEED,
                                                                'merger': MERGER})
    assert response.status_code == 202, response.text
    job = response.json()
    assert job['kind'] == 'bootstrap' and job['parent_job_id'] == estimate
    finished = wait_for(api, job['id'], timeout=240)
    assert finished['status'] == 'succeeded', finished
    assert finished['progress']['chunks_done'] == finished['progress']['chunks_total'] == DRAWS // CHUNK
    assert finished['progress']['chunks_failed'] == 0
    result = api.get(f"/v1/jobs/{job['id']}/result").json()
    assert result['draws_used'] == DRAWS and result['seed'] == SEED
    assert {chunk['worker'].split('@')[0] for chunk in result['chunks']} == {'left', 'right'}
    expected = core_bootstrap()
    for name in ('theta', 'beta', 'mean_own_price_elasticity', 'merger_price_changes'):
        lower, upper = percentile_intervals(np.array([draw[name] for draw in expected], dtype=float), 0.95)
        np.testing.assert_allclose(result['intervals'][name]['lower'], lower, rtol=1e-6, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(result['intervals'][name]['upper'], upper, rtol=1e-6, atol=1e-12, err_msg=name)
    assert result['theta_labels'] == ['sigma[prices, prices]', 'pi[mushy, log_income]', 'pi[prices, log_income]']
    # a chunk written again (a redelivery after its row was stored) changes nothing
    ledger = ledger_of(Store(connect(two_workers[0])), job['id'])
    added, complete = ledger.record(1, 0, {'index': 0, 'status': 'succeeded', 'draws': []}, DRAWS // CHUNK, 1)
    assert (added, complete) == (False, True)


def test_a_bootstrap_refuses_a_merger_of_unknown_firms(api, estimate):
    response = api.post(f'/v1/jobs/{estimate}/bootstrap', json={'draws': 10, 'merger': {'F99': 'F1'}})
    assert response.status_code == 422 and response.json()['field'] == 'merger'
    assert response.json()['firms'] == ['F99']


def test_a_bootstrap_over_the_work_budget_only_because_of_its_draws_is_refused_naming_draws(estimate, two_workers):
    cells = 94 * 24 * 50  # agent-product cells of the estimate: it fits; a thousand draws of it do not
    settings = Settings(redis_url=two_workers[0], max_job_work=100 * cells)
    with TestClient(create_app(settings)) as client:
        response = client.post(f'/v1/jobs/{estimate}/bootstrap', json={'draws': 1000, 'seed': SEED})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem['type'] == 'urn:blp:problem:over-budget' and problem['parameter'] == 'draws'
    assert problem['sizes']['draws'] == 1000 and problem['estimate']['work'] == 1000 * cells
    assert '1000 task(s)' in problem['detail']


def test_a_supply_side_bootstrap_carries_gammas_intervals_equal_to_pyblps(api):
    """The bootstrap of a joint estimate through the API against PyBLP's stored bootstrap of the same estimate and
    seed: gamma's intervals, and merger price changes from each draw's own equilibrium prices."""
    workload = bootstrap_supply()
    spec = {'problem': {'product_formulations': [{'formula': formula} for formula, _ in workload['formulations']]},
            'solve': {'sigma': [[0.5]], 'beta': [None, -1.0, None], 'method': '1s',
                      'optimization': {'method': 'l-bfgs-b', 'method_options': {'gtol': 1e-10}}}}
    job = submit(api, spec, upload(api, workload['products']), upload(api, workload['agents'])).json()
    assert wait_for(api, job['id'], timeout=120)['status'] == 'succeeded'
    with np.load(FIXTURE) as stored:
        reference = {key: stored[key] for key in stored.files}
    draws = reference['bootstrapped_gamma'].shape[0]
    response = api.post(f"/v1/jobs/{job['id']}/bootstrap", json={'draws': draws, 'chunk_size': 5, 'seed': 0,
                                                                 'merger': {'1': '0'}})
    assert response.status_code == 202, response.text
    assert wait_for(api, response.json()['id'], timeout=240)['status'] == 'succeeded'
    result = api.get(f"/v1/jobs/{response.json()['id']}/result").json()
    assert result['gamma_labels'] == ['x', 'z'] and result['draws_used'] == draws
    changes = reference['merger_prices'] - reference['bootstrapped_prices'][:, :, 0]
    for name, values in (('gamma', reference['bootstrapped_gamma'][:, :, 0]), ('merger_price_changes', changes)):
        lower, upper = np.percentile(values, [2.5, 97.5], axis=0)
        np.testing.assert_allclose(result['intervals'][name]['lower'], lower, rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(result['intervals'][name]['upper'], upper, rtol=1e-6, err_msg=name)
