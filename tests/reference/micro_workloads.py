"""Exercise 3 (`../shared/docs/exercise-micro-moments.md`): the cereal model of exercise 2 with a constant in X2,
matched to survey statistics by micro moments. Each workload is defined once and runs in PyBLP and in `blp` (the
micro moments are built by `exercise3_micro_moments(module)`, the same code for both libraries).

- `exercise3_income` (Q1): E[log income | j > 0] = 7.9 in C01Q1 and C01Q2, 100 observations; identifies pi on
  the constant x log income.
- `exercise3_diversion` (Q2): plus P(k = 0 | j > 0) = 0.28 and P(mushy_j and mushy_k | j > 0) = 0.31 from a second
  choice survey of 200; identifies sigma on the constant and on mushy.
- `exercise3_overidentified`: the three micro moments without sigma on the constant and mushy, two-step GMM (the
  weighting matrix's micro block and the initial update matter only when over-identified).
- `exercise3_income_rcnl`: Q1 with products nested by mushy (RCNL, one rho).
- `exercise3_diversion_rcnl`: Q1 and Q2 (second choices) on that RCNL model, 20 agents per market.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from workloads import ABSORB_BOTH, TRUST_CONSTR, cereal

SURVEY_MARKETS = ['C01Q1', 'C01Q2']
FORMULATIONS = [('0 + prices', ABSORB_BOTH), ('1 + mushy + prices', None)]
PI_START = [[1], [0.2], [1]]


def exercise3_micro_moments(module: Any, which: str) -> list:
    """The exercise's micro moments built with `module` (pyblp or blp): 'income' or 'all' three."""
    income = module.MicroDataset('Income', 100, lambda t, p, a: np.ones((a.size, p.size)), market_ids=SURVEY_MARKETS)
    moments = [module.MicroMoment('E[log income | inside]', 7.9, module.MicroPart(
        'log income | inside', income, lambda t, p, a: np.einsum('i,j', a.demographics[:, 0], np.ones(p.size))))]
    if which == 'income':
        return moments
    diversion = module.MicroDataset('Diversion', 200, lambda t, p, a: np.ones((a.size, p.size, 1 + p.size)),
                                    market_ids=SURVEY_MARKETS)

    def outside(t: Any, p: Any, a: Any) -> np.ndarray:
        values = np.zeros((a.size, p.size, 1 + p.size))
        values[:, :, 0] = 1
        return values

    def mushy_both(t: Any, p: Any, a: Any) -> np.ndarray:
        mushy = p.X2[:, 1]
        return np.einsum('i,j,k->ijk', np.ones(a.size), mushy, np.r_[0, mushy])

    moments.append(module.MicroMoment('P(outside second | inside)', 0.28,
                                      module.MicroPart('outside second', diversion, outside)))
    moments.append(module.MicroMoment('P(mushy first and second | inside)', 0.31,
                                      module.MicroPart('mushy first and second', diversion, mushy_both)))
    return moments


def _workload(sigma: Any, which: str, method: str = '1s') -> dict:
    return dict(formulations=FORMULATIONS, products=cereal.product_data(), agent_formulation='0 + log_income',
                agents=cereal.agent_data(), micro=lambda module: exercise3_micro_moments(module, which),
                solve=dict(sigma=sigma, pi=PI_START, method=method, optimization=TRUST_CONSTR))


def exercise3_income() -> dict:
    return _workload(np.diag([0, 0, 1.0]), 'income')


def exercise3_diversion() -> dict:
    return _workload(np.diag([1.0, 1.0, 1.0]), 'all')


def exercise3_overidentified() -> dict:
    return _workload(np.diag([0, 0, 1.0]), 'all', method='2s')


def exercise3_income_rcnl() -> dict:
    """Q1 on RCNL: products nested by mushy (one rho, within [0, 0.8]), pi on mushy fixed at zero (four parameters,
    five moments), 50 agents per market, L-BFGS-B."""
    workload = _workload(np.diag([0, 0, 1.0]), 'income')
    workload['solve']['pi'] = [[1], [0], [1]]
    workload['products'] = workload['products'].assign(nesting_ids=workload['products']['mushy'])
    workload['agents'] = cereal.agent_data(size=50)
    workload['solve'].update(rho=0.3, rho_bounds=([0], [0.8]), optimization=('l-bfgs-b', {'gtol': 1e-10}))
    return workload


def exercise3_diversion_rcnl() -> dict:
    """Q1 and Q2 on RCNL (second choices: j leaves its nest): as `exercise3_income_rcnl` with the three micro
    moments (four parameters, seven moments) and 20 agents per market. PyBLP's estimate has sigma on prices at its
    lower bound, zero."""
    workload = exercise3_income_rcnl()
    workload['micro'] = lambda module: exercise3_micro_moments(module, 'all')
    workload['agents'] = cereal.agent_data(size=20)
    return workload


MICRO_WORKLOADS: dict[str, Callable[[], dict]] = {
    'exercise3_income': exercise3_income,
    'exercise3_diversion': exercise3_diversion,
    'exercise3_overidentified': exercise3_overidentified,
    'exercise3_income_rcnl': exercise3_income_rcnl,
    'exercise3_diversion_rcnl': exercise3_diversion_rcnl,
}
