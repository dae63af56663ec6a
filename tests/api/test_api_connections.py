"""Hostile connections against a real uvicorn server (as deployed): a body that never finishes arriving is answered
408 and its connection closed after BODY_READ_TIMEOUT_SECONDS, and a client that aborts its upload is neither a
traceback in the log nor a 500 in /metrics.

Raw sockets, because an HTTP client library will not send less body than its Content-Length says.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Iterator, NamedTuple

import httpx
import pytest
from api_support import LOGIT_SPEC
from processes import free_port, start_uvicorn, wait_for_http

TIMEOUT = 1.0  # BODY_READ_TIMEOUT_SECONDS of the server under test


class Server(NamedTuple):
    port: int
    log: Path


@pytest.fixture(scope='module')
def server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port, log = free_port(), tmp_path_factory.mktemp('uvicorn') / 'api.log'
    environment = {'REDIS_URL': f'{redis_url}/0', 'BODY_READ_TIMEOUT_SECONDS': str(TIMEOUT), 'PATH': '/usr/bin:/bin'}
    process = start_uvicorn(port, environment, log)
    try:
        wait_for_http(f'http://127.0.0.1:{port}/healthz', process, log)
        yield Server(port, log)
    finally:
        process.terminate()
        process.wait(timeout=30)


def start_request(server: Server, method: str, path: str, content_type: str, length: int, body: bytes) -> socket.socket:
    """A connection that has sent the request head (announcing `length` bytes of body) and `body`, no more."""
    connection = socket.create_connection(('127.0.0.1', server.port), timeout=10)
    head = (f'{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n'
            f'Content-Length: {length}\r\n\r\n')
    connection.sendall(head.encode() + body)
    return connection


def read_until_closed(connection: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and the seconds that took."""
    started, received = time.monotonic(), b''
    while chunk := connection.recv(65536):
        received += chunk
    return received, time.monotonic() - started


def request_counts(server: Server) -> dict[tuple[str, str, str], float]:
    text = httpx.get(f'http://127.0.0.1:{server.port}/metrics', timeout=5).text
    counts = {}
    for line in text.splitlines():
        if line.startswith('blp_http_requests_total{'):
            labels, value = line[len('blp_http_requests_total{'):].split('} ')
            fields = dict(part.split('=', 1) for part in labels.split(','))
            counts[fields['method'].strip('"'), fields['route'].strip('"'), fields['status'].strip('"')] = float(value)
    return counts


@pytest.mark.parametrize('path, content_type', [('/v1/datasets', 'text/csv'), ('/v1/jobs', 'application/json')])
def test_a_body_that_stops_arriving_gets_408_and_the_connection_is_closed(server, path, content_type):
    connection = start_request(server, 'POST', path, content_type, 200_000_000, b'market_ids,prices\na,1\n')
    with connection:
        received, seconds = read_until_closed(connection)
    head, _, body = received.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 408'), received[:500]
    assert b'content-type: application/problem+json' in head.lower()
    problem = json.loads(body)
    assert 'BODY_READ_TIMEOUT_SECONDS' in problem['detail'], problem
    assert seconds < TIMEOUT + 5


def test_an_aborted_upload_is_no_500_and_no_traceback(server):
    before = request_counts(server)
    for path, content_type in (('/v1/datasets', 'text/csv'), ('/v1/jobs', 'application/json')):
        connection = start_request(server, 'POST', path, content_type, 1_000_000, b'market_ids,prices\n' * 1000)
        connection.close()  # the client gives up half-way
    time.sleep(0.5)
    after = request_counts(server)
    changed = {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)}
    assert changed.get(('POST', '/v1/datasets', '499')) == 1, changed
    assert changed.get(('POST', '/v1/jobs', '499')) == 1, changed
    assert not any(status.startswith('5') for _, _, status in changed), changed
    log = server.log.read_text()
    assert 'Traceback' not in log and 'Exception in ASGI application' not in log, log


def test_head_of_a_streamed_answer_ends_and_the_connection_stays_usable(server, products):
    with httpx.Client(base_url=f'http://127.0.0.1:{server.port}', timeout=120) as http:  # the first check starts processes
        dataset = http.post('/v1/datasets', content=products.to_csv(index=False).encode(),
                            headers={'Content-Type': 'text/csv'}).json()['id']
        job = http.post('/v1/jobs', json={'product_data': {'dataset_id': dataset}, 'spec': LOGIT_SPEC}).json()
        started = time.monotonic()
        head = http.head(f"/v1/jobs/{job['id']}/events", timeout=10)  # queued, no worker: its GET streams for ever
        assert head.status_code == 200 and head.headers['content-type'].startswith('text/event-stream')
        assert head.content == b'' and time.monotonic() - started < 5
        time.sleep(1)  # counted once it has ended: the stream was stopped, not left polling unseen
        assert request_counts(server).get(('HEAD', '/v1/jobs/{job_id}/events', '200')) == 1
        got, head = http.get('/v1/jobs'), http.head('/v1/jobs')  # the same connection, kept alive
        assert head.status_code == 200 and head.headers['content-length'] == got.headers['content-length']
