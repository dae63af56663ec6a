"""Every error the API returns is `application/problem+json` (RFC 9457; the documents are jobstore.problems').

Handlers here turn HTTP errors, request validation errors, the core's `DataError`/`SpecificationError`
and an unreachable Redis into problem documents. They never echo client input verbatim: a non-finite
number (`NaN`, `Infinity`) would make the JSON encoder fail and the client get a 500.
"""

from __future__ import annotations

import json
import logging
from typing import Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from jobstore.jsonsafe import finite
from jobstore.problems import MEDIA_TYPE, ProblemDetails
from service.http_methods import allowed_methods

log = logging.getLogger(__name__)


def problem_details_response(problem: ProblemDetails, instance: Optional[str] = None) -> Response:
    content = json.dumps(finite(problem.to_dict(instance)), allow_nan=False, default=str)
    return Response(content, status_code=problem.status, media_type=MEDIA_TYPE, headers=problem.headers)


_TITLES = {400: 'Bad request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not found',
           405: 'Method not allowed', 406: 'Not acceptable', 409: 'Conflict', 413: 'Content too large',
           415: 'Unsupported media type', 422: 'Unprocessable content', 503: 'Service unavailable'}


_SCALAR_TAGS = {'float', 'int', 'str', 'bool', 'none', 'list', 'dict', 'tuple'}


def _model_names() -> set[str]:
    names, pending = set(), [BaseModel]
    while pending:
        for subclass in pending.pop().__subclasses__():
            names.add(subclass.__name__)
            pending.append(subclass)
    return names


def _location(loc: tuple) -> str:
    """`('body', 'spec', 'solve', 'sigma', 'list[list[float]]', 0)` -> `'spec.solve.sigma.0'`.

    The field at fault as the client wrote it: without the source (body, query) and without the names
    pydantic gives the members of a union (a model's class name, a type such as `list[float]`).
    """
    parts = [str(part) for part in loc]
    if parts and parts[0] in {'body', 'query', 'path', 'header', 'cookie'}:
        parts = parts[1:] or parts
    models = _model_names()
    kept = [part for part in parts if not ('[' in part or part in _SCALAR_TAGS or part in models)]
    return '.'.join(kept or parts)


def _validation_problem_details(exc: RequestValidationError) -> ProblemDetails:
    for error in exc.errors():
        if error.get('type') == 'json_invalid':  # its location is a character offset, not a field
            position = error.get('loc', ('body', '?'))[-1]
            reason = (error.get('ctx') or {}).get('error', 'invalid JSON')
            return ProblemDetails(400, 'malformed-json', 'Malformed JSON',
                                  f'the body is not JSON (character {position}): {reason}')
    errors = [{'field': _location(tuple(error.get('loc', ()))), 'message': error.get('msg', ''),
               'type': error.get('type', '')} for error in exc.errors()]
    first = errors[0] if errors else {'field': None, 'message': 'invalid request'}
    source = exc.errors()[0].get('loc', ('body',))[0] if errors else 'body'
    detail = f"{first['field']}: {first['message']}" if first['field'] else first['message']
    return ProblemDetails(422, 'validation-error', 'Invalid request', detail, field=first['field'],
                          parameter=first['field'] if source == 'query' else None, errors=errors)


def unreadable_body(exc: StarletteHTTPException) -> Optional[ProblemDetails]:
    """What FastAPI's bare 400 "There was an error parsing the body" was about, named: it wraps any failure to read
    or decode a JSON body (a body limit, a read timeout or a client gone, from service.body_limit; JSON nested too
    deeply for the parser; bytes that are not UTF-8)."""
    cause = exc.__cause__
    if isinstance(cause, ProblemDetails):
        return cause
    if isinstance(cause, RecursionError):
        return ProblemDetails(400, 'malformed-json', 'Malformed JSON',
                              'the body is JSON nested too deeply to parse (arrays or objects hundreds of levels deep)')
    if isinstance(cause, UnicodeDecodeError):
        return ProblemDetails(400, 'malformed-json', 'Malformed JSON', f'the body is not UTF-8 text (byte {cause.start})')
    return None


def install(app: FastAPI) -> None:
    """Register the handlers that make every error a problem document."""

    @app.exception_handler(ProblemDetails)
    async def _problem(request: Request, exc: ProblemDetails) -> Response:
        return problem_details_response(exc, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        named = unreadable_body(exc) if exc.status_code == 400 else None
        if named is not None:
            return problem_details_response(named, request.url.path)
        title = _TITLES.get(exc.status_code, 'Error')
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
        slug = title.lower().replace(' ', '-')
        headers = dict(exc.headers) if exc.headers else None  # Starlette's may be any Mapping
        if exc.status_code == 405:  # every method of the path, not those of the first route that matched it
            headers = {**(headers or {}), 'Allow': allowed_methods(request.app.router.routes, request.scope)}
        return problem_details_response(ProblemDetails(exc.status_code, slug, title, detail, headers=headers), request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return problem_details_response(_validation_problem_details(exc), request.url.path)

    async def _redis_down(request: Request, exc: Exception) -> Response:
        log.warning('redis unavailable: %s', exc)
        problem = ProblemDetails(503, 'store-unavailable', 'Service unavailable',
                                 'the job store (Redis) is unreachable; retry later', headers={'Retry-After': '5'})
        return problem_details_response(problem, request.url.path)

    app.add_exception_handler(RedisConnectionError, _redis_down)
    app.add_exception_handler(RedisTimeoutError, _redis_down)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception('unhandled error on %s %s', request.method, request.url.path)
        return problem_details_response(ProblemDetails(500, 'internal-error', 'Internal server error'), request.url.path)
