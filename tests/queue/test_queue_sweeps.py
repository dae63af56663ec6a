"""Robustness sweeps through a real Redis and two real worker processes: exercise 2 over six integration rules gives,
variant by variant, bit for bit the estimates of six separate estimate jobs; variants that fail (a rule over the
budget, a numerical error) or do not converge are reported in their rows without failing the others; every
variant's counterfactual is the counterfactual job's at its estimate; the comparison table comes as JSON and CSV; a
pool process killed mid-variant leaves a sweep that still finishes every variant, equal to an undisturbed run."""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import signal
import time
from pathlib import Path
from typing import Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from queue_support import SLOW_SOLVE, rc_spec, submit, upload, wait_for

from examples import cereal
from jobstore.settings import Settings
from service.main import create_app
from service.sweep_submission import merged
from worker.sweeps import headline

pytestmark = pytest.mark.queue
AGENT_ROWS = 100  # demographics for up to 100 built nodes per market
RULES = [('monte_carlo', 50, 0), ('monte_carlo', 100, 1), ('halton', 100, 0), ('sobol', 64, 0), ('product', 5, 0),
         ('product', 7, 0)]
COUNTERFACTUAL = {'market': 'C01Q1', 'prices': {'F1B04': 0.036}}  # the exercises' price cut, halved


def rule(specification: str, size: int, seed: int) -> dict:
    return {'label': f'{specification} {size}',
            'override': {'problem': {'integration': {'specification': specification, 'size': size, 'seed': seed}}}}


FAILING = [
    rule('monte_carlo', 1000, 0),  # over the budget of this API (200 agents per market): refused, reported in its row
    {'label': 'contraction capped', 'override': {'solve': {'error_behavior': 'raise', 'iteration': {  # a numerical error
        'method': 'simple', 'method_options': {'atol': 1e-14, 'max_evaluations': 1}}}}},
    {'label': 'two iterations', 'override': {'solve': {'optimization': {  # stops before converging: reported so
        'method': 'trust-constr', 'method_options': {'gtol': 1e-8, 'xtol': 1e-8, 'maxiter': 2}}}}},
]


def sigma_prices(row: dict) -> dict:
    return next(entry for entry in row['parameters'] if (entry['kind'], entry['row'], entry['column']) ==
                ('sigma', 'prices', 'prices'))


def base_spec() -> dict:
    spec = rc_spec()
    spec['problem']['integration'] = {'specification': 'halton', 'size': 50}
    return spec


@pytest.fixture(scope='module')
def api(two_workers: tuple[str, list]) -> Iterator[TestClient]:
    settings = Settings(redis_url=two_workers[0], max_agents_per_market=200, submission_burst=1000)
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope='module')
def data(api: TestClient, rc_products) -> tuple[str, str]:
    return upload(api, rc_products), upload(api, cereal.agent_data(AGENT_ROWS))


def test_a_sweep_of_exercise_2_over_integration_rules_equals_separate_estimates_bit_for_bit(api, data, two_workers):
    products, agents = data
    variants = [rule(*entry) for entry in RULES] + FAILING
    body = {'kind': 'sweep', 'product_data': {'dataset_id': products}, 'agent_data': {'dataset_id': agents},
            'spec': base_spec(), 'sweep': {'variants': variants, 'counterfactual': COUNTERFACTUAL,
                                           'on_invalid': 'report'}}
    response = api.post('/v1/jobs', json=body)
    assert response.status_code == 202, response.text
    sweep = response.json()
    separate = [submit(api, merged(copy.deepcopy(base_spec()), variant['override']), products, agents).json()['id']
                for variant in variants[:len(RULES)]]
    finished = wait_for(api, sweep['id'], timeout=900)
    assert finished['status'] == 'succeeded', finished
    assert finished['progress']['variants_done'] == finished['progress']['variants_total'] == len(variants)
    assert finished['progress']['variants_failed'] == 2
    result = api.get(f"/v1/jobs/{sweep['id']}/result").json()
    rows = result['variants']
    assert [row['label'] for row in rows] == [variant['label'] for variant in variants]

    for index, job_id in enumerate(separate):
        assert wait_for(api, job_id, timeout=600)['status'] == 'succeeded'
        alone = api.get(f'/v1/jobs/{job_id}/result').json()['results']
        row = rows[index]
        assert row['status'] == 'succeeded' and row['converged'] is True, row
        # values and SEs, bit for bit (the estimate's answer adds each parameter's Wald interval: a stored row has none)
        stored = [{key: value for key, value in entry.items() if key != 'interval'} for entry in alone['parameters']]
        assert row['parameters'] == stored, row['label']
        for key in ('objective', 'gradient_norm', 'optimization_iterations', 'contraction_iterations'):
            assert row[key] == alone[key], (row['label'], key)
    estimates = {row['label']: sigma_prices(row)['value'] for row in rows[:len(RULES)]}
    assert len(set(estimates.values())) == len(RULES), estimates  # the rules do move the estimate
    assert {row['worker'].split('@')[0] for row in rows[:len(RULES)]} == {'left', 'right'}

    over, broken, early = rows[len(RULES):]
    assert over['status'] == 'failed' and over['error']['type'] == 'urn:blp:problem:over-budget'
    assert over['error']['variant'] == len(RULES) and over['attempts'] == 0
    assert broken['status'] == 'failed' and broken['error']['type'] == 'urn:blp:problem:numerical-error'
    assert 'inner loop' in broken['error']['detail']
    assert early['status'] == 'succeeded' and early['converged'] is False and early['optimization_iterations'] == 2

    # the counterfactual of a variant is the counterfactual job's at the same estimate (restored there: to rounding)
    response = api.post(f'/v1/jobs/{separate[0]}/counterfactuals', json=COUNTERFACTUAL)
    assert response.status_code == 202, response.text
    job = wait_for(api, response.json()['id'], timeout=120)
    assert job['status'] == 'succeeded', job
    table = api.get(f"/v1/jobs/{job['id']}/result").json()
    expected = headline({**table, 'kind': table['mode']})
    numbers = [key for key, value in expected.items() if isinstance(value, float)]
    assert {key: rows[0]['counterfactual'][key] for key in numbers} == pytest.approx(
        {key: expected[key] for key in numbers}, rel=1e-12)
    assert {key: value for key, value in rows[0]['counterfactual'].items() if key not in numbers} == \
        {key: value for key, value in expected.items() if key not in numbers}
    assert rows[0]['counterfactual']['mean_share_change_percent'] is not None

    comparison = api.get(f"/v1/jobs/{sweep['id']}/comparison").json()
    assert comparison['parameters'] == ['beta[prices]', 'sigma[prices, prices]', 'pi[mushy, log_income]',
                                        'pi[prices, log_income]']
    assert [entry['sigma[prices, prices]'] for entry in comparison['rows'][:len(RULES)]] == \
        [sigma_prices(row)['value'] for row in rows[:len(RULES)]]
    assert comparison['rows'][len(RULES)]['error'].startswith(f'variant {len(RULES)} (monte_carlo 1000): ')
    listed = list(csv.DictReader(io.StringIO(api.get(f"/v1/jobs/{sweep['id']}/comparison?format=csv").text)))
    assert len(listed) == len(variants) and list(listed[0]) == comparison['columns']
    assert float(listed[0]['se sigma[prices, prices]']) == sigma_prices(rows[0])['se']
    assert listed[len(RULES) + 1]['status'] == 'failed' and listed[len(RULES) + 1]['objective'] == ''


