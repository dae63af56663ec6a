"""Regenerate PyBLP's exercise-3 reference numbers: `PYTHONPATH=. python tests/reference/generate_micro_fixtures.py
[workload ...]`.

Runs each workload of `micro_workloads.py` in PyBLP (single-threaded) and writes `fixtures/<name>.json` with the
estimates, standard errors and objective (as `generate_fixtures.py`), the fitted micro moment values, the last
step's weighting matrix, and the exercises' price cut (F1B04's price halved in C01Q2: shares before and after, at
PyBLP's estimates).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(variable, '1')

from generate_fixtures import pyblp_summary, write  # noqa: E402
from micro_workloads import MICRO_WORKLOADS  # noqa: E402

PRICE_CUT = ('C01Q2', 'F1B04')


def price_cut(results: Any, products: Any) -> dict[str, list]:
    """Shares in the price-cut market before and after halving the product's price (PyBLP and blp alike)."""
    market, product = PRICE_CUT
    selected = products['market_ids'].astype(str).to_numpy() == market
    prices = products['prices'].to_numpy(dtype=float)[selected]
    cut = prices.copy()
    cut[products['product_ids'].astype(str).to_numpy()[selected] == product] /= 2
    before = results.compute_shares(prices, market_id=market)
    after = results.compute_shares(cut, market_id=market)
    return {'price_cut_before': np.asarray(before, dtype=float).ravel().tolist(),
            'price_cut_after': np.asarray(after, dtype=float).ravel().tolist()}


def generate(name: str) -> dict:
    workload = MICRO_WORKLOADS[name]()
    results, summary = pyblp_summary(workload)
    summary.update(price_cut(results, workload['products']))
    summary['micro_values'] = np.asarray(results.micro_values, dtype=float).ravel().tolist()
    summary['micro_covariances'] = np.asarray(results.micro_covariances, dtype=float).tolist()
    summary['W'] = np.asarray(results.W, dtype=float).tolist()  # the last step's W: beta at PyBLP's theta needs it
    return summary


if __name__ == '__main__':
    write(sys.argv[1:] or MICRO_WORKLOADS, generate)
