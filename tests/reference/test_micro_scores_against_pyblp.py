"""`compute_micro_scores` and `compute_agent_scores` against PyBLP's run now at the same theta (both evaluated with
`Optimization('return')` at the simulation's true sigma and pi, so optimizer noise does not enter): with integration
or with the micro data's own nodes and weights, with and without the outside good, 1e-10."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

import blp

pyblp = pytest.importorskip('pyblp')
pyblp.options.verbose = False
ATOL = 1e-10


def estimate(library: Any, data: Any) -> tuple[Any, Any]:
    """A problem with two random coefficients and a demographic, evaluated at the true sigma and pi."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        simulation = library.Simulation(
            product_formulations=(library.Formulation('1 + prices + x'), library.Formulation('1 + prices'),
                                  library.Formulation('0 + x + z')),
            beta=[1, -2, 2], sigma=[[0.5, 0], [0, 0.3]], pi=[[0.4], [0.2]], gamma=[1, 4],
            agent_formulation=library.Formulation('0 + income'), product_data=data,
            integration=library.Integration('product', 3), seed=0)
        problem = simulation.replace_endogenous().to_problem(product_formulations=simulation.product_formulations[:2])
        return simulation, problem.solve(sigma=simulation.sigma, pi=simulation.pi,
                                         optimization=library.Optimization('return'), method='1s')


def with_outside(t: Any, products: Any, agents: Any) -> np.ndarray:
    return np.ones((agents.size, 1 + products.size))


def inside_by_income(t: Any, products: Any, agents: Any) -> np.ndarray:
    return np.ones((agents.size, products.size)) * (1 + agents.demographics[:, [0]])


@pytest.fixture(scope='module')
def estimates() -> dict[str, Any]:
    ids = pyblp.build_id_data(T=6, J=5, F=5)
    frame = pd.DataFrame({'market_ids': ids.market_ids[:, 0], 'firm_ids': ids.firm_ids[:, 0]})
    simulation, theirs = estimate(pyblp, ids)
    ours = estimate(blp, frame)[1]
    agents = pd.DataFrame(pyblp.data_to_dict(simulation.agent_data))
    agents['agent_indices'] = agents.groupby('market_ids').cumcount()
    return {'theirs': theirs, 'ours': ours, 'agents': agents}


def datasets(compute_weights: Any, market_ids: Any, observations: int) -> tuple[Any, Any]:
    return tuple(library.MicroDataset(name='survey', observations=observations, compute_weights=compute_weights,
                                      market_ids=market_ids) for library in (pyblp, blp))


def micro_data(estimates: dict[str, Any], dataset: Any, seed: int) -> pd.DataFrame:
    drawn = pd.DataFrame(pyblp.data_to_dict(estimates['theirs'].simulate_micro_data(dataset, seed=seed)))
    return drawn.merge(estimates['agents'], on=['market_ids', 'agent_indices']).sort_values('micro_ids') \
        .reset_index(drop=True)


def assert_scores_equal(ours: list, theirs: list) -> None:
    assert len(ours) == len(theirs)
    for mine, reference in zip(ours, theirs):
        if isinstance(reference, dict):
            assert list(mine) == list(reference)
            for market in reference:
                np.testing.assert_allclose(mine[market], reference[market], rtol=0, atol=ATOL)
        else:
            np.testing.assert_allclose(mine, reference, rtol=0, atol=ATOL)


@pytest.mark.parametrize(('compute_weights', 'market_ids'), [(with_outside, [1, 3]), (inside_by_income, None)])
def test_scores_with_integration_equal_pyblps(estimates: dict[str, Any], compute_weights: Any,
                                              market_ids: Any) -> None:
    theirs_dataset, our_dataset = datasets(compute_weights, market_ids, 30)
    data = micro_data(estimates, theirs_dataset, seed=0)
    assert_scores_equal(
        estimates['ours'].compute_micro_scores(our_dataset, data, integration=blp.Integration('product', 4)),
        estimates['theirs'].compute_micro_scores(theirs_dataset, data, integration=pyblp.Integration('product', 4)))
    assert_scores_equal(
        estimates['ours'].compute_agent_scores(our_dataset, integration=blp.Integration('product', 4)),
        estimates['theirs'].compute_agent_scores(theirs_dataset, integration=pyblp.Integration('product', 4)))


def test_scores_with_the_micro_datas_own_nodes_equal_pyblps(estimates: dict[str, Any]) -> None:
    """Two rows per observation (micro_ids), each with its nodes and weights; only some markets appear, and PyBLP
    sums the denominator over those."""
    theirs_dataset, our_dataset = datasets(inside_by_income, None, 12)
    data = micro_data(estimates, theirs_dataset, seed=1)
    data = pd.concat([data.assign(nodes0=data['nodes0'] + shift, weights=0.5) for shift in (0, 0.3)]) \
        .sort_values('micro_ids', kind='stable').reset_index(drop=True)
    assert_scores_equal(estimates['ours'].compute_micro_scores(our_dataset, data),
                        estimates['theirs'].compute_micro_scores(theirs_dataset, data))
