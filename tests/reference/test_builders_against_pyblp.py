"""PyBLP's data builders (`build_id_data`, `build_ownership`, `build_integration`, `build_matrix`, `data_to_dict`)
against PyBLP 1.3.0 run now on the same inputs: the builders are cheap, so PyBLP's side is computed, not stored."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyblp
import pytest

import blp
from blp.exceptions import DataError, SpecificationError


def assert_same_record(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert ours.dtype.names == theirs.dtype.names
    for name in theirs.dtype.names:
        assert ours[name].shape == theirs[name].shape, name
        assert ours[name].dtype == theirs[name].dtype, name
        np.testing.assert_allclose(ours[name].astype(float), theirs[name].astype(float), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize('T, J, F', [(2, 5, 4), (2, 6, 3), (1, 7, 3), (1, 1, 1), (3, 10, 4), (1, 11, 3)])
def test_id_data_is_pyblps(T: int, J: int, F: int) -> None:
    ours, theirs = blp.build_id_data(T, J, F), pyblp.build_id_data(T, J, F)
    assert_same_record(ours, theirs)
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize('arguments', [(0, 1, 1), (1, 2, 0), (1, 2, 3), (1.5, 2, 1)])
def test_id_data_refuses_what_pyblp_refuses(arguments: tuple) -> None:
    with pytest.raises(ValueError):
        pyblp.build_id_data(*arguments)
    with pytest.raises(SpecificationError):
        blp.build_id_data(*arguments)


def unbalanced_ids() -> dict:
    """Markets of 3 and 2 products whose rows interleave, firm ids that are strings."""
    return {'market_ids': np.array(['b', 'a', 'b', 'a', 'b'], dtype=object),
            'firm_ids': np.array(['x', 'x', 'y', 'z', 'x'], dtype=object)}


def kappa(f: object, g: object) -> float:
    return 1.0 if f == g else 0.25 if {f, g} == {'x', 'y'} else 0.0


@pytest.mark.parametrize('specification', [None, 'monopoly', 'single', kappa])
def test_ownership_is_pyblps_on_interleaved_markets(specification: object) -> None:
    np.testing.assert_array_equal(blp.build_ownership(unbalanced_ids(), specification),
                                  pyblp.build_ownership(unbalanced_ids(), specification))


def test_ownership_of_the_notebooks_id_data_with_an_asymmetric_kappa() -> None:
    ids = pyblp.build_id_data(T=2, J=5, F=4)[1:]
    asymmetric = lambda f, g: 1.0 if f == g else 0.5 if f < g else 0.1  # noqa: E731 - kappa(f, g) as PyBLP's docs write it
    np.testing.assert_array_equal(blp.build_ownership(ids, asymmetric), pyblp.build_ownership(ids, asymmetric))
    np.testing.assert_array_equal(blp.build_ownership(blp.build_id_data(2, 5, 4)[1:]), pyblp.build_ownership(ids))


def test_special_ownership_needs_no_firm_ids_and_others_name_them() -> None:
    markets = {'market_ids': unbalanced_ids()['market_ids']}
    np.testing.assert_array_equal(blp.build_ownership(markets, 'single'), pyblp.build_ownership(markets, 'single'))
    with pytest.raises(DataError) as error:
        blp.build_ownership(markets)
    assert error.value.column == 'firm_ids'
    with pytest.raises(SpecificationError) as refused:
        blp.build_ownership(unbalanced_ids(), 'duopoly')
    assert refused.value.parameter == 'kappa_specification'


@pytest.mark.parametrize('specification, size, options', [
    ('product', 3, None), ('grid', 5, None), ('grid', 3, None), ('monte_carlo', 20, {'seed': 0}),
    ('monte_carlo', 7, {'seed': 3}), ('halton', 10, {'scramble': False}), ('halton', 6, {'scramble': False, 'discard': 5}),
])
@pytest.mark.parametrize('dimensions', [1, 2, 3])
def test_integration_is_pyblps(specification: str, size: int, options: dict | None, dimensions: int) -> None:
    ours = blp.build_integration(blp.Integration(specification, size, specification_options=options), dimensions)
    theirs = pyblp.build_integration(pyblp.Integration(specification, size, specification_options=options), dimensions)
    order = lambda record: np.lexsort(np.round(record.nodes.T, 10))  # noqa: E731 - sparse grids list nodes in any order
    ours, theirs = ours[order(ours)], theirs[order(theirs)]
    assert_same_record(ours, theirs)


def test_problem_agents_from_a_seeded_monte_carlo_integration_are_pyblps() -> None:
    """PyBLP draws the markets' nodes one after the other from one RandomState: so do we."""
    products = pd.DataFrame({'market_ids': [0, 0, 1, 1, 2], 'shares': [.1, .2, .1, .2, .3], 'prices': [1, 2, 3, 4., 2],
                             'x': [1, 3, 2, 5., 1], 'demand_instruments0': [1, 3, 2, 5., 4],
                             'demand_instruments1': [2, 1, 2, 1., 0]})
    formulations = lambda library: (library.Formulation('prices'), library.Formulation('0 + prices + x'))  # noqa: E731
    theirs = pyblp.Problem(formulations(pyblp), products, integration=pyblp.Integration(
        'monte_carlo', 4, specification_options={'seed': 1}))
    ours = blp.Problem(formulations(blp), products, integration=blp.Integration(
        'monte_carlo', 4, specification_options={'seed': 1}))
    np.testing.assert_allclose(ours.agents.nodes.reshape(-1, 2), theirs.agents.nodes, rtol=1e-14)  # ours T x I x K2


