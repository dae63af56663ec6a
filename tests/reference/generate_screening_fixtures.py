"""Regenerate PyBLP's merger-screening reference numbers: `PYTHONPATH=. python tests/reference/generate_screening_fixtures.py`.

BLP's automobile estimate with its supply side (`supply_workloads.blp_autos`), evaluated in PyBLP at the theta PyBLP
estimated (stored in `fixtures/supply_blp_autos.json`, so no optimizer runs), in every one of its 20 markets
(`SCREEN_MARKETS`). For every pair of firms selling together in a market, PyBLP's `compute_prices` with the merged
`firm_ids` (the second firm's products relabelled as the first's) at the estimate's costs, in each market where both
sell: stored flat (`price_pairs`, `price_rows`, `price_values`: pair index, product row, price in float32, whose
rounding, at most 2**-24 relative, the test takes off its 1e-6 tolerance: the fixture is 2 MB instead of 3.6). Also, per product j
and firm f, sums over f's products k of PyBLP's diversion ratios D_jk and of D_jk p_k (p_k - c_k) / p_k (PyBLP's
markups), by plain loops, from which the test reads diversion to the partner and GUPPI; and PyBLP's costs and
markups. Written to `fixtures/screening_blp_autos.npz` (7 minutes on a busy machine).
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

SCREEN_MARKETS = list(range(1971, 1991))  # every market of the automobile data
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


def pairs_of(market_ids: np.ndarray, firms: np.ndarray, markets: list[int]) -> list[tuple[str, str]]:
    """Every pair of firms selling together in one of `markets`, sorted."""
    return sorted({pair for market in markets for pair in itertools.combinations(sorted(set(firms[market_ids == market])), 2)})


def merged_prices(results: Any, market_ids: np.ndarray, firms: np.ndarray, costs: np.ndarray, pair: tuple[str, str],
                  market: Any) -> np.ndarray:
    """PyBLP's `compute_prices` in `market` with the pair's second firm relabelled as the first."""
    merged = np.where(firms == pair[1], pair[0], firms)
    selected = market_ids == market
    return results.compute_prices(firm_ids=merged[selected], costs=costs[selected], market_id=market)[:, 0]


def generate() -> dict[str, np.ndarray]:
    import pyblp
    pyblp.options.verbose = False
    clock = time.perf_counter()
    results = estimate_at_pyblp_theta(pyblp)
    products = blp_autos()['products']
    market_ids = products['market_ids'].to_numpy()
    firms = products['firm_ids'].to_numpy().astype(str)
    labels = sorted(set(firms))
    costs = results.compute_costs()
    markups = results.compute_markups(costs=costs)[:, 0]
    prices = products['prices'].to_numpy()
    pairs = pairs_of(market_ids, firms, SCREEN_MARKETS)
    price_pairs, price_rows, price_values = [], [], []
    for market in SCREEN_MARKETS:
        selected = market_ids == market
        sellers = set(firms[selected])
        for number, pair in enumerate(pairs):
            if set(pair) <= sellers:
                price_pairs.append(np.full(selected.sum(), number))
                price_rows.append(np.flatnonzero(selected))
                price_values.append(merged_prices(results, market_ids, firms, costs, pair, market))
    to_firm = np.zeros((len(firms), len(labels)))
    pressure = np.zeros((len(firms), len(labels)))
    for market in SCREEN_MARKETS:
        rows = np.flatnonzero(market_ids == market)
        matrix = results.compute_diversion_ratios(market_id=market)
        for j, row in enumerate(rows):
            for k, other in enumerate(rows):
                if k != j:
                    firm = labels.index(firms[other])
                    to_firm[row, firm] += matrix[j, k]
                    pressure[row, firm] += matrix[j, k] * markups[other] * prices[other]
    return dict(pairs=np.array(pairs, dtype=str), price_pairs=np.concatenate(price_pairs).astype(np.int32),
                price_rows=np.concatenate(price_rows).astype(np.int32),
                price_values=np.concatenate(price_values).astype(np.float32),
                market_ids=market_ids, firm_ids=firms, firm_labels=np.array(labels), observed_prices=prices,
                costs=costs[:, 0], markups=markups, diversion_to_firm=to_firm, pressure_from_firm=pressure,
                markets=np.array(SCREEN_MARKETS), pyblp_version=np.array(pyblp.__version__),
                seconds=np.array(time.perf_counter() - clock))


if __name__ == '__main__':
    arrays = generate()
    np.savez_compressed(PATH, **arrays)
    print(f"{len(arrays['pairs'])} pairs, {arrays['price_values'].size} prices in PyBLP {arrays['pyblp_version']}: "
          f"{float(arrays['seconds']):.1f} s", flush=True)
