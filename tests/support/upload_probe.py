"""Measuring the API while it takes a large upload: a product CSV of a chosen size, uvicorn as compose runs it,
/healthz polled on connections that the uploading worker itself serves, and the memory of the API's process tree.

Why pinned connections: with `--workers 2` the workers share one listening socket, so a worker whose event loop
is stalled stops accepting and the idle one answers fresh connections: polling on new connections hides the stall.
Which worker serves a connection is read from /proc (the socket inode of the server side of its port).
Used by tests/api/test_api_large_upload.py and bench/bench_upload.py.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import numpy as np
from processes import die_with_parent, free_port

ROOT = Path(__file__).resolve().parents[2]


def write_products_csv(path: Path, rows: int, target_bytes: int, seed: int = 0) -> int:
    """A product CSV with the usual columns, widened by demand instruments until it nears `target_bytes`
    (without passing it); returns its size. Numbers have 3-4 significant decimals, as exported data does."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    per_market = 1000
    markets = np.arange(rows) // per_market
    columns = {
        'market_ids': pa.array(np.char.add('m', markets.astype(str))),
        'product_ids': pa.array(np.char.add('p', (np.arange(rows) % per_market).astype(str))),
        'firm_ids': pa.array(np.arange(rows) % 20),
        'shares': pa.array(np.round(rng.uniform(1e-4, 9e-4, rows), 7)),
        'prices': pa.array(np.round(rng.uniform(1, 9, rows), 3)),
        'sugar': pa.array(np.round(rng.uniform(0, 9, rows), 3)),
        'mushy': pa.array(rng.integers(0, 2, rows)),
    }
    instrument = np.round(rng.uniform(0, 9, rows), 3)

    def table(instruments: int, length: int) -> pa.Table:
        data = {name: column.slice(0, length) for name, column in columns.items()}
        for k in range(instruments):
            data[f'demand_instruments{k}'] = pa.array(np.roll(instrument, k)[:length])
        return pa.table(data)

    probe = 10_000  # a first pass on 10,000 rows gives the bytes a row takes per instrument
    base = _csv_size(table(0, probe)) * rows / probe
    per_instrument = (_csv_size(table(1, probe)) - _csv_size(table(0, probe))) * rows / probe
    instruments = max(0, int((target_bytes * 0.995 - base) // per_instrument))
    pacsv.write_csv(table(instruments, rows), str(path), write_options=pacsv.WriteOptions(quoting_style='none'))
    size = path.stat().st_size
    assert size <= target_bytes, (size, target_bytes)
    return size


def _csv_size(table) -> int:  # type: ignore[no-untyped-def]
    import pyarrow as pa
    import pyarrow.csv as pacsv

    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, write_options=pacsv.WriteOptions(quoting_style='none'))
    return sink.getvalue().size


class Api:
    """`uvicorn service.main:app --workers N` on a free loopback port, as docker-compose.yml runs it."""

    def __init__(self, redis_url: str, workers: int = 2, environment: Optional[dict] = None) -> None:
        self.port = free_port()
        env = {**os.environ, 'REDIS_URL': redis_url, 'PYTHONPATH': str(ROOT), **(environment or {})}
        self.process = subprocess.Popen(
            [sys.executable, '-m', 'uvicorn', 'service.main:app', '--host', '127.0.0.1', '--port', str(self.port),
             '--workers', str(workers), '--log-level', 'warning'],
            cwd=ROOT, env=env, preexec_fn=die_with_parent, start_new_session=True)
        self.base = f'http://127.0.0.1:{self.port}'
        deadline = time.monotonic() + 60
        while len(self.workers()) < workers or not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError('uvicorn did not start')
            time.sleep(0.1)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(('127.0.0.1', self.port), timeout=1) as connection:
                return _get(connection, '/healthz')[0] == 200
        except OSError:
            return False

    def tree(self) -> list[int]:
        """The uvicorn process and all its descendants (workers, their numerics and parse processes)."""
        children: dict[int, list[int]] = {}
        for entry in os.listdir('/proc'):
            if entry.isdigit():
                try:
                    parent = int(Path(f'/proc/{entry}/stat').read_text().rsplit(')', 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(parent, []).append(int(entry))
        found, pending = [], [self.process.pid]
        while pending:
            pid = pending.pop()
            found.append(pid)
            pending.extend(children.get(pid, []))
        return found

    def workers(self) -> list[int]:
        """The uvicorn worker processes (the master's children but its resource tracker)."""
        return [pid for pid in children_of(self.process.pid) if 'resource_tracker' not in _cmdline(pid)]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()


def children_of(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f'/proc/{pid}/task/{pid}/children').read_text().split()]
    except OSError:
        return []


def _cmdline(pid: int) -> str:
    try:
        return Path(f'/proc/{pid}/cmdline').read_bytes().replace(b'\0', b' ').decode(errors='replace')
    except OSError:
        return ''


def rss(pid: int) -> int:
    """Resident bytes of a process (0 once it is gone)."""
    try:
        for line in Path(f'/proc/{pid}/status').read_text().splitlines():
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def server_of(connection: socket.socket, pids: list[int]) -> Optional[int]:
    """Which of `pids` holds the server side of this loopback connection (by its socket inode in /proc/net/tcp)."""
    client_port = connection.getsockname()[1]
    inode = None
    for line in Path('/proc/net/tcp').read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[2].split(':')[1], 16) == client_port and fields[9] != '0':
            inode = fields[9]
    if inode is None:
        return None
    target = f'socket:[{inode}]'
    for pid in pids:
        try:
            for fd in os.listdir(f'/proc/{pid}/fd'):
                try:
                    if os.readlink(f'/proc/{pid}/fd/{fd}') == target:
                        return pid
                except OSError:
                    continue
        except OSError:
            continue
    return None


def _get(connection: socket.socket, path: str) -> tuple[int, bytes]:
    """One keep-alive HTTP/1.1 GET on an open connection (raw, so nothing but the server adds latency)."""
    connection.sendall(f'GET {path} HTTP/1.1\r\nHost: api\r\n\r\n'.encode())
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError('closed')
        data += chunk
    head, _, rest = data.partition(b'\r\n\r\n')
    length = next(int(line.split(b':')[1]) for line in head.split(b'\r\n') if line.lower().startswith(b'content-length'))
    while len(rest) < length:
        rest += connection.recv(65536)
    return int(head.split()[1]), rest


def pinned_connections(api: Api, want: int = 2, attempts: int = 200) -> dict[int, socket.socket]:
    """One open connection per worker (worker pid -> connection), found by opening connections until each worker
    has accepted one."""
    workers, pinned = api.workers(), {}
    for _ in range(attempts):
        connection = socket.create_connection(('127.0.0.1', api.port), timeout=10)
        _get(connection, '/healthz')  # accepted and served: the owner is settled
        owner = server_of(connection, workers)
        if owner is not None and owner not in pinned:
            pinned[owner] = connection
        else:
            connection.close()
        if len(pinned) >= min(want, len(workers)):
            return pinned
    raise AssertionError(f'could not reach every worker: {sorted(pinned)} of {workers}')


class Poller:
    """GET /healthz every `interval` on each pinned connection, from a process of its own (forked, so it inherits
    the connections; its own, so the harness's threads do not add GIL waits to what it measures); latencies by
    worker pid once stopped."""

    def __init__(self, connections: dict[int, socket.socket], interval: float = 0.01) -> None:
        import multiprocessing

        self.connections, self.interval = connections, interval
        context = multiprocessing.get_context('fork')
        self.stopping = context.Event()
        self.results, sending = context.Pipe(duplex=False)
        self.process = context.Process(target=self._run, args=(sending,), daemon=True)
        self.latencies: dict[int, list[float]] = {}
        self.started: dict[int, list[float]] = {}  # perf_counter at each poll's start (one clock across processes)
        self.failures: list[str] = []

    def start(self) -> None:
        self.process.start()

    def _run(self, sending) -> None:  # type: ignore[no-untyped-def]
        latencies: dict[int, list[float]] = {pid: [] for pid in self.connections}
        self_times: dict[int, list[float]] = {}
        failures: list[str] = []
        while not self.stopping.is_set():
            for pid, connection in self.connections.items():
                started = time.perf_counter()
                try:
                    status, _ = _get(connection, '/healthz')
                except OSError as error:
                    failures.append(f'{pid}: {error!r}')
                    continue
                latencies[pid].append(time.perf_counter() - started)
                self_times.setdefault(pid, []).append(started)
                if status != 200:
                    failures.append(f'{pid}: status {status}')
            time.sleep(self.interval)
        sending.send((latencies, failures, self_times))

    def stop(self) -> None:
        self.stopping.set()
        if self.results.poll(60):
            self.latencies, self.failures, self.started = self.results.recv()
        self.process.join(timeout=30)


class MemorySampler(threading.Thread):
    """Every `interval`: the summed RSS of the API's process tree, and each process's; peaks kept."""

    def __init__(self, api: Api, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.api, self.interval = api, interval
        self.peak_total, self.peak_by_pid, self.samples = 0, {}, 0
        self.stopping = threading.Event()

    def total(self) -> int:
        return sum(rss(pid) for pid in self.api.tree())

    def settled(self, within: int = 10_000_000, every: float = 2.0, timeout: float = 120) -> int:
        """The tree's total once it stops growing (its numerics processes have loaded): the idle level."""
        deadline, last = time.monotonic() + timeout, self.total()
        while True:
            time.sleep(every)
            now = self.total()
            if abs(now - last) < within or time.monotonic() > deadline:
                return now
            last = now

    def run(self) -> None:
        while not self.stopping.is_set():
            by_pid = {pid: rss(pid) for pid in self.api.tree()}
            self.peak_total = max(self.peak_total, sum(by_pid.values()))
            for pid, used in by_pid.items():
                self.peak_by_pid[pid] = max(self.peak_by_pid.get(pid, 0), used)
            self.samples += 1
            time.sleep(self.interval)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)


body_sent_at = 0.0  # perf_counter when upload_on finished sending its body


def upload_on(api: Api, path: Path, timeout: float = 600) -> tuple[int, dict, Optional[int]]:
    """POST the CSV file (streamed from disk) on a connection of its own; (status, JSON body, worker pid that
    served it). The worker is found while the body is still being sent."""
    import json

    connection = socket.create_connection(('127.0.0.1', api.port), timeout=timeout)
    size = path.stat().st_size
    connection.sendall(f'POST /v1/datasets HTTP/1.1\r\nHost: api\r\nContent-Type: text/csv\r\n'
                       f'Content-Length: {size}\r\nConnection: close\r\n\r\n'.encode())
    owner = None
    with path.open('rb') as source:
        while chunk := source.read(1 << 20):
            connection.sendall(chunk)
            if owner is None:
                owner = server_of(connection, api.workers())
    global body_sent_at
    body_sent_at = time.perf_counter()
    data = b''
    while chunk := connection.recv(1 << 16):
        data += chunk
    connection.close()
    if not data:
        raise ConnectionError(f'the API closed the upload connection without answering (worker {owner} '
                              f'{"alive" if owner and Path(f"/proc/{owner}").exists() else "gone"})')
    head, _, body = data.partition(b'\r\n\r\n')
    if b'chunked' in head.lower():
        body = _unchunk(body)
    return int(head.split()[1]), json.loads(body or b'{}'), owner


def _unchunk(body: bytes) -> bytes:
    out = b''
    while body:
        size_line, _, body = body.partition(b'\r\n')
        size = int(size_line, 16)
        if size == 0:
            break
        out, body = out + body[:size], body[size + 2:]
    return out


def p99(latencies: list[float]) -> float:
    return float(np.percentile(latencies, 99)) if latencies else float('nan')
