"""Regenerate PyBLP's bootstrap with a supply side: `PYTHONPATH=. python tests/reference/generate_bootstrap_supply_fixtures.py`.

PyBLP's estimate of `supply_workloads.bootstrap_supply` (12 simulated markets, linear costs) is bootstrapped with
`DRAWS` draws and `SEED`, once with PyBLP's default equilibrium iteration and once with `CAPPED` (too few evaluations
for any market to converge: what PyBLP keeps then). `fixtures/bootstrap_supply.npz` keeps the drawn parameters (γ
included), prices, shares and delta, the convergence per market and draw, and per draw the costs, markups, mean
own-price elasticity and a merger's prices with their 95 % percentile intervals, and the passthrough in market 0
(`outputs`, the same function for both libraries), and the printed summary; `capped_*` the capped run's prices, shares, delta and
convergence; `log_*` the same bootstrap of `bootstrap_supply_log` (log costs): its parameter draws, prices, shares,
delta and costs.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(variable, '1')

from supply_workloads import FIXTURES, bootstrap_supply, bootstrap_supply_log  # noqa: E402

DRAWS, SEED, MERGER = 10, 0, (1, 0)  # the merger: firm 1's products pass to firm 0
CAPPED = {'atol': 1e-12, 'max_evaluations': 4}
ATTRIBUTES = ('bootstrapped_sigma', 'bootstrapped_pi', 'bootstrapped_beta', 'bootstrapped_gamma',
              'bootstrapped_prices', 'bootstrapped_shares', 'bootstrapped_delta', 'fp_converged', 'fp_iterations',
              'contraction_evaluations')
CAPPED_ATTRIBUTES = ('bootstrapped_prices', 'bootstrapped_shares', 'bootstrapped_delta', 'fp_converged')
LOG_ATTRIBUTES = ('bootstrapped_sigma', 'bootstrapped_beta', 'bootstrapped_gamma', 'bootstrapped_prices',
                  'bootstrapped_shares', 'bootstrapped_delta')
FIXTURE = FIXTURES / 'bootstrap_supply.npz'


def merger_firm_ids() -> np.ndarray:
    return bootstrap_supply()['products']['firm_ids'].replace(*MERGER).to_numpy()


def outputs(bootstrapped: Any) -> dict[str, np.ndarray]:
    """Per draw: costs and markups implied by the draw's prices and shares, the mean own-price elasticity, the
    passthrough in market 0, and the merger's equilibrium prices at those costs, with the 95 % intervals of the
    elasticity and the merger's prices."""
    products = bootstrap_supply()['products']
    costs = bootstrapped.compute_costs()
    elasticities = bootstrapped.compute_elasticities()
    position = products.groupby('market_ids', sort=False).cumcount().to_numpy()
    own = elasticities[:, np.arange(position.size), position].mean(axis=1)
    merged = bootstrapped.compute_prices(firm_ids=merger_firm_ids(), costs=costs)[:, :, 0]
    return {'costs': costs, 'markups': bootstrapped.compute_markups(costs=costs), 'mean_own_price_elasticity': own,
            'passthrough_market_0': bootstrapped.compute_passthrough(market_id=0),
            'merger_prices': merged, 'mean_own_price_elasticity_interval': np.percentile(own, [2.5, 97.5], axis=0),
            'merger_prices_interval': np.percentile(merged, [2.5, 97.5], axis=0)}


def generate() -> dict[str, np.ndarray]:
    import pyblp
    from supply_workloads import run_pyblp
    pyblp.options.verbose = False
    results = run_pyblp(bootstrap_supply())
    bootstrapped = results.bootstrap(draws=DRAWS, seed=SEED)
    arrays = {attribute: np.asarray(getattr(bootstrapped, attribute), dtype=float) for attribute in ATTRIBUTES}
    arrays.update(outputs(bootstrapped))
    arrays['summary'] = np.array(str(bootstrapped))
    capped = results.bootstrap(draws=DRAWS, seed=SEED, iteration=pyblp.Iteration('simple', CAPPED))
    arrays.update({f'capped_{attribute}': np.asarray(getattr(capped, attribute), dtype=float)
                   for attribute in CAPPED_ATTRIBUTES})
    log = run_pyblp(bootstrap_supply_log()).bootstrap(draws=DRAWS, seed=SEED)
    arrays.update({f'log_{attribute}': np.asarray(getattr(log, attribute), dtype=float)
                   for attribute in LOG_ATTRIBUTES})
    arrays['log_costs'] = log.compute_costs()
    return arrays


if __name__ == '__main__':
    np.savez_compressed(FIXTURE, **generate())
