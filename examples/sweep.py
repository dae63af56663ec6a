"""A robustness sweep of the cereal exercise's random-coefficients model through the HTTP API with `blp_client`:
the same estimate under several integration rules and both GMM steps, each followed by halving F1B04's price in
C01Q2, compared side by side (does sigma on prices, the mean own-price elasticity or the counterfactual move?).

    python -m examples.sweep [--url http://127.0.0.1:8000] [--api-key KEY] [--draws 1000]   # from the repository root
"""

from __future__ import annotations

import sys

import blp_client
from examples import cereal
from examples.client import SPEC, arguments

# (specification, size): nodes per market must not exceed the agent rows, whose demographics they take.
RULES = [('monte_carlo', 0.1), ('monte_carlo', 1.0), ('halton', 1.0), ('product', 7), ('grid', 4)]
NODES = {'product': lambda size: size ** 2, 'grid': lambda size: {3: 13, 4: 29, 5: 53}[size]}  # in 2 dimensions


def axes(draws: int) -> list[dict]:
    rules = []
    for specification, size in RULES:
        size = int(size * draws) if isinstance(size, float) else size
        if NODES.get(specification, lambda size: size)(size) <= draws:
            rules.append({'label': f'{specification} {size}', 'override': {'problem': {'integration': {
                'specification': specification, 'size': size}}}})
    steps = [{'label': step, 'override': {'solve': {'method': step}}} for step in ('1s', '2s')]
    return [{'name': 'integration', 'values': rules}, {'name': 'gmm', 'values': steps}]


def main() -> int:
    args = arguments(__doc__.splitlines()[0], 1800)

    with blp_client.Client(args.url, args.api_key) as client:
        try:
            job = client.sweep(cereal.product_data(), SPEC, agent_data=cereal.agent_data(args.draws),
                               axes=axes(args.draws), on_invalid='report', timeout=args.timeout,
                               counterfactual={'market': 'C01Q2', 'prices': {'F1B04': 0.0388588575}})
        except blp_client.ApiError as error:
            print(f'the sweep failed: {error} {error.problem}', file=sys.stderr)
            return 1
        table = client.comparison(job)
        columns = ['label', 'status', 'converged', 'objective', 'sigma[prices, prices]', 'se sigma[prices, prices]',
                   'mean_own_price_elasticity', 'counterfactual consumer_surplus_change', 'seconds']
        print(table[[column for column in columns if column in table]].to_string(index=False))
        print(f"\nas CSV: {args.url}/v1/jobs/{job['id']}/comparison?format=csv")
    return 0


if __name__ == '__main__':
    sys.exit(main())
