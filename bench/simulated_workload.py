"""A simulated random-coefficients problem of our own at scale: T = 500 markets, J = 40 products, I = 300 agents
(N = 20,000 products, 150,000 agents), two random coefficients, two-step GMM.

Shares come from `blp`'s own model (`RandomCoefficients.shares`) at known parameters, with fixed seeds, so the
data are the same on every run and neither library simulates for the other. Prices are endogenous (they load on
xi); the excluded instruments are the cost shifter z, z², x z and the sums of x over the firm's other products and
over rivals' products (five, for three parameters beyond the exogenous ones: over-identified, so the second GMM
step matters).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

T, J, I, FIRMS = 500, 40, 300, 5
BETA = np.array([-3.0, -2.0, 1.0])   # constant, prices, x
SIGMA = np.diag([0.8, 1.0])          # on prices, x
SIGMA_START = np.diag([0.2, 0.5])


def simulated_data(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Products and agents (Monte Carlo nodes, equal weights) of the simulated problem."""
    from blp.model.contraction import RandomCoefficients
    from blp.primitives.products import Layout

    draw = np.random.default_rng(seed)
    market_ids = np.repeat(np.arange(T), J)
    firm_ids = np.tile(np.repeat(np.arange(FIRMS), J // FIRMS), T)
    x, z = draw.uniform(size=T * J), draw.uniform(size=T * J)
    xi = 0.5 * draw.standard_normal(T * J)
    prices = 1 + 1.0 * z + 0.3 * x + 0.4 * xi + 0.1 * draw.standard_normal(T * J)
    delta = BETA[0] + BETA[1] * prices + BETA[2] * x + xi

    nodes = draw.standard_normal((T, I, 2))
    weights = np.full((T, I), 1 / I)
    layout = Layout.from_ids(market_ids)
    model = RandomCoefficients(layout, np.c_[prices, x], weights, nodes, np.zeros((T, I, 0)))
    shares = layout.unpad(model.shares(model.utilities(SIGMA, np.zeros((2, 0))), layout.pad(delta)))

    products = pd.DataFrame({'market_ids': market_ids, 'firm_ids': firm_ids, 'shares': shares, 'prices': prices,
                             'x': x})
    frame = pd.DataFrame({'market_ids': market_ids, 'firm_ids': firm_ids, 'x': x})
    firm_totals = frame.groupby(['market_ids', 'firm_ids'])['x'].transform('sum').to_numpy()
    market_totals = frame.groupby('market_ids')['x'].transform('sum').to_numpy()
    for k, instrument in enumerate((z, z ** 2, x * z, firm_totals - x, market_totals - firm_totals)):
        products[f'demand_instruments{k}'] = instrument
    agents = pd.DataFrame({'market_ids': np.repeat(np.arange(T), I), 'weights': weights.ravel(),
                           'nodes0': nodes[:, :, 0].ravel(), 'nodes1': nodes[:, :, 1].ravel()})
    return products, agents


def simulated_large() -> dict:
    """The workload in tests/reference/workloads.py's form: estimated from sigma away from the truth."""
    products, agents = simulated_data()
    return dict(formulations=[('1 + prices + x', None), ('0 + prices + x', None)], products=products, agents=agents,
                solve=dict(sigma=SIGMA_START, method='2s', optimization=('l-bfgs-b', {'gtol': 1e-8})))
