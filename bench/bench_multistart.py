"""Multi-start speed-up: the same 8-start estimate with 1 worker process, then with 2, through the real queue.

    python bench/bench_multistart.py [--workers 1 2] [--starts 8] [--agents 1000] [--repeat 3] [--threads N]

Starts its own redis-server on a free loopback port and Celery workers (one pool process each, BLAS pinned to one
thread, as deployed), submits the cereal sigma-on-prices multi-start through the API app in this process, and
prints the best wall time (from the job's creation to `succeeded`) of `--repeat` interleaved runs for each worker
count and the speed-up over the first. Since the machine may be shared, it also prints the speed-up the starts' own
busy seconds allow (the result's `scheduling`: all busy seconds over the busiest worker process's), which does not
count how much the processes slowed each other, and the schedule of the last run (order, process, queue wait, build
and solve seconds per start), where each run's wall time went (the parent, each process's wait for its first solve,
the tail, the finalizer) and whether every run chose the same start with the same objective. Everything it starts
is stopped when it ends (and killed with it if it is killed: PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Optional

import _paths  # noqa: F401  (sys.path as the tests have it: bench/_paths.py)

ROOT = Path(__file__).resolve().parents[1]
for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[variable] = '1'

from fastapi.testclient import TestClient  # noqa: E402
from processes import RedisServer, die_with_parent  # noqa: E402

from examples import cereal  # noqa: E402
from examples.client import SPEC  # noqa: E402  (the exercise's random-coefficients spec)
from jobstore.settings import Settings  # noqa: E402
from jobstore.store import TERMINAL, Store, connect  # noqa: E402
from service.main import create_app  # noqa: E402

BOUNDS = {'sigma_bounds': [[[0, 0], [0, 0]], [[0, 0], [0, 10]]], 'pi_bounds': [[[-5], [-20]], [[5], [20]]]}


def _stop(process: subprocess.Popen, group: bool) -> None:
    """TERM (the whole process group for a worker), KILL if it has not exited after 20 s."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM) if group else process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL) if group else process.kill()
        process.wait(timeout=10)


def load_average() -> str:
    return ' '.join(f'{x:.2f}' for x in os.getloadavg())


def need_redis_server() -> None:
    if not shutil.which('redis-server'):
        raise SystemExit('redis-server is not installed')


def start_workers(url: str, count: int, directory: Path) -> list[subprocess.Popen]:
    """`count` worker processes of one pool process each; returns once every one has sent a heartbeat (its first,
    when it is ready). They run with the shipped heartbeat interval: a shorter one would renew leases and reap many
    times a second, CPU that comes out of the starts' time when both cores are solving."""
    environment = {**os.environ, 'REDIS_URL': url, 'PYTHONPATH': str(ROOT)}
    environment.pop('WORKER_HEARTBEAT_SECONDS', None)
    workers = []
    for index in range(count):
        command = [sys.executable, '-m', 'celery', '-A', 'worker.celery_app', 'worker', '--pool', 'prefork',
                   '--concurrency', '1', '--loglevel', 'WARNING', '--hostname', f'bench{index}@%h',
                   '--without-mingle', '--without-gossip']
        with open(directory / f'worker{count}-{index}.log', 'ab') as log:
            workers.append(subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True, preexec_fn=die_with_parent))
    store, deadline = Store(connect(url)), time.monotonic() + 60
    while len(store.live_workers(within=2)) < count:
        if any(worker.poll() is not None for worker in workers) or time.monotonic() > deadline:
            for worker in workers:
                _stop(worker, group=True)
            raise SystemExit(f'the workers did not start; see {directory}')
        time.sleep(0.1)
    return workers


def replay(seconds: list[float], order: list[int], processes: int) -> float:
    """The busy-seconds speed-up of running starts of these durations in this order on `processes` processes that
    each take the next start when free (as Celery with prefetch 1 hands them out): all seconds / the busiest's."""
    busy = [0.0] * processes
    for index in order:
        busy[busy.index(min(busy))] += seconds[index]
    return sum(busy) / max(busy)


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace('Z', '+00:00')).timestamp()


