"""Persistent unobservables (issue 26, item 2): a simulated panel with AR(1) xi and omega, and the solves PyBLP 1.3.0
runs on it with `phi` and quasi-differenced ('innovations') moments, demand alone and with a supply side.

The panel is built here from a seed (numpy only), so PyBLP and our side estimate on identical numbers: products keep
their identity across periods, `lag_indices` points each row at the same product's row one period earlier (its own
row in the first period).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from workloads import ROOT

FIXTURES = ROOT / 'tests' / 'reference' / 'fixtures'
PHI_TRUTH = dict(xi=0.6, omega=0.4, xi_on_omega=0.1, omega_on_xi=0.05)
SIZE = dict(T=20, J=15, I=50)


def panel(seed: int = 26) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Products (T periods x J persistent products) and agents (I standard normal nodes per period)."""
    T, J, I = SIZE['T'], SIZE['J'], SIZE['I']
    rng = np.random.default_rng(seed)
    x, w = rng.uniform(0, 1, (J, T)), rng.uniform(0, 1, (J, T))
    xi, omega = np.zeros((J, T)), np.zeros((J, T))
    truth = PHI_TRUTH
    for t in range(T):
        innovations = rng.normal(0, 0.3, (J, 2))
        if t == 0:
            xi[:, t], omega[:, t] = innovations[:, 0], innovations[:, 1]
        else:
            xi[:, t] = truth['xi'] * xi[:, t - 1] + truth['xi_on_omega'] * omega[:, t - 1] + innovations[:, 0]
            omega[:, t] = truth['omega'] * omega[:, t - 1] + truth['omega_on_xi'] * xi[:, t - 1] + innovations[:, 1]
    costs = 1 + 2 * w + omega
    prices = costs + 1 + 0.5 * xi + rng.uniform(0, 0.2, (J, T))
    utilities = 1 + 2 * x - 1.5 * prices + xi
    nodes = rng.normal(size=(I, T))
    exp_utilities = np.exp(utilities[:, None, :] + 0.5 * x[:, None, :] * nodes[None, :, :])
    shares = (exp_utilities / (1 + exp_utilities.sum(axis=0, keepdims=True))).mean(axis=1)
    rows = [(t, j) for t in range(T) for j in range(J)]
    lag_indices = [index - J if t else index for index, (t, j) in enumerate(rows)]
    products = pd.DataFrame({
        'market_ids': [t for t, _ in rows], 'product_ids': [j for _, j in rows], 'firm_ids': [j for _, j in rows],
        'lag_indices': lag_indices, 'clustering_ids': [j for _, j in rows], 'shares': [shares[j, t] for t, j in rows],
        'prices': [prices[j, t] for t, j in rows], 'x': [x[j, t] for t, j in rows], 'w': [w[j, t] for t, j in rows],
    })
    products['demand_instruments0'] = products['w']
    products['demand_instruments1'] = products['w'] ** 2
    products['demand_instruments2'] = products.groupby('market_ids')['x'].transform('sum') - products['x']
    lagged = np.asarray(lag_indices)
    products['demand_instruments3'] = products['w'].to_numpy()[lagged]
    products['demand_instruments4'] = products['x'].to_numpy()[lagged]
    products['supply_instruments0'] = products['x']
    products['supply_instruments1'] = products['x'] ** 2
    products['supply_instruments2'] = products['demand_instruments2']
    products['supply_instruments3'] = products['demand_instruments3']
    products['supply_instruments4'] = products['demand_instruments4']
    agents = pd.DataFrame({'market_ids': np.repeat(np.arange(T), I), 'weights': 1 / I,
                           'nodes0': nodes.T.ravel()})
    return products, agents


