"""MkDocs hooks: the committed OpenAPI document is served with the site, so its Swagger UI page can load it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

OPENAPI = Path(__file__).resolve().parents[1] / 'openapi' / 'openapi.json'


def on_files(files: Files, config: Any) -> Files:
    """Add openapi/openapi.json as the site's openapi.json (one copy in the repository, none under docs/)."""
    files.append(File.generated(config, 'openapi.json', abs_src_path=str(OPENAPI)))
    return files
