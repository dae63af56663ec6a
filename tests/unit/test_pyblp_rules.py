"""PyBLP's rules for reading data and arguments, followed with a warning where PyBLP would be silent or where we
depart (issue 29): numbered columns, matrix fields in mappings, collinear columns, under-identification, scalar
market ids, and `problem.products` as PyBLP's record. The comparisons with PyBLP itself are in
`tests/reference/test_pyblp_warnings.py`."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pandas as pd
import pytest

import blp
from blp.configurations.solve_options import SolveOptions
from blp.estimation.estimator import Estimation
from blp.exceptions import DataError, SpecificationError
from blp.primitives.columns import ignored_columns, numbered_columns, numbering_warning
from blp.primitives.instruments import with_built_instruments
from blp.primitives.products import as_frame, load_products
from blp.spec import InstrumentsSpec
from blp.supply.data import build_supply

IV = blp.Formulation('0 + prices', absorb='C(market_ids) + C(product_ids)')


def test_numbered_columns_stop_at_the_first_missing_number() -> None:
    frame = pd.DataFrame(columns=['demand_instruments0', 'demand_instruments1', 'demand_instruments20',
                                  'demand_instruments2', 'demand_instruments_note'])
    assert numbered_columns(frame, 'demand_instruments') == ['demand_instruments0', 'demand_instruments1',
                                                             'demand_instruments2']
    assert ignored_columns(frame, 'demand_instruments') == ['demand_instruments20']
    warning = numbering_warning(frame, 'demand_instruments', 'product_data')
    assert warning is not None and warning.startswith('product_data columns demand_instruments20 are ignored')
    assert 'demand_instruments0, demand_instruments1, demand_instruments2 are used' in warning


def test_numbered_columns_without_a_zero_are_all_ignored_with_a_warning() -> None:
    frame = pd.DataFrame(columns=['nodes1', 'nodes2'])
    assert numbered_columns(frame, 'nodes') == []
    assert 'there is no nodes0' in str(numbering_warning(frame, 'nodes', 'agent_data'))


def test_a_column_named_after_the_field_is_the_whole_field() -> None:
    frame = pd.DataFrame(columns=['demand_instruments', 'demand_instruments0'])
    assert numbered_columns(frame, 'demand_instruments') == ['demand_instruments']
    assert ignored_columns(frame, 'demand_instruments') == ['demand_instruments0']
    assert numbering_warning(pd.DataFrame(columns=['nodes0', 'nodes1']), 'nodes', 'agent_data') is None


def test_matrix_fields_of_a_mapping_become_numbered_columns(products) -> None:
    """PyBLP users pass {'demand_instruments': N x K matrix}; an N x 1 value is a plain column."""
    columns = {name: products[name].to_numpy() for name in products.columns if not name.startswith('demand_instr')}
    columns['prices'] = products[['prices']].to_numpy()  # N x 1
    columns['demand_instruments'] = products[[f'demand_instruments{k}' for k in range(4)]].to_numpy()
    frame = as_frame(columns, 'product_data')
    assert numbered_columns(frame, 'demand_instruments') == [f'demand_instruments{k}' for k in range(4)]
    assert frame['prices'].ndim == 1
    from_mapping = blp.Problem(IV, columns).solve(method='1s')
    from_frame = blp.Problem(IV, products).solve(method='1s')
    np.testing.assert_array_equal(from_mapping.beta, from_frame.beta)


def test_numbered_entries_beside_a_matrix_field_are_ignored_and_said(products) -> None:
    columns = {name: products[name].to_numpy() for name in products.columns}  # demand_instruments0..3
    columns['demand_instruments'] = products[['demand_instruments0', 'demand_instruments1']].to_numpy()
    with pytest.warns(blp.BLPWarning, match=r'demand_instruments2, demand_instruments3 are ignored: the '
                                            r"'demand_instruments' matrix is the whole field"):
        problem = blp.Problem(IV, columns)
    assert problem.ZD_labels == ['demand_instruments0', 'demand_instruments1']
    assert any('matrix is the whole field' in warning for warning in problem.warnings)


def test_a_gap_in_the_instruments_is_a_warning_of_the_problem(products) -> None:
    data = products.rename(columns={'demand_instruments3': 'demand_instruments20'})
    with pytest.warns(blp.BLPWarning, match='demand_instruments20 are ignored'):
        problem = blp.Problem(IV, data)
    assert problem.ZD_labels == ['demand_instruments0', 'demand_instruments1', 'demand_instruments2']
    assert problem.solve(method='1s').to_document()['warnings'] == problem.warnings


def test_built_instruments_continue_the_numbering_pyblp_reads(products) -> None:
    spec = InstrumentsSpec(blp='0 + mushy')
    built = with_built_instruments(spec, products.rename(columns={'demand_instruments0': 'demand_instruments'})
                                   .drop(columns=['demand_instruments1', 'demand_instruments2', 'demand_instruments3']))
    assert numbered_columns(built, 'demand_instruments') == ['demand_instruments0', 'demand_instruments1',
                                                             'demand_instruments2']
    with pytest.raises(DataError, match='demand_instruments20') as refused:
        with_built_instruments(spec, products.rename(columns={'demand_instruments3': 'demand_instruments20'}))
    assert refused.value.column == 'demand_instruments20'


def test_ownership_columns_after_a_gap_are_ignored_and_said(products) -> None:
    frame = products.drop(columns='firm_ids')
    width = int(frame.groupby('market_ids').size().max())
    for k in range(width):
        frame[f'ownership{k}'] = 1.0
    frame[f'ownership{width + 5}'] = 0.0
    warnings: list[str] = []
    with pytest.warns(blp.BLPWarning, match=f'ownership{width + 5} are ignored'):
        supply = build_supply(blp.Formulation('1 + mushy'), load_products(frame), warnings=warnings)
    assert supply.ownership is not None and supply.ownership.shape == (len(frame), width)


def test_collinear_instruments_warn_when_built_and_name_the_column_when_w_cannot_be_computed(products) -> None:
    data = products.assign(demand_instruments4=products['demand_instruments1'] - products['demand_instruments0'])
    with pytest.warns(blp.BLPWarning, match="ZD column 'demand_instruments4' is collinear"):
        problem = blp.Problem(IV, data)
    with pytest.raises(DataError, match=r"2SLS weighting matrix .* 'demand_instruments4'") as raised:
        problem.solve(method='1s')
    assert raised.value.column == 'demand_instruments4'
    with pytest.raises(DataError):  # the service's check refuses what solve would
        problem.check_solve(SolveOptions(method='1s'))


def test_other_instruments_replace_the_warnings_about_the_old_ones(products) -> None:
    with pytest.warns(blp.BLPWarning):
        problem = blp.Problem(IV, products.assign(demand_instruments4=products['demand_instruments0']))
    assert any(warning.startswith('ZD column') for warning in problem.warnings)
    ZD = products[[f'demand_instruments{k}' for k in range(4)]].to_numpy()
    fixed = problem.with_instruments(ZD, [f'z{k}' for k in range(4)])
    assert not any(warning.startswith('ZD column') for warning in fixed.warnings)
    np.testing.assert_allclose(fixed.products.ZD, fixed.ZD)
    assert problem.products.ZD.shape[1] == 5 and fixed.products.ZD.shape[1] == 4


def test_under_identified_solves_warn_and_the_strict_check_refuses(products) -> None:
    problem = blp.Problem(blp.Formulation('0 + prices + I(prices ** 2) + mushy + I(prices * mushy)',
                                          absorb='C(market_ids)'),
                          products.drop(columns=['demand_instruments1', 'demand_instruments2', 'demand_instruments3']))
    options = SolveOptions(method='1s')
    with pytest.raises(SpecificationError, match=r'too few instruments: 4 parameters .* but only 2 demand') as refused:
        problem.check_solve(options)
    assert refused.value.parameter == 'mushy*prices'
    with pytest.warns(blp.BLPWarning, match='under-identified'):
        assert problem.check_solve(options, strict=False) == []
    with pytest.warns(blp.BLPWarning, match='may be under-identified: 4 unfixed parameters .* 2 moment'):
        results = problem.solve(method='1s')
    assert any('under-identified' in warning for warning in results.warnings)
    assert not any('under-identified' in warning for warning in problem.warnings)  # the solve's, not the problem's


def test_fixed_linear_parameters_do_not_count_as_unfixed(products) -> None:
    """PyBLP counts unfixed and concentrated-out parameters against the moments: a beta fixed at zero is neither."""
    problem = blp.Problem(blp.Formulation('0 + prices + mushy + I(prices ** 2)', absorb='C(market_ids)'),
                          products.drop(columns=['demand_instruments1', 'demand_instruments2', 'demand_instruments3']))
    assert problem.MD == 2
    with pytest.raises(SpecificationError, match='3 parameters'):
        problem.check_solve(SolveOptions())
    assert problem.check_solve(SolveOptions(beta=[None, None, 0])) == []


@pytest.mark.parametrize('market_ids, expected', [
    ('C01Q1', ['C01Q1']), (2019, [2019]), (np.int64(7), [7]), (np.array('C01Q1'), ['C01Q1']),
    ({'C01Q1'}, ['C01Q1']), (('C01Q1', 'C01Q2'), ['C01Q1', 'C01Q2']), (pd.Series(['C01Q2']), ['C01Q2'])])
def test_micro_datasets_take_one_market_id_or_many(market_ids, expected) -> None:
    dataset = blp.MicroDataset('survey', 10, lambda t, p, a: np.ones((a.size, p.size)), market_ids=market_ids)
    assert dataset.market_ids == expected


def test_problem_products_is_pyblps_record_and_the_cores_products(products, agents) -> None:
    problem = blp.Problem([IV, blp.Formulation('0 + mushy + prices')], products, blp.Formulation('0 + log_income'),
                          agents)
    record = problem.products
    N = len(products)
    np.testing.assert_array_equal(record.X1, problem.X1)
    np.testing.assert_array_equal(record.X2, problem.X2)
    np.testing.assert_array_equal(record.ZD, problem.ZD)  # no exogenous X1 column: the same order
    assert record.X3.shape == record.ZS.shape == record.ownership.shape == (N, 0)
    np.testing.assert_array_equal(record.prices[:, 0], products['prices'])
    assert record.prices.shape == (N, 1) and record.market_ids.shape == (N,)
    with pytest.raises(AttributeError):
        record.no_such_column  # noqa: B018 - the attribute access is the test
    assert not hasattr(record, '_private')
    for copied in (copy.copy(record), copy.deepcopy(record), pickle.loads(pickle.dumps(record))):
        np.testing.assert_array_equal(copied.X1, record.X1)


def test_exogenous_characteristics_come_last_in_the_recorded_zd(products) -> None:
    problem = blp.Problem(blp.Formulation('0 + prices + mushy', absorb='C(market_ids)'), products)
    assert problem.ZD_labels[0] == 'mushy'
    np.testing.assert_array_equal(problem.products.ZD, problem.ZD[:, [1, 2, 3, 4, 0]])


def test_a_numerical_failure_after_a_warning_names_the_warning(products, monkeypatch) -> None:
    """PyBLP goes on after a collinearity warning; if the estimate then fails, the error says what was warned."""
    with pytest.warns(blp.BLPWarning):
        problem = blp.Problem(blp.Formulation('1 + prices + I(2 * prices)'), products)

    def fail(self: Estimation) -> None:
        raise blp.NumericalError('the inner loop failed', markets=['C01Q1'])

    monkeypatch.setattr(Estimation, '_run', fail)
    with pytest.raises(blp.NumericalError, match=r"inner loop failed; the problem was warned about what may cause it: "
                                                 r"X1 column '2\*prices' is collinear") as raised:
        problem.solve(method='1s')
    assert raised.value.markets == ['C01Q1']


def test_values_above_sigmas_diagonal_are_ignored(products, agents) -> None:
    """PyBLP's documented rule (its Nevo tutorial starts from `np.ones((4, 4))`): sigma is the lower-triangular
    Cholesky root, so a full starting sigma means its lower triangle."""
    problem = blp.Problem((blp.Formulation('0 + prices'), blp.Formulation('1 + prices')), products,
                          agent_data=agents)
    full, lower = np.ones((2, 2)), np.tril(np.ones((2, 2)))
    ours, expected = (problem.solve(sigma, optimization=blp.Optimization('return'), method='1s')
                      for sigma in (full, lower))
    np.testing.assert_array_equal(ours.sigma, lower)
    assert ours.theta_labels == expected.theta_labels == ['1 x 1', 'prices x 1', 'prices x prices']
    assert ours.objective == expected.objective


def test_the_optimizer_converged_in_pyblps_table_only_when_every_gmm_step_did(products, agents, monkeypatch) -> None:
    """PyBLP's `converged` is the last step's optimizer status, `cumulative_converged` (its printed `Optimizer
    Converged`) every step's: a first step that did not converge makes a two-step estimate print `No`."""
    import dataclasses

    optimize = Estimation.optimize

    def first_step_fails(self: Estimation, start: np.ndarray, W: np.ndarray, step: int) -> object:
        outcome = optimize(self, start, W, step)
        return dataclasses.replace(outcome, converged=False) if step == 1 else outcome

    problem = blp.Problem((blp.Formulation('0 + prices'), blp.Formulation('0 + prices')), products, agent_data=agents)
    monkeypatch.setattr(Estimation, 'optimize', first_step_fails)
    results = problem.solve(np.eye(1), method='2s')
    assert results.converged and results.converged_by_step == [False, True] and not results.cumulative_converged
    table = str(results).split('\n\n')[1]
    assert table.startswith('Cumulative Statistics:') and table.split('\n')[5].split()[1] == 'No'
