"""Halton, LHS and MLHS agents are PyBLP's bit for bit: scrambled Halton (Owen's digit permutations from
`RandomState(seed)`, `discard` leading points), unscrambled Halton, (modified) Latin hypercube samples, for several
sizes, dimensions and seeds, in one market and market after market; and a Halton estimate on PyBLP's Nevo data equals
PyBLP's at the project's tolerances. PyBLP runs live: drawing nodes takes it milliseconds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import blp

pyblp = pytest.importorskip('pyblp')
pyblp.options.verbose = False

HALTON_OPTIONS = [{'seed': 0}, {'seed': 1}, {'seed': 123, 'discard': 0}, {'seed': 7, 'discard': 5},
                  {'scramble': False}, {'scramble': False, 'discard': 17}]


def assert_same_agents(specification: str, size: int, options: dict, dimensions: int) -> None:
    ours = blp.build_integration(blp.Integration(specification, size, specification_options=options), dimensions)
    theirs = pyblp.build_integration(pyblp.Integration(specification, size, specification_options=options),
                                     dimensions)
    np.testing.assert_array_equal(ours.nodes, theirs.nodes)
    np.testing.assert_array_equal(ours.weights, theirs.weights)


@pytest.mark.parametrize('options', HALTON_OPTIONS)
@pytest.mark.parametrize('size, dimensions', [(1, 1), (7, 2), (100, 3), (1000, 5), (50, 16)])
def test_halton_nodes_are_pyblps(options: dict, size: int, dimensions: int) -> None:
    assert_same_agents('halton', size, options, dimensions)


@pytest.mark.parametrize('specification', ['lhs', 'mlhs'])
@pytest.mark.parametrize('size, dimensions, seed', [(1, 1, 0), (7, 3, 4), (100, 2, 0), (1000, 5, 9)])
def test_latin_hypercube_nodes_are_pyblps(specification: str, size: int, dimensions: int, seed: int) -> None:
    assert_same_agents(specification, size, {'seed': seed}, dimensions)


@pytest.mark.parametrize('specification, options', [
    ('halton', {'seed': 5}), ('halton', {'seed': 5, 'discard': 10}), ('halton', {'scramble': False}),
    ('lhs', {'seed': 3}), ('mlhs', {'seed': 3})])
def test_problem_agents_continue_market_after_market_as_pyblps(specification: str, options: dict) -> None:
    """Markets in unsorted data order: both libraries draw in sorted market order from one sequence and state."""
    rng = np.random.default_rng(0)
    products = pd.DataFrame({'market_ids': np.repeat([2, 0, 3, 1], 3), 'shares': 0.1, 'prices': rng.normal(size=12),
                             'x': rng.normal(size=12)})
    problems = [library.Problem((library.Formulation('1 + prices + x'), library.Formulation('0 + prices + x')),
                                products, integration=library.Integration(specification, 6, options))
                for library in (blp, pyblp)]
    ours, theirs = problems
    their_markets = theirs.agents.market_ids.ravel()
    for t, market in enumerate(ours.agents.layout.markets):
        np.testing.assert_array_equal(ours.agents.nodes[t], theirs.agents.nodes[their_markets == market],
                                      err_msg=f'market {market}')


def nevo_problem(module: Any) -> Any:
    products = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    formulations = (module.Formulation('0 + prices', absorb='C(product_ids)'), module.Formulation('1 + prices'))
    integration = module.Integration('halton', 50, specification_options={'seed': 0})
    return module.Problem(formulations, products, integration=integration)


def test_halton_estimate_is_pyblps() -> None:
    arguments = dict(sigma=np.diag([0.5, 1.0]), method='1s')
    ours = nevo_problem(blp).solve(**arguments, optimization=blp.Optimization('l-bfgs-b', {'gtol': 1e-10}))
    theirs = nevo_problem(pyblp).solve(**arguments, optimization=pyblp.Optimization('l-bfgs-b', {'gtol': 1e-10}))
    np.testing.assert_allclose(ours.sigma, theirs.sigma, rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(ours.sigma_se, theirs.sigma_se, rtol=1e-3)
    np.testing.assert_allclose(ours.beta, theirs.beta, rtol=1e-4)
    np.testing.assert_allclose(ours.beta_se, theirs.beta_se, rtol=1e-3)
    np.testing.assert_allclose(ours.objective, theirs.objective, rtol=1e-6)


@pytest.mark.parametrize('specification, options', [
    ('halton', {'seed': 0}), ('halton', {'scramble': False}), ('halton', {'seed': 2, 'discard': 3}),
    ('lhs', {'seed': 1}), ('mlhs', {'seed': 1})])
def test_integration_is_described_as_pyblps(specification: str, options: dict) -> None:
    assert repr(blp.Integration(specification, 5, options)) == repr(pyblp.Integration(specification, 5, options))
