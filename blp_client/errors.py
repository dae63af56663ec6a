"""Typed exceptions for the service's RFC 9457 problem documents, so callers can `except InvalidInput`.

Every extension member the service sends (column, market, row, parameter, field, errors, ...) is kept, both in
`problem` and as an attribute, because naming the culprit is the point of the service's error documents.
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import ValidationError

from blp.spec.results import Problem


class ApiError(Exception):
    """An error answer of the service: `status`, `type`, `title`, `detail` and the problem's other members; `details`
    is the typed problem document (the service's `Problem` model), None for an answer that is not one."""

    def __init__(self, problem: dict[str, Any], status: Optional[int] = None) -> None:
        self.problem = dict(problem)
        try:
            self.details: Optional[Problem] = Problem.model_validate(self.problem)
        except ValidationError:
            self.details = None
        self.status = status if status is not None else problem.get('status')
        super().__init__(f"{self.status} {problem.get('title', 'error')}: {problem.get('detail', '')}".rstrip(': '))

    def __getattr__(self, name: str) -> Any:
        """Problem members as attributes (`error.column`, `error.market`); None when the service did not send one."""
        if name.startswith('__') or name in ('problem', 'details'):
            raise AttributeError(name)
        return self.problem.get(name)


class BadRequest(ApiError):
    """400."""


class Unauthorized(ApiError):
    """401: no API key, or one the service does not know."""


class NotFound(ApiError):
    """404: no such dataset or job for this API key."""


class Conflict(ApiError):
    """409: e.g. the result of a job that failed or was cancelled."""


class PayloadTooLarge(ApiError):
    """413: the upload is above the service's body limit."""


class UnsupportedMediaType(ApiError):
    """415."""


class InvalidInput(ApiError):
    """422: the data or spec is wrong; `field`, `column`, `market`, `row` or `parameter` names where."""


class ServiceUnavailable(ApiError):
    """503: Redis or the workers are unreachable for now."""


class JobFailed(ApiError):
    """A job waited for ended `failed` or `cancelled`; `problem` is the job's error document, `job` the job."""

    def __init__(self, job: dict[str, Any]) -> None:
        error = job.get('error') or {'title': f"Job {job['status']}", 'detail': f"job {job['id']} {job['status']}"}
        super().__init__(error)
        self.job = job


BY_STATUS: dict[int, type[ApiError]] = {400: BadRequest, 401: Unauthorized, 404: NotFound, 409: Conflict,
                                        413: PayloadTooLarge, 415: UnsupportedMediaType, 422: InvalidInput,
                                        503: ServiceUnavailable}


def error_for(status: int, body: Any, fallback: str) -> ApiError:
    """The typed exception for an error answer (a problem document, or any other body the service sent)."""
    problem = body if isinstance(body, dict) else {'status': status, 'title': 'HTTP error', 'detail': fallback}
    return BY_STATUS.get(status, ApiError)(problem, status)
