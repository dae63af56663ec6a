"""Reading a request body: its encoding, a size limit, a read timeout and a client that goes away, each answered as
problem+json.

Starlette's own `max_body_size` answers `text/plain` (or FastAPI's plain JSON), so the API uses this instead: a
declared `Content-Length` over the limit is refused before the body is read, and a streamed body is counted as it
arrives (413). A body in a Content-Encoding (gzip, ...) is refused (415 with `Accept-Encoding: identity`, as RFC
9110 says): the service decodes none, and reading one as it is would only give a confusing error. A body whose next
part does not arrive within BODY_READ_TIMEOUT_SECONDS is answered 408 with `Connection: close`, so a partial upload
or a Content-Length larger than what is sent cannot hold a connection for ever. A client that disconnects before
its body has arrived ends the request as 499 (nginx's "client closed request"): nobody is there to read an answer,
and it is no server error (no traceback, no 500 in /metrics). The last three are raised as a `ProblemDetails` from
`receive`, which the exception handlers render (service.problems unwraps FastAPI's 400 around a JSON body that
could not be read).
"""

from __future__ import annotations

import anyio
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobstore.problems import ProblemDetails
from service.problems import problem_details_response


def too_large(limit: int) -> ProblemDetails:
    return ProblemDetails(413, 'content-too-large', 'Content too large',
                          f'the request body exceeds the limit of {limit} bytes (MAX_BODY_BYTES)', limit=limit)


def encoded(encoding: str) -> ProblemDetails:
    return ProblemDetails(415, 'unsupported-content-encoding', 'Unsupported media type',
                          f'the service does not decode Content-Encoding {encoding[:100]!r}: send the body uncompressed',
                          field='Content-Encoding', headers={'Accept-Encoding': 'identity'})


def read_timeout(seconds: float, received: int) -> ProblemDetails:
    return ProblemDetails(408, 'body-read-timeout', 'Request timeout',
                          f'no more of the request body arrived for {seconds:g} s after {received} bytes '
                          '(BODY_READ_TIMEOUT_SECONDS); send the whole body, as long as its Content-Length says',
                          headers={'Connection': 'close'}, received=received)


def client_closed(received: int) -> ProblemDetails:
    return ProblemDetails(499, 'client-closed-request', 'Client closed request',
                          f'the client closed the connection after {received} bytes of the request body',
                          received=received)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int, read_timeout_seconds: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.read_timeout_seconds = read_timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] != 'http':
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared, encoding = headers.get('content-length'), headers.get('content-encoding', 'identity')
        refusal = None
        if encoding.strip().lower() not in ('identity', ''):
            refusal = encoded(encoding)
        elif declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            refusal = too_large(self.max_body_bytes)
        if refusal is not None:
            await problem_details_response(refusal, scope.get('path'))(scope, receive, send)
            return
        received, complete = 0, False

        async def counting_receive() -> Message:
            nonlocal received, complete
            if complete:  # the body has arrived: later reads wait for a disconnect (streamed answers), untimed
                return await receive()
            try:
                with anyio.fail_after(self.read_timeout_seconds):
                    message = await receive()
            except TimeoutError:
                raise read_timeout(self.read_timeout_seconds, received) from None
            if message['type'] == 'http.disconnect':
                raise client_closed(received)
            if message['type'] == 'http.request':
                received += len(message.get('body', b''))
                if received > self.max_body_bytes:
                    raise too_large(self.max_body_bytes)
                complete = not message.get('more_body', False)
            return message

        await self.app(scope, counting_receive, send)
