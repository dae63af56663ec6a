"""Schemathesis: requests generated from the exported OpenAPI document never get a 5xx.

The default run sends a few hundred requests to the app in-process (ASGI, on the session's Redis).
`make fuzz` runs the same test with thousands (FUZZ_MAX_EXAMPLES per operation).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

import hypothesis
import pytest
import redis
import schemathesis
from fastapi.testclient import TestClient
from schemathesis import GenerationMode

from jobstore.settings import Settings
from service.main import create_app

ROOT = Path(__file__).resolve().parents[2]
FUZZ_DB = 6
# Per API operation (19 of them): 20 gives about 380 generated requests in the default run.
MAX_EXAMPLES = int(os.environ.get('FUZZ_MAX_EXAMPLES', '20'))


# Loaded at import, since pytest parametrizes from it; requests go to the app of the fixture below, in-process.
schema = schemathesis.openapi.from_dict(json.loads((ROOT / 'openapi' / 'openapi.json').read_text()))
# Parquet uploads are binary like application/octet-stream (schemathesis skips media types it cannot send).
schemathesis.serializer.alias('application/vnd.apache.parquet', 'application/octet-stream')
# Valid and invalid data alike: a malformed request must be a 4xx, never a 5xx.
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


@pytest.fixture(scope='module')
def fuzz_client(redis_url: str) -> Iterator[TestClient]:
    url = f'{redis_url}/{FUZZ_DB}'
    redis.Redis.from_url(url).flushdb()
    app = create_app(Settings(redis_url=url, max_body_bytes=64 * 1024))
    with TestClient(app, raise_server_exceptions=False, base_url='http://127.0.0.1') as client:
        yield client


@schema.parametrize()
@hypothesis.settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(hypothesis.HealthCheck))
def test_no_generated_request_gets_a_server_error(case: Any, fuzz_client: TestClient) -> None:
    fuzz_client.app.state.store.heartbeat('fuzz@loopback')  # a live worker, so /readyz may answer 200
    response = case.call(session=fuzz_client, app=fuzz_client.app)
    assert response.status_code < 500, (case.method, case.formatted_path, case.query, case.headers, case.body,
                                        response.status_code, response.text[:2000])
    if response.status_code >= 400:  # every error is a problem document (schemathesis keeps header value lists)
        assert response.headers['content-type'][0].startswith('application/problem+json'), response.headers
