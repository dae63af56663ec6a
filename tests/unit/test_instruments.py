"""Instrument builders and the spec's built instruments: bad input names the column or parameter, built columns
are numbered after the data's own, and a pure logit's optimal instruments are just the expected prices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import blp
from blp.exceptions import DataError, SpecificationError
from blp.primitives.instruments import with_built_instruments
from blp.spec import InstrumentsSpec
from examples import cereal


def small() -> pd.DataFrame:
    return pd.DataFrame({'market_ids': [1, 1, 1, 2, 2], 'firm_ids': ['a', 'a', 'b', 'a', 'b'],
                         'x': [1.0, 2.0, 4.0, 3.0, 5.0]})


def test_blp_instruments_sum_the_firms_other_products_and_the_rivals() -> None:
    Z = blp.build_blp_instruments(blp.Formulation('1 + x'), small())
    np.testing.assert_array_equal(Z, [[1, 2, 1, 4], [1, 1, 1, 4], [0, 0, 2, 3], [0, 0, 1, 5], [0, 0, 1, 3]])


def test_quadratic_differentiation_instruments_sum_squared_differences() -> None:
    Z = blp.build_differentiation_instruments(blp.Formulation('0 + x'), small(), version='quadratic')
    np.testing.assert_array_equal(Z, [[1, 9], [1, 4], [0, 13], [0, 4], [0, 4]])


@pytest.mark.parametrize('column', ['market_ids', 'firm_ids'])
def test_builders_name_a_missing_id_column(column: str) -> None:
    with pytest.raises(DataError) as error:
        blp.build_differentiation_instruments(blp.Formulation('0 + x'), small().drop(columns=[column]))
    assert error.value.column == column


def test_builders_refuse_an_unknown_version_and_absorbed_fixed_effects() -> None:
    with pytest.raises(SpecificationError) as error:
        blp.build_differentiation_instruments(blp.Formulation('0 + x'), small(), version='cubic')
    assert error.value.parameter == 'version'
    with pytest.raises(SpecificationError, match='absorb'):
        blp.build_blp_instruments(blp.Formulation('0 + x', absorb='C(market_ids)'), small())


def test_built_instruments_are_numbered_after_the_datas_own() -> None:
    products = cereal.product_data()
    spec = InstrumentsSpec(blp='0 + mushy', differentiation={'formula': '0 + price_instrument'})
    built = with_built_instruments(spec, products)
    added = [column for column in built.columns if column not in products.columns]
    assert added == [f'demand_instruments{index}' for index in range(4, 8)]
    assert 'demand_instruments4' not in products.columns  # the caller's data is not modified


def test_optimal_instruments_of_a_logit_are_the_expected_prices() -> None:
    products = cereal.product_data()
    problem = blp.Problem(blp.Formulation('0 + prices', absorb='C(market_ids) + C(product_ids)'), products)
    results = problem.solve(method='1s')
    instruments = results.compute_optimal_instruments()
    assert instruments.demand_instruments.shape == (problem.N, 0)
    updated = instruments.to_problem()
    assert updated.ZD_labels == ['expected[prices]'] and updated.MD == 1
    refit = updated.solve(method='1s')
    assert np.isfinite(refit.beta).all() and refit.objective < 1e-20  # just identified


def test_a_supply_re_estimate_with_optimal_instruments_restores() -> None:
    """The worker's stored form of a re-estimate (first estimate, method, draws, seed) restores to the same numbers
    with a supply side (the instruments are recomputed, the problem re-created with Z_S and shifters)."""
    from generate_optimal_supply_fixtures import re_estimate
    from supply_workloads import SUPPLY_WORKLOADS, run_blp

    from blp.post.optimal import restore_stored
    first = run_blp(SUPPLY_WORKLOADS['supply_simulation']())
    updated = re_estimate(first, first.compute_optimal_instruments(), blp)
    stored = {'results': updated.to_document(), 'optimal_instruments': {
        'initial': {'results': first.to_document()}, 'method': 'approximate', 'draws': 1, 'seed': None}}
    restored = restore_stored(first.problem, stored)
    for name in ('beta', 'sigma', 'gamma', 'beta_se', 'sigma_se', 'gamma_se'):
        np.testing.assert_allclose(getattr(restored, name), getattr(updated, name), rtol=1e-8, err_msg=name)
    assert restored.problem.MS == updated.problem.MS == 4
