"""Estimate the cereal exercise's random-coefficients model through the HTTP API, as a client would.

Uploads the bundled cereal product data and 1000 agents per market (built by examples/cereal.py),
submits the estimate (sigma on prices, pi on log income; expect sigma_prices ~ 6.02), follows its
progress, prints the estimates and where to find the rest.

    python examples/client.py [--url http://127.0.0.1:8000] [--api-key KEY] [--draws 1000]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

import httpx
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from examples import cereal  # noqa: E402

SPEC = {
    'problem': {
        'product_formulations': [{'formula': '0 + prices', 'absorb': 'C(market_ids) + C(product_ids)'},
                                 {'formula': '0 + mushy + prices'}],
        'agent_formulation': {'formula': '0 + log_income'},
    },
    'solve': {
        'sigma': [[0, 0], [0, 1]], 'pi': [[0.2], [1]], 'method': '1s',
        'optimization': {'method': 'trust-constr', 'method_options': {'gtol': 1e-8, 'xtol': 1e-8}},
    },
}


def upload(client: httpx.Client, frame: pd.DataFrame, what: str) -> str:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    response = client.post('/v1/datasets', content=buffer.getvalue(),
                           headers={'Content-Type': 'application/vnd.apache.parquet'})
    response.raise_for_status()
    dataset = response.json()
    print(f"{what}: dataset {dataset['id'][:12]}… ({dataset['rows']} rows, {dataset['markets']} markets)")
    return dataset['id']


def follow(client: httpx.Client, job_url: str, timeout: float) -> dict:
    """Poll the job, printing each new optimizer iteration, until it has finished."""
    deadline, shown = time.monotonic() + timeout, None
    while True:
        job = client.get(job_url).json()
        progress = job.get('progress') or {}
        if progress.get('iteration') is not None and progress.get('iteration') != shown:
            shown = progress['iteration']
            print(f"  iteration {shown:>4}  objective {progress.get('objective') or float('nan'):.3e}  "
                  f"gradient norm {progress.get('gradient_norm') or float('nan'):.3e}")
        if job['status'] in ('succeeded', 'failed', 'cancelled'):
            return job
        if time.monotonic() > deadline:
            sys.exit(f'gave up after {timeout:.0f} s; the job is still {job["status"]}: {job_url}')
        time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--url', default=os.environ.get('BLP_URL', 'http://127.0.0.1:8000'))
    parser.add_argument('--api-key', default=os.environ.get('BLP_API_KEY'))
    parser.add_argument('--draws', type=int, default=cereal.AGENTS_PER_MARKET, help='agents per market')
    parser.add_argument('--timeout', type=float, default=600, help='seconds to wait for the estimate')
    args = parser.parse_args()
    headers = {'Authorization': f'Bearer {args.api_key}'} if args.api_key else {}

    with httpx.Client(base_url=args.url, headers=headers, timeout=60) as client:
        products = upload(client, cereal.product_data(), 'product data')
        agents = upload(client, cereal.agent_data(args.draws), 'agent data')
        response = client.post('/v1/jobs', json={'kind': 'estimate', 'product_data': {'dataset_id': products},
                                                 'agent_data': {'dataset_id': agents}, 'spec': SPEC})
        if response.status_code != 202:
            sys.exit(f'the estimate was refused ({response.status_code}): {response.text}')
        job_url = response.headers['Location']
        print(f'estimate queued: {args.url}{job_url}')
        job = follow(client, job_url, args.timeout)
        if job['status'] != 'succeeded':
            print(f"the estimate {job['status']}: {job.get('error')}", file=sys.stderr)
            return 1

        result = client.get(f'{job_url}/result').json()
        estimates = result['results']
        print(f"\nconverged: {estimates['converged']}   objective: {estimates['objective']:.4e}   "
              f"seconds: {result['provenance']['timings']['solve_seconds']:.1f}")
        print(f"{'kind':<6} {'row':<10} {'column':<12} {'estimate':>12} {'std. error':>12}")
        for parameter in estimates['parameters']:
            if parameter.get('fixed'):
                continue
            se = parameter['se'] if parameter['se'] is not None else float('nan')
            print(f"{parameter['kind']:<6} {parameter['row']:<10} {parameter['column'] or '':<12} "
                  f"{parameter['value']:>12.4f} {se:>12.4f}")
        print('\nmore:')
        for name, link in (('result', f'{job_url}/result'), ('events', f'{job_url}/events'),
                           ('elasticities', f'{job_url}/elasticities?market=C01Q1'),
                           ('diversion ratios', f'{job_url}/diversion-ratios?market=C01Q1&format=csv'),
                           ('counterfactuals (POST)', f'{job_url}/counterfactuals'), ('API docs', '/docs')):
            print(f'  {name:<24} {args.url}{link}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
