"""Load benchmark of the service: jobs through API, Redis and workers on loopback, nothing lost, latencies.

    python bench/load.py                 # starts redis-server, a Celery worker and uvicorn on free loopback ports
    python bench/load.py --url http://127.0.0.1:8000   # or targets a running stack (make up), loopback only

Phases, each bounded in requests and time:
  1. submit: `--jobs` logit estimates (POST /v1/jobs) at a steady `--rate` requests/s, open loop (a request is
     sent on schedule whether or not earlier ones have answered; latency counts from the scheduled time);
  2. status: GET /v1/jobs/{id} at `--rate` requests/s for `--status-seconds`, while the workers drain the backlog;
  3. drain: every job read back (status, then result): none lost, none failed, every estimate identical;
  4. status again at `--rate` requests/s for `--status-seconds`, the workers now idle: the API on its own;
  5. idle: `--idle-jobs` jobs one at a time into an empty queue: submit -> worker start (the job record's
     created_at -> started_at, both stamped on this machine), as a lone client sees it.
The started stack runs the worker at `--worker-nice` 10, so that on a small machine the API is served before
the backlog of numerics (in production: separate hosts, or CPU shares/limits per container).
Prints a table and writes `--json`. Every process it started is stopped on exit (also on Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlparse

import _paths  # noqa: F401  (sys.path as the tests have it: bench/_paths.py)
import httpx
from processes import die_with_parent, free_port

from examples import cereal

ROOT = Path(__file__).resolve().parents[1]

SPEC = {'problem': {'product_formulations': [{'formula': '0 + prices',
                                              'absorb': 'C(market_ids) + C(product_ids)'}]},
        'solve': {'method': '1s'}}
MAX_SECONDS = 600  # the whole run, whatever the options


# ------------------------------------------------------------------------------------------ the stack

class Stack:
    """redis-server (AOF on), a prefork Celery worker and uvicorn, on loopback, each in its own process group."""

    def __init__(self, concurrency: int, api_workers: int, worker_nice: int) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix='blp-load-'))
        self.processes: list[subprocess.Popen] = []
        redis_port, api_port = free_port(), free_port()
        self.redis_url = f'redis://127.0.0.1:{redis_port}/0'
        self.url = f'http://127.0.0.1:{api_port}'
        # One client submits every job: its quotas are lifted (the load is the point here, not the per-key limits).
        environment = {**os.environ, 'REDIS_URL': self.redis_url, 'PYTHONPATH': str(ROOT),
                       'OMP_NUM_THREADS': '1', 'OPENBLAS_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1',
                       'SUBMISSIONS_PER_MINUTE': '1000000', 'SUBMISSION_BURST': '1000000',
                       'MAX_ACTIVE_JOBS_PER_KEY': '1000000'}
        self._start('redis', [shutil.which('redis-server') or 'redis-server', '--port', str(redis_port),
                              '--bind', '127.0.0.1', '--dir', str(self.directory), '--save', '',
                              '--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction'],
                    environment)
        self._start('worker', [sys.executable, '-m', 'celery', '-A', 'worker.celery_app', 'worker', '--pool', 'prefork',
                               '--concurrency', str(concurrency), '--loglevel', 'WARNING', '--without-mingle',
                               '--without-gossip', '--hostname', 'load@%h'], environment, nice=worker_nice)
        self._start('api', [sys.executable, '-m', 'uvicorn', 'service.main:app', '--host', '127.0.0.1', '--port',
                            str(api_port), '--workers', str(api_workers), '--log-level', 'warning',
                            '--no-access-log'], environment)

    def _start(self, name: str, command: list[str], environment: dict[str, str], nice: int = 0) -> None:
        def prepare() -> None:
            die_with_parent()
            os.nice(nice)

        with open(self.directory / f'{name}.log', 'wb') as log:
            self.processes.append(subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log,
                                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                   start_new_session=True, preexec_fn=prepare))

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            for process in self.processes:
                if process.poll() is not None:
                    raise SystemExit(f'{process.args[0]} exited; logs in {self.directory}')
            try:
                if httpx.get(f'{self.url}/readyz', timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f'the stack was not ready after {timeout} s; logs in {self.directory}')
            time.sleep(0.2)

    def stop(self) -> None:
        for process in reversed(self.processes):  # api, worker, redis: each process group, TERM then KILL
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for process in reversed(self.processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.processes.clear()


# ------------------------------------------------------------------------------------------ measuring

def percentile(values: list[float], q: float) -> Optional[float]:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def summary(values: list[float]) -> dict[str, Any]:
    milliseconds = [1000 * value for value in values]
    return {'count': len(values), 'p50_ms': percentile(milliseconds, 50), 'p90_ms': percentile(milliseconds, 90),
            'p99_ms': percentile(milliseconds, 99), 'max_ms': max(milliseconds) if milliseconds else None,
            'mean_ms': statistics.fmean(milliseconds) if milliseconds else None}


class Phase:
    """Open-loop requests at a fixed rate: latency from each request's scheduled time to its response."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.failures: list[str] = []

    async def run(self, count: int, rate: float, send) -> float:  # noqa: ANN001
        started = time.perf_counter()

        async def one(index: int, scheduled: float) -> None:
            try:
                response = await send(index)
                self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
            except httpx.HTTPError as error:
                self.failures.append(f'{type(error).__name__}: {error}')
                return
            self.latencies.append(time.perf_counter() - scheduled)

        tasks = []
        for index in range(count):
            scheduled = started + index / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(index, scheduled)))
        await asyncio.gather(*tasks)
        return time.perf_counter() - started


