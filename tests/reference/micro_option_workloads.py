"""PyBLP 1.3's micro moment options on exercise 3 (`micro_workloads.py`) with 50 agents per market, so that PyBLP
estimates each in well under a minute. Each workload is defined once and runs in PyBLP and in `blp`.

- `micro_eliminated`: the diversion survey's second choices are made with the first choice's whole firm removed
  (`MicroDataset(..., eliminated_product_ids_index=1)`, product_ids1 the firm); product_ids0 is the product.
- `micro_sample_covariances`: the over-identified exercise, two-step, with the micro moments' covariances given
  (`solve(..., micro_sample_covariances=...)`) instead of computed.
- `micro_resampled_agents`: the diversion exercise with simulation error from three resampled sets of agents
  (`solve(..., resample_agent_data=...)`: new nodes and demographics per index, None after the third).
- `micro_eliminated_rcnl`: `micro_eliminated` on RCNL (nests by mushy, one rho), each firm's products within a nest
  the group (PyBLP requires groups within a nest or unions of whole nests), 20 agents per market.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np
from micro_workloads import PI_START, SURVEY_MARKETS, exercise3_micro_moments
from workloads import cereal

AGENTS = 50
FORMULATIONS = [('0 + prices', 'C(market_ids) + C(product_ids0)'), ('1 + mushy + prices', None)]
OPTIMIZATION = ('l-bfgs-b', {'gtol': 1e-10})
SAMPLE_COVARIANCES = [[2e-3, 0, 0], [0, 2e-4, 5e-5], [0, 5e-5, 3e-4]]


def products() -> Any:
    """Exercise 3's products with two product_ids columns: the product (0) and its firm (1)."""
    frame = cereal.product_data().rename(columns={'product_ids': 'product_ids0'})
    frame['product_ids1'] = 'firm' + frame['firm_ids'].astype(str)
    return frame


def resample_agent_data(index: int) -> Optional[Any]:
    """Agent sets 0, 1, 2 drawn anew (other seeds), then None."""
    return cereal.agent_data(size=AGENTS, seed=100 + index) if index < 3 else None


def eliminated_micro_moments(module: Any) -> list:
    """Exercise 3's moments with the diversion survey's first-choice firm eliminated."""
    moments = exercise3_micro_moments(module, 'all')
    diversion = module.MicroDataset('Firm diversion', 200, lambda t, p, a: np.ones((a.size, p.size, 1 + p.size)),
                                    eliminated_product_ids_index=1, market_ids=SURVEY_MARKETS)
    for moment in moments[1:]:
        moment.parts[0].dataset = diversion
    return moments


def _workload(sigma: Any, micro: Callable[[Any], list], **solve: Any) -> dict:
    return dict(formulations=FORMULATIONS, products=products(), agent_formulation='0 + log_income',
                agents=cereal.agent_data(size=AGENTS), micro=micro,
                solve=dict(sigma=sigma, pi=PI_START, optimization=OPTIMIZATION, **{'method': '1s', **solve}))


def micro_eliminated() -> dict:
    return _workload(np.diag([1.0, 1.0, 1.0]), eliminated_micro_moments)


def micro_sample_covariances() -> dict:
    return _workload(np.diag([0, 0, 1.0]), lambda module: exercise3_micro_moments(module, 'all'),
                     method='2s', micro_sample_covariances=np.array(SAMPLE_COVARIANCES))


def micro_resampled_agents() -> dict:
    return _workload(np.diag([0, 0, 1.0]), lambda module: exercise3_micro_moments(module, 'all'),
                     method='2s', resample_agent_data=resample_agent_data)


def micro_eliminated_rcnl() -> dict:
    """Second choices after the first choice's firm-and-nest group leaves, on RCNL: sigma on prices, pi on the
    constant and prices, rho within [0, 0.8]."""
    workload = _workload(np.diag([0, 0, 1.0]), eliminated_micro_moments, rho=0.3, rho_bounds=([0], [0.8]))
    workload['solve']['pi'] = [[1], [0], [1]]
    frame = workload['products']
    workload['products'] = frame.assign(nesting_ids=frame['mushy'],
                                        product_ids1=frame['product_ids1'] + 'mushy' + frame['mushy'].astype(str))
    workload['agents'] = cereal.agent_data(size=20)
    return workload


MICRO_OPTION_WORKLOADS: dict[str, Callable[[], dict]] = {
    'micro_eliminated': micro_eliminated,
    'micro_sample_covariances': micro_sample_covariances,
    'micro_resampled_agents': micro_resampled_agents,
    'micro_eliminated_rcnl': micro_eliminated_rcnl,
}
