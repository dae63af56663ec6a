"""Processes the tests and benchmarks start: loopback ports, children that die with their parent, redis-server.

One home for what tests/conftest.py, tests/queue, tests/api, tests/live and bench/ all need (on sys.path through
pytest's `pythonpath` in pyproject.toml, or bench/_paths.py in a benchmark).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import redis


def die_with_parent() -> None:
    """For subprocesses (Linux): SIGKILL them when the test run dies, so no server outlives a killed run."""
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def free_port() -> int:
    """A loopback port nothing listens on (now)."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def start_uvicorn(port: int, environment: dict[str, str], log: Path, *options: str) -> subprocess.Popen:
    """`uvicorn service.main:app` on loopback `port`, as deployed, its output appended to `log`."""
    root = Path(__file__).resolve().parents[2]
    with open(log, 'ab') as output:
        return subprocess.Popen([sys.executable, '-m', 'uvicorn', 'service.main:app', '--host', '127.0.0.1',
                                 '--port', str(port), *options], cwd=root, env=environment, stdout=output,
                                stderr=subprocess.STDOUT, preexec_fn=die_with_parent)


def wait_for_http(url: str, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    """Until `url` answers 200; fails with the server's log if the process exits or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


class RedisServer:
    """A redis-server of its own on loopback (AOF on, as deployed, unless `appendonly=False`) that a test can stop,
    restart and pause. A restart keeps the port and the directory, so it finds its append-only file again."""

    def __init__(self, directory: Path, appendonly: bool = True, bind: tuple[str, ...] = ()) -> None:
        # `bind`: addresses to listen on besides loopback (the root side of emulated hosts' links)
        self.directory, self.port, self.appendonly, self.bind = directory, free_port(), appendonly, bind
        self.process: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f'redis://127.0.0.1:{self.port}/0'

    def start(self, timeout: float = 10) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        command = ['redis-server', '--port', str(self.port), '--bind', '127.0.0.1', *self.bind,
                   *(['--protected-mode', 'no'] if self.bind else []), '--dir', str(self.directory),
                   '--save', '', '--appendonly', 'yes' if self.appendonly else 'no', '--appendfsync', 'everysec',
                   '--maxmemory-policy', 'noeviction']
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        preexec_fn=die_with_parent)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                return
            except (redis.ConnectionError, redis.BusyLoadingError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError('redis-server did not start (is it installed?)') from None
                time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM: Redis flushes its append-only file and exits, as on a restart."""
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            self.process.terminate()
            self.process.wait(timeout=15)

    def restart(self) -> None:
        self.stop()
        self.start()

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections but nothing answers (a hung server, a black hole)."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)
