"""`Integration('monte_carlo', size, seed)` draws PyBLP's nodes: one `RandomState(seed)`, `size` standard normal rows
per market in sorted market order (whatever the data's order: Nevo's is not sorted), so that a seeded Monte Carlo
problem (PyBLP's Nevo tutorial) gives PyBLP's estimates.
Checked against PyBLP run now on its Nevo data: the nodes themselves, and a one-step estimate with sigma on the
constant and prices.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import blp

pyblp = pytest.importorskip('pyblp')
pyblp.options.verbose = False

SIZE, SEED = 20, 7


@pytest.fixture(scope='module')
def products() -> pd.DataFrame:
    return pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)


def problem(module: Any, products: pd.DataFrame) -> Any:
    formulations = (module.Formulation('0 + prices', absorb='C(product_ids)'), module.Formulation('1 + prices'))
    integration = module.Integration('monte_carlo', SIZE, specification_options={'seed': SEED})
    return module.Problem(formulations, products, integration=integration)


def test_nodes_are_pyblps(products: pd.DataFrame) -> None:
    ours, theirs = problem(blp, products), problem(pyblp, products)
    their_markets = theirs.agents.market_ids.ravel()
    for t, market in enumerate(ours.agents.layout.markets):  # ours: markets x agents x dimensions, in data order
        np.testing.assert_array_equal(ours.agents.nodes[t], theirs.agents.nodes[their_markets == market],
                                      err_msg=f'market {market}')
        np.testing.assert_allclose(ours.agents.weights[t], theirs.agents.weights[their_markets == market].ravel(),
                                   rtol=1e-15)


def test_seeded_estimate_is_pyblps(products: pd.DataFrame) -> None:
    arguments = dict(sigma=np.diag([0.5, 1.0]), method='1s')
    ours = problem(blp, products).solve(**arguments, optimization=blp.Optimization('l-bfgs-b', {'gtol': 1e-10}))
    theirs = problem(pyblp, products).solve(**arguments, optimization=pyblp.Optimization('l-bfgs-b', {'gtol': 1e-10}))
    np.testing.assert_allclose(ours.sigma, theirs.sigma, rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(ours.sigma_se, theirs.sigma_se, rtol=1e-3)
    np.testing.assert_allclose(ours.beta, theirs.beta, rtol=1e-4)
    np.testing.assert_allclose(ours.objective, theirs.objective, rtol=1e-6)
