"""RFC 9457 problem details without a web framework: what the API answers and what a failed job records.

Shared by the API (which renders them as `application/problem+json`) and the worker (which stores them in a
failed job's record), so neither imports the other.
"""

from __future__ import annotations

from typing import Any, Optional

MEDIA_TYPE = 'application/problem+json'


class ProblemDetails(Exception):
    """Raise to answer with a problem document; `fields` become extension members (column, market, row, ...)."""

    def __init__(self, status: int, slug: str, title: str, detail: Optional[str] = None,
                 headers: Optional[dict[str, str]] = None, **fields: Any) -> None:
        super().__init__(detail or title)
        self.status, self.slug, self.title, self.detail, self.headers = status, slug, title, detail, headers
        self.fields = {key: value for key, value in fields.items() if value is not None}

    def to_dict(self, instance: Optional[str] = None) -> dict[str, Any]:
        body = {'type': problem_type(self.slug), 'title': self.title, 'status': self.status}
        if self.detail:
            body['detail'] = self.detail
        if instance:
            body['instance'] = instance
        return {**body, **self.fields}


def problem_type(slug: str) -> str:
    return f'urn:blp:problem:{slug}'


_CORE_ERRORS = {'DataError': ('data-error', 'Invalid data'),
                'SpecificationError': ('specification-error', 'Invalid specification'),
                'NumericalError': ('numerical-error', 'Numerical failure'),
                'BudgetError': ('over-budget', 'Job over budget')}


def core_problem_details(error: Exception) -> ProblemDetails:
    """A 422 from an error of the core (`blp.BLPError`), carrying what it names (column, market, row, parameter)."""
    described = error.to_dict()  # type: ignore[attr-defined]
    kind = described.pop('type', type(error).__name__)
    message = described.pop('message', str(error))
    slug, title = _CORE_ERRORS.get(kind, ('estimation-error', 'Estimation failed'))
    return ProblemDetails(422, slug, title, message, **described)
