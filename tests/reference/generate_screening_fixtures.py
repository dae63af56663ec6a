"""Regenerate PyBLP's merger-screening reference numbers: `PYTHONPATH=. python tests/reference/generate_screening_fixtures.py`.

BLP's automobile estimate with its supply side (`supply_workloads.blp_autos`), evaluated in PyBLP at the theta PyBLP
estimated (stored in `fixtures/supply_blp_autos.json`, so no optimizer runs), in the markets `SCREEN_MARKETS`. For
every pair of firms selling together in one of them, PyBLP's `compute_prices` with the merged `firm_ids` (the second
firm's products relabelled as the first's) at the estimate's costs, in each market where both sell. Also PyBLP's
diversion ratios, costs and markups in those markets, from which the test computes diversion to the partner and GUPPI
by plain loops. Written to `fixtures/screening_blp_autos.npz`.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from typing import Any

import numpy as np

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(variable, '1')

from supply_workloads import FIXTURES, blp_autos  # noqa: E402

SCREEN_MARKETS = [1971, 1990]
PATH = FIXTURES / 'screening_blp_autos.npz'


def estimate_at_pyblp_theta(library: Any) -> Any:
    """The autos problem solved at PyBLP's stored theta without optimizing (`library` is pyblp or blp)."""
    workload = blp_autos()
    stored = json.loads((FIXTURES / 'supply_blp_autos.json').read_text())
    formulations = [library.Formulation(formula) for formula, _ in workload['formulations']]
    problem = library.Problem(formulations, workload['products'], library.Formulation(workload['agent_formulation']),
                              workload['agents'], **workload['problem'])
    return problem.solve(sigma=np.array(stored['sigma']), pi=np.array(stored['pi']), costs_bounds=(0.001, None),
                         method='1s', optimization=library.Optimization('return'),
                         iteration=library.Iteration('squarem', {'atol': 1e-14}))


def generate() -> dict[str, np.ndarray]:
    import pyblp
    pyblp.options.verbose = False
    clock = time.perf_counter()
    results = estimate_at_pyblp_theta(pyblp)
    products = blp_autos()['products']
    market_ids = products['market_ids'].to_numpy()
    firms = products['firm_ids'].to_numpy().astype(str)
    rows = np.isin(market_ids, SCREEN_MARKETS)
    costs = results.compute_costs()
    sellers = {market: set(firms[market_ids == market]) for market in SCREEN_MARKETS}
    pairs = sorted({pair for market in SCREEN_MARKETS for pair in itertools.combinations(sorted(sellers[market]), 2)})
    prices = np.full((len(pairs), rows.sum()), np.nan)
    for number, (first, second) in enumerate(pairs):
        merged = np.where(firms == second, first, firms)
        for market in SCREEN_MARKETS:
            if {first, second} <= sellers[market]:
                selected = market_ids == market
                solved = results.compute_prices(firm_ids=merged[selected], costs=costs[selected], market_id=market)
                prices[number, selected[rows]] = solved[:, 0]
    width = max((market_ids == market).sum() for market in SCREEN_MARKETS)
    diversion = np.full((rows.sum(), width), np.nan)
    for market in SCREEN_MARKETS:
        matrix = results.compute_diversion_ratios(market_id=market)
        diversion[(market_ids == market)[rows], :matrix.shape[1]] = matrix
    return dict(pairs=np.array(pairs, dtype=str), prices=prices, market_ids=market_ids[rows],
                firm_ids=firms[rows], observed_prices=products['prices'].to_numpy()[rows], costs=costs[rows, 0],
                markups=results.compute_markups(costs=costs)[rows, 0], diversion=diversion,
                markets=np.array(SCREEN_MARKETS), pyblp_version=np.array(pyblp.__version__),
                seconds=np.array(time.perf_counter() - clock))


if __name__ == '__main__':
    arrays = generate()
    np.savez_compressed(PATH, **arrays)
    print(f"{len(arrays['pairs'])} pairs in PyBLP {arrays['pyblp_version']}: {float(arrays['seconds']):.1f} s", flush=True)
