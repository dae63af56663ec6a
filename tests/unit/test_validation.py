"""Bad data and bad specifications raise our own errors naming the column, market, row or parameter at fault."""

import numpy as np
import pytest

import blp
from blp.configurations.solve_options import SolveOptions
from blp.exceptions import DataError, SpecificationError

ABSORB = 'C(market_ids) + C(product_ids)'
IV = blp.Formulation('0 + prices', absorb=ABSORB)
RC = (IV, blp.Formulation('0 + mushy + prices'))
DEMOGRAPHICS = blp.Formulation('0 + log_income')


def changed(frame, row, column, value):
    frame = frame.copy()
    frame[column] = frame[column].astype(object) if isinstance(value, str) else frame[column]
    frame.loc[row, column] = value
    return frame


def logit(products):
    return blp.Problem(IV, products)


def random_coefficients(products, agents):
    return blp.Problem(RC, products, DEMOGRAPHICS, agents)


DATA_CASES = {
    'missing market_ids': (lambda p, a: logit(p.drop(columns='market_ids')), {'column': 'market_ids'}),
    'missing shares': (lambda p, a: logit(p.drop(columns='shares')), {'column': 'shares'}),
    'NaN share': (lambda p, a: logit(changed(p, 5, 'shares', np.nan)), {'column': 'shares', 'row': 5}),
    'infinite price': (lambda p, a: logit(changed(p, 7, 'prices', np.inf)), {'column': 'prices', 'row': 7}),
    'share of zero': (lambda p, a: logit(changed(p, 3, 'shares', 0.0)), {'column': 'shares', 'row': 3}),
    'share of one': (lambda p, a: logit(changed(p, 30, 'shares', 1.0)), {'column': 'shares', 'row': 30}),
    'inside shares sum to one': (lambda p, a: logit(changed(p, 0, 'shares', 0.99)), {'column': 'shares'}),
    'text in an instrument': (lambda p, a: logit(changed(p, 4, 'demand_instruments0', 'abc')),
                              {'column': 'demand_instruments0', 'row': 4}),
    'NaN instrument': (lambda p, a: logit(changed(p, 9, 'demand_instruments0', np.nan)),
                       {'column': 'demand_instruments0', 'row': 9}),
    # collinear instruments: a warning when the problem is built (as PyBLP), an error where the 2SLS weighting
    # matrix cannot be computed (PyBLP stops there too)
    'collinear instrument': (lambda p, a: logit(p.assign(demand_instruments1=2 * p['demand_instruments0'])).solve(),
                             {'column': 'demand_instruments1'}),
    'regressor collinear with fixed effects': (
        lambda p, a: blp.Problem(blp.Formulation('0 + prices + mushy', absorb=ABSORB), p).solve(), {'column': 'mushy'}),
    'unknown column in formula': (lambda p, a: blp.Problem(blp.Formulation('0 + prices + sugar'), p),
                                  {'column': 'sugar'}),
    'market without agents': (lambda p, a: random_coefficients(p, a[a['market_ids'] != p.loc[30, 'market_ids']]),
                              {'column': 'market_ids'}),
    'agents in an unknown market': (lambda p, a: random_coefficients(p, changed(a, 2, 'market_ids', 'nowhere')),
                                    {'column': 'market_ids', 'market': 'nowhere', 'row': 2}),
    'negative weight': (lambda p, a: random_coefficients(p, changed(a, 0, 'weights', -0.5)),
                        {'column': 'weights', 'row': 0}),
    # fewer nodes columns than sigma has nonzero columns: found when the solve says which columns are random
    'missing nodes': (lambda p, a: random_coefficients(p, a.drop(columns='nodes1')).solve(
        sigma=[[1, 0], [0, 1]], optimization=blp.Optimization('return')), {'column': 'nodes1'}),
    'unknown demographic': (lambda p, a: blp.Problem(RC, p, blp.Formulation('0 + age'), a), {'column': 'age'}),
    'empty data': (lambda p, a: logit(p.iloc[:0]), {}),
}


@pytest.mark.parametrize('case', sorted(DATA_CASES))
def test_bad_data_raises_a_data_error_naming_the_fault(case, products, agents):
    build, context = DATA_CASES[case]
    with pytest.raises(DataError) as raised:
        build(products, agents)
    described = raised.value.to_dict()
    for key, value in context.items():
        assert described.get(key) == value, f'{case}: {key} is {described.get(key)!r}, expected {value!r}'
    if 'market' in described:
        assert described['market'] in set(products['market_ids']) | {'nowhere'}


def test_market_without_agents_names_the_market(products, agents):
    market = products.loc[30, 'market_ids']
    with pytest.raises(DataError, match=f'market {market!r} has products but no agents') as raised:
        random_coefficients(products, agents[agents['market_ids'] != market])
    assert raised.value.market == market


def test_inside_shares_error_names_the_market(products):
    with pytest.raises(DataError, match='sum to') as raised:
        logit(changed(products, 0, 'shares', 0.99))
    assert raised.value.market == products.loc[0, 'market_ids']


