"""Reference workloads with covariance restrictions (MacKay and Miller; issue 26): PyBLP's moments
E[(xi omega - m) Z_C] = 0 stacked after the demand and supply moments, on the simulated market of
`supply_workloads.py` (PyBLP's simulation draws xi and omega with correlation 0.9, so m = 0.9 holds at the truth).

- `covariance_simulation`: the supply workload's random-coefficients model with every instrument and one covariance
  moment (Z_C = 1): overidentified, two-step GMM.
- `covariance_logit`: logit demand with no excluded demand instruments, so that the price coefficient is identified
  only by the covariance moment (the case where it replaces price instruments); the price coefficient bounded above
  by zero, as PyBLP's documentation advises for the lower root.
- `covariance_absorbed`: the same logit with firm fixed effects absorbed into X1, two covariance instruments, m = 0.5,
  and weights and standard errors clustered by market (the absorbed Jacobians and the clustered S of the new block).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
from supply_workloads import simulation_data

MEAN = 0.9  # the simulation's E[xi omega]
GTOL = ('l-bfgs-b', {'gtol': 1e-10})
PRICE_AT_MOST_ZERO = ([-np.inf] * 3, [np.inf, 0, np.inf])


def _products(covariance_instruments: int = 1, demand_instruments: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stored simulation with `covariance_instruments0..` (a constant, then x) and, optionally, without its
    excluded demand instruments."""
    products, agents = simulation_data()
    products = products.copy()
    for index, values in enumerate([np.ones(len(products)), products['x'].to_numpy()][:covariance_instruments]):
        products[f'covariance_instruments{index}'] = values
    if not demand_instruments:
        products = products.drop(columns=[column for column in products if column.startswith('demand_instruments')])
    return products, agents


def covariance_simulation() -> dict:
    products, agents = _products()
    return dict(formulations=[('1 + prices + x', None), ('0 + x', None), ('0 + x + z', None)], products=products,
                agents=agents, problem=dict(costs_type='linear'),
                solve=dict(sigma=0.5, beta=[None, -1, None], method='2s', optimization=GTOL,
                           covariance_moments_mean=MEAN))


def covariance_logit() -> dict:
    products, _ = _products(demand_instruments=False)
    return dict(formulations=[('1 + prices + x', None), None, ('0 + x + z', None)], products=products,
                problem=dict(costs_type='linear'),
                solve=dict(beta=[None, -1, None], beta_bounds=PRICE_AT_MOST_ZERO, method='2s', optimization=GTOL,
                           covariance_moments_mean=MEAN))


def covariance_absorbed() -> dict:
    products, _ = _products(covariance_instruments=2, demand_instruments=False)
    products['clustering_ids'] = products['market_ids']
    return dict(formulations=[('0 + prices + x', 'C(firm_ids)'), None, ('0 + x + z', None)], products=products,
                problem=dict(costs_type='linear'),
                solve=dict(beta=[-1, None], beta_bounds=([-np.inf] * 2, [0, np.inf]), method='2s', optimization=GTOL,
                           W_type='clustered', se_type='clustered', covariance_moments_mean=0.5))


COVARIANCE_WORKLOADS: dict[str, Callable[[], dict]] = {
    'covariance_simulation': covariance_simulation,
    'covariance_logit': covariance_logit,
    'covariance_absorbed': covariance_absorbed,
}
