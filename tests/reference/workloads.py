"""The reference workloads, each defined once and runnable in PyBLP and in `blp` on identical data and agents.

A workload is a function returning (product formulations, product data, agent formulation, agent data, solve
arguments) built from plain strings and arrays; `run_blp` and `run_pyblp` translate it for each library.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from examples import cereal

ROOT = Path(__file__).resolve().parents[2]

ABSORB_BOTH = 'C(market_ids) + C(product_ids)'
TRUST_CONSTR = ('trust-constr', {'gtol': 1e-8, 'xtol': 1e-8})


def _nevo_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    """PyBLP's fake Nevo cereal data (MIT licence, shipped with pyblp) — pyblp is a test dependency."""
    import pyblp
    return pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION), pd.read_csv(pyblp.data.NEVO_AGENTS_LOCATION)


def cereal_ols() -> dict:
    return dict(formulations=[('1 + mushy + prices', None)], products=cereal.product_data('ols'),
                solve=dict(method='1s'))


def cereal_fixed_effects() -> dict:
    return dict(formulations=[('0 + prices', ABSORB_BOTH)], products=cereal.product_data('ols'),
                solve=dict(method='1s'))


def cereal_iv() -> dict:
    return dict(formulations=[('0 + prices', ABSORB_BOTH)], products=cereal.product_data('price'),
                solve=dict(method='1s'))


def cereal_pi_mushy() -> dict:
    products = cereal.product_data()
    products = products.drop(columns=['demand_instruments2', 'demand_instruments3'])
    return dict(formulations=[('0 + prices', ABSORB_BOTH), ('0 + mushy', None)], products=products,
                agent_formulation='0 + log_income', agents=cereal.agent_data(),
                solve=dict(sigma=0, pi=1, method='1s', optimization=TRUST_CONSTR))


def cereal_sigma_prices() -> dict:
    return dict(formulations=[('0 + prices', ABSORB_BOTH), ('0 + mushy + prices', None)],
                products=cereal.product_data(), agent_formulation='0 + log_income', agents=cereal.agent_data(),
                solve=dict(sigma=[[0, 0], [0, 1]], pi=[[0.2], [1]], method='1s', optimization=TRUST_CONSTR))


def cereal_pi_two_step() -> dict:
    """Over-identified (four instruments, two parameters), two-step, clustered by product."""
    products = cereal.product_data()
    products['clustering_ids'] = products['product_ids']
    return dict(formulations=[('0 + prices', ABSORB_BOTH), ('0 + mushy', None)], products=products,
                agent_formulation='0 + log_income', agents=cereal.agent_data(),
                solve=dict(sigma=0, pi=1, method='2s', optimization=TRUST_CONSTR, W_type='clustered',
                           se_type='clustered'))


NEVO_SIGMA = np.diag([0.3302, 2.4526, 0.0163, 0.2441])
NEVO_PI = [[5.4819, 0, 0.2037, 0], [15.8935, -1.2000, 0, 2.6342], [-0.2506, 0, 0.0511, 0], [1.2650, 0, -0.8091, 0]]


def nevo() -> dict:
    products, agents = _nevo_data()
    return dict(formulations=[('0 + prices', 'C(product_ids)'), ('1 + prices + sugar + mushy', None)],
                products=products, agent_formulation='0 + income + income_squared + age + child', agents=agents,
                solve=dict(sigma=NEVO_SIGMA, pi=NEVO_PI, method='1s', optimization=('bfgs', {'gtol': 1e-10})))


def nevo_logit_two_step() -> dict:
    products, _ = _nevo_data()
    return dict(formulations=[('prices', None)], products=products, solve=dict(method='2s', se_type='unadjusted'))


def nevo_nested_logit() -> dict:
    """Nested logit with nests by mushy (rho per nest), product fixed effects, Nevo's instruments."""
    products, _ = _nevo_data()
    products['nesting_ids'] = products['mushy']
    return dict(formulations=[('0 + prices', 'C(product_ids)')], products=products,
                solve=dict(rho=[0.5, 0.5], method='1s', optimization=('l-bfgs-b', {'gtol': 1e-10})))


def nevo_one_nest() -> dict:
    products, _ = _nevo_data()
    products['nesting_ids'] = 1
    return dict(formulations=[('0 + prices', 'C(product_ids)')], products=products,
                solve=dict(rho=0.7, method='2s', optimization=('l-bfgs-b', {'gtol': 1e-10})))


def nevo_rcnl() -> dict:
    """Random coefficients nested logit on Nevo's data nested by mushy: sigma on the constant and prices, pi on income
    and child, one rho for both nests (BFGS, unbounded, as PyBLP's Nevo example)."""
    products, agents = _nevo_data()
    products['nesting_ids'] = products['mushy']
    return dict(formulations=[('0 + prices', 'C(product_ids)'), ('1 + prices', None)], products=products,
                agent_formulation='0 + income + child', agents=agents,
                solve=dict(sigma=np.diag([0.33, 2.45]), pi=[[5.48, 0], [15.89, 2.63]], rho=0.5, method='1s',
                           optimization=('bfgs', {'gtol': 1e-10})))


