"""Regenerate PyBLP's post-estimation reference numbers: `PYTHONPATH=. python tests/reference/generate_postestimation_fixtures.py
[workload ...]`.

Estimates each case's workload in PyBLP (single-threaded) and writes `fixtures/postestimation_<name>.npz` with
PyBLP's estimates (so that blp can be evaluated at exactly the same theta) and what `post_estimation` computes from
them. `post_estimation` only calls methods that PyBLP's and blp's results share, so the tests run the very same
function on blp's results.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(variable, '1')

from workloads import ROOT, WORKLOADS, run_pyblp, timed  # noqa: E402

FIXTURES = ROOT / 'tests' / 'reference' / 'fixtures'

# Product-level outputs are stored for the rows of a sample of markets (every VECTOR_STEP-th in sorted order, plus the
# named ones), matrices (N x max J) for fewer (every MATRIX_STEP-th plus the named ones); market-level ones in full.
# merger: firm_ids.replace(old, new) (in the cereal data with sigma on prices a few agents have upward-sloping demand,
# and bigger mergers have no equilibrium in some markets). price_cut: halve this product's price in this market.
CASES: dict[str, dict[str, Any]] = {
    'cereal_iv': dict(markets=['C01Q2'], merger=('F6', 'F4'), price_cut=('C01Q2', 'F1B04')),
    'cereal_sigma_prices': dict(markets=['C01Q2'], merger=('F6', 'F4'), price_cut=('C01Q2', 'F1B04')),
    'nevo': dict(markets=[], merger=(2, 1), price_cut=('C01Q1', 'F1B04')),
    'nevo_nested_logit': dict(markets=[], merger=(2, 1), price_cut=('C01Q1', 'F1B04')),
    'nevo_rcnl': dict(markets=[], merger=(2, 1), price_cut=('C01Q1', 'F1B04')),
    'cereal_lognormal_prices': dict(markets=['C01Q2'], merger=('F6', 'F4'), price_cut=('C01Q2', 'F1B04')),
}
VECTOR_STEP, MATRIX_STEP = 6, 24
COST_FACTOR = 0.9  # the marginal-cost counterfactual: every cost falls by 10 %


def sample_rows(products: Any, case: dict, step: int) -> np.ndarray:
    """Rows of every step-th market in sorted order and of the case's named markets."""
    market_ids = products['market_ids'].astype(str)
    markets = list(np.unique(market_ids.to_numpy())[::step]) + list(case['markets'])
    return market_ids.isin(markets).to_numpy()


def post_estimation(results: Any, products: Any, case: dict) -> dict[str, np.ndarray]:
    """Everything the tests compare, computed with the methods PyBLP's and blp's results share."""
    output = {name: getattr(results, f'compute_{name}')()
              for name in ('elasticities', 'diversion_ratios', 'long_run_diversion_ratios')}
    costs = results.compute_costs()
    output.update(
        aggregate_elasticities=results.compute_aggregate_elasticities(factor=0.1), costs=costs,
        markups=results.compute_markups(costs=costs), profits=results.compute_profits(costs=costs),
        hhi=results.compute_hhi(), consumer_surpluses=results.compute_consumer_surpluses())
    merged = products['firm_ids'].replace(*case['merger']).to_numpy()
    prices = results.compute_prices(firm_ids=merged, costs=costs)
    shares = results.compute_shares(prices)
    output.update(
        merger_prices=prices, merger_shares=shares, merger_markups=results.compute_markups(prices, costs),
        merger_profits=results.compute_profits(prices, shares, costs),
        merger_hhi=results.compute_hhi(firm_ids=merged, shares=shares),
        merger_consumer_surpluses=results.compute_consumer_surpluses(prices),
        cost_cut_prices=results.compute_prices(costs=COST_FACTOR * costs))
    market, product = case['price_cut']
    selected = products['market_ids'].astype(str).to_numpy() == market
    cut = products['prices'].to_numpy(dtype=float)[selected].copy()
    cut[products['product_ids'].astype(str).to_numpy()[selected] == product] /= 2
    output.update(price_cut_shares=results.compute_shares(cut, market_id=market),
                  price_cut_elasticities=results.compute_elasticities(market_id=market))
    vector_rows, matrix_rows = sample_rows(products, case, VECTOR_STEP), sample_rows(products, case, MATRIX_STEP)
    for name, value in output.items():
        value = np.asarray(value, dtype=float)
        if value.shape[0] == len(products):
            output[name] = value[matrix_rows if value.shape[1] > 1 else vector_rows]
    return {name: np.asarray(value, dtype=float) for name, value in output.items()}


def generate(name: str) -> dict[str, np.ndarray]:
    """PyBLP's estimates of the workload and its post-estimation outputs."""
    import pyblp
    workload = WORKLOADS[name]()
    results, seconds = timed(run_pyblp, workload)
    arrays = post_estimation(results, workload['products'], CASES[name])
    arrays.update(sigma=results.sigma, pi=results.pi, rho=results.rho, beta=results.beta,
                  unique_market_ids=np.asarray(results.problem.unique_market_ids, dtype=str).ravel(),
                  pyblp_version=np.array(pyblp.__version__), seconds=np.array(seconds))
    return arrays


if __name__ == '__main__':
    FIXTURES.mkdir(exist_ok=True)
    for name in sys.argv[1:] or CASES:
        arrays = generate(name)
        np.savez_compressed(FIXTURES / f'postestimation_{name}.npz', **arrays)
        print(f"{name}: PyBLP {arrays['pyblp_version']} estimated in {float(arrays['seconds']):.1f} s", flush=True)
