"""HTTP methods the routes do not declare themselves: HEAD wherever GET is, and a 405's `Allow` listing every method
of the path (Starlette's names only the methods of the first route whose path matched)."""

from __future__ import annotations

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = ('DELETE', 'GET', 'PATCH', 'POST', 'PUT')


def allowed_methods(routes: list, scope: Scope) -> str:
    """`Allow` for the request's path: each method some route fully matches it with, and HEAD wherever GET is.
    (Asked of the routes by method: FastAPI's included routers do not list their routes' methods.)"""
    methods = {method for method in METHODS
               if any(route.matches({**scope, 'method': method})[0] == Match.FULL for route in routes)}
    if 'GET' in methods:
        methods.add('HEAD')
    return ', '.join(sorted(methods))


class HeadMiddleware:
    """HEAD answered as the GET of the same URL would be, headers only (Content-Length included). The answer ends at
    its first body part; the server then reports the client gone, which ends a streamed answer (Server-Sent Events)
    too (tested: the request is counted as ended)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] != 'http' or scope['method'] != 'HEAD':
            await self.app(scope, receive, send)
            return
        ended = False

        async def headers_only(message: Message) -> None:
            nonlocal ended
            if ended:
                return
            if message['type'] == 'http.response.body':
                ended = True
                message = {'type': 'http.response.body', 'body': b'', 'more_body': False}
            await send(message)

        as_get = {**scope, 'method': 'GET'}
        try:
            await self.app(as_get, receive, headers_only)
        finally:
            if 'route' in as_get:  # the route the request matched, for the metrics
                scope['route'] = as_get['route']
