"""Simulations with the options the first port refused (issue 26), each defined once for PyBLP and for us: a scaled
logit error (`epsilon_scale`) and profit Hessians with nests. `outcomes` reduces a solved simulation to named arrays,
the same for both libraries, so the generator stores PyBLP's and the test compares ours with them.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
import pandas as pd

XI = np.linspace(-1, 1, 24)       # the nested and rescaled workloads' given xi and costs (4 markets x 6 products)
COSTS = np.linspace(0.2, 0.8, 24)


def ids(T: int, J: int, F: int) -> pd.DataFrame:
    """PyBLP's `build_id_data` layout: T markets of J products, firms 0..F-1 owning consecutive products."""
    return pd.DataFrame({'market_ids': np.repeat(np.arange(T), J),
                         'firm_ids': np.tile(np.repeat(np.arange(F), J // F), T)})


def tutorial(library: Any, epsilon_scale: float) -> dict[str, Any]:
    """PyBLP's simulation tutorial (one random coefficient, linear costs) with a scaled logit error."""
    return dict(product_formulations=(library.Formulation('1 + prices + x'), library.Formulation('0 + x'),
                                      library.Formulation('0 + x + z')),
                beta=[1, -2, 2], sigma=1, gamma=[1, 4], integration=library.Integration('product', 9), seed=0,
                epsilon_scale=epsilon_scale, product_data=ids(12, 6, 3))


def demographics(library: Any, epsilon_scale: float, rc_types: Any = None) -> dict[str, Any]:
    """Two random coefficients and a demographic (one lognormal with `rc_types`), linear costs."""
    return dict(product_formulations=(library.Formulation('1 + prices + v + I(b ** 2)'),
                                      library.Formulation('1 + a'), library.Formulation('1 + x + w')),
                beta=[-1, -3, 1, 0.5], sigma=[[0.5, 0], [0.2, 1]], pi=[[0.3], [-0.5]], gamma=[0.2, 0.1, 0.3],
                agent_formulation=library.Formulation('0 + income'), integration=library.Integration('product', 4),
                xi_variance=0.5, omega_variance=0.2, correlation=0.5, seed=7, epsilon_scale=epsilon_scale,
                rc_types=rc_types, product_data=ids(12, 6, 3))


def rescaled(library: Any, epsilon_scale: float, divide: float) -> dict[str, Any]:
    """Demand only with xi given; beta, sigma and xi divided by `divide`. With `divide` = e at epsilon_scale 1 this
    is the same economy as the undivided one at epsilon_scale e (agents choose by V / e either way)."""
    return dict(product_formulations=(library.Formulation('1 + prices + x'), library.Formulation('0 + x')),
                beta=np.array([1, -2, 2]) / divide, sigma=1 / divide, xi=XI / divide,
                integration=library.Integration('product', 7), seed=3, epsilon_scale=epsilon_scale,
                product_data=ids(4, 6, 3))


def nested(library: Any) -> dict[str, Any]:
    """Nested logit with a rho per nest, demand only (xi given)."""
    data = ids(4, 6, 3)
    data['nesting_ids'] = np.tile([0, 1, 0, 1, 1, 0], 4)
    return dict(product_formulations=(library.Formulation('1 + prices + x'),), beta=[1, -2, 2], xi=XI,
                rho=[0.3, 0.6], seed=2, product_data=data)


def nested_random(library: Any) -> dict[str, Any]:
    """RCNL: one random coefficient on x and one rho, demand only (xi given)."""
    data = ids(4, 6, 3)
    data['nesting_ids'] = np.tile([0, 0, 1, 1, 2, 2], 4)
    return dict(product_formulations=(library.Formulation('1 + prices + x'), library.Formulation('0 + x')),
                beta=[1, -2, 2], sigma=0.8, xi=XI, rho=0.4, integration=library.Integration('product', 5), seed=4,
                product_data=data)


def unequal_rows(data: pd.DataFrame) -> np.ndarray:
    """Rows kept for markets of unequal sizes: the last market loses its last two products, market 1 its first."""
    keep = np.ones(len(data), dtype=bool)
    keep[np.flatnonzero(data['market_ids'] == data['market_ids'].max())[-2:]] = False
    keep[np.flatnonzero(data['market_ids'] == 1)[0]] = False
    return keep


def unequal(arguments: dict[str, Any]) -> dict[str, Any]:
    """The same simulation on markets of unequal sizes (`unequal_rows`); a given xi loses the same rows."""
    keep = unequal_rows(arguments['product_data'])
    changed = {**arguments, 'product_data': arguments['product_data'][keep].reset_index(drop=True)}
    if 'xi' in arguments:
        changed['xi'] = np.asarray(arguments['xi'])[keep]
    return changed


# name: (our simulation's arguments, PyBLP's, what to run: 'endogenous' and/or 'exogenous' with its names)
WORKLOADS: dict[str, tuple[Callable[[Any], dict], Callable[[Any], dict], dict]] = {
    'scale_tutorial': (lambda L: tutorial(L, 0.5), lambda L: tutorial(L, 0.5), dict(endogenous={})),
    'scale_demographics': (lambda L: demographics(L, 2.0), lambda L: demographics(L, 2.0),
                           dict(endogenous={}, exogenous=('v', 'w'))),
    'scale_lognormal': (lambda L: demographics(L, 1.5, ['linear', 'log']),
                        lambda L: demographics(L, 1.5, ['linear', 'log']), dict(endogenous={}, exogenous=('v', 'w'))),
    # the economy at e = 2 is PyBLP's at e = 1 with utilities divided by 2 (its consumer surplus is not: PyBLP's at
    # e != 1 sums exp V, not exp V / e, and ours follows it, compared in the other workloads)
    'scale_surplus': (lambda L: rescaled(L, 2.0, 1.0), lambda L: rescaled(L, 1.0, 2.0),
                      dict(endogenous=dict(costs=COSTS))),
    'hessians_nested': (nested, nested, dict(endogenous=dict(costs=COSTS))),
    'hessians_rcnl': (nested_random, nested_random, dict(endogenous=dict(costs=COSTS))),
    'hessians_rcnl_unequal': (lambda L: unequal(nested_random(L)), lambda L: unequal(nested_random(L)),
                              dict(endogenous=dict(costs=COSTS[unequal_rows(ids(4, 6, 3))]))),
    'scale_unequal': (lambda L: unequal(demographics(L, 0.7)), lambda L: unequal(demographics(L, 0.7)),
                      dict(endogenous={}, exogenous=('v', 'w'))),
}

# Outcomes not compared: 'scale_surplus' against the divided economy, its delta (PyBLP's is of the divided
# utilities) and its consumer surplus (PyBLP's at e != 1 is not the divided economy's).
NOT_COMPARED = {'scale_surplus': ('endogenous_delta', 'shares_at_delta', 'surpluses')}


def simulate(library: Any, arguments: dict[str, Any]) -> Any:
    """`library.Simulation` on the arguments (PyBLP gets its product data as a dict of arrays)."""
    arguments = dict(arguments)
    data = arguments.pop('product_data')
    if library.__name__ == 'pyblp':
        library.options.verbose = False
        data = {column: data[column].to_numpy() for column in data.columns}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return library.Simulation(**arguments, product_data=data)


def by_firm(values: dict) -> np.ndarray:
    """{market: {firm: array}} flattened in sorted market and firm order."""
    return np.concatenate([np.ravel(values[market][firm]) for market in sorted(values)
                           for firm in sorted(values[market])])


def outcomes(library: Any, name: str) -> dict[str, np.ndarray]:
    """The workload solved in `library`: equilibrium prices, shares, delta, costs, iterations, elasticities, markups,
    consumer surpluses, passthrough, shares at delta + 0.1, prices after a merger of all firms, profit gradients and
    Hessians (with their eigenvalues); characteristics replace_exogenous solves for."""
    ours, theirs, run = WORKLOADS[name]
    simulation = simulate(library, (theirs if library.__name__ == 'pyblp' else ours)(library))
    found: dict[str, np.ndarray] = {}

    def field(results: Any, column: str) -> np.ndarray:
        return np.asarray(results.product_data[column], dtype=float).reshape(-1)

    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        if 'endogenous' in run:
            results = simulation.replace_endogenous(**run['endogenous'])
            found.update({f'endogenous_{column}': field(results, column) for column in ('prices', 'shares')})
            found.update(endogenous_delta=np.ravel(results.delta), endogenous_costs=np.ravel(results.costs),
                         fp_iterations=np.ravel(results.fp_iterations).astype(float),
                         elasticities=np.ravel(results.compute_elasticities()),
                         markups=np.ravel(results.compute_markups()),
                         surpluses=np.ravel(results.compute_consumer_surpluses()),
                         passthrough=np.ravel(results.compute_passthrough()),
                         shares_at_delta=np.ravel(results.compute_shares(delta=np.ravel(results.delta) + 0.1)),
                         merger_prices=np.ravel(results.compute_prices(firm_ids=np.zeros(len(results.product_data)))),
                         profit_gradients=by_firm(results.profit_gradients),
                         profit_hessians=by_firm(results.profit_hessians),
                         profit_hessian_eigenvalues=by_firm(results.profit_hessian_eigenvalues))
        if 'exogenous' in run:
            X1_name, X3_name = run['exogenous']
            results = simulation.replace_exogenous(X1_name, X3_name)
            found.update({f'exogenous_{column}': field(results, column) for column in (X1_name, X3_name)})
            found.update(exogenous_delta=np.ravel(results.delta), exogenous_costs=np.ravel(results.costs))
    return found
