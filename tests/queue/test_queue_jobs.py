"""Jobs through a real Redis and a real Celery worker: results, parallel runs, cancel, idempotency, failures."""

from __future__ import annotations

import json

import pytest
from queue_support import LOGIT_SPEC, SLOW_SOLVE, iterating, rc_spec, submit, upload, wait_for

pytestmark = pytest.mark.queue


def price_coefficient(result: dict) -> float:
    return next(p['value'] for p in result['results']['parameters'] if p['kind'] == 'beta' and p['row'] == 'prices')


def test_logit_estimate_succeeds_with_result_matrices_and_provenance(api, datasets):
    job = submit(api, LOGIT_SPEC, datasets['products']).json()
    finished = wait_for(api, job['id'])
    assert finished['status'] == 'succeeded', finished
    assert finished['started_at'] and finished['finished_at'] and finished['attempts'] == 1
    result = api.get(f"/v1/jobs/{job['id']}/result").json()
    assert price_coefficient(result) == pytest.approx(-30.6, abs=0.1)
    provenance = result['provenance']
    assert provenance['product_data'] == datasets['products']
    assert provenance['spec']['solve']['W_type'] == 'robust'  # defaults filled in
    assert set(provenance['versions']) == {'blp', 'numpy', 'scipy', 'pandas', 'python'}
    assert provenance['timings']['solve_seconds'] >= 0
    elasticities = api.get(f"/v1/jobs/{job['id']}/elasticities?market=C01Q1").json()
    assert len(elasticities['product_ids']) == len(elasticities['matrix']) == 24
    assert all(row[i] < 0 for i, row in enumerate(elasticities['matrix']))  # own-price elasticities
    table = api.get(f"/v1/jobs/{job['id']}/diversion-ratios?market=C01Q1&format=csv")
    assert table.headers['content-type'].startswith('text/csv')
    assert table.text.splitlines()[0].startswith('product_ids,F1B04') and len(table.text.splitlines()) == 25
    unknown = api.get(f"/v1/jobs/{job['id']}/elasticities?market=NOWHERE")
    assert unknown.status_code == 422 and unknown.json()['parameter'] == 'market'


def test_counterfactual_price_cut_raises_that_products_share(api, datasets):
    estimate = submit(api, LOGIT_SPEC, datasets['products']).json()
    assert wait_for(api, estimate['id'])['status'] == 'succeeded'
    bad = api.post(f"/v1/jobs/{estimate['id']}/counterfactuals", json={'market': 'C01Q2', 'prices': {'NOPE': 0.1}})
    assert bad.status_code == 422 and bad.json()['products'] == ['NOPE']
    body, key = {'market': 'C01Q2', 'prices': {'F1B04': 0.05}}, {'Idempotency-Key': 'cut-F1B04'}
    response = api.post(f"/v1/jobs/{estimate['id']}/counterfactuals", json=body, headers=key)
    assert response.status_code == 202, response.text
    job = response.json()
    retry = api.post(f"/v1/jobs/{estimate['id']}/counterfactuals", json=body, headers=key)
    assert retry.status_code == 200 and retry.json()['id'] == job['id']
    assert job['kind'] == 'counterfactual' and job['parent_job_id'] == estimate['id']
    assert wait_for(api, job['id'])['status'] == 'succeeded'
    result = api.get(f"/v1/jobs/{job['id']}/result").json()
    assert result['kind'] == 'counterfactual' and result['market'] == 'C01Q2' and result['mode'] == 'prices'
    rows = {row['product_id']: row for row in result['products']}
    assert rows['F1B04']['price_after'] == 0.05 and rows['F1B04']['share_change_percent'] > 0
    assert all(row['share_change_percent'] < 0 for pid, row in rows.items() if pid != 'F1B04')
    assert result['markets'][0]['outside_share_after'] < result['markets'][0]['outside_share_before']


def test_random_coefficients_estimate_reports_sigma_and_progress_events(api, datasets):
    job = submit(api, rc_spec(), datasets['products'], datasets['agents50']).json()
    with api.stream('GET', f"/v1/jobs/{job['id']}/events") as stream:
        lines = [line for line in stream.iter_lines() if line.startswith(('event:', 'data:'))]
    events = [json.loads(line[5:]) for line in lines if line.startswith('data:')]
    assert lines[-2] == 'event: end' and events[-1]['status'] == 'succeeded'
    statuses = [event['status'] for event in events]  # a fast job may finish between two polls: no 'running' then
    assert statuses == sorted(statuses, key=['queued', 'running', 'succeeded'].index)
    assert events[-1]['progress']['iteration'] >= 1
    result = api.get(f"/v1/jobs/{job['id']}/result").json()['results']
    sigma = {(p['row'], p['column']): p['value'] for p in result['parameters'] if p['kind'] == 'sigma'}
    assert sigma[('prices', 'prices')] > 1 and result['converged']


def test_cancelling_a_running_estimate_stops_it_at_the_next_iteration(api, datasets):
    job = submit(api, rc_spec(**SLOW_SOLVE), datasets['products'], datasets['agents1000']).json()
    wait_for(api, job['id'], iterating)
    response = api.post(f"/v1/jobs/{job['id']}/cancel")
    assert response.status_code == 202 and response.json()['cancel_requested']
    finished = wait_for(api, job['id'], timeout=15)
    assert finished['status'] == 'cancelled' and finished['finished_at']
    assert api.get(f"/v1/jobs/{job['id']}/result").status_code == 409


