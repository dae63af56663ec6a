"""Write the API's OpenAPI document to openapi/openapi.json (a test fails when the two drift apart).

Usage: python scripts/export_openapi.py [--check]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / 'openapi' / 'openapi.json'


def render() -> str:
    from jobstore.settings import Settings
    from service.main import create_app

    # Fixed settings, so the document does not depend on the environment it is exported in.
    app = create_app(Settings(redis_url='redis://127.0.0.1:6379/0', api_keys=()))
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + '\n'


def main() -> int:
    document = render()
    if '--check' in sys.argv[1:]:
        if not TARGET.exists() or TARGET.read_text() != document:
            print(f'{TARGET.relative_to(ROOT)} is out of date: run python scripts/export_openapi.py', file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(document)
    print(f'wrote {TARGET.relative_to(ROOT)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
