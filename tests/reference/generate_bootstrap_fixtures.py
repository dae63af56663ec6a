"""Regenerate PyBLP's bootstrap numbers: `PYTHONPATH=. python tests/reference/generate_bootstrap_fixtures.py [workload ...]`.

For each workload of `BOOTSTRAP`, PyBLP's estimate (as `workloads.py` solves it) is bootstrapped with `DRAWS` draws
and `SEED`; `fixtures/bootstrap_<name>.npz` keeps the drawn parameters, shares and delta, and per draw the mean
own-price elasticity and the merger's price changes (`outputs`, the same function for both libraries), with their
95 % percentile intervals.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(variable, '1')

from generate_postestimation_fixtures import CASES, FIXTURES  # noqa: E402
from workloads import WORKLOADS, run_blp, run_pyblp  # noqa: E402

BOOTSTRAP = ('nevo', 'nevo_nested_logit')
DRAWS, SEED = 30, 0
ATTRIBUTES = ('bootstrapped_sigma', 'bootstrapped_pi', 'bootstrapped_rho', 'bootstrapped_beta',
              'bootstrapped_prices', 'bootstrapped_shares', 'bootstrapped_delta')


def results_at(module: Any, name: str) -> Any:
    """The workload estimated by `module` (blp or pyblp) as in `workloads.py`: the bootstrap clips draws to the
    bounds of that estimation."""
    return (run_pyblp if module.__name__ == 'pyblp' else run_blp)(WORKLOADS[name]())


def merger_firm_ids(name: str) -> np.ndarray:
    return WORKLOADS[name]()['products']['firm_ids'].replace(*CASES[name]['merger']).to_numpy()


def outputs(bootstrapped: Any, name: str, prices: Any = None) -> dict[str, np.ndarray]:
    """Per draw: the mean over products of own-price elasticities and the merger's price changes (`prices`: the
    merger's prices per draw, draws x N x 1, if computed already), with intervals."""
    products = WORKLOADS[name]()['products']
    elasticities = bootstrapped.compute_elasticities()                       # draws x N x max J
    position = products.groupby('market_ids', sort=False).cumcount().to_numpy()  # column of each own elasticity
    own = elasticities[:, np.arange(position.size), position].mean(axis=1)
    if prices is None:
        prices = bootstrapped.compute_prices(firm_ids=merger_firm_ids(name), costs=bootstrapped.compute_costs())
    changes = (prices - bootstrapped.bootstrapped_prices)[:, :, 0]
    return {'mean_own_price_elasticity': own, 'merger_price_changes': changes,
            'mean_own_price_elasticity_interval': np.percentile(own, [2.5, 97.5], axis=0),
            'merger_price_changes_interval': np.percentile(changes, [2.5, 97.5], axis=0)}


def generate(name: str) -> dict[str, np.ndarray]:
    import pyblp
    pyblp.options.verbose = False
    bootstrapped = results_at(pyblp, name).bootstrap(draws=DRAWS, seed=SEED)
    arrays = {attribute: np.asarray(getattr(bootstrapped, attribute), dtype=float) for attribute in ATTRIBUTES}
    arrays.update(outputs(bootstrapped, name))
    return arrays


if __name__ == '__main__':
    for name in sys.argv[1:] or BOOTSTRAP:
        np.savez_compressed(FIXTURES / f'bootstrap_{name}.npz', **generate(name))
        print(f'{name}: {DRAWS} draws', file=sys.stderr)