async def server_seconds(http: httpx.AsyncClient, method: str, route: str) -> tuple[float, int]:
    """(seconds spent answering, requests) for a route so far, from the API's /metrics (one API process)."""
    text = (await http.get('/metrics')).text
    total = sum(float(line.rsplit(' ', 1)[1]) for line in text.splitlines()
                if line.startswith(f'blp_http_request_seconds_total{{method="{method}",route="{route}"}}'))
    count = sum(int(line.rsplit(' ', 1)[1]) for line in text.splitlines()
                if line.startswith(f'blp_http_requests_total{{method="{method}",route="{route}",'))
    return total, count


def server_mean_ms(before: tuple[float, int], after: tuple[float, int]) -> Optional[float]:
    requests = after[1] - before[1]
    return 1000 * (after[0] - before[0]) / requests if requests else None


def seconds_between(start: str, end: str) -> float:
    parse = lambda text: datetime.fromisoformat(text.replace('Z', '+00:00'))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def price_coefficient(result: dict) -> float:
    return next(p['value'] for p in result['results']['parameters'] if p['kind'] == 'beta' and p['row'] == 'prices')


async def benchmark(url: str, jobs: int, rate: float, status_seconds: float, idle_jobs: int, deadline: float,  # noqa: C901 - a bench's one measured loop
                    headers: dict[str, str]) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits, headers=headers) as http:
        frame = cereal.product_data('price')[['market_ids', 'product_ids', 'firm_ids', 'shares', 'prices',
                                              'demand_instruments0']]
        upload = await http.post('/v1/datasets', content=frame.to_csv(index=False).encode(),
                                 headers={'Content-Type': 'text/csv'})
        upload.raise_for_status()
        body = {'product_data': {'dataset_id': upload.json()['id']}, 'spec': SPEC}
        for _ in range(20):  # warm the API and every worker process (first imports, first solve)
            (await http.post('/v1/jobs', json=body)).raise_for_status()
        await asyncio.sleep(2)

        # 1. submit
        ids: list[Optional[str]] = [None] * jobs
        submit = Phase()

        async def post(index: int) -> httpx.Response:
            response = await http.post('/v1/jobs', json=body)
            if response.status_code == 202:
                ids[index] = response.json()['id']
            return response

        before = await server_seconds(http, 'POST', '/v1/jobs')
        submit_seconds = await submit.run(jobs, rate, post)
        submit_server_ms = server_mean_ms(before, await server_seconds(http, 'POST', '/v1/jobs'))
        accepted = [job_id for job_id in ids if job_id]

        # 2. status, while the backlog drains
        status = Phase()
        status_count = int(rate * status_seconds)
        before = await server_seconds(http, 'GET', '/v1/jobs/{job_id}')
        status_seconds_taken = await status.run(
            status_count, rate, lambda index: http.get(f'/v1/jobs/{accepted[index % len(accepted)]}'))
        status_server_ms = server_mean_ms(before, await server_seconds(http, 'GET', '/v1/jobs/{job_id}'))

        # 3. drain and read everything back
        pending, records = set(accepted), {}
        while pending and time.monotonic() < deadline:
            for job_id in list(pending):
                response = await http.get(f'/v1/jobs/{job_id}')
                if response.status_code == 200 and response.json()['status'] in ('succeeded', 'failed', 'cancelled'):
                    records[job_id] = response.json()
                    pending.discard(job_id)
            if pending:
                await asyncio.sleep(0.5)
        results = {}
        for job_id, record in records.items():
            if record['status'] == 'succeeded':
                response = await http.get(f'/v1/jobs/{job_id}/result')
                if response.status_code == 200:
                    results[job_id] = response.json()
        drained = [records[job_id] for job_id in accepted if job_id in records]
        first_created = min(record['created_at'] for record in drained) if drained else None
        last_finished = max(record['finished_at'] for record in drained if record['finished_at']) if drained else None
        coefficients = {round(price_coefficient(result), 12) for result in results.values()}
        queue_wait = [seconds_between(r['created_at'], r['started_at']) for r in drained if r.get('started_at')]

        # 4. status with idle workers
        quiet = Phase()
        before = await server_seconds(http, 'GET', '/v1/jobs/{job_id}')
        quiet_seconds = await quiet.run(
            status_count, rate, lambda index: http.get(f'/v1/jobs/{accepted[index % len(accepted)]}'))
        quiet_server_ms = server_mean_ms(before, await server_seconds(http, 'GET', '/v1/jobs/{job_id}'))

        # 5. submit -> worker start with an idle queue
        idle_waits: list[float] = []
        for _ in range(idle_jobs):
            if time.monotonic() > deadline:
                break
            response = await http.post('/v1/jobs', json=body)
            job_id = response.json()['id']
            for _ in range(200):
                record = (await http.get(f'/v1/jobs/{job_id}')).json()
                if record['status'] in ('succeeded', 'failed'):
                    break
                await asyncio.sleep(0.02)
            if record.get('started_at'):
                idle_waits.append(seconds_between(record['created_at'], record['started_at']))
            await asyncio.sleep(0.1)

    errors = (sum(n for code, n in submit.statuses.items() if code != 202) + len(submit.failures) +
              sum(n for code, n in status.statuses.items() if code != 200) + len(status.failures) +
              sum(n for code, n in quiet.statuses.items() if code != 200) + len(quiet.failures))
    return {
        'jobs_submitted': jobs, 'jobs_accepted': len(accepted), 'jobs_finished': len(drained),
        'jobs_succeeded': sum(record['status'] == 'succeeded' for record in drained),
        'results_read': len(results), 'jobs_lost': len(accepted) - len(results),
        'distinct_estimates': len(coefficients),
        'requests': len(submit.latencies) + len(status.latencies) + len(quiet.latencies),
        'errors': errors, 'error_rate': errors / max(1, jobs + 2 * status_count),
        'submit': {'rate_per_s': rate, 'achieved_per_s': jobs / submit_seconds, 'statuses': submit.statuses,
                   'server_mean_ms': submit_server_ms, **summary(submit.latencies)},
        'status': {'rate_per_s': rate, 'achieved_per_s': status_count / status_seconds_taken,
                   'statuses': status.statuses, 'server_mean_ms': status_server_ms, **summary(status.latencies)},
        'status_idle_workers': {'rate_per_s': rate, 'achieved_per_s': status_count / quiet_seconds,
                                'statuses': quiet.statuses, 'server_mean_ms': quiet_server_ms,
                                **summary(quiet.latencies)},
        'drain_jobs_per_s': (len(drained) / seconds_between(first_created, last_finished)
                             if drained and last_finished else None),
        'queue_wait_under_backlog': summary(queue_wait),
        'submit_to_worker_start_idle': summary(idle_waits),
        'failure_samples': (submit.failures + status.failures + quiet.failures)[:5],
    }


