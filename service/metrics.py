"""Prometheus metrics, hand-written: request counts per route and status here, job counts from the store."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RequestCounter:
    """Counts requests by method, route template and status (in this process: Prometheus sums the processes)."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str, int]] = Counter()
        self._seconds: defaultdict[tuple[str, str], float] = defaultdict(float)  # a Counter counts in ints
        self._lock = threading.Lock()

    def add(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._counts[method, route, status] += 1
            self._seconds[method, route] += seconds

    def render(self) -> list[str]:
        with self._lock:
            counts, seconds = dict(self._counts), dict(self._seconds)
        lines = ['# HELP blp_http_requests_total HTTP requests by method, route and status.',
                 '# TYPE blp_http_requests_total counter']
        lines += [f'blp_http_requests_total{{method="{m}",route="{r}",status="{s}"}} {n}'
                  for (m, r, s), n in sorted(counts.items())]
        lines += ['# HELP blp_http_request_seconds_total Time spent answering, by method and route.',
                  '# TYPE blp_http_request_seconds_total counter']
        lines += [f'blp_http_request_seconds_total{{method="{m}",route="{r}"}} {t:.6f}'
                  for (m, r), t in sorted(seconds.items())]
        return lines


def render_jobs(counts: dict[str, int], live_workers: int) -> list[str]:
    lines = ['# HELP blp_jobs Jobs in the store by status.', '# TYPE blp_jobs gauge']
    lines += [f'blp_jobs{{status="{status}"}} {count}' for status, count in sorted(counts.items())]
    lines += ['# HELP blp_workers_live Workers with a recent heartbeat.', '# TYPE blp_workers_live gauge',
              f'blp_workers_live {live_workers}']
    return lines


class MetricsMiddleware:
    """Counts every HTTP request under its route template (never the raw path, which would not stay bounded)."""

    def __init__(self, app: ASGIApp, counter: RequestCounter) -> None:
        self.app, self.counter = app, counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] != 'http':
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message['type'] == 'http.response.start':
                status = message['status']
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = getattr(scope.get('route'), 'path', 'unmatched')
            self.counter.add(scope['method'], route, status, time.perf_counter() - started)