def test_integration_refuses_an_option_its_specification_does_not_take() -> None:
    with pytest.raises(SpecificationError) as error:
        blp.Integration('product', 3, specification_options={'seed': 0})
    assert error.value.parameter == 'integration.specification_options.seed'


def cereal() -> pd.DataFrame:
    return pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)


@pytest.mark.parametrize('formula, absorb', [
    ('1 + prices + shares', None), ('prices + shares', 'product_ids'), ('0 + prices + I(prices ** 2) + sugar', None),
    ('prices + sugar', 'C(product_ids) + C(market_ids)'), ('1 + log(prices)', None),
    # interactions where they are expanded, not after the main effects (PyBLP's Petrin X3: `trend * (jp + eu) + log(q)`)
    ('1 + sugar * (prices + mushy) + log(prices)', None), ('0 + prices:sugar + mushy', None),
    ('prices + sugar:mushy + I(sugar ** 2)', 'C(product_ids)'),
])
def test_build_matrix_is_pyblps(formula: str, absorb: str | None) -> None:
    data = cereal()
    ours = blp.build_matrix(blp.Formulation(formula, absorb=absorb), data)
    theirs = pyblp.build_matrix(pyblp.Formulation(formula, absorb=absorb), data)
    np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-10)


def test_data_to_dict_is_pyblps_on_pyblps_records() -> None:
    problem = pyblp.Problem(pyblp.Formulation('0 + prices', absorb='C(product_ids)'), cereal())
    for records in (problem.products, pyblp.build_id_data(2, 3, 2), pyblp.build_integration(pyblp.Integration('grid', 3), 2)):
        for ignore_empty in (True, False):
            ours, theirs = blp.data_to_dict(records, ignore_empty), pyblp.data_to_dict(records, ignore_empty)
            assert list(ours) == list(theirs)
            for key in theirs:
                np.testing.assert_array_equal(ours[key], theirs[key])
                assert ours[key].dtype == theirs[key].dtype


def test_data_to_dict_refuses_what_is_not_a_record_array() -> None:
    with pytest.raises(DataError):
        blp.data_to_dict({'prices': [1.0, 2.0]})


@pytest.mark.parametrize('formulations, integration', [
    (lambda library: library.Formulation('0 + prices', absorb='C(product_ids)'), False),
    (lambda library: (library.Formulation('mushy + prices + I(sugar**2) + sugar', absorb='C(brand_ids) + C(city_ids)'),
                      library.Formulation('0 + prices + mushy'), library.Formulation('1 + sugar', absorb='C(quarter)')),
     True),
], ids=['absorbed logit', 'supply'])
def test_problem_products_is_pyblps_record(formulations: Any, integration: bool) -> None:
    """`problem.products` displays as PyBLP's record array (`to_record()`), so `data_to_dict(problem.products)` and
    its DataFrame are PyBLP's: fields in PyBLP's order, absorbed ids, instruments in PyBLP's order, variables."""
    data = cereal()
    pyblp.options.verbose = False
    theirs = pyblp.Problem(formulations(pyblp), data, **(
        {'integration': pyblp.Integration('product', 2)} if integration else {})).products
    ours = blp.Problem(formulations(blp), data, **(
        {'integration': blp.Integration('product', 2)} if integration else {})).products
    record = ours.to_record()
    assert record.dtype.names == theirs.dtype.names  # (PyBLP's titles its matrix fields with their columns' labels)
    for name in theirs.dtype.names:
        assert (record[name].dtype, record[name].shape) == (theirs[name].dtype, theirs[name].shape), name
        if theirs[name].dtype == object:
            assert (record[name] == theirs[name]).all(), name
        else:
            np.testing.assert_allclose(record[name], theirs[name], rtol=1e-8, atol=1e-12, err_msg=name)
    assert repr(ours) == repr(record)
    ours_dict, theirs_dict = blp.data_to_dict(ours), pyblp.data_to_dict(theirs)
    assert list(ours_dict) == list(theirs_dict)