def test_two_estimates_run_at_the_same_time(api, datasets):
    jobs = [submit(api, rc_spec(**SLOW_SOLVE), datasets['products'], datasets['agents1000']).json()['id']
            for _ in range(2)]
    for job_id in jobs:  # the second is iterating while the first still is: two pool processes at work
        wait_for(api, job_id, iterating)
    assert all(iterating(api.get(f'/v1/jobs/{job_id}').json()) for job_id in jobs)
    for job_id in jobs:
        api.post(f'/v1/jobs/{job_id}/cancel')
    assert [wait_for(api, job_id)['status'] for job_id in jobs] == ['cancelled', 'cancelled']


def test_idempotent_retry_runs_the_job_once(api, datasets):
    first = submit(api, LOGIT_SPEC, datasets['products'], **{'Idempotency-Key': 'retry-me'})
    again = submit(api, LOGIT_SPEC, datasets['products'], **{'Idempotency-Key': 'retry-me'})
    assert first.status_code == 202 and again.status_code in (200, 202)
    assert first.json()['id'] == again.json()['id']
    finished = wait_for(api, first.json()['id'])
    assert finished['status'] == 'succeeded' and finished['attempts'] == 1
    replay = submit(api, LOGIT_SPEC, datasets['products'], **{'Idempotency-Key': 'retry-me'})
    assert replay.status_code == 200 and replay.json()['status'] == 'succeeded'


def test_failing_numerics_end_the_job_failed_with_a_problem(api, datasets):
    # One fixed-point evaluation per market cannot solve the inner loop: with error_behavior='raise' the core raises
    # NumericalError (under the default 'revert' it goes on with the last iterates, as PyBLP does).
    spec = rc_spec(iteration={'method': 'simple', 'method_options': {'atol': 1e-14, 'max_evaluations': 1}},
                   error_behavior='raise')
    job = submit(api, spec, datasets['products'], datasets['agents50']).json()
    finished = wait_for(api, job['id'])
    assert finished['status'] == 'failed', finished
    error = finished['error']
    assert error['type'].endswith('numerical-error') and error['title'] and 'inner loop' in error['detail']
    assert error['markets']
    problem = api.get(f"/v1/jobs/{job['id']}/result")
    assert problem.status_code == 409 and problem.json()['error'] == error


def test_merger_counterfactual_reprices_every_market_and_cost_changes_reprice_one(api, datasets):
    estimate = submit(api, LOGIT_SPEC, datasets['products']).json()
    assert wait_for(api, estimate['id'])['status'] == 'succeeded'
    unknown = api.post(f"/v1/jobs/{estimate['id']}/counterfactuals", json={'firm_ids': {'F99': 'F1'}})
    assert unknown.status_code == 422 and unknown.json()['firms'] == ['F99']
    merger = api.post(f"/v1/jobs/{estimate['id']}/counterfactuals", json={'firm_ids': {'F6': 'F4'}}).json()
    costs = api.post(f"/v1/jobs/{estimate['id']}/counterfactuals",
                     json={'market': 'C01Q2', 'costs': {'F1B04': 0.001}}).json()
    merged = wait_for(api, merger['id'])
    assert merged['status'] == 'succeeded', merged
    result = api.get(f"/v1/jobs/{merger['id']}/result").json()
    assert result['mode'] == 'equilibrium' and len(result['markets']) == 94
    assert all(market['converged'] for market in result['markets'])
    merged_rows = [row for row in result['products'] if row['firm_id_before'] in ('F4', 'F6')]
    assert {row['firm_id_after'] for row in merged_rows} == {'F4'}
    assert all(row['price_change'] > 0 for row in merged_rows)  # merging substitutes raises their prices
    assert wait_for(api, costs['id'])['status'] == 'succeeded'
    rows = {row['product_id']: row for row in api.get(f"/v1/jobs/{costs['id']}/result").json()['products']}
    assert rows['F1B04']['cost_after'] == 0.001 and rows['F1B04']['price_change'] < 0


def test_a_gap_in_the_instrument_numbering_is_estimated_as_pyblp_reads_it_and_the_result_says_so(api, datasets,
                                                                                               rc_products):
    """PyBLP reads demand_instruments0, 1, ... up to the first missing number: the service estimates the same way (the
    numbers of the data without the ignored column) and its result names the ignored column (issue 29)."""
    gapped = rc_products.rename(columns={'demand_instruments3': 'demand_instruments20'})
    dropped = rc_products.drop(columns=['demand_instruments3'])
    results = {}
    for name, frame in (('gapped', gapped), ('dropped', dropped)):
        job = submit(api, LOGIT_SPEC, upload(api, frame)).json()
        assert wait_for(api, job['id'])['status'] == 'succeeded'
        results[name] = api.get(f"/v1/jobs/{job['id']}/result").json()['results']
    assert price_coefficient({'results': results['gapped']}) == price_coefficient({'results': results['dropped']})
    assert results['dropped']['warnings'] == []
    [warning] = results['gapped']['warnings']
    assert 'demand_instruments20' in warning and 'ignored' in warning
