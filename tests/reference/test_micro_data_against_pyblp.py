"""`simulate_micro_data` against PyBLP's run now on the same solved simulation and seed: the same observations
(market, agent and choice of each draw), with and without the outside good, on all markets or some."""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest

import blp

pyblp = pytest.importorskip('pyblp')
pyblp.options.verbose = False


def solved(library: Any, data: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        simulation = library.Simulation(
            product_formulations=(library.Formulation('1 + prices + x'), library.Formulation('0 + x'),
                                  library.Formulation('0 + x + z')),
            beta=[1, -2, 2], sigma=1, gamma=[1, 4], product_data=data, integration=library.Integration('product', 3),
            seed=0)
        return simulation.replace_endogenous()


def with_outside(t: Any, products: Any, agents: Any) -> np.ndarray:
    return np.ones((agents.size, 1 + products.size)) * np.arange(1, 2 + products.size)


def inside_only(t: Any, products: Any, agents: Any) -> np.ndarray:
    return np.ones((agents.size, products.size)) * agents.nodes[:, [0]] ** 2


@pytest.fixture(scope='module')
def results() -> tuple[Any, Any]:
    ids = pyblp.build_id_data(T=5, J=4, F=2)
    frame = pd.DataFrame({'market_ids': ids.market_ids[:, 0], 'firm_ids': ids.firm_ids[:, 0]})
    return solved(pyblp, ids), solved(blp, frame)


@pytest.mark.parametrize('market_ids', [None, [2, 0], [4]])
@pytest.mark.parametrize('compute_weights', [with_outside, inside_only])
def test_simulated_micro_data_equal_pyblps(results: tuple[Any, Any], market_ids: Any,
                                           compute_weights: Callable) -> None:
    theirs, ours = results
    drawn = [result.simulate_micro_data(library.MicroDataset(name='survey', observations=200,
                                                             compute_weights=compute_weights, market_ids=market_ids),
                                        seed=3) for result, library in ((theirs, pyblp), (ours, blp))]
    assert drawn[0].dtype.names == drawn[1].dtype.names
    for name in drawn[0].dtype.names:
        assert drawn[1][name].shape == drawn[0][name].shape == (200, 1), name
        assert drawn[1][name].ravel().tolist() == drawn[0][name].ravel().tolist(), name