def report(numbers: dict[str, Any]) -> str:
    def row(name: str, part: dict) -> str:
        cells = ' '.join(f"{part.get(key) or 0:8.1f}" for key in ('p50_ms', 'p90_ms', 'p99_ms', 'max_ms'))
        if part.get('server_mean_ms') is not None:
            cells += f"{part['server_mean_ms']:10.2f}"
        return f'  {name:<40} {part["count"]:6d} {cells}'

    lines = [f"jobs: {numbers['jobs_submitted']} submitted, {numbers['jobs_accepted']} accepted, "
             f"{numbers['jobs_succeeded']} succeeded, {numbers['results_read']} results read, "
             f"{numbers['jobs_lost']} lost, {numbers['distinct_estimates']} distinct estimate(s)",
             f"requests: {numbers['requests']}, errors: {numbers['errors']} (rate {numbers['error_rate']:.4f})",
             f"submit at {numbers['submit']['rate_per_s']:.0f}/s (achieved {numbers['submit']['achieved_per_s']:.1f}/s), "
             f"status at {numbers['status']['rate_per_s']:.0f}/s (achieved {numbers['status']['achieved_per_s']:.1f}/s "
             f"while draining, {numbers['status_idle_workers']['achieved_per_s']:.1f}/s idle), "
             f"workers drained {numbers['drain_jobs_per_s'] or 0:.1f} jobs/s",
             f"  {'latency (ms), client side':<40} {'n':>6} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}"
             f"{'server mean':>12}",
             row('POST /v1/jobs (workers busy)', numbers['submit']),
             row('GET /v1/jobs/{id} (workers draining)', numbers['status']),
             row('GET /v1/jobs/{id} (workers idle)', numbers['status_idle_workers']),
             row('submit -> worker start, idle queue', numbers['submit_to_worker_start_idle']),
             row('submit -> worker start, under backlog', numbers['queue_wait_under_backlog'])]
    return '\n'.join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--url', help='a running stack on loopback (default: start one)')
    parser.add_argument('--api-key', help='Authorization: Bearer key for --url (default: $BLP_API_KEY)')
    parser.add_argument('--jobs', type=int, default=500)
    parser.add_argument('--rate', type=float, default=200.0, help='requests per second in phases 1 and 2')
    parser.add_argument('--status-seconds', type=float, default=10.0)
    parser.add_argument('--idle-jobs', type=int, default=30)
    parser.add_argument('--concurrency', type=int, default=2, help='worker processes of the started stack')
    parser.add_argument('--api-workers', type=int, default=1, help='uvicorn processes of the started stack')
    parser.add_argument('--worker-nice', type=int, default=10,
                        help='niceness of the started worker: the API before batch numerics, as CPU shares would do '
                             'in production (0: share the cores equally)')
    parser.add_argument('--max-seconds', type=float, default=300.0, help=f'give up after this (at most {MAX_SECONDS})')
    parser.add_argument('--json', type=Path, help='also write the numbers here')
    options = parser.parse_args()
    if not (1 <= options.jobs <= 5000 and 1 <= options.rate <= 2000 and 0 < options.status_seconds <= 60
            and 0 <= options.idle_jobs <= 200):
        parser.error('--jobs 1..5000, --rate 1..2000, --status-seconds up to 60, --idle-jobs up to 200')
    if options.url and urlparse(options.url).hostname not in ('127.0.0.1', 'localhost', '::1'):
        parser.error('--url must be a loopback address')
    deadline = time.monotonic() + min(options.max_seconds, MAX_SECONDS)
    key = options.api_key or os.environ.get('BLP_API_KEY')
    headers = {'Authorization': f'Bearer {key}'} if key else {}

    stack, numbers = None, None
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        if options.url:
            url = options.url.rstrip('/')
        else:
            stack = Stack(options.concurrency, options.api_workers, options.worker_nice)
            stack.wait_ready()
            url = stack.url
        load_before = os.getloadavg()
        numbers = asyncio.run(benchmark(url, options.jobs, options.rate, options.status_seconds, options.idle_jobs,
                                        deadline, headers))
        numbers['loadavg_before'], numbers['loadavg_after'] = load_before, os.getloadavg()
        numbers['cores'] = os.cpu_count()
    finally:
        if stack:
            stack.stop()
            if numbers and numbers['jobs_lost'] == 0 and numbers['errors'] == 0:
                shutil.rmtree(stack.directory, ignore_errors=True)
            else:
                print(f'logs of the stack: {stack.directory}', file=sys.stderr)
        signal.signal(signal.SIGTERM, previous)
    print(report(numbers))
    print(f"load average before {numbers['loadavg_before']}, after {numbers['loadavg_after']}, "
          f"{numbers['cores']} cores")
    if options.json:
        options.json.write_text(json.dumps(numbers, indent=2))
    return 0 if numbers['jobs_lost'] == 0 and numbers['errors'] == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
