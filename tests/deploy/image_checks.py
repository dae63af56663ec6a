"""What a deployed stack must do, whoever started it: ready (Redis and a worker), the dashboard served, the API key
enforced, and one cereal random-coefficients estimate through the API.

The image emulation (tests/deploy/test_image_emulation.py) and `make image-test` (the real image under Docker) run
these same checks, from the repository root (`examples` is not an installed package):

    PYTHONPATH=. python tests/deploy/image_checks.py --url http://127.0.0.1:8000 [--api-key KEY]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Optional

import httpx

import blp_client
from examples import cereal
from examples.client import SPEC

AGENTS_PER_MARKET = 50


def wait_ready(http: httpx.Client, timeout: float = 120) -> dict:
    """/readyz answers 200 once Redis answers and a worker has sent a heartbeat."""
    deadline = time.monotonic() + timeout
    last = 'no answer'
    while time.monotonic() < deadline:
        try:
            response = http.get('/readyz')
            if response.status_code == 200:
                return response.json()
            last = f'{response.status_code} {response.text[:300]}'
        except httpx.TransportError as error:
            last = repr(error)
        time.sleep(0.25)
    raise AssertionError(f'/readyz not 200 after {timeout} s: {last}')


def check_ready(http: httpx.Client) -> dict:
    body = wait_ready(http)
    assert body['checks']['redis'] == 'ok' and body['checks']['workers'] >= 1, body
    return body


def check_ui(http: httpx.Client) -> None:
    response = http.get('/ui', follow_redirects=True)
    assert response.status_code == 200, response.text[:300]
    assert response.headers['content-type'].startswith('text/html'), response.headers
    assert '<html' in response.text.lower()


def check_api_key_enforced(http: httpx.Client) -> None:
    """Without the key a job listing is refused with problem+json (the stack was given API_KEYS)."""
    response = http.get('/v1/jobs')
    assert response.status_code == 401, response.text[:300]
    assert response.headers['content-type'].startswith('application/problem+json')


def check_estimate(url: str, api_key: Optional[str], timeout: float = 600) -> dict:
    """The cereal random-coefficients exercise (50 agents per market) queued, run by a worker and read back."""
    with blp_client.Client(url, api_key, progress=False) as client:
        job = client.estimate(cereal.product_data(), SPEC, agent_data=cereal.agent_data(AGENTS_PER_MARKET),
                              timeout=timeout)
        results = client.result(job)
    assert job['status'] == 'succeeded', job
    assert results.converged, job
    estimated = results.to_frame().query('not fixed')
    assert {'sigma', 'pi', 'beta'} <= set(estimated['kind']), estimated
    assert all(math.isfinite(number) for number in [*estimated['value'], *estimated['se']]), estimated
    return job


def run_all(url: str, api_key: Optional[str]) -> dict:
    """Every check, in the order a deployment meets them; returns what they measured."""
    with httpx.Client(base_url=url, timeout=30) as anonymous:
        started = time.monotonic()
        ready = check_ready(anonymous)
        ready_seconds = time.monotonic() - started
        check_ui(anonymous)
        if api_key:
            check_api_key_enforced(anonymous)
    started = time.monotonic()
    job = check_estimate(url, api_key)
    return {'ready': ready, 'ready_wait_seconds': ready_seconds, 'estimate_seconds': time.monotonic() - started,
            'job': job['id']}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--url', default='http://127.0.0.1:8000')
    parser.add_argument('--api-key')
    args = parser.parse_args()
    measured = run_all(args.url, args.api_key)
    print(f"ready ({measured['ready']['checks']}), /ui served, estimate {measured['job']} succeeded in "
          f"{measured['estimate_seconds']:.1f} s")
    return 0


if __name__ == '__main__':
    sys.exit(main())
