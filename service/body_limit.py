"""A request body limit that answers 413 as problem+json.

Starlette's own `max_body_size` answers `text/plain` (or FastAPI's plain JSON), so the API uses this
instead: a declared `Content-Length` over the limit is refused before the body is read, and a streamed
body is counted as it arrives, raising a `ProblemDetails` that the route's exception handlers render.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobstore.problems import ProblemDetails
from service.problems import problem_details_response


def too_large(limit: int) -> ProblemDetails:
    return ProblemDetails(413, 'content-too-large', 'Content too large',
                          f'the request body exceeds the limit of {limit} bytes (MAX_BODY_BYTES)', limit=limit)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] != 'http':
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get('content-length')
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await problem_details_response(too_large(self.max_body_bytes), scope.get('path'))(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message['type'] == 'http.request':
                received += len(message.get('body', b''))
                if received > self.max_body_bytes:
                    raise too_large(self.max_body_bytes)
            return message

        await self.app(scope, counting_receive, send)
