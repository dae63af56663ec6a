"""The image run as docker-compose.yml runs it, without a Docker daemon: Redis, the worker and the API started with
exactly the commands and environment Compose resolves for them, from the emulated image's WORKDIR and as its
non-root user, in a network namespace where `redis` resolves and the ports are the compose file's. Then the checks
a deployment must pass (tests/deploy/image_checks.py, which `make image-test` runs against the real image).

Not emulated: the `flower` service (a third-party image), restart policies, the named volume (Redis writes its
append-only file to a temp dir as the image's /data) and the host port mapping (the test's client enters the
namespace instead)."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import time
import warnings
from pathlib import Path
from typing import Callable, Iterator, Optional

import compose_file
import image_checks
import pytest
from dockerfile_emulation import Image
from network_sandbox import Loopback, Namespace
from processes import die_with_parent

import blp_client
from examples import cereal
from examples.client import SPEC

pytestmark = pytest.mark.deploy

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ('worker', 'api')  # built from our image; started after Redis is healthy, as depends_on says
API_KEY = 'deploy-test-' + secrets.token_hex(8)


def seconds(duration: str) -> float:
    """Compose durations such as '5s', '1m30s'."""
    units = {'h': 3600, 'm': 60, 's': 1, 'ms': 0.001}
    return sum(float(number) * units[unit] for number, unit in re.findall(r'([\d.]+)(ms|h|m|s)', duration))


class Stack:
    """The compose services as processes: one process group each, logs in the emulated image's directory."""

    def __init__(self, image: Image, compose: dict, network: Namespace | Loopback) -> None:
        self.image, self.compose, self.network = image, compose, network
        self.processes: dict[str, subprocess.Popen] = {}
        self.redis_healthy_after = self.api_healthy_after = 0.0
        self.logs = image.root / 'logs'
        self.logs.mkdir(exist_ok=True)

    def environment(self, service: str) -> dict[str, str]:
        settings = {name: self.network.translate(str(value))
                    for name, value in (self.compose['services'][service].get('environment') or {}).items()}
        return self.image.environment(**settings)

    def start(self, service: str, argv: list[str], cwd: Path, uid: Optional[int] = None,
              env: Optional[dict[str, str]] = None) -> None:
        with open(self.logs / f'{service}.log', 'ab') as log:
            self.processes[service] = subprocess.Popen(
                self.network.argv(argv, uid, self.image.gid), cwd=cwd, env=env or self.image.environment(),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=die_with_parent)

    def start_app(self, service: str) -> None:
        """An app service as Compose starts it: its command, from the image's WORKDIR, as the image's user."""
        self.start(service, self.compose['services'][service]['command'], cwd=self.image.staged_workdir,
                   uid=self.image.uid, env=self.environment(service))

    def wait_healthy(self, service: str, uid: Optional[int] = None, cwd: Optional[Path] = None) -> float:
        """Run the service's healthcheck until it passes, within Compose's interval × retries; returns seconds."""
        check = self.compose['services'][service]['healthcheck']
        argv = self.network.argv(compose_file.healthcheck_argv(self.compose['services'][service]), uid, self.image.gid)
        started = time.monotonic()
        deadline = started + seconds(check['interval']) * check['retries'] + seconds(check['timeout'])
        while True:
            done = subprocess.run(argv, cwd=cwd or self.image.staged_workdir, env=self.environment(service),
                                  capture_output=True, timeout=seconds(check['timeout']) + 10)
            if done.returncode == 0:
                return time.monotonic() - started
            process = self.processes[service]
            assert process.poll() is None, f'{service} exited ({process.returncode}):\n{self.log(service)}'
            assert time.monotonic() < deadline, f'{service} not healthy: {done.stderr[-1000:]!r}\n{self.log(service)}'
            time.sleep(0.25)

    def exited(self) -> str:
        """The services that have exited, with their logs' ends (why a check that needs them failed)."""
        return '\n'.join(f'{service} exited ({process.returncode}):\n{self.log(service)}'
                         for service, process in self.processes.items() if process.poll() is not None)

    def log(self, service: str) -> str:
        path = self.logs / f'{service}.log'
        return path.read_text(errors='replace')[-4000:] if path.exists() else ''

    def stop(self) -> None:
        """SIGTERM each process group (Compose's stop: a warm shutdown), then SIGKILL what is left."""
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@pytest.fixture(scope='module')
def compose() -> dict:
    return compose_file.resolved(ROOT, API_KEYS=API_KEY)


@pytest.fixture(scope='module')
def stack(image: Image, compose: dict) -> Iterator[Stack]:
    services = list(compose['services'])
    if Namespace.allowed():
        network: Namespace | Loopback = Namespace(services)
    else:
        network = Loopback(services)
        warnings.warn(f'image emulation on {network.described}', stacklevel=1)
    print(f'image emulation on {network.described}')
    running = Stack(image, compose, network)
    try:
        data = image.root / 'data'  # the redis image's WORKDIR, where the compose file mounts its volume
        data.mkdir()
        running.start('redis', compose['services']['redis']['command'], cwd=data)
        running.redis_healthy_after = running.wait_healthy('redis', cwd=data)
        for service in APP_SERVICES:
            running.start_app(service)
        running.api_healthy_after = running.wait_healthy('api', uid=image.uid)
        yield running
    finally:
        running.stop()
        network.close()


