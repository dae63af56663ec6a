"""Warm the worker before its pool forks: the first job of a fresh worker then runs as fast as the next.

Why: `import blp` loads the core's modules lazily, so a fresh pool process used to pay for importing about 200
modules (scipy.optimize and most of the core), first-call set-up in numpy/scipy, formula parsing and pyarrow's
Parquet reader during its first job: about half a second of a 3-second estimate. Here the worker's main process
imports them, reads a tiny dataset from Parquet, solves a tiny random-coefficients estimate (a few milliseconds
of numerics) and draws a few Sobol' points (as a multi-start's parent does before publishing its starts) once,
before the pool starts; every pool process forked from it (also one that replaces a process
later) starts warm. BLAS runs one thread per process (`worker/__init__.py`), so no thread pool is forked mid-flight.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import time

import numpy as np
import pandas as pd
from celery import signals

log = logging.getLogger(__name__)

# The shape of a usual job: absorbed fixed effects, sigma on prices, pi on a demographic, trust-constr.
SPEC = {'problem': {'product_formulations': [{'formula': '0 + prices', 'absorb': 'C(market_ids) + C(product_ids)'},
                                             {'formula': '0 + x + prices'}],
                    'agent_formulation': {'formula': '0 + income'}},
        'solve': {'sigma': [[0, 0], [0, 1]], 'pi': [[0.2], [1]], 'method': '1s',
                  'optimization': {'method': 'trust-constr', 'method_options': {'gtol': 1e-6, 'maxiter': 3}}}}


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


def warm() -> float:
    """Import every module of the core, solve a tiny estimate and draw Sobol' points once; the seconds it took."""
    clock = time.perf_counter()
    import scipy.optimize  # noqa: F401  (the optimizers' modules)

    import blp
    from blp.spec import EstimateSpec, solve_options

    for module in pkgutil.iter_modules(blp.__path__):  # budget, multistart, optimal, ...: what some jobs need
        importlib.import_module(f'blp.{module.name}')

    from jobstore.codec import read_frame, write_frame

    spec = EstimateSpec.model_validate(SPEC)
    product, agent = (read_frame(write_frame(frame)) for frame in tiny_data())  # as jobs read datasets: Parquet
    problem = blp.Problem.from_spec(spec.problem, product, agent)
    problem.estimate(solve_options(spec.solve)).to_dict()
    from scipy.stats import qmc

    qmc.Sobol(d=2, scramble=True, seed=0).random_base2(1)  # a process's first draw sets up tables (25-60 ms)
    return time.perf_counter() - clock


@signals.worker_init.connect
def _warm_before_forking(**_: object) -> None:
    try:
        log.info('worker warmed in %.2f s', warm())
    except Exception:  # a cold first job is slower, not wrong: never keep the worker from starting
        log.warning('warming the worker failed', exc_info=True)
