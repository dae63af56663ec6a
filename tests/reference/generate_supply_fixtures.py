"""Regenerate PyBLP's supply-side reference numbers: `PYTHONPATH=. python tests/reference/generate_supply_fixtures.py [name ...]`.

`supply_simulation` first simulates its market with PyBLP and stores it in `fixtures/supply_simulation_data.npz`
(products with instruments, agents), so every later run, ours included, estimates on those stored numbers. Each
workload of `supply_workloads.py` is then solved in PyBLP (single-threaded) and written to `fixtures/<name>.json`:
estimates and SEs (beta, gamma, sigma, pi), the objective, xi / omega / costs summaries with their values in two
markets, delta and PyBLP's d xi/d theta and d omega/d theta in those markets, the solve arguments, the agent data's
digest and PyBLP's time.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable

import numpy as np

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(variable, '1')

from supply_workloads import FIXTURES, SIMULATION_DATA, SUPPLY_WORKLOADS, frame_digest, run_pyblp, simulate  # noqa: E402
from workloads import summarize, timed  # noqa: E402

SAMPLE_MARKETS = 2  # per-product values are stored for the first markets in sorted order


def product_summary(values: np.ndarray, market_ids: np.ndarray, markets: list) -> dict:
    """Mean, sd, min, max over all products, and the values in `markets` (product order)."""
    values = np.asarray(values, dtype=float).reshape(-1)
    return {'mean': float(values.mean()), 'std': float(values.std()), 'min': float(values.min()),
            'max': float(values.max()),
            'sample': {str(market): values[market_ids == market].tolist() for market in markets}}


def sample_jacobians(results: Any, market_ids: np.ndarray, markets: list) -> dict:
    """delta and PyBLP's d xi/d theta and d omega/d theta (total, beta and gamma held fixed, zero rows where costs were
    clipped) in `markets`, with theta's elements in PyBLP's order: [parameter class, location]."""
    rows = np.isin(market_ids, markets)
    return {'theta': [[type(p).__name__, [int(i) for i in p.location]] for p in results._parameters.unfixed],
            'market_ids': market_ids[rows].astype(str).tolist(),
            'delta': np.asarray(results.delta, dtype=float)[rows, 0].tolist(),
            'xi_by_theta': np.asarray(results.xi_by_theta_jacobian, dtype=float)[rows].tolist(),
            'omega_by_theta': np.asarray(results.omega_by_theta_jacobian, dtype=float)[rows].tolist()}


def jsonable_arguments(solve: dict) -> dict:
    """The solve arguments as JSON (None for concentrated-out elements, as PyBLP's None/NaN)."""
    def plain(value: object) -> object:
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value
    return {key: plain(value) for key, value in solve.items()}


def generate(name: str, workloads: dict = SUPPLY_WORKLOADS,
             extra: Callable[[Any, dict], dict] = lambda results, workload: {}) -> dict:
    """The fixture of workload `name`, with what `extra(results, workload)` adds from PyBLP's results."""
    import pyblp
    workload = workloads[name]()
    results, seconds = timed(run_pyblp, workload)
    summary = summarize(results, seconds)
    market_ids = np.asarray(workload['products']['market_ids'])
    markets = sorted(np.unique(market_ids))[:SAMPLE_MARKETS]
    costs = results.compute_costs()
    summary.update(
        gamma=np.asarray(results.gamma, dtype=float).tolist(), gamma_se=np.asarray(results.gamma_se).tolist(),
        beta_labels=list(results.beta_labels), gamma_labels=list(results.gamma_labels),
        sigma_labels=list(results.sigma_labels), pi_labels=list(results.pi_labels),
        theta=np.asarray(results.theta, dtype=float).ravel().tolist(),
        xi=product_summary(results.xi, market_ids, markets), omega=product_summary(results.omega, market_ids, markets),
        costs=product_summary(costs, market_ids, markets),
        markups=product_summary(results.compute_markups(costs=costs), market_ids, markets),
        jacobians=sample_jacobians(results, market_ids, markets),
        clipped_costs=int(np.sum(results.clipped_costs)), step=int(results.step),
        converged=bool(np.all(results.converged)), pyblp_version=pyblp.__version__,
        formulations=workload['formulations'], agent_formulation=workload.get('agent_formulation'),
        problem=workload.get('problem', {}), solve=jsonable_arguments(workload['solve']),
        agents_rows=len(workload['agents']) if 'agents' in workload else 0,
        agents_digest=frame_digest(workload['agents']) if 'agents' in workload else None,
        products_digest=frame_digest(workload['products']))
    if 'truth' in workload:
        summary['truth'] = workload['truth']
    summary.update(extra(results, workload))
    return summary


def store_simulation() -> None:
    products, agents = simulate()
    arrays = {f'products/{column}': products[column].to_numpy() for column in products.columns}
    arrays.update({f'agents/{column}': agents[column].to_numpy() for column in agents.columns})
    np.savez_compressed(SIMULATION_DATA, **arrays)


if __name__ == '__main__':
    FIXTURES.mkdir(exist_ok=True)
    for name in sys.argv[1:] or SUPPLY_WORKLOADS:
        if name == 'supply_simulation':
            store_simulation()
        summary = generate(name)
        (FIXTURES / f'{name}.json').write_text(json.dumps(summary, indent=1) + '\n')
        print(f"{name}: objective {summary['objective']:.10g} in {summary['seconds']:.1f} s", flush=True)