SOLVE_CASES = {
    'sigma of the wrong shape': (dict(sigma=[[1, 0, 0], [0, 1, 0], [0, 0, 1]], pi=[[0.2], [1]]), 'sigma'),
    'pi of the wrong shape': (dict(sigma=[[0, 0], [0, 1]], pi=[[0.2, 1]]), 'pi'),
    'missing sigma': (dict(pi=[[0.2], [1]]), 'sigma'),
    'non-finite sigma': (dict(sigma=[[0, 0], [0, np.nan]], pi=[[0.2], [1]]), 'sigma'),
    'bounds that exclude the start': (dict(sigma=[[0, 0], [0, 1]], pi=[[0.2], [1]],
                                           pi_bounds=([[-1], [2]], [[1], [3]])), 'pi[prices, log_income]'),
    'clustering without ids': (dict(sigma=[[0, 0], [0, 1]], pi=[[0.2], [1]], se_type='clustered'), 'se_type'),
    'unknown method': (dict(sigma=[[0, 0], [0, 1]], pi=[[0.2], [1]], method='3s'), 'method'),
    'rho without nests': (dict(sigma=[[0, 0], [0, 1]], pi=[[0.2], [1]], rho=0.5), 'rho'),
}


@pytest.mark.parametrize('case', sorted(SOLVE_CASES))
def test_bad_solve_arguments_raise_a_specification_error_naming_the_parameter(case, products, agents):
    arguments, parameter = SOLVE_CASES[case]
    problem = random_coefficients(products, agents)
    with pytest.raises(SpecificationError) as raised:
        problem.solve(**arguments, optimization=blp.Optimization('return'))
    assert raised.value.parameter == parameter


def test_too_few_instruments_names_the_parameters_and_the_count(products, agents):
    """`solve` warns and estimates, as PyBLP; `check_solve` (the service's check) refuses."""
    problem = blp.Problem(RC, products.drop(columns=['demand_instruments2', 'demand_instruments3']), DEMOGRAPHICS,
                          agents)
    counted = r"4 (unfixed )?parameters \(prices, sigma\[prices, prices\], pi\[mushy, log_income\], pi\[prices, " \
              r"log_income\]\) but only 2 "
    with pytest.raises(SpecificationError, match=counted + 'demand instruments'):
        problem.check_solve(SolveOptions(sigma=[[0, 0], [0, 1]], pi=[[0.2], [1]]))
    with pytest.warns(blp.BLPWarning, match=counted + r'moment\(s\) from 2 demand instruments'):
        results = problem.solve(sigma=[[0, 0], [0, 1]], pi=[[0.2], [1]], optimization=blp.Optimization('return'))
    assert any('under-identified' in warning for warning in results.to_document()['warnings'])


def test_rho_must_stay_below_one(products):
    problem = blp.Problem(IV, products.assign(nesting_ids=products['mushy']))
    with pytest.raises(SpecificationError, match='below 1'):
        problem.solve(rho=1.0)


@pytest.mark.parametrize('formula', ['0 + prices +', '0 + __import__("os").getcwd()', '0 + I(open("x"))',
                                     'shares ~ prices', '0 + prices.real'])
def test_malformed_or_unsafe_formulas_are_refused_without_evaluation(formula, products):
    with pytest.raises(SpecificationError):
        blp.Problem(blp.Formulation(formula), products)


def test_random_coefficients_without_agents_or_integration_is_refused(products):
    with pytest.raises(SpecificationError, match='need agents'):
        blp.Problem(RC, products)


def test_mappings_of_columns_are_accepted_like_dataframes(products):
    as_dict = {column: products[column].to_numpy() for column in products.columns}
    frame_results = logit(products).solve(method='1s')
    dict_results = logit(as_dict).solve(method='1s')
    np.testing.assert_allclose(dict_results.beta, frame_results.beta)


def test_columns_of_unequal_length_are_refused():
    with pytest.raises(DataError, match='same length'):
        logit({'market_ids': [1, 1], 'shares': [0.1], 'prices': [1.0, 2.0]})


def test_weights_that_do_not_sum_to_one_are_used_with_a_warning_as_pyblp_does(products, agents):
    """Importance-sampling weights (BLP's automobile data) need not sum to one in a market."""
    problem = random_coefficients(products, changed(agents, 0, 'weights', 0.5))
    assert len(problem.warnings) == 1 and 'do not sum to 1 in 1 market' in problem.warnings[0]
    results = problem.solve(sigma=[[0, 0], [0, 1]], pi=[[0.2], [1]], optimization=blp.Optimization('return'))
    assert results.to_document()['warnings'] == problem.warnings


def test_fewer_nodes_columns_go_to_sigmas_nonzero_columns_as_in_pyblp(products, agents):
    """With sigma on prices only, one nodes column (nodes0) is the node of prices, as PyBLP assigns them."""
    full = random_coefficients(products, agents.drop(columns='nodes0').rename(columns={'nodes1': 'nodes0'}))
    same = random_coefficients(products, agents)
    arguments = dict(sigma=[[0, 0], [0, 1.5]], pi=[[0.2], [1]], optimization=blp.Optimization('return'))
    np.testing.assert_allclose(full.solve(**arguments).objective, same.solve(**arguments).objective, rtol=1e-12)
