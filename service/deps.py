"""FastAPI dependencies: the app's settings, store and Celery client, and the caller's identity."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from celery import Celery
from fastapi import Depends, Path, Request

from jobstore.problems import ProblemDetails
from jobstore.settings import Settings
from jobstore.store import Store
from service.numerics import Numerics

PUBLIC = 'public'


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> Store:
    return request.app.state.store


def get_celery(request: Request) -> Celery:
    return request.app.state.celery


def get_numerics(request: Request) -> Numerics:
    return request.app.state.numerics


def get_owner(request: Request, settings: Annotated[Settings, Depends(get_settings)]) -> str:
    """Who owns what this request creates or may read: `public` without API keys, else the key's fingerprint.

    The sha256 digests of the token and of every configured key are compared with `hmac.compare_digest`: constant
    time, equal lengths (so not even a key's length leaks), and all keys every time (so timing tells not which
    matched). Neither the key nor its digest is logged; the owner is a truncated fingerprint of it.
    """
    if not settings.api_keys:
        return PUBLIC
    scheme, _, token = request.headers.get('authorization', '').partition(' ')
    unauthorized = ProblemDetails(401, 'unauthorized', 'Unauthorized', 'send a valid API key as Authorization: Bearer <key>',
                                  headers={'WWW-Authenticate': 'Bearer'})
    if scheme.lower() != 'bearer' or not token:
        raise unauthorized
    digest = hashlib.sha256(token.strip().encode()).digest()
    matched = False
    for key in settings.api_keys:
        matched |= hmac.compare_digest(digest, hashlib.sha256(key.encode()).digest())
    if not matched:
        raise unauthorized
    return 'key-' + digest.hex()[:24]


def require_json(request: Request) -> None:
    """JSON endpoints answer 415 to other media types instead of failing to validate them."""
    media = request.headers.get('content-type', '').split(';')[0].strip().lower()
    if media != 'application/json' and not media.endswith('+json'):
        raise ProblemDetails(415, 'unsupported-media-type', 'Unsupported media type',
                             f'send application/json, not {media or "no content type"}')


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
CeleryDep = Annotated[Celery, Depends(get_celery)]
NumericsDep = Annotated[Numerics, Depends(get_numerics)]
OwnerDep = Annotated[str, Depends(get_owner)]

# Ids in paths: printable (no NUL or other control character) and short, so a 1 MB or NUL-laden id is a 422 naming
# the parameter rather than a store lookup (job ids are 32 characters, dataset ids 64).
PRINTABLE = r'^[^\x00-\x1f\x7f]+$'
JobId = Annotated[str, Path(max_length=128, pattern=PRINTABLE, description='a job id')]
DatasetId = Annotated[str, Path(max_length=128, pattern=PRINTABLE, description="a dataset id (its content's sha256)")]