def test_cancelling_a_running_sweep_stops_its_variants_and_ends_it_cancelled(api, data):
    products, agents = data
    slow = {'solve': {'iteration': SLOW_SOLVE['iteration']}}
    variants = [{'label': f'halton {size}', 'override': merged(slow, rule('halton', size, 0)['override'])}
                for size in (60, 70, 80, 90)]
    body = {'kind': 'sweep', 'product_data': {'dataset_id': products}, 'agent_data': {'dataset_id': agents},
            'spec': base_spec(), 'sweep': {'variants': variants}}
    response = api.post('/v1/jobs', json=body)
    assert response.status_code == 202, response.text
    job_id = response.json()['id']
    wait_for(api, job_id, lambda job: job['status'] == 'running' and job['progress'] is not None, timeout=60)
    assert api.post(f'/v1/jobs/{job_id}/cancel').status_code == 202
    finished = wait_for(api, job_id, timeout=60)
    assert finished['status'] == 'cancelled', finished
    assert finished['progress']['variants_done'] < len(variants)
    assert api.get(f'/v1/jobs/{job_id}/comparison').status_code == 409


def running_variants(url: str, job_id: str) -> dict[int, dict]:
    """The variants begun and not yet recorded, with the process of their latest delivery (jobstore/fanout.py keys)."""
    connection = redis.Redis.from_url(url)
    begun = {int(index): json.loads(entry) for index, entry in connection.hgetall(f'blp:job:{job_id}:sweep:running:1').items()}
    recorded = {int(index) for index in connection.hkeys(f'blp:job:{job_id}:sweep:variants:1')}
    return {index: entry for index, entry in begun.items() if index not in recorded}


def parent_pid(pid: int) -> int:
    return int(Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[1])


def test_a_sweep_whose_pool_process_is_killed_mid_variant_finishes_every_variant_as_an_undisturbed_run(
        api, data, two_workers):
    url, workers = two_workers
    products, agents = data
    variants = [rule('halton', size, 0) for size in (50, 60, 70, 80)]
    body = {'kind': 'sweep', 'product_data': {'dataset_id': products}, 'agent_data': {'dataset_id': agents},
            'spec': base_spec(), 'sweep': {'variants': variants}}
    runs = []
    for disturbed in (False, True):
        response = api.post('/v1/jobs', json=body)
        assert response.status_code == 202, response.text
        job_id = response.json()['id']
        victim = None
        if disturbed:
            deadline = time.monotonic() + 60
            while victim is None:  # the first variant seen begun: killed within a few ms of its start
                begun = running_variants(url, job_id)
                victim = min(begun.items(), default=None)
                assert time.monotonic() < deadline, f'no variant of {job_id} began within 60 s'
                time.sleep(0.01)
            index, entry = victim
            assert parent_pid(entry['pid']) in {worker.process.pid for worker in workers}  # a pool process of ours
            os.kill(entry['pid'], signal.SIGKILL)
        finished = wait_for(api, job_id, timeout=600)
        assert finished['status'] == 'succeeded', finished
        assert finished['progress']['variants_done'] == finished['progress']['variants_total'] == len(variants)
        assert finished['progress']['variants_failed'] == 0
        rows = api.get(f'/v1/jobs/{job_id}/result').json()['variants']
        assert [row['label'] for row in rows] == [variant['label'] for variant in variants]
        assert all(row['status'] == 'succeeded' for row in rows), rows
        if victim is not None:
            assert rows[victim[0]]['attempts'] == 2  # estimated again after the kill, and counted once
            assert all(row['attempts'] == 1 for number, row in enumerate(rows) if number != victim[0])
        runs.append(rows)
    undisturbed, disturbed_rows = runs
    for quiet, killed in zip(undisturbed, disturbed_rows):  # bit for bit: the same estimates as nothing had happened
        for key in ('parameters', 'objective', 'gradient_norm', 'optimization_iterations', 'converged'):
            assert killed[key] == quiet[key], (quiet['label'], key)