def nevo_rcnl_per_nest() -> dict:
    """`nevo_rcnl` with one rho per nest, L-BFGS-B within PyBLP's default rho bounds [0, 0.99] (sigma free of sign)."""
    workload = nevo_rcnl()
    workload['solve'].update(rho=[0.5, 0.5], sigma_bounds=(-np.full((2, 2), 10.0), np.full((2, 2), 10.0)),
                             optimization=('l-bfgs-b', {'gtol': 1e-10, 'ftol': 1e-16}))
    return workload


def cereal_lognormal_prices() -> dict:
    """A lognormal price coefficient on the exercise-2 data: the coefficient on prices is beta - exp(sigma nu + pi
    log income) (X2 is -prices with rc_types 'log'; prices also in X1 with both fixed effects absorbed, so beta
    shifts it, as in PyBLP). 100 agents per market; bounds keep the line search where the contraction converges."""
    return dict(formulations=[('0 + prices', ABSORB_BOTH), ('0 + I(-prices)', None)], products=cereal.product_data(),
                agent_formulation='0 + log_income', agents=cereal.agent_data(size=100), rc_types=['log'],
                solve=dict(sigma=[[0.5]], pi=[[0.3]], sigma_bounds=([[0]], [[2]]), pi_bounds=([[-0.5]], [[0.6]]),
                           method='1s', optimization=('l-bfgs-b', {'gtol': 1e-10})))


WORKLOADS: dict[str, Callable[[], dict]] = {
    'cereal_ols': cereal_ols,
    'cereal_fixed_effects': cereal_fixed_effects,
    'cereal_iv': cereal_iv,
    'cereal_pi_mushy': cereal_pi_mushy,
    'cereal_sigma_prices': cereal_sigma_prices,
    'cereal_pi_two_step': cereal_pi_two_step,
    'nevo': nevo,
    'nevo_logit_two_step': nevo_logit_two_step,
    'nevo_nested_logit': nevo_nested_logit,
    'nevo_one_nest': nevo_one_nest,
    'nevo_rcnl': nevo_rcnl,
    'nevo_rcnl_per_nest': nevo_rcnl_per_nest,
    'cereal_lognormal_prices': cereal_lognormal_prices,
}


def _solve_arguments(solve: dict, module: Any) -> dict:
    arguments = dict(solve)
    if 'optimization' in arguments:
        method, options = arguments['optimization']
        arguments['optimization'] = module.Optimization(method, dict(options))
    arguments['iteration'] = module.Iteration('squarem', {'atol': 1e-14})
    return arguments


def _micro_arguments(workload: dict, module: Any) -> dict:
    """micro_moments=[...] built with `module` when the workload has micro moments (micro_workloads.py)."""
    return {'micro_moments': workload['micro'](module)} if 'micro' in workload else {}


def run_blp(workload: dict) -> Any:
    import blp
    formulations = [blp.Formulation(formula, absorb) for formula, absorb in workload['formulations']]
    agent_formulation = blp.Formulation(workload['agent_formulation']) if 'agent_formulation' in workload else None
    problem = blp.Problem(formulations, workload['products'], agent_formulation, workload.get('agents'),
                          rc_types=workload.get('rc_types'))
    return problem.solve(**_solve_arguments(workload['solve'], blp), **_micro_arguments(workload, blp))


def run_pyblp(workload: dict) -> Any:
    import pyblp
    pyblp.options.verbose = False
    formulations = [pyblp.Formulation(formula, absorb=absorb) for formula, absorb in workload['formulations']]
    agent_formulation = pyblp.Formulation(workload['agent_formulation']) if 'agent_formulation' in workload else None
    products = workload['products']
    if len(formulations) == 1 and 'nesting_ids' not in products:
        problem = pyblp.Problem(formulations, products)
    else:
        problem = pyblp.Problem(formulations, products, agent_formulation, workload.get('agents'),
                                rc_types=workload.get('rc_types'))
    return problem.solve(**_solve_arguments(workload['solve'], pyblp), **_micro_arguments(workload, pyblp))


def summarize(results: Any, seconds: float) -> dict:
    """The numbers we compare, as plain lists (PyBLP and blp results share these attribute names)."""
    def listed(name: str) -> Any:
        value = getattr(results, name, None)
        return None if value is None else np.asarray(value, dtype=float).tolist()

    return {
        'objective': float(np.squeeze(results.objective)),
        'beta': listed('beta'), 'beta_se': listed('beta_se'),
        'sigma': listed('sigma'), 'sigma_se': listed('sigma_se'),
        'pi': listed('pi'), 'pi_se': listed('pi_se'),
        'rho': listed('rho'), 'rho_se': listed('rho_se'),
        'gradient_norm': float(np.squeeze(getattr(results, 'projected_gradient_norm', np.nan))),
        'seconds': seconds,
    }


def timed(function: Callable[[dict], Any], workload: dict) -> tuple[Any, float]:
    started = time.perf_counter()
    results = function(workload)
    return results, time.perf_counter() - started
