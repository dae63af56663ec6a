"""Multi-start through a real Redis and two real worker processes: starts fan out over both workers, agree with
the single estimate, failures are recorded without failing the parent, a killed pool process's start is solved
again and counted once, a cancel stops the starts, and racing or repeated writes of a start count once."""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from queue_support import LOGIT_SPEC, rc_spec, submit, upload, wait_for

from examples import cereal
from jobstore.fanout import FanOut
from jobstore.settings import Settings
from jobstore.store import Store, connect, now
from service.main import create_app

pytestmark = pytest.mark.queue

# sigma on prices, pi on mushy and on prices (x log income): where the eight starts of the cereal model are drawn.
BOUNDS = {'sigma_bounds': [[[0, 0], [0, 0]], [[0, 0], [0, 10]]], 'pi_bounds': [[[-5], [-20]], [[5], [20]]]}


@pytest.fixture(scope='module')
def api(two_workers: tuple[str, list]) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(redis_url=two_workers[0], sse_poll_seconds=0.05,
                                        submission_burst=1000))) as client:
        yield client


@pytest.fixture(scope='module')
def data(api: TestClient, rc_products) -> dict[str, str]:
    """The cereal products, agents with 100 draws per market (fast starts) and the full 1000 draws."""
    return {'products': upload(api, rc_products), 'agents100': upload(api, cereal.agent_data(100)),
            'agents1000': upload(api, cereal.agent_data(1000))}


def submit_multistart(api: TestClient, data: dict, agents: str, spec: dict | None = None, **starts) -> str:
    body = {'kind': 'multistart', 'product_data': {'dataset_id': data['products']},
            'agent_data': {'dataset_id': data[agents]}, 'spec': spec or rc_spec(),
            'starts': {'count': 8, 'seed': 0, 'bounds': BOUNDS, **starts}}
    response = api.post('/v1/jobs', json=body)
    assert response.status_code == 202, response.text
    assert response.json()['kind'] == 'multistart'
    return response.json()['id']


def sigma_prices(results: dict) -> float:
    return next(p['value'] for p in results['parameters']
                if p['kind'] == 'sigma' and p['row'] == p['column'] == 'prices')


def rows(url: str, job_id: str, phase: int = 1) -> dict[int, dict]:
    """The recorded starts of a phase, straight from their Redis hash (jobstore/fanout.py names the keys)."""
    raw = redis.Redis.from_url(url).hgetall(f'blp:job:{job_id}:multistart:starts:{phase}')
    return {int(index): json.loads(row) for index, row in raw.items()}


def running(url: str, job_id: str, phase: int = 1) -> dict[int, dict]:
    raw = redis.Redis.from_url(url).hgetall(f'blp:job:{job_id}:multistart:running:{phase}')
    return {int(index): json.loads(entry) for index, entry in raw.items()}


def parent_pid(pid: int) -> int:
    return int(Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[1])


