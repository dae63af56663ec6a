"""Merger screens through a real Redis and two real worker processes: batches of candidates over both workers,
progress in candidates, a ranking equal to the core's screen of the same estimate in JSON and CSV, the SSNIP groups,
the same ranking after a pool process is killed mid-batch, and the refusals (unknown firms, over the work budget)
before anything is queued."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import time

import pytest
import redis
from fastapi.testclient import TestClient
from queue_support import rc_spec, submit, upload, wait_for

import blp
from blp.post import screening
from examples import cereal
from jobstore.settings import Settings
from service.main import create_app

pytestmark = pytest.mark.queue
CREDIT = 0.02
PAIRS = 10  # cereal's five firms sell in every market
# At these values every agent's demand slopes down (the exercise's estimate has agents whose does not, and
# equilibria that do not exist in some markets): evaluated, not optimized, so the core's check sees the same numbers.
SPEC = rc_spec(pi=[[0.1], [-6.0]], optimization={'method': 'return'})


@pytest.fixture(scope='module')
def api(two_workers_api: TestClient) -> TestClient:
    return two_workers_api


@pytest.fixture(scope='module')
def estimate(api: TestClient, rc_products) -> str:
    """The estimate the screens start from (its values evaluated, see SPEC)."""
    job = submit(api, SPEC, upload(api, rc_products), upload(api, cereal.agent_data(50))).json()
    assert wait_for(api, job['id'], timeout=120)['status'] == 'succeeded'
    return job['id']


def core_today() -> screening.MarketsToday:
    """The same estimate solved here, by the core alone."""
    solve = SPEC['solve']
    problem = blp.Problem([blp.Formulation('0 + prices', 'C(market_ids) + C(product_ids)'),
                           blp.Formulation('0 + mushy + prices')], cereal.product_data(),
                          blp.Formulation('0 + log_income'), cereal.agent_data(50))
    results = problem.solve(sigma=solve['sigma'], pi=solve['pi'], method='1s', optimization=blp.Optimization('return'))
    return screening.MarketsToday.from_results(results)


def test_every_pair_fans_out_over_both_workers_and_ranks_as_the_core_does(api, estimate):
    body = {'credit': CREDIT, 'products': True,
            'ssnip': {'groups': [['F1B04', 'F1B06'], ['F1B04']], 'threshold': 0.05}}
    response = api.post(f'/v1/jobs/{estimate}/merger-screen', json=body)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job['kind'] == 'merger_screen' and job['parent_job_id'] == estimate
    finished = wait_for(api, job['id'], timeout=300)
    assert finished['status'] == 'succeeded', finished
    progress = finished['progress']
    assert progress['candidates_done'] == progress['candidates_total'] == PAIRS and progress['candidates_failed'] == 0
    result = api.get(f"/v1/jobs/{job['id']}/result").json()
    assert {worker.split('@')[0] for worker in result['provenance']['workers']} == {'left', 'right'}
    ranking = result['ranking']
    assert len(ranking) == PAIRS and not result['failed']
    losses = [row['consumer_surplus_loss'] for row in ranking]
    assert losses == sorted(losses, reverse=True) and [row['rank'] for row in ranking] == list(range(1, PAIRS + 1))
    today = core_today()
    for row in ranking:
        expected = screening.merger_summary(screening.screen_merger(today, row['firms'], CREDIT))
        for column in ('consumer_surplus_change', 'guppi_max', 'cmcr_max', 'hhi_change_max', 'price_change_percent'):
            assert row[column] == pytest.approx(expected[column], rel=1e-5), (row['candidate'], column)
        assert row['converged']
        assert row['counterfactual'] == {'firm_ids': {row['firms'][1]: row['firms'][0]}}
    details = {detail['candidate_index']: detail for detail in result['details']}
    assert all(len(details[row['candidate_index']]['markets']) == 94 for row in ranking)
    assert all(product['guppi'] > 0 for product in details[ranking[0]['candidate_index']]['products'])
    ssnip = result['ssnip']
    assert [group['size'] for group in ssnip['groups']] == [2, 1] and ssnip['rivals'] == 'fixed'
    assert len(ssnip['groups'][0]['markets']) == 94

    by_guppi = api.get(f"/v1/jobs/{job['id']}/ranking", params={'sort': 'guppi_max', 'order': 'asc',
                                                                 'format': 'csv'})
    assert by_guppi.status_code == 200 and by_guppi.headers['content-type'].startswith('text/csv')
    lines = list(csv.DictReader(io.StringIO(by_guppi.text)))
    assert len(lines) == PAIRS and [int(line['rank']) for line in lines] == list(range(1, PAIRS + 1))
    guppis = [float(line['guppi_max']) for line in lines]
    assert guppis == sorted(guppis) and lines[0]['firms'].count('+') == 1
    json_ranking = api.get(f"/v1/jobs/{job['id']}/ranking").json()
    assert [row['candidate'] for row in json_ranking['ranking']] == [row['candidate'] for row in ranking]


def test_a_screen_refuses_unknown_firms_and_markets_by_name(api, estimate):
    response = api.post(f'/v1/jobs/{estimate}/merger-screen', json={'candidates': [['F1', 'F99']]})
    assert response.status_code == 422 and response.json()['firms'] == ['F99'], response.text
    response = api.post(f'/v1/jobs/{estimate}/merger-screen', json={'markets': ['NOWHERE']})
    assert response.status_code == 422 and response.json()['markets'] == ['NOWHERE'], response.text
    response = api.post(f'/v1/jobs/{estimate}/merger-screen', json={'sort': 'nonsense'})
    assert response.status_code == 422, response.text


def test_a_screen_over_the_work_budget_is_refused_naming_its_candidates(estimate, two_workers):
    cells = 94 * 24 * 50  # agent-product cells of the estimate: it fits; ten candidates of it do not
    with TestClient(create_app(Settings(redis_url=two_workers[0], max_job_work=5 * cells))) as client:
        response = client.post(f'/v1/jobs/{estimate}/merger-screen', json={})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem['type'] == 'urn:blp:problem:over-budget' and problem['parameter'] == 'candidates'
    assert problem['candidates'] == PAIRS and problem['sizes']['markets'] == 94
    assert problem['detail'].startswith('10 candidates')


def begun_candidates(url: str, job_id: str) -> dict[int, dict]:
    """The candidates begun and not yet recorded, with the process of their latest delivery (jobstore/fanout.py)."""
    connection = redis.Redis.from_url(url)
    key = f'blp:job:{job_id}:merger_screen'
    begun = {int(index): json.loads(entry) for index, entry in connection.hgetall(f'{key}:running:1').items()}
    recorded = {int(index) for index in connection.hkeys(f'{key}:candidates:1')}
    return {index: entry for index, entry in begun.items() if index not in recorded}


def test_a_screen_whose_pool_process_is_killed_mid_batch_ranks_as_an_undisturbed_one(api, estimate, two_workers):
    """The first batch (candidates 0 and 1) is redelivered after its process is SIGKILLed: its candidates are
    computed again, once each in the rows, and the ranking and details are those of a screen nothing happened to."""
    url, _ = two_workers
    results, attempts = [], []
    for disturbed in (False, True):
        response = api.post(f'/v1/jobs/{estimate}/merger-screen', json={'credit': CREDIT})
        assert response.status_code == 202, response.text
        job_id = response.json()['id']
        if disturbed:
            deadline = time.monotonic() + 60
            while 0 not in (begun := begun_candidates(url, job_id)):
                assert time.monotonic() < deadline, f'candidate 0 of {job_id} did not begin within 60 s'
                time.sleep(0.005)
            os.kill(begun[0]['pid'], signal.SIGKILL)
        finished = wait_for(api, job_id, timeout=300)
        assert finished['status'] == 'succeeded', finished
        assert finished['progress']['candidates_done'] == PAIRS and finished['progress']['candidates_failed'] == 0
        results.append(api.get(f'/v1/jobs/{job_id}/result').json())
        rows = redis.Redis.from_url(url).hgetall(f'blp:job:{job_id}:merger_screen:candidates:1')
        attempts.append({int(index): json.loads(row)['attempts'] for index, row in rows.items()})
    assert attempts[0] == dict.fromkeys(range(PAIRS), 1)
    assert attempts[1] == {**dict.fromkeys(range(PAIRS), 1), 0: 2, 1: 2}  # the killed batch, delivered again
    quiet, killed = results
    assert killed['ranking'] == quiet['ranking'] and killed['details'] == quiet['details']
