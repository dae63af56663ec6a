"""Published PyBLP code whose convergence flag `blp` once decided otherwise (issue 24, item 3): Nevo's cereal data
with Monte Carlo draws (50 per market, seed 0) and a full starting sigma of ones, PyBLP's tutorial problem, estimated
by BFGS in two GMM steps. Each workload runs in PyBLP and in `blp` on the same data and draws.

- `nevo_full_sigma_bfgs_tutorial`: `Optimization('bfgs', {'gtol': 1e-4})` as PyBLP's Nevo tutorial (cell 9):
  both steps converge in PyBLP; in `blp` the first step used to stop on SciPy's precision loss, because a market
  whose contraction ran out of evaluations (C33Q2 at the fifth objective evaluation) reverted the whole objective,
  where PyBLP goes on with the last iterate.
- `nevo_full_sigma_bfgs`: `Optimization('bfgs')` (SciPy's gtol 1e-5): the first step converges in PyBLP and now in
  `blp` (the same cause). The second step's flag turns on rounding: PyBLP's last line search fails (SciPy's precision
  loss, `converged` False) where `blp`'s passes; the estimates agree (FLAGS_AT_ROUNDING_LEVEL: flags not compared).
  `blp`'s warm start (each contraction from the last delta moved by d delta / d theta, where PyBLP's
  `delta_behavior='first'` starts from the step's first delta) adds to the rounding differences.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd


def _nevo(module: Any) -> Any:
    products = pd.read_csv(module.data.NEVO_PRODUCTS_LOCATION)
    formulations = (module.Formulation('0 + prices', absorb='C(product_ids)'),
                    module.Formulation('1 + prices + sugar + mushy'))
    integration = module.Integration('monte_carlo', size=50, specification_options={'seed': 0})
    return module.Problem(formulations, products, integration=integration)


def nevo_full_sigma_bfgs_tutorial(module: Any) -> Any:
    return _nevo(module).solve(sigma=np.ones((4, 4)), optimization=module.Optimization('bfgs', {'gtol': 1e-4}))


def nevo_full_sigma_bfgs(module: Any) -> Any:
    return _nevo(module).solve(sigma=np.ones((4, 4)), optimization=module.Optimization('bfgs'))


CONVERGENCE_WORKLOADS: dict[str, Callable[[Any], Any]] = {
    'nevo_full_sigma_bfgs_tutorial': nevo_full_sigma_bfgs_tutorial,
    'nevo_full_sigma_bfgs': nevo_full_sigma_bfgs,
}
FLAGS_AT_ROUNDING_LEVEL = {'nevo_full_sigma_bfgs'}