def test_eight_starts_spread_over_both_workers_agree_with_the_single_estimate(api, data):
    single = submit(api, rc_spec(), data['products'], data['agents100']).json()['id']
    assert wait_for(api, single)['status'] == 'succeeded'
    expected = sigma_prices(api.get(f'/v1/jobs/{single}/result').json()['results'])

    job_id = submit_multistart(api, data, 'agents100')
    with api.stream('GET', f'/v1/jobs/{job_id}/events') as stream:
        events = [json.loads(line[5:]) for line in stream.iter_lines() if line.startswith('data:')]
    assert events[-1]['status'] == 'succeeded', events[-1]
    done = [event['progress']['starts_done'] for event in events if (event.get('progress') or {}).get('starts_total')]
    assert done == sorted(done) and done[-1] == 8 and len(set(done)) > 1  # progress was streamed as starts finished

    result = api.get(f'/v1/jobs/{job_id}/result').json()
    report = result['multistart']
    assert [start['index'] for start in report['starts']] == list(range(8))
    assert all(start['status'] == 'succeeded' and start['acceptable'] and start['converged']
               for start in report['starts'])
    assert {start['worker'].split('@')[0] for start in report['starts']} == {'left', 'right'}
    for start in report['starts']:
        assert start['theta'][0] == pytest.approx(expected, rel=1e-4)
        assert start['gradient_norm'] < 1e-4 and start['smallest_hessian_eigenvalue'] > 0 and start['seconds'] > 0
    assert len({tuple(start['start']['theta']) for start in report['starts']}) == 8  # eight different starts
    agreement = report['agreement']
    assert agreement['distinct_optima'] == 1 and agreement['reached_chosen'] == 8 and agreement['all_acceptable_agree']
    assert agreement['message'].startswith('8 of 8 starts reached the chosen optimum')
    assert agreement['spread']['mean_own_price_elasticity']['range'] < 1e-4
    assert max(agreement['spread']['theta']['range']) < 1e-3 * abs(expected)
    assert sigma_prices(result['results']) == pytest.approx(expected, rel=1e-4)
    assert report['theta_labels'][0] == 'sigma[prices, prices]'
    assert result['provenance']['starts']['count'] == 8 and result['provenance']['agent_data'] == data['agents100']
    assert_scheduled_longest_expected_first(report, data)
    assert_reproduces_the_cores_starts(report)

    job = api.get(f'/v1/jobs/{job_id}').json()
    assert job['progress']['starts_done'] == job['progress']['starts_total'] == 8
    assert job['progress']['best_objective'] == pytest.approx(result['results']['objective'], rel=1e-6, abs=1e-12)
    elasticities = api.get(f'/v1/jobs/{job_id}/elasticities?market=C01Q1').json()
    assert len(elasticities['matrix']) == 24 and all(row[i] < 0 for i, row in enumerate(elasticities['matrix']))


def assert_reproduces_the_cores_starts(report: dict) -> None:
    """Whoever drew them (the parent publishes before it draws; a start that begins first draws its own), the
    starts are the core's draw from the built problem, and the chosen start's estimate is the core's from it."""
    import blp
    from blp.estimation.multistart import draw_starts, solve_start
    from blp.spec import EstimateSpec, StartsSpec, solve_options, starts_kwargs

    spec, starts = EstimateSpec.model_validate(rc_spec()), StartsSpec.model_validate({'count': 8, 'seed': 0,
                                                                                       'bounds': BOUNDS})
    problem = blp.Problem.from_spec(spec.problem, cereal.product_data(), cereal.agent_data(100))
    drawn = draw_starts(problem, solve_options(spec.solve), **starts_kwargs(starts))
    assert [start['start'] for start in report['starts']] == drawn
    chosen = report['starts'][report['chosen_start']]
    assert chosen['objective'] == min(start['objective'] for start in report['starts'] if start['acceptable'])
    results = solve_start(problem, solve_options(spec.solve), drawn[report['chosen_start']])
    assert chosen['objective'] == pytest.approx(float(results.objective), rel=1e-6, abs=1e-12)  # ~0: just identified
    assert chosen['theta'] == pytest.approx(results.theta.tolist(), rel=1e-6)


def assert_scheduled_longest_expected_first(report: dict, data: dict) -> None:
    """Published in the core's longest-expected-first order, each start's schedule recorded, and each worker process
    built the problem at most once (the parent's process not at all for its starts: it built it to draw them)."""
    import blp
    from blp.estimation.multistart import draw_starts, longest_first
    from blp.spec import EstimateSpec, StartsSpec, solve_options, starts_kwargs

    spec, starts = EstimateSpec.model_validate(rc_spec()), StartsSpec.model_validate({'count': 8, 'seed': 0,
                                                                                       'bounds': BOUNDS})
    problem = blp.Problem.from_spec(spec.problem, cereal.product_data(), cereal.agent_data(100))
    options = solve_options(spec.solve)
    expected = longest_first(problem, options, draw_starts(problem, options, **starts_kwargs(starts)),
                             starts_kwargs(starts)['bounds'])
    [phase] = report['scheduling']
    assert phase['order'] == expected != list(range(8))
    builds: dict[str, int] = {}
    for start in report['starts']:
        schedule = start['schedule']
        assert schedule['position'] == expected.index(start['index'])
        assert schedule['process'].startswith(start['worker'] + ':')
        assert 0 <= schedule['queue_seconds'] < 60 and 0 < schedule['solve_seconds'] <= start['seconds']
        builds[schedule['process']] = builds.get(schedule['process'], 0) + (schedule['build_seconds'] > 0)
        assert start['index'] in phase['processes'][schedule['process']]['starts']
    assert set(builds) == set(phase['processes']) and all(count <= 1 for count in builds.values())
    assert phase['busy_seconds'] == pytest.approx(sum(start['seconds'] for start in report['starts']))
    assert phase['busiest_process_seconds'] == max(entry['busy_seconds'] for entry in phase['processes'].values())
    assert 1 <= phase['speedup_from_busy_seconds'] <= len(phase['processes'])


