"""Merger-screen speed-up: every pair of firms in BLP's automobile estimate (with its supply side) screened with 1
worker process, then with 2, through the real queue.

    python bench/bench_merger_screen.py [--workers 1 2] [--markets 1971 1990] [--repeat 1]

Starts its own redis-server and Celery workers (one pool process each, BLAS pinned to one thread, as deployed; the
helpers of `bench_multistart.py`), uploads PyBLP's automobile data, queues the estimate at PyBLP's published theta
(`tests/reference/fixtures/supply_blp_autos.json`, evaluated, not optimized) and then the merger screen of every pair
of firms in `--markets` (all markets with `--markets all`). Prints the best wall time (from the screen's creation to
`succeeded`) of each worker count, the ratio to one worker's, the candidates' busy seconds, the CPU seconds of the pool
processes, of the workers' main processes and of redis-server (what the queue's bookkeeping costs besides the
candidates' numerics; on two cores the main processes and Redis take their CPU from the pool processes of a two-worker
run) and the load average, since the machine may be shared. Since the load blurs the wall times, it also prints the
ratio the pool processes' own CPU seconds give: the busiest pool process of a run over the one-worker run's pool
process, what the wall-time ratio would be on a quiet machine if nothing else took CPU from the workers.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path

import _paths  # noqa: F401  (sys.path as the tests have it: bench/_paths.py)
from bench_multistart import _stop, cpu_seconds, load_average, need_redis_server, start_workers
from fastapi.testclient import TestClient
from processes import RedisServer
from supply_workloads import FIXTURES, _autos_data

from jobstore.settings import Settings
from jobstore.store import TERMINAL, Store, connect
from service.main import create_app


def spec() -> dict:
    """The BLP-autos spec of `supply_workloads.blp_autos` at PyBLP's estimate, evaluated without optimizing."""
    stored = json.loads((FIXTURES / 'supply_blp_autos.json').read_text())
    formulas = ['1 + hpwt + air + mpd + space', '1 + prices + hpwt + air + mpd + space',
                '1 + log(hpwt) + air + log(mpg) + log(space) + trend']
    return {'problem': {'product_formulations': [{'formula': formula} for formula in formulas],
                        'agent_formulation': {'formula': '0 + I(1 / income)'}, 'costs_type': 'log'},
            'solve': {'sigma': stored['sigma'], 'pi': stored['pi'], 'method': '1s', 'costs_bounds': [0.001, None],
                      'optimization': {'method': 'return'}}}


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace('Z', '+00:00')).timestamp()


def pool_cpu_seconds(workers: list) -> dict[int, float]:
    """CPU seconds (user + system) used so far by each pool process of `workers` (the children of their main
    processes), by process id."""
    mains, tick, used = {worker.pid for worker in workers}, os.sysconf('SC_CLK_TCK'), {}
    for entry in Path('/proc').iterdir():
        try:
            fields = (entry / 'stat').read_text().rsplit(')', 1)[1].split() if entry.name.isdigit() else []
        except OSError:  # the process ended meanwhile
            continue
        if fields and int(fields[1]) in mains:
            used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    return used


def wait(store: Store, job_id: str) -> dict:
    """The finished job, watched in Redis twice a second (next to no CPU taken from the workers)."""
    while True:
        job = store.get_job(job_id)
        if job['status'] in TERMINAL:
            return job
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--workers', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--markets', nargs='+', default=['1971', '1990'], help="market ids, or 'all'")
    parser.add_argument('--repeat', type=int, default=1, help='runs per worker count; the best time counts')
    arguments = parser.parse_args()
    need_redis_server()
    markets = None if arguments.markets == ['all'] else arguments.markets
    print(f'merger screen of BLP autos, markets {arguments.markets}, {os.cpu_count()} cores, '
          f'load average before: {load_average()}', flush=True)
    directory = Path(tempfile.mkdtemp(prefix='bench-merger-screen-'))
    redis_server = RedisServer(directory / 'redis', appendonly=False)
    url, store = redis_server.url, Store(connect(redis_server.url))
    times: dict[int, list[float]] = {count: [] for count in arguments.workers}
    busiest: dict[int, list[float]] = {count: [] for count in arguments.workers}  # CPU s of the busiest pool process
    try:
        with TestClient(create_app(Settings(redis_url=url))) as api:
            products, agents = (api.post('/v1/datasets', content=frame.to_csv(index=False).encode(),
                                         headers={'Content-Type': 'text/csv'}).json()['id'] for frame in _autos_data())
            workers = start_workers(url, 1, directory)
            try:
                response = api.post('/v1/jobs', json={'kind': 'estimate', 'product_data': {'dataset_id': products},
                                                      'agent_data': {'dataset_id': agents}, 'spec': spec()})
                assert response.status_code == 202, response.text
                estimate = wait(store, response.json()['id'])
                assert estimate['status'] == 'succeeded', estimate
            finally:
                for worker in workers:
                    _stop(worker, group=True)
            for _ in range(arguments.repeat):
                for count in arguments.workers:
                    workers = start_workers(url, count, directory)
                    try:
                        before, pools = cpu_seconds(workers, redis_server.process.pid), pool_cpu_seconds(workers)
                        response = api.post(f"/v1/jobs/{estimate['id']}/merger-screen", json={'markets': markets})
                        assert response.status_code == 202, response.text
                        job = wait(store, response.json()['id'])
                        after = cpu_seconds(workers, redis_server.process.pid)
                        busiest[count].append(max(seconds - pools.get(pid, 0.0)
                                                  for pid, seconds in pool_cpu_seconds(workers).items()))
                    finally:
                        for worker in workers:
                            _stop(worker, group=True)
                    assert job['status'] == 'succeeded', job
                    seconds = _epoch(job['finished_at']) - _epoch(job['created_at'])
                    times[count].append(seconds)
                    result = store.get_result(job['id'])
                    print(f"{count} worker(s): {seconds:.1f} s for {result['candidates']} candidates "
                          f"({result['provenance']['timings']['candidates_seconds']:.1f} candidate-seconds), "
                          f"top: {result['ranking'][0]['candidate']}, load average {load_average()}", flush=True)
                    print('  CPU seconds: ' + ', '.join(f'{name} {after[name] - before[name]:.2f}' for name in after))
    finally:
        redis_server.stop()
    first = min(times[arguments.workers[0]])
    for count in arguments.workers:
        best = min(times[count])
        print(f'{count} worker(s): best {best:.1f} s, {best / first:.2f}x of {arguments.workers[0]} worker(s); '
              f'busiest pool process {min(busiest[count]):.2f} CPU s, '
              f'{min(busiest[count]) / min(busiest[arguments.workers[0]]):.2f}x')


if __name__ == '__main__':
    main()
