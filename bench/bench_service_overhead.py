"""Service overhead: a cereal random-coefficients estimate through the API (submit to `succeeded`) against the
core's own build + solve of the same problem.

    python bench/bench_service_overhead.py [--rounds 3] [--warm 3] [--agents 1000]

Starts its own redis-server (AOF on, as deployed), uvicorn with the API and Celery workers (one pool process,
BLAS pinned to one thread, as deployed) as processes on free loopback ports, and uploads the cereal data once.
Each round, one after another so that nothing else of ours competes for the cores:
  core     a fresh Python process imports the core, reads the stored datasets (not timed) and times
           Problem.from_spec + estimate: its first (cold) time, then `--warm` more (warm).
  service  a fresh worker; the first job (fresh) and then `--warm` jobs (warm), each timed from just before the
           POST /v1/jobs to the job's `succeeded` in Redis (polled every 5 ms, so watching costs no CPU).
It prints the medians, the ratios (service / core) and where the service's time went, from the worker's own
timings in the result's provenance. Everything it starts is stopped when it ends (and killed if it is killed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _paths  # noqa: F401  (sys.path as the tests have it: bench/_paths.py)

ROOT = Path(__file__).resolve().parent.parent
for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[variable] = '1'

from datetime import datetime  # noqa: E402

import httpx  # noqa: E402
from bench_multistart import _stop, load_average, need_redis_server, start_workers  # noqa: E402
from processes import RedisServer, die_with_parent, free_port  # noqa: E402

from examples import cereal  # noqa: E402
from examples.client import SPEC  # noqa: E402  (the exercise's random-coefficients spec)
from jobstore.store import TERMINAL, Store, connect  # noqa: E402

# Run in a fresh interpreter: the core's build + solve of the stored datasets, as a worker would see them.
CORE = """
import json, sys, time
import redis
import blp
from blp.spec import EstimateSpec
from jobstore.codec import read_frame
url, product_id, agent_id, spec, repeat = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
client = redis.Redis.from_url(url)
product = read_frame(client.get(f'blp:dataset:{product_id}:data'))
agent = read_frame(client.get(f'blp:dataset:{agent_id}:data'))
spec = EstimateSpec.model_validate_json(spec)
times = []
for _ in range(1 + repeat):
    clock = time.perf_counter()
    problem = blp.Problem.from_spec(spec.problem, product, agent)
    built = time.perf_counter()
    results = problem.estimate(blp.spec.solve_options(spec.solve))
    times.append({'build': built - clock, 'solve': time.perf_counter() - built, 'converged': bool(results.converged)})
