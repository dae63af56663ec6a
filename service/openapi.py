"""The OpenAPI document as the service behaves: every error response is a `Problem` under `application/problem+json`.

FastAPI documents a default `422 HTTPValidationError` as `application/json` on every operation with parameters, and
knows nothing of what middleware and dependencies send (401, 413, 503). The service answers all of those as problem
documents (service.problems), so the document is completed here, in one place, from what each operation takes:
401 for every `/v1` operation (when API keys are configured), 503 wherever the job store is read, 400, 408, 413 and 415
where a body is read, 422 only where a parameter or body can fail validation. (A client that goes away mid-body is
logged as 499 and gets no response.)
"""

from __future__ import annotations

from typing import Any, Callable

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from blp.spec.results import Problem
from jobstore.problems import MEDIA_TYPE

PROBLEM_REF = '#/components/schemas/Problem'
DESCRIPTIONS = {
    400: 'Bad request: the body could not be read (e.g. JSON nested too deeply)',
    401: 'Unauthorized: no valid API key (`Authorization: Bearer <key>`), when the service has API keys',
    404: 'Not found: no such job or dataset for this API key',
    408: 'Request timeout: the body did not arrive within the service\'s BODY_READ_TIMEOUT_SECONDS',
    409: 'Conflict: the job or dataset is not in a state that allows this',
    413: 'Content too large: the body is over the service\'s limit (MAX_BODY_BYTES)',
    415: 'Unsupported media type, or a Content-Encoding (gzip, br, ...): send the body uncompressed',
    422: 'Invalid request: `field`, `column`, `market`, `row` or `parameter` names what is at fault',
    429: 'Too many requests or unfinished jobs for this API key (see Retry-After)',
    503: 'Service unavailable: the job store (Redis), the queue or the workers are unreachable (see Retry-After)',
}
RETRY_AFTER = {'Retry-After': {'description': 'seconds to wait before retrying', 'schema': {'type': 'integer'}}}
BEARER = 'bearer'
FASTAPI_DEFAULTS = {'Validation Error', 'Successful Response', 'Additional Response'}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for the problem documents an operation sends itself (the rest are added here)."""
    return {status: problem_response(status) for status in statuses}


def problem_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {'description': DESCRIPTIONS.get(status, 'Error'),
                                'content': {MEDIA_TYPE: {'schema': {'$ref': PROBLEM_REF}}}}
    if status in (429, 503):
        response['headers'] = RETRY_AFTER
    return response


def _validated_input(operation: dict[str, Any]) -> bool:
    """A body or parameter that can fail validation (path ids too: printable, at most 128 characters)."""
    return 'requestBody' in operation or bool(operation.get('parameters'))


def _complete(path: str, operation: dict[str, Any]) -> None:
    responses = operation['responses']
    if '422' in responses and not _validated_input(operation):
        del responses['422']  # FastAPI's default, on an operation that has nothing to validate
    added: list[int] = []
    if path.startswith('/v1/'):
        added += [401, 503]
        operation['security'] = [{BEARER: []}, {}]  # without API keys configured, no key is needed
    if 'requestBody' in operation:
        added += [400, 408, 413, 415]
    for status in added:
        responses.setdefault(str(status), {})
    for status, response in responses.items():
        if int(status) >= 400:  # only the problem document, whatever FastAPI or the route put there
            described = response.get('description')
            keep = described if described and described not in FASTAPI_DEFAULTS else None
            response.clear()
            response.update(problem_response(int(status)))
            if keep:
                response['description'] = keep


def document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, completed (built once, then cached on the app as FastAPI does)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes,
                         tags=TAGS)
    components = schema.setdefault('components', {})
    schemas = components.setdefault('schemas', {})
    for unused in ('HTTPValidationError', 'ValidationError'):
        schemas.pop(unused, None)
    schemas['Problem'] = Problem.model_json_schema(ref_template='#/components/schemas/{model}')
    components['securitySchemes'] = {BEARER: {'type': 'http', 'scheme': 'bearer',
                                              'description': 'an API key, when the service is run with API_KEYS'}}
    for path, operations in schema['paths'].items():
        for operation in operations.values():
            _complete(path, operation)
    app.openapi_schema = schema
    return schema


TAGS = [
    {'name': 'datasets', 'description': 'Product and agent data, uploaded once and referred to by content id'},
    {'name': 'jobs', 'description': 'Estimates and multi-starts: submit, list, follow, cancel'},
    {'name': 'derived jobs', 'description': 'Jobs that start from a finished estimate: counterfactuals, optimal '
                                            'instruments, bootstrap, merger screens'},
    {'name': 'results', 'description': 'What a finished job computed: its result, elasticities, diversion ratios, '
                                       'a merger screen\'s ranking'},
    {'name': 'health', 'description': 'Liveness, readiness and metrics'},
]


def install(app: FastAPI) -> None:
    completed: Callable[[], dict[str, Any]] = lambda: document(app)  # noqa: E731
    app.openapi = completed  # type: ignore[method-assign]