def test_a_start_whose_inner_loop_fails_is_reported_and_the_parent_still_succeeds(api, data, two_workers):
    # Drawn pi on prices x log income reaches 52.7 for start 3 (seed 12): a rising price raises most consumers'
    # utility there and the contraction cannot converge; the other starts lie in the benign part of the box.
    spec = rc_spec(iteration={'method': 'squarem', 'method_options': {'atol': 1e-14, 'max_evaluations': 500}},
                   error_behavior='raise')  # 'revert' would go on with the last iterates, as PyBLP
    bounds = {'sigma_bounds': [[[0, 0], [0, 0]], [[0, 0], [0, 10]]], 'pi_bounds': [[[-1], [-10]], [[1], [60]]]}
    job_id = submit_multistart(api, data, 'agents100', spec, count=4, seed=12, sampler='uniform', bounds=bounds)
    finished = wait_for(api, job_id, timeout=60)
    assert finished['status'] == 'succeeded', finished
    assert finished['progress']['starts_failed'] == 1
    report = api.get(f'/v1/jobs/{job_id}/result').json()['multistart']
    failed = report['starts'][3]
    assert failed['status'] == 'failed' and not failed['acceptable'] and failed['start']['theta'][2] > 50
    assert failed['error']['type'].endswith('numerical-error') and 'inner loop' in failed['error']['detail']
    assert failed['error']['markets']
    assert [start['status'] for start in report['starts'][:3]] == ['succeeded'] * 3
    assert report['chosen_start'] != 3
    agreement = report['agreement']
    assert agreement['succeeded'] == agreement['acceptable'] == agreement['reached_chosen'] == 3
    assert agreement['message'].endswith('1 failed')


def wait_until_running(url: str, job_id: str, index: int, timeout: float = 60) -> dict:
    """The process that has just begun start `index` (its row not yet written)."""
    deadline = time.monotonic() + timeout
    while True:
        entry = running(url, job_id).get(index)
        if entry is not None and index not in rows(url, job_id):
            return entry
        assert time.monotonic() < deadline, f'start {index} of {job_id} did not begin within {timeout} s'
        time.sleep(0.02)


def test_killing_the_pool_process_running_a_start_still_accounts_for_exactly_eight_starts(api, data, two_workers):
    url, workers = two_workers
    job_id = submit_multistart(api, data, 'agents1000')  # the full data: seconds per start, time to kill one
    index = 2  # begins once a first start has finished, and takes seconds on 1000 draws: killed well before its end
    victim = wait_until_running(url, job_id, index)
    assert parent_pid(victim['pid']) in {worker.process.pid for worker in workers}  # a pool process of ours
    os.kill(victim['pid'], signal.SIGKILL)

    finished = wait_for(api, job_id, timeout=90)
    assert finished['status'] == 'succeeded', finished
    recorded = rows(url, job_id)
    assert sorted(recorded) == list(range(8)) and finished['progress']['starts_done'] == 8
    assert recorded[index]['attempts'] == 2  # solved again after the kill, and counted once
    assert all(row['attempts'] == 1 for other, row in recorded.items() if other != index)
    report = api.get(f'/v1/jobs/{job_id}/result').json()
    assert len(report['multistart']['starts']) == 8
    assert sigma_prices(report['results']) == pytest.approx(6.015, abs=0.01)  # the exercise's 6.02 on 1000 draws
    assert report['multistart']['agreement']['distinct_optima'] == 1


def test_cancelling_the_parent_stops_its_starts(api, data, two_workers):
    url, _ = two_workers
    job_id = submit_multistart(api, data, 'agents1000')
    wait_for(api, job_id, lambda job: len(running(url, job_id)) >= 2, timeout=60)
    response = api.post(f'/v1/jobs/{job_id}/cancel')
    assert response.status_code == 202
    assert wait_for(api, job_id, timeout=15)['status'] == 'cancelled'
    recorded = len(rows(url, job_id))
    # Queued after every start: once it has run, each start has been taken and, being cancelled, recorded nothing.
    logit = submit(api, LOGIT_SPEC, data['products']).json()['id']
    assert wait_for(api, logit, timeout=30)['status'] == 'succeeded'
    assert len(rows(url, job_id)) == recorded < 8
    assert api.get(f'/v1/jobs/{job_id}/result').status_code == 409


