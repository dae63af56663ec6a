"""Optimal instruments under PyBLP's options against PyBLP (`generate_optimal_option_fixtures.py`): `drop_indices`,
supply and demand shifter formulations with `product_data`, `constant_costs=False` and `expected_prices`, with and
without a supply side. Both libraries at the same theta: the instruments' column norms and expected prices at 1e-8,
the re-created problem's instrument counts and column norms, and its objective, beta and gamma at that theta at 1e-6
relative (the objective depends on the instruments' span, not their order). The `live` test runs PyBLP now.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from generate_optimal_option_fixtures import (
    CASES,
    FIXTURES,
    RE_ESTIMATE,
    RE_ESTIMATE_OPTIONS,
    evaluate,
    first_results,
    generate,
    matrix_of,
    outputs,
    re_estimated,
    summary,
)
from test_against_pyblp import assert_close

import blp
from blp.exceptions import SpecificationError
from blp.post.optimal import from_choices, restore_stored

RTOL = 1e-6


def stored(name: str) -> dict:
    path = FIXTURES / f'optimal_option_{name}.json'
    assert path.exists(), f'missing fixture {path}: run tests/reference/generate_optimal_option_fixtures.py'
    return json.loads(path.read_text())


def compare(name: str, reference: dict) -> None:
    ours = outputs(blp, name)
    for key, value in ours.items():
        if key in ('MD', 'MS'):
            assert value == reference[key], f'{name}: {key}'
        else:
            rtol = 1e-8 if key in ('demand_instruments', 'supply_instruments', 'expected_prices') else RTOL
            np.testing.assert_allclose(value, reference[key], rtol=rtol, atol=1e-10, err_msg=f'{name}: {key}')


@pytest.mark.parametrize('name', sorted(CASES))
def test_optimal_instrument_options_match_stored_pyblp_numbers(name: str) -> None:
    compare(name, stored(name))


def test_re_estimate_with_options_matches_stored_pyblp_numbers() -> None:
    """The supply workload re-estimated with drop_indices and both shifter formulations (the queue test's options):
    PyBLP's instrument counts, estimates 1e-4, SEs 1e-3, objective 1e-6, gamma 1e-4."""
    reference, ours = stored(RE_ESTIMATE), re_estimated(blp)
    assert (ours['MD'], ours['MS']) == (reference['MD'], reference['MS'])
    assert_close('optimal instruments re-estimate with options', ours, reference)
    np.testing.assert_allclose(ours['gamma'], reference['gamma'], rtol=1e-4, err_msg='gamma')
    assert RE_ESTIMATE_OPTIONS['drop_indices'] == [1]


def test_a_stored_re_estimate_restores_with_its_options() -> None:
    """`restore_stored` re-creates the instruments from the report's options (the service's stored result)."""
    first = first_results(blp, CASES['supply_shifters'])[0]
    choices = {'method': 'approximate', 'draws': 1, 'seed': None, 'constant_costs': True, **RE_ESTIMATE_OPTIONS}
    instruments, problem = from_choices(first, choices)
    updated = evaluate(blp, problem, CASES['supply_shifters'])
    stored = {'results': updated.to_document(), 'optimal_instruments': {**instruments.to_document(), **choices,
                                                                     'initial': {'results': first.to_document()}}}
    restored = restore_stored(first.problem, stored)
    default = instruments.to_problem()
    for name in ('ZD', 'ZS'):
        np.testing.assert_array_equal(matrix_of(restored.problem, name), matrix_of(updated.problem, name))
        assert not np.allclose(matrix_of(restored.problem, name), matrix_of(default, name))


@pytest.mark.parametrize('name', ['supply_expected_prices', 'demand_expected_prices'])
def test_expected_prices_from_a_column_match_stored_pyblp_numbers(name: str) -> None:
    """The service's `expected_prices_column` (through `from_choices`) gives PyBLP's `expected_prices` results."""
    case = CASES[name]
    instruments, problem = from_choices(first_results(blp, case)[0], {'expected_prices_column': 'expected'})
    ours, reference = summary(instruments, evaluate(blp, problem, case), case), stored(name)
    assert ours['MD'] == reference['MD']
    for key in ('demand_instruments', 'expected_prices', 'objective', 'beta', 'ZD'):
        np.testing.assert_allclose(ours[key], reference[key], rtol=RTOL, err_msg=f'{name}: {key}')


def test_dropping_a_column_changes_the_problem() -> None:
    """The options are not ignored: dropping theta's price column leaves one fewer demand instrument than the
    default, and given shifters add their columns."""
    assert stored('supply_drop_indices')['MD'] == stored('supply_constant_costs')['MD'] - 1
    assert stored('supply_shifters')['MD'] == stored('supply_constant_costs')['MD'] + 1


@pytest.mark.parametrize(('arguments', 'parameter'), [
    ({'drop_indices': [2]}, 'drop_indices'), ({'drop_indices': [True]}, 'drop_indices'),
    ({'drop_indices': 'sigma'}, 'drop_indices'),
    ({'supply_shifter_formulation': 'z'}, 'supply_shifter_formulation'),
    ({'demand_shifter_formulation': blp.Formulation('missing')}, 'missing'),
    ({'product_data': {'x': [1.0]}, 'supply_shifter_formulation': blp.Formulation('x')}, 'product_data'),
])
def test_bad_options_name_what_is_wrong(arguments: dict, parameter: str) -> None:
    results = first_results(blp, CASES['supply_drop_indices'])[0]
    with pytest.raises(Exception) as raised:
        results.compute_optimal_instruments().to_problem(**arguments)
    assert parameter in str(raised.value) or getattr(raised.value, 'parameter', None) == parameter or \
        getattr(raised.value, 'column', None) == parameter


def test_shifters_need_a_supply_side() -> None:
    results = first_results(blp, CASES['demand_expected_prices'])[0]
    with pytest.raises(SpecificationError, match='supply_shifter_formulation'):
        results.compute_optimal_instruments().to_problem(supply_shifter_formulation=blp.Formulation('z'))
    with pytest.raises(SpecificationError, match='constant_costs'):
        results.compute_optimal_instruments(constant_costs='no')


@pytest.mark.live
@pytest.mark.parametrize('name', sorted(CASES))
def test_optimal_instrument_options_match_pyblp_run_now(name: str) -> None:
    live = generate(name)
    compare(name, live)
    for key, value in stored(name).items():
        if key != 'pyblp_version':
            np.testing.assert_allclose(value, live[key], rtol=1e-10, atol=1e-12, err_msg=f'{name}: {key} (fixture)')
