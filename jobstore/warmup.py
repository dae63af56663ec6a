"""A tiny made-up estimate that warms a process before its first real job: the worker's and the API's numerics
processes both read datasets from Parquet and build problems with the core.

Why shared: a process's first build pays for importing the core's lazily loaded modules (scipy.optimize and about
200 more), pyarrow's Parquet reader and first-call set-up in pandas and formula parsing; measured, 0.2-0.3 s of
the API's first check of a dataset in each of its numerics processes and about half a second of a worker's first
job. Paying it on this tiny problem at start-up leaves the first real request as fast as the next.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import numpy as np
import pandas as pd

from jobstore.codec import read_frame, write_frame

# The shape of a usual job: absorbed fixed effects, sigma on prices, pi on a demographic, trust-constr.
SPEC: dict[str, Any] = {
    'problem': {'product_formulations': [{'formula': '0 + prices', 'absorb': 'C(market_ids) + C(product_ids)'},
                                         {'formula': '0 + x + prices'}],
                'agent_formulation': {'formula': '0 + income'}},
    'solve': {'sigma': [[0, 0], [0, 1]], 'pi': [[0.2], [1]], 'method': '1s',
              'optimization': {'method': 'trust-constr', 'method_options': {'gtol': 1e-6, 'maxiter': 3}}}}
# A multi-start of SPEC, drawn within finite bounds.
STARTS: dict[str, Any] = {'count': 2, 'bounds': {'sigma_bounds': [[[0, 0], [0, 0]], [[0, 0], [0, 2]]],
                                                 'pi_bounds': [[[0], [0]], [[1], [2]]]}}


def tiny_data(markets: int = 4, products: int = 3, agents: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Made-up product and agent data just large enough to estimate SPEC (its estimates mean nothing)."""
    rng = np.random.default_rng(0)
    rows = markets * products
    product = pd.DataFrame({
        'market_ids': np.repeat([f'm{t}' for t in range(markets)], products),
        'product_ids': np.tile([f'p{j}' for j in range(products)], markets),
        'firm_ids': np.tile([f'f{j % 2}' for j in range(products)], markets),
        'shares': rng.uniform(0.05, 0.2, rows), 'prices': rng.uniform(1, 2, rows), 'x': rng.uniform(size=rows),
        **{f'demand_instruments{k}': rng.uniform(size=rows) for k in range(4)},
    })
    agent = pd.DataFrame({
        'market_ids': np.repeat([f'm{t}' for t in range(markets)], agents),
        'weights': np.full(markets * agents, 1 / agents), 'nodes0': rng.normal(size=markets * agents),
        'nodes1': rng.normal(size=markets * agents), 'income': rng.normal(size=markets * agents),
    })
    return product, agent


def import_core() -> None:
    """Import every module of the core and the optimizers' (budget, multistart, optimal, ...: what some jobs need)."""
    import scipy.optimize  # noqa: F401  (importing is this function's purpose; the store itself never loads the core)

    import blp  # likewise: this function is what loads the core

    for module in pkgutil.iter_modules(blp.__path__):
        importlib.import_module(f'blp.{module.name}')


def stored_tiny_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    """`tiny_data` as jobs read datasets: written to and read back from the stored form (Parquet), which loads
    pyarrow's reader."""
    product, agent = (read_frame(write_frame(frame)) for frame in tiny_data())
    return product, agent