WORKLOADS: dict[str, dict[str, Any]] = {
    'persistence_demand': dict(
        formulations=('1 + prices + x', '0 + x'), solve=dict(sigma=[[0.5]], phi=0.3, demand_moment_types='innovations')),
    'persistence_differenced': dict(
        formulations=('0 + prices + x', '0 + x'),
        solve=dict(sigma=[[0.5]], phi=0.3, demand_moment_types='differenced_innovations')),
    'persistence_supply': dict(
        formulations=('1 + prices + x', None, '1 + w'),
        solve=dict(phi=[[0.3, 0.1], [0.1, 0.3]], beta=[None, -1.0, None],
                   demand_moment_types='innovations', supply_moment_types='innovations')),
    'persistence_supply_clustered': dict(
        formulations=('1 + prices + x', None, '1 + w'),
        solve=dict(phi=[[0.3, 0.1], [0.1, 0.3]], beta=[None, -1.0, None], W_type='clustered', se_type='clustered',
                   demand_moment_types='innovations', supply_moment_types='innovations')),
    'persistence_unadjusted': dict(
        formulations=('1 + prices + x', '0 + x'),
        solve=dict(sigma=[[0.5]], phi=0.3, demand_moment_types='innovations', W_type='unadjusted',
                   se_type='unadjusted')),
    'persistence_moment_types': dict(
        formulations=('1 + prices + x', '0 + x'),
        solve=dict(sigma=[[0.5]], phi=0.3, demand_moment_types=[
            ('levels', 1), ('innovations', 3), ('differenced_innovations', 3)])),
    'persistence_moment_types_supply': dict(
        formulations=('1 + prices + x', None, '1 + w'),
        solve=dict(phi=[[0.3, 0.1], [0.1, 0.3]], beta=[None, -1.0, None],
                   demand_moment_types=[('levels', 2), ('innovations', 5)],
                   supply_moment_types=[('innovations', 4), ('differenced_innovations', 3)])),
}


def build(module: Any, name: str) -> tuple[Any, dict]:
    """The workload's problem in `module` (pyblp, or blp under PyBLP's names) and its solve arguments."""
    products, agents = panel()
    workload = WORKLOADS[name]
    formulations = tuple(None if formula is None else module.Formulation(formula)
                         for formula in workload['formulations'])
    problem = module.Problem(formulations, products, agent_data=agents if formulations[1] is not None else None)
    return problem, dict(workload['solve'], method='2s', optimization=module.Optimization('l-bfgs-b', {'gtol': 1e-10}))


def summary(results: Any, seconds: float) -> dict:
    """What a reference test compares: estimates and SEs (beta, sigma, phi, gamma), theta with its labels, the
    objective, xi and its Jacobian in theta (omega's with a supply side) in the first market, as plain lists (PyBLP
    and blp results share these names), and the printed
    tables of phi and of the moment counts; without a supply side, phi in four bootstrap draws (seed 0)."""
    numbers = {name: np.asarray(getattr(results, name), dtype=float).tolist()
               for name in ('beta', 'beta_se', 'sigma', 'sigma_se', 'phi', 'phi_se', 'gamma', 'gamma_se', 'theta')}
    return dict(numbers, objective=float(np.squeeze(results.objective)), theta_labels=list(map(str,
                results.theta_labels)), xi=np.asarray(results.xi, dtype=float)[:SIZE['J'], 0].tolist(),
                xi_jacobian=np.asarray(results.xi_by_theta_jacobian, dtype=float)[:SIZE['J']].tolist(),
                omega_jacobian=np.asarray(results.omega_by_theta_jacobian, dtype=float)[:SIZE['J']].tolist()
                if np.size(results.gamma) else [],
                seconds=seconds, printed=[table for table in str(results).split('\n\n')
                                          if table.startswith(('Phi ', 'Demand Moment', 'Supply Moment'))],
                bootstrapped_phi=[] if np.size(results.gamma) else np.asarray(
                    results.bootstrap(draws=4, seed=0).bootstrapped_phi, dtype=float).ravel().tolist())


def run_pyblp(name: str) -> dict:
    """PyBLP's numbers for a workload (single-threaded, quiet)."""
    import time

    import pyblp
    pyblp.options.verbose = False
    problem, solve = build(pyblp, name)
    started = time.perf_counter()
    results = problem.solve(**solve)
    return summary(results, time.perf_counter() - started)
