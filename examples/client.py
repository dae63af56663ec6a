"""Estimate the cereal exercise's random-coefficients model through the HTTP API with `blp_client`.

Uploads the bundled cereal product data and 1000 agents per market (built by examples/cereal.py), estimates
sigma on prices and pi on log income (expect sigma_prices ~ 6.02), and prints the estimates, a corner of the
elasticities and the effect of halving one product's price. `make demo` runs it against a fresh stack.

    python -m examples.client [--url http://127.0.0.1:8000] [--api-key KEY] [--draws 1000]   # from the repository root
"""

from __future__ import annotations

import argparse
import os
import sys

import blp
import blp_client
from examples import cereal

SPEC = blp_client.build_spec(
    (blp.Formulation('0 + prices', absorb='C(market_ids) + C(product_ids)'), blp.Formulation('0 + mushy + prices')),
    agent_formulation=blp.Formulation('0 + log_income'),
    sigma=[[0, 0], [0, 1]], pi=[[0.2], [1]], method='1s',
    optimization=blp.Optimization('trust-constr', {'gtol': 1e-8, 'xtol': 1e-8}))


def arguments(description: str, timeout: float) -> argparse.Namespace:
    """The examples' command line: the API's URL and key, agents per market, seconds to wait for the job."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('--url', default=os.environ.get('BLP_URL', 'http://127.0.0.1:8000'))
    parser.add_argument('--api-key', default=os.environ.get('BLP_API_KEY'))
    parser.add_argument('--draws', type=int, default=cereal.AGENTS_PER_MARKET, help='agents per market')
    parser.add_argument('--timeout', type=float, default=timeout, help='seconds to wait for the job')
    return parser.parse_args()


def main() -> int:
    args = arguments(__doc__.splitlines()[0], 600)

    with blp_client.Client(args.url, args.api_key) as client:
        try:
            job = client.estimate(cereal.product_data(), SPEC, agent_data=cereal.agent_data(args.draws),
                                  timeout=args.timeout)
        except blp_client.ApiError as error:
            print(f'the estimate failed: {error} {error.problem}', file=sys.stderr)
            return 1
        results = client.result(job)
        print(f'converged: {results.converged}   objective: {results.objective:.4e}')
        print(results.to_frame().query('not fixed').drop(columns='fixed').to_string(index=False))
        print('\nprice elasticities in C01Q2 (first 4 products):')
        print(client.elasticities(job, 'C01Q2').iloc[:4, :4].round(4).to_string())
        cut = client.counterfactual(job, market='C01Q2', prices={'F1B04': 0.0388588575})
        products = client.result(cut).to_frame().set_index('product_id')
        print(f"\nhalving F1B04's price in C01Q2: its share changes {products.loc['F1B04', 'share_change_percent']:+.1f} %")
        print(f"\ndashboard: {args.url}/ui#/jobs/{job['id']}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
