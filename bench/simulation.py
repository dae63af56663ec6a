"""Simulated random-coefficients problems of any size, from our own model with fixed seeds, for the memory and
scale benchmarks (`bench/memory.py`, `bench/scale.py`).

T markets of J products with I Monte Carlo agents each; random coefficients on prices and x (sigma), optionally
an interaction of prices with one demographic (pi). Prices load on xi (endogenous); the excluded instruments are the
cost shifter z, z², x z and the sums of x over the firm's other products and over rivals' products. Shares are
computed market chunk by market chunk, so a million products with a hundred agents each simulate in bounded memory.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FIRMS = 5
BETA = np.array([-3.0, -2.0, 1.0])   # constant, prices, x
SIGMA = np.diag([0.4, 1.0])          # on prices, x
SIGMA_START = np.diag([0.2, 0.5])
PI = np.array([[0.3], [0.0]])        # income on prices
CHUNK_MARKETS = 500


def simulated_data(T: int, J: int = 40, I: int = 300, demographic: bool = False,
                   seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Products and agents (equal weights; `income` when `demographic`) of the simulated problem."""
    from blp.model.contraction import RandomCoefficients
    from blp.primitives.products import Layout

    draw = np.random.default_rng(seed)
    N = T * J
    market_ids = np.repeat(np.arange(T), J)
    firm_ids = np.tile(np.repeat(np.arange(FIRMS), -(-J // FIRMS))[:J], T)
    x, z = draw.uniform(size=N), draw.uniform(size=N)
    xi = 0.5 * draw.standard_normal(N)
    prices = 1 + 0.5 * z + 0.3 * x + 0.4 * xi + 0.1 * draw.standard_normal(N)
    delta = BETA[0] + BETA[1] * prices + BETA[2] * x + xi
    nodes = draw.standard_normal((T, I, 2))
    income = draw.standard_normal((T, I, 1)) if demographic else np.zeros((T, I, 0))
    weights = np.full((T, I), 1 / I)
    pi = PI if demographic else np.zeros((2, 0))

    shares = np.empty(N)
    for start in range(0, T, CHUNK_MARKETS):
        stop = min(start + CHUNK_MARKETS, T)
        rows = slice(start * J, stop * J)
        layout = Layout.from_ids(market_ids[rows])
        model = RandomCoefficients(layout, np.c_[prices[rows], x[rows]], weights[start:stop], nodes[start:stop],
                                   income[start:stop])
        shares[rows] = layout.unpad(model.shares(model.utilities(SIGMA, pi), layout.pad(delta[rows])))

    products = pd.DataFrame({'market_ids': market_ids, 'firm_ids': firm_ids, 'shares': shares, 'prices': prices,
                             'x': x})
    firm_totals = products.groupby(['market_ids', 'firm_ids'])['x'].transform('sum').to_numpy()
    market_totals = products.groupby('market_ids')['x'].transform('sum').to_numpy()
    instruments = [z, z ** 2, x * z, firm_totals - x, market_totals - firm_totals]
    if demographic:  # markets' mean income shifts the price coefficient: it identifies pi
        instruments.append(np.repeat(income[:, :, 0].mean(axis=1), J) * z)
    for k, instrument in enumerate(instruments):
        products[f'demand_instruments{k}'] = instrument
    agents = pd.DataFrame({'market_ids': np.repeat(np.arange(T), I), 'weights': weights.ravel(),
                           'nodes0': nodes[:, :, 0].ravel(), 'nodes1': nodes[:, :, 1].ravel()})
    if demographic:
        agents['income'] = income[:, :, 0].ravel()
    return products, agents


def workload(T: int, J: int = 40, I: int = 300, demographic: bool = False, method: str = '2s',
             near_truth: bool = False) -> dict:
    """The problem in tests/reference/workloads.py's form (`run_blp`, `run_pyblp`)."""
    products, agents = simulated_data(T, J, I, demographic)
    sigma = SIGMA * 1.1 if near_truth else SIGMA_START
    solve: dict = dict(sigma=sigma, method=method, optimization=('l-bfgs-b', {'gtol': 1e-8}))
    if demographic:
        solve['pi'] = PI * 1.1 if near_truth else PI / 2
    problem = dict(formulations=[('1 + prices + x', None), ('0 + prices + x', None)], products=products,
                   agents=agents, solve=solve)
    return {**problem, 'agent_formulation': '0 + income'} if demographic else problem
