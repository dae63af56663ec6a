"""Worker hosts emulated on one machine: each its own network namespace, host name, process group and directory.

Why: the service grows by adding worker hosts on one Redis, and what must hold then (a fan-out spreads over them,
one host lost as a whole costs nothing but time) cannot be shown by two workers that share a process tree, a host
name and the loopback interface. Each `HostNetwork` is a network namespace joined to the root namespace by a veth
pair with private /30 addresses (nothing else: the namespace has its loopback and that link), and each `WorkerHost`
runs `celery worker` inside it under a UTS namespace of its own, so `%h` in its node name is its own host name.

Where namespaces are not permitted (not root, no `ip`, a locked-down container) the hosts fall back to plain
process groups on loopback with distinct node names and directories; `ISOLATION` says which one a run got.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Optional

from processes import die_with_parent
from queue_support import Worker

from jobstore.store import Store, connect

ROOT = Path(__file__).resolve().parents[2]


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(['ip', *args], capture_output=True, text=True, check=check, timeout=10)


def namespaces_permitted() -> bool:
    """Whether this process may create network and UTS namespaces (tried, not guessed)."""
    if not (shutil.which('ip') and shutil.which('unshare')):
        return False
    name = f'blp-probe-{uuid.uuid4().hex[:8]}'
    try:
        if _ip('netns', 'add', name, check=False).returncode != 0:
            return False
        probe = subprocess.run(['ip', 'netns', 'exec', name, 'unshare', '--uts', 'true'], capture_output=True,
                               timeout=10)
        return probe.returncode == 0
    finally:
        _ip('netns', 'del', name, check=False)


# BLP_TEST_HOST_ISOLATION=processes forces the fallback (to try it where namespaces work).
ISOLATION = ('network namespaces' if os.environ.get('BLP_TEST_HOST_ISOLATION') != 'processes'
             and namespaces_permitted() else 'process groups only (namespaces not permitted or not wanted)')


def _free_subnet() -> int:
    """A 10.x.y.0/30 (x in 200..249) no interface of the root namespace uses: as an int of its first address."""
    used = _ip('-o', '-4', 'addr').stdout + _ip('-4', 'route').stdout
    for _ in range(100):
        x, y, z = random.randrange(200, 250), random.randrange(256), random.randrange(0, 256, 4)
        if f'10.{x}.{y}.' not in used:
            return (10 << 24) | (x << 16) | (y << 8) | z
    raise RuntimeError('no free 10.x.y.0/30 subnet')


def _address(number: int) -> str:
    return '.'.join(str((number >> shift) & 255) for shift in (24, 16, 8, 0))


class HostNetwork:
    """A network namespace linked to the root namespace by a veth pair: `root_address` is the root side (where
    Redis listens for this host), `host_address` the host's side. Names are unique (other runs make their own)."""

    def __init__(self, label: str) -> None:
        tag = uuid.uuid4().hex[:6]
        self.namespace, self.outer, self.inner = f'blp-{label}-{tag}', f'bh{tag}{label[0]}r', f'bh{tag}{label[0]}h'
        subnet = _free_subnet()
        self.root_address, self.host_address = _address(subnet + 1), _address(subnet + 2)
        try:
            _ip('netns', 'add', self.namespace)
            _ip('link', 'add', self.outer, 'type', 'veth', 'peer', 'name', self.inner)
            _ip('link', 'set', self.inner, 'netns', self.namespace)
            _ip('addr', 'add', f'{self.root_address}/30', 'dev', self.outer)
            _ip('link', 'set', self.outer, 'up')
            _ip('-n', self.namespace, 'addr', 'add', f'{self.host_address}/30', 'dev', self.inner)
            _ip('-n', self.namespace, 'link', 'set', self.inner, 'up')
            _ip('-n', self.namespace, 'link', 'set', 'lo', 'up')
        except Exception:
            self.remove()
            raise

    def remove(self) -> None:
        """Delete the veth pair (both ends go with one) and the namespace; safe to call twice."""
        _ip('link', 'del', self.outer, check=False)
        _ip('netns', 'del', self.namespace, check=False)


class WorkerHost(Worker):
    """One worker host: `celery worker` as the leader of its own process group, in its own directory, with host
    name `hostname` and node name `worker@{hostname}`; inside `network` when given, else on loopback. Stopped or
    SIGKILLed as a whole process group like `Worker`."""

    def __init__(self, hostname: str, redis_url: str, directory: Path, network: Optional[HostNetwork] = None,
                 concurrency: int = 1, **env: str) -> None:
        self.hostname, self.network, self.node = hostname, network, f'worker@{hostname}'
        self.directory, self.log = directory, directory / 'worker.log'
        directory.mkdir(parents=True, exist_ok=True)
        environment = {**os.environ, 'REDIS_URL': redis_url, 'PYTHONPATH': str(ROOT), 'HOSTNAME': hostname, **env}
        celery = [sys.executable, '-m', 'celery', '-A', 'worker.celery_app', 'worker', '--pool', 'prefork',
                  '--concurrency', str(concurrency), '--loglevel', 'INFO', '--without-mingle', '--without-gossip']
        if network is None:
            command = [*celery, '--hostname', self.node]
        else:  # `hostname` inside a new UTS namespace, then exec: the worker stays the group's leader's image
            command = ['ip', 'netns', 'exec', network.namespace, 'unshare', '--uts', 'sh', '-c',
                       'hostname "$HOSTNAME" && exec "$@"', 'sh', *celery, '--hostname', 'worker@%h']
        with open(self.log, 'ab') as output:
            self.process = subprocess.Popen(command, cwd=directory, env=environment, stdout=output,
                                            stderr=subprocess.STDOUT, start_new_session=True,
                                            preexec_fn=die_with_parent)
        self._wait_listed(Store(connect(redis_url.replace(network.root_address, '127.0.0.1') if network
                                       else redis_url)))

    def _wait_listed(self, store: Store, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.node not in store.live_workers(within=30):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f'{self.node} did not start:\n{self.log.read_text()[-3000:]}')
            time.sleep(0.1)

    def processes(self) -> list[int]:
        """Pids of the host's process group (the worker and its pool), from /proc."""
        group = []
        for entry in Path('/proc').iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / 'stat').read_text().rsplit(')', 1)[1].split()
                except OSError:
                    continue
                if int(fields[2]) == self.process.pid and fields[0] != 'Z':
                    group.append(int(entry.name))
        return group

    def stop(self) -> None:
        super().stop()
        try:  # pool processes that outlived their leader
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
