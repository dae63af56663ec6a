"""A request body written to a temporary file as it arrives, so that no upload is ever whole in the API's memory.

The body limit middleware still counts the body as it streams (413 problem+json past MAX_BODY_BYTES); writes go
through the thread pool a megabyte at a time, so a slow disk never stalls the event loop.
"""

from __future__ import annotations

import os
import tempfile

from fastapi import Request
from starlette.concurrency import run_in_threadpool

FLUSH_BYTES = 1 << 20


async def spool_body(request: Request) -> str:
    """The path of a new temporary file holding the request's body; the caller deletes it."""
    descriptor, path = tempfile.mkstemp(prefix='blp-upload-', suffix='.body')
    try:
        with os.fdopen(descriptor, 'wb') as file:
            buffer = bytearray()
            async for chunk in request.stream():
                buffer += chunk
                if len(buffer) >= FLUSH_BYTES:
                    await run_in_threadpool(file.write, buffer)
                    buffer = bytearray()
            if buffer:
                await run_in_threadpool(file.write, buffer)
    except BaseException:
        os.unlink(path)
        raise
    return path
