"""`simulate_micro_data` of second-choice datasets against PyBLP's run now on the same solved simulation and seed: the
same observations (market, agent, first and second choice of each draw) for I x J x J weights and every placement of
the outside good, with `eliminated_product_ids_index`, on random coefficients and on RCNL."""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest

import blp

pyblp = pytest.importorskip('pyblp')
pyblp.options.verbose = False


def solved(library: Any, data: Any, nested: bool) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        simulation = library.Simulation(
            product_formulations=(library.Formulation('1 + prices + x'), library.Formulation('0 + x'),
                                  library.Formulation('0 + x + z')),
            beta=[1, -2, 2], sigma=1, gamma=[1, 4], rho=0.6 if nested else None, product_data=data,
            integration=library.Integration('product', 3), seed=0)
        return simulation.replace_endogenous()


def ids(nested: bool) -> dict[str, np.ndarray]:
    built = pyblp.build_id_data(T=4, J=4, F=2)
    within = np.arange(built.market_ids.size) % 4
    data = {'market_ids': built.market_ids[:, 0], 'firm_ids': built.firm_ids[:, 0],
            'product_ids': within // 2}  # pairs removed together (whole nests with nests)
    if nested:
        data['nesting_ids'] = within // 2
    return data


def agent_varied(first: int, second: int, agents: Any) -> np.ndarray:
    """w_ijk = (1 + nu_i^2) (j + 1) / (k + 1): unequal across agents, first and second choices."""
    return ((1 + agents.nodes[:, [0]] ** 2)[:, :, None] * np.arange(1, 1 + first)[None, :, None] /
            np.arange(1, 1 + second)[None, None, :])


def inside_inside(t: Any, products: Any, agents: Any) -> np.ndarray:
    return agent_varied(products.size, products.size, agents)


def outside_outside(t: Any, products: Any, agents: Any) -> np.ndarray:
    return agent_varied(1 + products.size, 1 + products.size, agents)


def outside_first(t: Any, products: Any, agents: Any) -> np.ndarray:
    return agent_varied(1 + products.size, products.size, agents)


def outside_second(t: Any, products: Any, agents: Any) -> np.ndarray:
    return agent_varied(products.size, 1 + products.size, agents)


@pytest.fixture(scope='module', params=[False, True], ids=['random-coefficients', 'rcnl'])
def results(request: Any) -> tuple[Any, Any]:
    data = ids(request.param)
    return solved(pyblp, data, request.param), solved(blp, pd.DataFrame(data), request.param)


def draws(results: tuple[Any, Any], **options: Any) -> list[Any]:
    return [result.simulate_micro_data(library.MicroDataset(name='second choices', observations=300, **options),
                                       seed=5) for result, library in zip(results, (pyblp, blp))]


def assert_same(drawn: list[Any]) -> None:
    assert drawn[0].dtype.names == drawn[1].dtype.names
    assert 'second_choice_indices' in drawn[1].dtype.names
    for name in drawn[0].dtype.names:
        assert drawn[1][name].shape == drawn[0][name].shape == (300, 1), name
        assert drawn[1][name].ravel().tolist() == drawn[0][name].ravel().tolist(), name


@pytest.mark.parametrize('compute_weights', [inside_inside, outside_outside, outside_first, outside_second])
@pytest.mark.parametrize('market_ids', [None, [3, 1]])
def test_second_choice_draws_equal_pyblps(results: tuple[Any, Any], compute_weights: Callable,
                                          market_ids: Any) -> None:
    assert_same(draws(results, compute_weights=compute_weights, market_ids=market_ids))


@pytest.mark.parametrize('compute_weights', [inside_inside, outside_outside])
def test_second_choice_draws_with_eliminated_groups_equal_pyblps(results: tuple[Any, Any],
                                                                 compute_weights: Callable) -> None:
    drawn = draws(results, compute_weights=compute_weights, eliminated_product_ids_index=0)
    assert_same(drawn)
    first, second = (drawn[1][name].ravel() for name in ('choice_indices', 'second_choice_indices'))
    offset = 1 if compute_weights is outside_outside else 0  # products' positions in the market, outside at -1
    assert not np.any((first >= offset) & (second >= offset) & ((first - offset) // 2 == (second - offset) // 2))


def test_mixed_first_and_second_choice_weights_are_refused(results: tuple[Any, Any]) -> None:
    def mixed(t: Any, products: Any, agents: Any) -> np.ndarray:
        return inside_inside(t, products, agents) if t == 0 else np.ones((agents.size, products.size))

    with pytest.raises(blp.exceptions.SpecificationError, match='second-choice weights in others') as raised:
        results[1].simulate_micro_data(blp.MicroDataset('mixed', 10, mixed), seed=0)
    assert raised.value.parameter == 'dataset'
