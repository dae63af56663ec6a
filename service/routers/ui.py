"""`/ui`: the dashboard (a static page and its scripts from `service/ui/`) and the one fact it needs first.

The page reads the same `/v1` JSON as any client; it is left out of the OpenAPI document, which describes the API.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from jobstore.problems import ProblemDetails
from service.deps import SettingsDep

UI = Path(__file__).resolve().parents[1] / 'ui'
MEDIA_TYPES = {'.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
               '.css': 'text/css; charset=utf-8'}
FILES = {path.name: path for path in UI.iterdir() if path.suffix in MEDIA_TYPES}

router = APIRouter(prefix='/ui', include_in_schema=False)


def _file(name: str) -> FileResponse:
    path = FILES[name]
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers={'Cache-Control': 'no-cache'})


@router.get('')
def page() -> FileResponse:
    return _file('index.html')


@router.get('/config')
def config(settings: SettingsDep) -> dict:
    """Whether an API key is needed, so the page asks for one before its first request instead of after a 401."""
    return {'auth_required': bool(settings.api_keys)}


@router.get('/{name}')
def asset(name: str) -> FileResponse:
    """Only the files shipped in `service/ui/` (a fixed list: no path from the request reaches the filesystem)."""
    if name not in FILES:
        raise ProblemDetails(404, 'not-found', 'Not found', f'no dashboard file {name!r}')
    return _file(name)