print(json.dumps(times))
"""


def start_api(url: str, directory: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    environment = {**os.environ, 'REDIS_URL': url, 'PYTHONPATH': str(ROOT), 'SUBMISSION_BURST': '1000',
                   'SUBMISSIONS_PER_MINUTE': '1000'}
    with open(directory / 'api.log', 'ab') as log:
        server = subprocess.Popen([sys.executable, '-m', 'uvicorn', 'service.main:app', '--host', '127.0.0.1',
                                   '--port', str(port), '--log-level', 'warning'], cwd=ROOT, env=environment,
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                  preexec_fn=die_with_parent)
    base, deadline = f'http://127.0.0.1:{port}', time.monotonic() + 60
    while True:
        try:
            if httpx.get(f'{base}/healthz', timeout=1).status_code == 200:
                return server, base
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            _stop(server, group=True)
            raise SystemExit(f'the API did not start; see {directory / "api.log"}')
        time.sleep(0.1)


def core_times(url: str, products: str, agents: str, repeat: int) -> list[dict]:
    output = subprocess.run([sys.executable, '-c', CORE, url, products, agents, json.dumps(SPEC), str(repeat)],
                            cwd=ROOT, env={**os.environ, 'PYTHONPATH': str(ROOT)}, capture_output=True, text=True,
                            check=True, preexec_fn=die_with_parent)
    return json.loads(output.stdout.splitlines()[-1])


def service_time(api: httpx.Client, store: Store, products: str, agents: str) -> tuple[float, float, dict, dict]:
    """(seconds from just before the POST to `succeeded`, seconds of the POST, the job, its result)."""
    body = {'kind': 'estimate', 'product_data': {'dataset_id': products}, 'agent_data': {'dataset_id': agents},
            'spec': SPEC}
    clock = time.perf_counter()
    response = api.post('/v1/jobs', json=body)
    posted = time.perf_counter() - clock
    assert response.status_code == 202, response.text
    job_id = response.json()['id']
    while True:
        job = store.get_job(job_id)
        if job['status'] in TERMINAL:
            seconds = time.perf_counter() - clock
            break
        time.sleep(0.005)
    assert job['status'] == 'succeeded', job
    return seconds, posted, job, api.get(f'/v1/jobs/{job_id}/result').json()


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _instant(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace('Z', '+00:00')).timestamp()


def breakdown(seconds: float, posted: float, job: dict, timings: dict) -> dict[str, float]:
    """Where a job's seconds went: the POST (checks, record, enqueue), the queue, the worker's read + build + solve,
    the worker's bookkeeping around them (result document, storing it, the transition), and the rest (the 202's
    way back, noticing `succeeded`; millisecond timestamps)."""
    queued = _instant(job['started_at']) - _instant(job['created_at'])
    running = _instant(job['finished_at']) - _instant(job['started_at'])
    core = sum(timings.get(name, 0.0) for name in ('read_seconds', 'build_seconds', 'solve_seconds'))
    return {'POST': posted, 'queue': queued, 'read': timings.get('read_seconds', 0.0),
            'build': timings.get('build_seconds', 0.0), 'solve': timings.get('solve_seconds', 0.0),
            'worker bookkeeping': running - core, 'rest': seconds - posted - queued - running}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=3, help='fresh workers (and fresh core processes)')
    parser.add_argument('--warm', type=int, default=3, help='warm jobs (and warm core solves) per round')
    parser.add_argument('--agents', type=int, default=1000, help='agents per market')
    arguments = parser.parse_args()
    need_redis_server()
    print(f'the cereal sigma/pi model, {arguments.agents} agents per market, {os.cpu_count()} cores, '
          f'load average before: {load_average()}')
    directory = Path(tempfile.mkdtemp(prefix='bench-overhead-'))
    redis_server = RedisServer(directory / 'redis')
    server = None
    core: dict[str, list[float]] = {'cold': [], 'warm': []}
    core_parts: dict[str, list[float]] = {'build': [], 'solve': []}
    fresh_jobs: list[dict[str, float]] = []
    service: dict[str, list[float]] = {'fresh': [], 'warm': []}
    posts: list[float] = []
    parts: dict[str, list[float]] = {}
    try:
        server, base = start_api(redis_server.url, directory)
        store = Store(connect(redis_server.url))
        with httpx.Client(base_url=base, timeout=120) as api:
            ids = [api.post('/v1/datasets', content=frame.to_csv(index=False).encode(),
                            headers={'Content-Type': 'text/csv'}).json()['id']
                   for frame in (cereal.product_data(), cereal.agent_data(arguments.agents))]
            for _ in range(arguments.rounds):
                times = core_times(redis_server.url, *ids, arguments.warm)
                assert all(entry['converged'] for entry in times), times
                core['cold'].append(times[0]['build'] + times[0]['solve'])
                core['warm'] += [entry['build'] + entry['solve'] for entry in times[1:]]
                for name in core_parts:
                    core_parts[name] += [entry[name] for entry in times[1:]]
                workers = start_workers(redis_server.url, 1, directory)
                try:
                    for run in range(1 + arguments.warm):
                        seconds, posted, job, result = service_time(api, store, *ids)
                        service['fresh' if run == 0 else 'warm'].append(seconds)
                        posts.append(posted)
                        case = 'fresh' if run == 0 else 'warm'
                        split = breakdown(seconds, posted, job, result['provenance']['timings'])
                        for name, value in split.items():
                            parts.setdefault(f'{case} {name}', []).append(value)
                        if case == 'fresh':
                            fresh_jobs.append({'total': seconds, **split})
                        overhead = seconds - sum(result['provenance']['timings'].get(name, 0.0)
                                                 for name in ('build_seconds', 'solve_seconds'))
                        parts.setdefault(f'{case} all but build + solve', []).append(overhead)
                finally:
                    for worker in workers:
                        _stop(worker, group=True)
    finally:
        if server is not None:
            _stop(server, group=True)
        redis_server.stop()
        shutil.rmtree(directory, ignore_errors=True)
    cold, warm = _median(core['cold']), _median(core['warm'])
    print(f"core build + solve: cold (first in a fresh process) {cold:.2f} s, warm {warm:.2f} s  "
          f"(all: {' '.join(f'{x:.2f}' for x in core['cold'])} | {' '.join(f'{x:.2f}' for x in core['warm'])})")
    for case, values in service.items():
        print(f'service {case:>5}: {_median(values):.2f} s  = {_median(values) / warm:.3f}x the warm core, '
              f'{_median(values) / cold:.3f}x the cold core  (all: {" ".join(f"{x:.2f}" for x in values)})')
    print(f"warm core build {_median(core_parts['build']):.3f} s, solve {_median(core_parts['solve']):.3f} s")
    print(f'POST /v1/jobs: median {_median(posts) * 1000:.0f} ms')
    print('each fresh worker\'s first job (s; round 1 is also the API\'s first check of the datasets):')
    for number, split in enumerate(fresh_jobs, 1):
        print(f'  round {number}: ' + '  '.join(f'{name} {value:.3f}' for name, value in split.items()))
    print('where the service time went (medians, s):')
    for name, values in parts.items():
        print(f'  {name:<28} {_median(values):.3f}')
    print(f'load average after: {load_average()}')


if __name__ == '__main__':
    main()
