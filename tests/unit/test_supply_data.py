"""Supply-side data: X3 (with absorbed fixed effects), supply instruments, firm_ids, and errors that name the cause."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import blp
from blp.configurations.solve_options import SolveOptions
from blp.exceptions import DataError, SpecificationError
from blp.primitives.columns import numbered_columns
from blp.primitives.products import load_products
from blp.supply.data import build_supply


@pytest.fixture()
def frame(products) -> pd.DataFrame:
    frame = products.copy()
    frame['supply_instruments1'] = frame['demand_instruments1']
    frame['supply_instruments0'] = frame['demand_instruments2']
    return frame


def test_supply_instruments_are_read_up_to_the_first_gap_after_exogenous_x3_columns(frame) -> None:
    """PyBLP's rule: supply_instruments0, 1, ... up to the first missing number; supply_instruments10 (after the gap)
    is left out, with a warning naming it."""
    frame['supply_instruments10'] = frame['demand_instruments3']
    frame['supply_instruments_note'] = 1.0
    assert numbered_columns(frame, 'supply_instruments') == ['supply_instruments0', 'supply_instruments1']
    warnings: list[str] = []
    with pytest.warns(blp.BLPWarning, match='supply_instruments10 are ignored'):
        supply = build_supply(blp.Formulation('1 + mushy + I(price_instrument / 10)'), load_products(frame), 'log',
                              warnings)
    assert len(warnings) == 1 and 'supply_instruments10' in warnings[0]
    assert supply.X3_labels == ['1', 'mushy', 'price_instrument/10'] and supply.K3 == 3
    assert supply.costs_type == 'log'
    assert supply.ZS_labels == ['1', 'mushy', 'price_instrument/10', 'supply_instruments0', 'supply_instruments1']
    np.testing.assert_array_equal(supply.ZS[:, 3], frame['demand_instruments2'])
    np.testing.assert_array_equal(supply.firm_ids, frame['firm_ids'])


def test_x3_absorbs_fixed_effects_like_x1(frame) -> None:
    supply = build_supply(blp.Formulation('0 + price_instrument', absorb='C(market_ids)'), load_products(frame))
    cost = frame['price_instrument'].to_numpy(dtype=float)
    within = cost - frame.groupby('market_ids')['price_instrument'].transform('mean').to_numpy()
    np.testing.assert_allclose(supply.X3[:, 0], within, atol=1e-12)
    assert supply.absorber.dimensions == 1
    np.testing.assert_allclose(supply.ZS[:, 0], within, atol=1e-12)


def test_shares_in_x3_are_not_instruments(frame) -> None:
    supply = build_supply(blp.Formulation('1 + I(shares * 100)'), load_products(frame))
    assert supply.X3_endogenous.tolist() == [False, True]
    assert supply.ZS_labels == ['1', 'supply_instruments0', 'supply_instruments1']


def test_x3_without_firm_ids_names_the_column(frame) -> None:
    with pytest.raises(DataError) as error:
        build_supply(blp.Formulation('1 + mushy'), load_products(frame.drop(columns='firm_ids')))
    assert error.value.column == 'firm_ids' and 'firm_ids' in str(error.value)


def test_ownership_columns_replace_firm_ids(frame) -> None:
    frame = frame.drop(columns='firm_ids')
    frame['ownership0'], frame['ownership1'] = 1.0, 0.0
    supply = build_supply(blp.Formulation('1 + mushy'), load_products(frame))
    assert supply.firm_ids is None and supply.ownership.shape == (len(frame), 2)


def test_too_few_supply_instruments_says_which(frame) -> None:
    """A warning when the supply side is built (PyBLP estimates on); the service's strict check refuses it."""
    frame = frame.drop(columns=['supply_instruments0', 'supply_instruments1'])
    warnings: list[str] = []
    with pytest.warns(blp.BLPWarning, match='too few supply instruments'):
        build_supply(blp.Formulation('1 + I(shares * 100)'), load_products(frame), warnings=warnings)
    assert "2 X3 columns (1, 100*shares) but only 1 supply instruments (1)" in warnings[0]
    assert 'involve shares' in warnings[0]
    problem = blp.Problem([blp.Formulation('0 + prices'), None, blp.Formulation('1 + I(shares * 100)')], frame)
    with pytest.raises(SpecificationError) as error:
        problem.check_solve(SolveOptions(beta=[-10]))
    assert error.value.parameter == 'supply_instruments'
    assert "2 X3 columns (1, 100*shares) but only 1 supply instruments (1)" in str(error.value)


def test_bad_x3_specifications_are_refused(frame) -> None:
    products = load_products(frame)
    with pytest.raises(SpecificationError, match='prices cannot be in the X3') as error:
        build_supply(blp.Formulation('1 + I(prices * 2)'), products)
    assert error.value.parameter == 'X3'
    with pytest.raises(SpecificationError) as error:
        build_supply(blp.Formulation('1 + mushy'), products, 'quadratic')
    assert error.value.parameter == 'costs_type'
    frame['twice'] = 2 * frame['mushy']
    warnings: list[str] = []  # collinear X3 columns are a warning, as in PyBLP
    with pytest.warns(blp.BLPWarning, match="X3 column 'twice' is collinear"):
        build_supply(blp.Formulation('1 + mushy + twice'), load_products(frame), warnings=warnings)
    assert any("X3 column 'twice'" in warning for warning in warnings)
    with pytest.raises(DataError) as missing:
        build_supply(blp.Formulation('1 + mushy', absorb='C(brand)'), products)
    assert missing.value.column == 'brand'