def phases(job: dict, report: dict) -> dict[str, float]:
    """Where the wall time of a one-phase multi-start went, in seconds (clocks of one host): the queue wait of the
    parent, the parent until its starts were published, each process's wait from then to its first start, the
    tail (the last start's end minus the end of the process that finished first) and the finalizer (from the last
    start's end to `succeeded`: publishing finalize, choosing, storing the result)."""
    scheduling = report['scheduling'][-1]
    published = scheduling.get('published_at')
    if published is None:  # a worker from before the scheduling record had it
        published = _epoch(job['started_at'])
    spans: dict[str, list[float]] = {}
    solving: dict[str, float] = {}  # when each process began its first solve (after reading and building)
    for start in report['starts']:
        schedule = start['schedule']
        spans.setdefault(schedule['process'], []).extend([schedule['started'], schedule['started'] + start['seconds']])
        began = schedule['started'] + schedule.get('read_seconds', 0.0) + schedule.get('build_seconds', 0.0)
        solving[schedule['process']] = min(began, solving.get(schedule['process'], began))
    ends = sorted(max(span) for span in spans.values())
    return {'parent queue': _epoch(job['started_at']) - _epoch(job['created_at']),
            'parent to published': published - _epoch(job['started_at']),
            'published to first start (per process)': sorted(min(span) - published for span in spans.values()),
            'parent start to first solve (per process)': sorted(began - _epoch(job['started_at'])
                                                                for began in solving.values()),
            'tail (last end - first process end)': ends[-1] - ends[0],
            'finalize (last end - succeeded)': _epoch(job['finished_at']) - ends[-1]}