def test_two_step_multistart_shares_the_best_first_step_weighting_and_matches_the_two_step_estimate(api, data):
    # Over-identified (four instruments, prices and one pi), so the weighting matrix matters.
    spec = {'problem': {'product_formulations': [{'formula': '0 + prices', 'absorb': 'C(market_ids) + C(product_ids)'},
                                                 {'formula': '0 + mushy'}],
                        'agent_formulation': {'formula': '0 + log_income'}},
            'solve': {'sigma': 0, 'pi': 1, 'method': '2s',
                      'optimization': {'method': 'trust-constr', 'method_options': {'gtol': 1e-8, 'xtol': 1e-8}}}}
    single = submit(api, spec, data['products'], data['agents100']).json()['id']
    assert wait_for(api, single)['status'] == 'succeeded'
    expected = api.get(f'/v1/jobs/{single}/result').json()['results']

    job_id = submit_multistart(api, data, 'agents100', spec, count=4, bounds={'pi_bounds': [[[-5]], [[5]]]})
    finished = wait_for(api, job_id, timeout=60)
    assert finished['status'] == 'succeeded', finished
    assert finished['progress']['phase'] == finished['progress']['phases'] == 2
    result = api.get(f'/v1/jobs/{job_id}/result').json()
    report = result['multistart']
    assert report['phases'] == 2 and report['weighting']['phase_1'] == '2SLS'
    assert report['weighting']['phase_2_from_start'] in range(4) and report['weighting']['phase_2_source_acceptable']
    assert all(start['first_phase']['status'] == 'succeeded' for start in report['starts'])
    assert report['agreement']['distinct_optima'] == 1 and report['agreement']['reached_chosen'] == 4
    first, second = report['scheduling']  # phase 2 runs the starts that took longest in phase 1 first
    by_first_seconds = sorted(range(4), key=lambda index: -report['starts'][index]['first_phase']['seconds'])
    assert second['phase'] == 2 and second['order'] == by_first_seconds and sorted(first['order']) == list(range(4))
    chosen = result['results']
    assert chosen['step'] == 2 and chosen['objective'] == pytest.approx(expected['objective'], rel=1e-6)
    free = [(ours, theirs) for ours, theirs in zip(chosen['parameters'], expected['parameters']) if not theirs['fixed']]
    assert [ours['kind'] for ours, _ in free] == ['beta', 'pi']
    for ours, theirs in free:
        assert ours['value'] == pytest.approx(theirs['value'], rel=1e-5, abs=1e-8)
        assert ours['se'] == pytest.approx(theirs['se'], rel=1e-4)


def test_racing_and_repeated_rows_are_counted_once_and_complete_the_phase_once(redis_url):
    """Every start written three times by racing writers (redeliveries, duplicates): eight rows, and exactly one
    write learns that it completed the phase; once the parent has ended, rows are final."""
    store = Store(connect(f'{redis_url}/9'))
    store.r.flushdb()
    store.create_job({'id': 'parent', 'owner': 'public', 'kind': 'multistart', 'created_at': now()}, [])
    assert store.transition('parent', ['queued'], 'running') is True
    ledger = FanOut(store, 'parent', 'multistart', 'starts')
    writes = [index for index in range(8) for _ in range(3)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda index: ledger.record(1, index, {'status': 'succeeded', 'objective': 10.0 - index},
                                                            8, 1), writes))
    assert sum(added for added, _ in outcomes) == 8
    assert sum(added and complete for added, complete in outcomes) == 1
    assert sorted(ledger.rows(1)) == list(range(8))
    progress = store.get_job('parent')['progress']
    assert progress['starts_done'] == progress['starts_total'] == 8 and progress['best_objective'] == 3.0

    store.transition('parent', ['running'], 'cancelled')
    assert ledger.record(2, 0, {'status': 'succeeded', 'objective': 1.0}, 8, 2)[0] is False
    assert ledger.rows(2) == {}