def test_compose_runs_the_images_user_and_ports(image: Image, compose: dict) -> None:
    """What Compose takes from the image agrees with the Dockerfile: the API's port, and no root user."""
    api = compose['services']['api']
    command = api['command']
    port = int(command[command.index('--port') + 1])
    assert port in image.exposed and port in [mapping['target'] for mapping in api['ports']]
    assert command[:len(image.cmd)] == image.cmd, 'the image run without a command should serve the same app'
    assert image.uid not in (0, None) and image.gid != 0
    for service in APP_SERVICES:
        assert compose['services'][service]['environment']['API_KEYS'] == API_KEY  # .env / environment reaches it


def test_the_emulated_image_serves_ready_ui_and_a_cereal_estimate(stack: Stack) -> None:
    try:
        with stack.network.entered():
            measured = image_checks.run_all(stack.network.translate('http://127.0.0.1:8000'), API_KEY)
    except AssertionError as error:
        raise AssertionError(f'{error}\n{stack.exited()}') from None
    print(f"redis healthy after {stack.redis_healthy_after:.1f} s, api healthcheck after "
          f"{stack.api_healthy_after:.1f} s, /readyz 200 after a further {measured['ready_wait_seconds']:.1f} s, "
          f"cereal RC estimate ({image_checks.AGENTS_PER_MARKET} agents/market) {measured['estimate_seconds']:.1f} s")


def test_the_app_runs_as_the_images_user_and_redis_keeps_an_append_only_file(stack: Stack, image: Image) -> None:
    for service in APP_SERVICES:
        pid = stack.processes[service].pid
        uid = int(re.search(r'^Uid:\s+(\d+)', Path(f'/proc/{pid}/status').read_text(), re.M).group(1))
        assert uid == (image.uid if os.geteuid() == 0 else os.geteuid()), f'{service} runs as uid {uid}'
    assert list((image.root / 'data').glob('appendonlydir/*.aof')), 'redis-server wrote no append-only file'


def iterating(job: dict) -> bool:
    """Inside the optimizer: it has reported an iteration."""
    return job['status'] == 'running' and (job.get('progress') or {}).get('iteration', 0) >= 1


def wait_status(client: blp_client.Client, job: dict, done: Callable[[dict], bool], timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while not done(current := client.job(job)):
        assert time.monotonic() < deadline, f'job still {current["status"]} after {timeout} s: {current}'
        time.sleep(0.2)
    return current


def test_an_upgrade_loses_no_job_the_worker_finishes_its_job_and_leaves_the_queue(stack: Stack, image: Image) -> None:
    """`docker compose up` with a new image stops the old worker with SIGTERM to its main process (a warm shutdown)
    and SIGKILL after stop_grace_period: the running job must finish inside it, and a queued one wait in Redis for
    the new worker."""
    grace = seconds(stack.compose['services']['worker']['stop_grace_period'])
    url = stack.network.translate('http://127.0.0.1:8000')
    with stack.network.entered(), blp_client.Client(url, API_KEY, progress=False) as client:
        # 200 agents per market: seconds of work, so SIGTERM lands mid-job yet the job ends well inside the grace.
        products, agents = client.upload(cereal.product_data()), client.upload(cereal.agent_data(200))
        running = client.estimate(products, SPEC, agent_data=agents, wait=False)
        queued = client.estimate(products, SPEC, agent_data=agents, wait=False)  # one pool process: it waits
        wait_status(client, running, iterating, timeout=120)
        old_worker = stack.processes['worker']
        os.kill(old_worker.pid, signal.SIGTERM)  # what `docker stop` sends to the container's first process
        stopped = time.monotonic()
        assert client.job(running)['status'] == 'running', 'the job ended before the shutdown: nothing was tested'
        assert client.job(queued)['status'] == 'queued', client.job(queued)
        try:
            old_worker.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            raise AssertionError(f'the worker did not stop within stop_grace_period ({grace} s): Compose would '
                                 f'SIGKILL it here\n{stack.log("worker")}') from None
        shutdown_seconds = time.monotonic() - stopped
        assert client.job(running)['status'] == 'succeeded', client.job(running)
        assert client.job(queued)['status'] == 'queued', client.job(queued)

        stack.start_app('worker')  # the upgraded worker
        restarted = time.monotonic()
        finished = wait_status(client, queued, lambda job: job['status'] in ('succeeded', 'failed', 'cancelled'),
                               timeout=300)
        assert finished['status'] == 'succeeded', finished
    print(f'warm shutdown: the worker finished its running job and exited {shutdown_seconds:.1f} s after SIGTERM '
          f'(grace {grace:.0f} s); the queued job succeeded {time.monotonic() - restarted:.1f} s after a new worker '
          f'started')