def cpu_seconds(workers: list[subprocess.Popen], redis_pid: int) -> dict[str, float]:
    """CPU seconds (user + system) used so far by the workers' main processes, their pool processes, redis-server
    and this process (the API and the watching): with both cores busy solving, whatever the others use comes out of
    the starts' time."""
    groups = {worker.pid for worker in workers}
    used = {'pool processes': 0.0, 'worker main processes': 0.0, 'redis-server': 0.0, 'bench + API': 0.0}
    tick = os.sysconf('SC_CLK_TCK')
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / 'stat').read_text().rsplit(')', 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        pid, group, seconds = int(entry.name), int(fields[2]), (int(fields[11]) + int(fields[12])) / tick
        if group in groups:
            used['worker main processes' if pid in groups else 'pool processes'] += seconds
        elif pid == redis_pid:
            used['redis-server'] += seconds
        elif pid == os.getpid():
            used['bench + API'] += seconds
    return used


def run_multistart(api: TestClient, store: Store, products: str, agents: str, starts: int,
                   threads: Optional[int]) -> tuple[float, dict]:
    """Wall seconds from the job's creation (just before it is queued) to its end, from the record's own
    timestamps (millisecond resolution), and the job. The job is watched in Redis, not through the API, and only
    twice a second, so that watching takes next to no CPU from the workers (a third busy process on two cores
    slows the two-worker run)."""
    spec = SPEC if threads is None else {**SPEC, 'solve': {**SPEC.get('solve', {}), 'threads': threads}}
    body = {'kind': 'multistart', 'product_data': {'dataset_id': products}, 'agent_data': {'dataset_id': agents},
            'spec': spec, 'starts': {'count': starts, 'seed': 0, 'bounds': BOUNDS}}
    response = api.post('/v1/jobs', json=body)
    assert response.status_code == 202, response.text
    job_id = response.json()['id']
    while True:
        job = store.get_job(job_id)
        if job['status'] in TERMINAL:
            return _epoch(job['finished_at']) - _epoch(job['created_at']), job
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--workers', type=int, nargs='+', default=[1, 2], help='worker processes per run')
    parser.add_argument('--starts', type=int, default=8)
    parser.add_argument('--agents', type=int, default=1000, help='agents per market')
    parser.add_argument('--repeat', type=int, default=3, help='runs per worker count; the best time counts')
    parser.add_argument('--threads', type=int, default=None,
                        help="each start's solve.threads (default: the worker's spare cores, as shipped)")
    arguments = parser.parse_args()
    need_redis_server()
    print(f'{arguments.starts} starts of the cereal sigma-on-prices model, {arguments.agents} agents per market, '
          f'threads {arguments.threads or "default"}, {os.cpu_count()} cores, load average before: {load_average()}')
    directory = Path(tempfile.mkdtemp(prefix='bench-multistart-'))
    redis_server = RedisServer(directory / 'redis', appendonly=False)
    url = redis_server.url
    times: dict[int, list[tuple[float, float]]] = {count: [] for count in arguments.workers}  # (wall, start-seconds)
    balance: dict[int, list[float]] = {count: [] for count in arguments.workers}  # busy / busiest process
    timeline: dict[int, list[dict]] = {count: [] for count in arguments.workers}  # phases of each run
    spent: dict[int, list[dict]] = {count: [] for count in arguments.workers}  # CPU seconds of each run, by process
    outcomes: list[tuple[int, int, float, list[float]]] = []  # (workers, chosen start, its objective, its theta)
    try:
        with TestClient(create_app(Settings(redis_url=url))) as api:
            products = api.post('/v1/datasets', content=cereal.product_data().to_csv(index=False).encode(),
                                headers={'Content-Type': 'text/csv'}).json()['id']
            agents = api.post('/v1/datasets', content=cereal.agent_data(arguments.agents).to_csv(index=False).encode(),
                              headers={'Content-Type': 'text/csv'}).json()['id']
            for _ in range(arguments.repeat):  # interleaved, so a burst of outside load hits both alike
                for count in arguments.workers:
                    workers = start_workers(url, count, directory)
                    try:
                        before = cpu_seconds(workers, redis_server.process.pid)
                        seconds, job = run_multistart(api, api.app.state.store, products, agents, arguments.starts,
                                                       arguments.threads)
                        after = cpu_seconds(workers, redis_server.process.pid)
                        spent[count].append({kind: after[kind] - before[kind] for kind in after})
                    finally:
                        for worker in workers:
                            _stop(worker, group=True)
                    assert job['status'] == 'succeeded', job
                    report = api.get(f"/v1/jobs/{job['id']}/result").json()['multistart']
                    times[count].append((seconds, sum(start['seconds'] for start in report['starts'])))
                    balance[count].append(report['scheduling'][-1]['speedup_from_busy_seconds'])
                    last = report
                    timeline[count].append(phases(job, report))
                    chosen = report['chosen_start']
                    outcomes.append((count, chosen, report['starts'][chosen]['objective'],
                                     report['starts'][chosen]['theta']))
    finally:
        redis_server.stop()
        shutil.rmtree(directory, ignore_errors=True)
    progress = job['progress']
    print(f"starts solved: {progress['starts_done'] - progress['starts_failed']} of {progress['starts_total']}"
          + (' (the failed ones are reported with their reason)' if progress['starts_failed'] else ''))
    # busy: the starts' own seconds over workers x wall. Below 100 %: workers idle (uneven starts, fixed costs);
    # start-seconds above the one-worker run's: the processes slowed each other (shared cores, memory, outside load).
    baseline = min(times[arguments.workers[0]])[0]
    print(f"{'workers':>7} {'best s':>8} {'speed-up':>9} {'start-s':>8} {'busy':>6}  all runs: wall s (start-seconds)")
    for count, runs in times.items():
        wall, work = min(runs)
        every = ' '.join(f'{run:.2f} ({starts:.1f})' for run, starts in runs)
        print(f'{count:>7} {wall:>8.2f} {baseline / wall:>8.2f}x {work:>8.2f} {work / (count * wall):>6.0%}  {every}')
    for count, values in balance.items():
        print(f'{count} worker(s): speed-up from busy seconds (busy / busiest process) '
              f'{" ".join(f"{value:.2f}" for value in values)}')
    for count, runs in timeline.items():
        for number, run in enumerate(runs):
            print(f'{count} worker(s), run {number + 1}: ' + ', '.join(
                f"{name} {' '.join(f'{v:.2f}' for v in value) if isinstance(value, list) else f'{value:.2f}'}"
                for name, value in run.items()))
    for count, runs in spent.items():
        for number, run in enumerate(runs):
            print(f'{count} worker(s), run {number + 1}, CPU seconds: '
                  + ', '.join(f'{kind} {value:.2f}' for kind, value in run.items()))
    print('chosen start, objective, theta of each run: ' + '; '.join(
        f'{count} worker(s) start {chosen} {objective:.6e} {[round(value, 6) for value in theta]}'
        for count, chosen, objective, theta in outcomes))
    same = len({(chosen, objective, tuple(theta)) for _, chosen, objective, theta in outcomes}) == 1
    print('the runs chose the same start with the same objective and theta' if same else
          'THE RUNS DIFFER in the chosen start, its objective or its theta')
    durations = [start['seconds'] for start in last['starts']]
    order, count = last['scheduling'][-1]['order'], len(last['scheduling'][-1]['processes'])
    print(f'the last run\'s start seconds replayed on {count} processes, speed-up from busy seconds: drawn order '
          f'{replay(durations, list(range(len(durations))), count):.2f}, published order {replay(durations, order, count):.2f}, '
          f'longest first knowing the durations {replay(durations, sorted(order, key=lambda i: -durations[i]), count):.2f}')
    print('the last run, in the order published (position, start, process, queue wait, read + build, solve, s):')
    for start in sorted(last['starts'], key=lambda start: start['schedule']['position']):
        schedule = start['schedule']
        build = schedule.get('read_seconds', 0.0) + schedule.get('build_seconds', 0.0)
        print(f"  {schedule['position']} start {start['index']} {schedule['process']:<24} "
              f"{schedule['queue_seconds']:6.2f} {build:6.2f} {schedule.get('solve_seconds', 0.0):6.2f} "
              f"{start['status']} ({start['seconds']:.2f} s in all)")
    print(f'load average after: {load_average()}')


if __name__ == '__main__':
    main()
