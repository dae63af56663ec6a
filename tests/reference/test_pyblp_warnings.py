"""Where PyBLP warns and goes on, we warn and go on (issue 29): the same decision, a warning that names the same
columns, and the same estimates, against PyBLP run now on PyBLP's own fake cereal data (Nevo). Each case is a logit,
a nested logit or a random-coefficients problem evaluated at its starting values, a few seconds in both libraries
(the two that take PyBLP longer are marked `live`).

- an under-identified logit (absorbed market effects, fewer instruments than parameters): PyBLP warns and
  estimates with pseudo-inverses;
- collinear columns: PyBLP warns when the problem is built (its QR rule) and stops only where the 2SLS weighting
  matrix cannot be computed; a column that the absorbed fixed effects nearly explain (as approximate optimal
  instruments fed back as demand instruments can be) is not collinear by that rule and estimates without a word;
- numbered columns after a gap (`demand_instruments20` on data with `demand_instruments0..2`, PyBLP's nested logit
  tutorial on fewer columns; `nodes`): PyBLP reads up to the first gap; we do and also say which are ignored;
- a scalar market id in `MicroDataset` (the estimate with it is `live`: PyBLP takes a quarter minute);
- `problem.products.X1`, `.X2`, `.ZD`, `.X3`, `.ZS`: PyBLP's record of the built matrices.
"""

from __future__ import annotations

import re
import warnings
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest

import blp

pyblp = pytest.importorskip('pyblp')
pyblp.options.verbose = False

ESTIMATE_RTOL = 1e-8
RETURN = {'optimization': 'return'}


@pytest.fixture(scope='module')
def products() -> pd.DataFrame:
    return pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)


@pytest.fixture(scope='module')
def agents() -> pd.DataFrame:
    return pd.read_csv(pyblp.data.NEVO_AGENTS_LOCATION)


def run(module: Any, build: Callable[[Any], Any], solve: dict) -> tuple[Any, list[str]]:
    """`build(module)` (a Problem) solved with `solve` in `module` (pyblp or blp): (results or the error, the
    messages of the Python warnings it gave)."""
    arguments = dict(solve)
    if 'optimization' in arguments:
        arguments['optimization'] = module.Optimization(arguments['optimization'])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        try:
            outcome = build(module).solve(**arguments)
        except Exception as error:  # noqa: BLE001 - a refusal is an outcome to compare
            outcome = error
    return outcome, [str(warning.message) for warning in caught]


def both(build: Callable[[Any], Any], **solve: Any) -> tuple[Any, list[str], Any, list[str]]:
    return (*run(pyblp, build, solve), *run(blp, build, solve))


def assert_same_estimates(theirs: Any, ours: Any) -> None:
    assert not isinstance(theirs, Exception), theirs
    assert not isinstance(ours, Exception), ours
    for name in ('beta', 'beta_se', 'sigma', 'rho'):
        np.testing.assert_allclose(np.asarray(getattr(ours, name), dtype=float).ravel(),
                                   np.asarray(getattr(theirs, name), dtype=float).ravel(), rtol=ESTIMATE_RTOL,
                                   atol=1e-12, err_msg=name)
    np.testing.assert_allclose(float(np.squeeze(ours.objective)), float(np.squeeze(theirs.objective)), rtol=1e-6,
                               atol=1e-20)


def collinear_in_pyblp(messages: list[str]) -> dict[str, list[str]]:
    """PyBLP's collinearity warnings as {matrix: [labels]}."""
    found: dict[str, list[str]] = {}
    for message in messages:
        match = re.match(r'Detected collinearity issues with \[(.*)\] and at least one other column in (\w+)', message)
        if match:
            found[match.group(2)] = match.group(1).split(', ')
    return found


def collinear_in_ours(messages: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for message in messages:
        match = re.match(r'(\w+) columns? (.*?) (is|are) collinear with other columns', message)
        if match:
            found[match.group(1)] = re.findall(r"'([^']*)'", match.group(2))
    return found


def logit(formula: str, data: pd.DataFrame, absorb: str | None = None) -> Callable[[Any], Any]:
    return lambda module: module.Problem(module.Formulation(formula, absorb=absorb), data)


# ------------------------------------------------------------------------------------------ under-identified

@pytest.mark.parametrize('method', ['1s', '2s'])
def test_an_under_identified_logit_warns_and_estimates_as_pyblp(products: pd.DataFrame, method: str) -> None:
    """Market effects absorbed, prices and prices squared, one excluded instrument: two parameters, one moment."""
    data = products.drop(columns=[f'demand_instruments{index}' for index in range(1, 20)])
    theirs, their_warnings, ours, our_warnings = both(
        logit('0 + prices + I(prices ** 2)', data, 'C(market_ids)'), method=method)
    assert any('may be under-identified' in message for message in their_warnings)
    assert any('may be under-identified: 2 unfixed parameters' in message and '1 moment' in message
               for message in our_warnings)
    assert_same_estimates(theirs, ours)
    assert any('under-identified' in warning for warning in ours.to_document()['warnings'])


def test_a_logit_without_any_instrument_warns_and_estimates_as_pyblp(products: pd.DataFrame) -> None:
    data = products.drop(columns=[f'demand_instruments{index}' for index in range(20)])
    theirs, their_warnings, ours, our_warnings = both(logit('0 + prices', data, 'C(market_ids)'), method='1s')
    assert any('may be under-identified' in message for message in their_warnings)
    assert any('may be under-identified' in message for message in our_warnings)
    assert_same_estimates(theirs, ours)


# ------------------------------------------------------------------------------------------ collinearity

def test_a_duplicated_instrument_is_named_when_built_and_stops_the_2sls_weighting_matrix(
        products: pd.DataFrame) -> None:
    data = products.assign(demand_instruments1=2 * products['demand_instruments0'])
    theirs, their_warnings, ours, our_warnings = both(logit('0 + prices', data, 'C(product_ids)'), method='1s')
    assert collinear_in_pyblp(their_warnings) == collinear_in_ours(our_warnings) == {'ZD': ['demand_instruments1']}
    assert isinstance(theirs, ValueError) and '2SLS weighting matrix' in str(theirs)
    assert isinstance(ours, blp.DataError) and '2SLS weighting matrix' in str(ours)
    assert ours.column == 'demand_instruments1'


def test_with_a_given_weighting_matrix_collinear_instruments_estimate_as_pyblp(products: pd.DataFrame) -> None:
    data = products.assign(demand_instruments1=2 * products['demand_instruments0'])
    theirs, _, ours, our_warnings = both(logit('0 + prices', data, 'C(product_ids)'), method='1s', W=np.eye(20))
    assert_same_estimates(theirs, ours)
    assert collinear_in_ours(our_warnings) == {'ZD': ['demand_instruments1']}


def test_a_regressor_collinear_with_absorbed_effects_is_named_in_x1_and_zd(products: pd.DataFrame) -> None:
    theirs, their_warnings, ours, our_warnings = both(logit('0 + prices + sugar', products, 'C(product_ids)'),
                                                      method='1s')
    assert collinear_in_pyblp(their_warnings) == collinear_in_ours(our_warnings) == {'X1': ['sugar'], 'ZD': ['sugar']}
    assert any('absorbed fixed effects' in message for message in our_warnings)
    assert isinstance(theirs, ValueError) and isinstance(ours, blp.DataError) and ours.column == 'sugar'


def test_a_duplicated_endogenous_regressor_warns_and_splits_its_coefficient_as_pyblp(products: pd.DataFrame) -> None:
    """X1 = 1, prices, 2 prices: collinear in X1 only (ZD is fine), so both estimate, with pseudo-inverses."""
    theirs, their_warnings, ours, our_warnings = both(logit('1 + prices + I(2 * prices)', products), method='1s')
    assert collinear_in_pyblp(their_warnings) == {'X1': ['2*prices']}
    assert collinear_in_ours(our_warnings) == {'X1': ['2*prices']}
    assert_same_estimates(theirs, ours)


def test_an_instrument_nearly_explained_by_absorbed_effects_is_not_collinear(products: pd.DataFrame) -> None:
    """A column that is almost product-invariant (1e-7 variation) under product effects: our former rank check refused
    it (it measured the absorbed column against the raw one); PyBLP's rule looks at the absorbed column itself."""
    data = products.assign(demand_instruments20=products['sugar'] * 10 + 1e-7 * np.sin(np.arange(len(products))))
    theirs, their_warnings, ours, our_warnings = both(logit('0 + prices', data, 'C(product_ids)'), method='1s')
    assert not collinear_in_pyblp(their_warnings) and not collinear_in_ours(our_warnings)
    assert_same_estimates(theirs, ours)


@pytest.mark.live
def test_optimal_instruments_fed_back_as_demand_instruments_estimate_as_pyblp(products: pd.DataFrame,
                                                                              agents: pd.DataFrame) -> None:
    """PyBLP's approximate optimal instruments of a random-coefficients problem, written into product data as
    demand_instruments0.. and estimated again."""
    formulations = [pyblp.Formulation('0 + prices', absorb='C(product_ids)'), pyblp.Formulation('1 + prices')]
    sigma = np.diag([0.3, 2.5])
    first = pyblp.Problem(formulations, products, pyblp.Formulation('0 + income'), agents).solve(
        sigma=sigma, pi=[[5.5], [15.9]], optimization=pyblp.Optimization('return'), method='1s')
    optimal = first.compute_optimal_instruments(method='approximate')
    data = products.drop(columns=[f'demand_instruments{index}' for index in range(20)])
    for index, column in enumerate(np.c_[optimal.demand_instruments, optimal.expected_prices].T):
        data[f'demand_instruments{index}'] = column

    def build(module: Any) -> Any:
        return module.Problem([module.Formulation('0 + prices', absorb='C(product_ids)'),
                               module.Formulation('1 + prices')], data, module.Formulation('0 + income'), agents)

    theirs, their_warnings, ours, our_warnings = both(build, sigma=sigma, pi=[[5.5], [15.9]], method='1s', **RETURN)
    assert not collinear_in_pyblp(their_warnings) and not collinear_in_ours(our_warnings)
    assert_same_estimates(theirs, ours)


# ------------------------------------------------------------------------------------------ numbered columns

def test_an_instrument_after_a_gap_is_ignored_as_in_pyblp_and_named(products: pd.DataFrame) -> None:
    """PyBLP's nested logit tutorial adds demand_instruments20 (products per nest); on data with only
    demand_instruments0..2 PyBLP reads 0, 1, 2 and stops. Using every column instead gave rho 0.45, not 0.76."""
    data = products.drop(columns=[f'demand_instruments{index}' for index in range(3, 20)])
    data['nesting_ids'] = data['mushy']
    data['demand_instruments20'] = data.groupby(['market_ids', 'nesting_ids'])['shares'].transform(np.size)
    theirs, _, ours, our_warnings = both(lambda module: module.Problem(module.Formulation('0 + prices'), data),
                                         rho=0.7)
    assert_same_estimates(theirs, ours)
    assert ours.problem.ZD_labels == ['demand_instruments0', 'demand_instruments1', 'demand_instruments2']
    assert any(message.startswith('product_data columns demand_instruments20 are ignored') for message in our_warnings)
    assert any('demand_instruments20' in warning for warning in ours.to_document()['warnings'])


def test_nodes_after_a_gap_are_ignored_as_in_pyblp_and_named(products: pd.DataFrame, agents: pd.DataFrame) -> None:
    """nodes0, nodes2, nodes3: PyBLP reads nodes0 only, which goes to sigma's one nonzero column (prices)."""
    data = agents.drop(columns=['nodes1'])

    def build(module: Any) -> Any:
        return module.Problem([module.Formulation('0 + prices', absorb='C(product_ids)'),
                               module.Formulation('1 + prices')], products, agent_data=data)

    theirs, _, ours, our_warnings = both(build, sigma=np.diag([0, 2.45]), method='1s', **RETURN)
    assert_same_estimates(theirs, ours)
    assert any(message.startswith('agent_data columns nodes2, nodes3 are ignored') for message in our_warnings)


# ------------------------------------------------------------------------------------------ scalars

@pytest.mark.live
@pytest.mark.parametrize('market_ids', ['C01Q1', ['C01Q1']], ids=['one id', 'a list'])
def test_a_micro_dataset_takes_one_market_id_as_pyblp(products: pd.DataFrame, agents: pd.DataFrame,
                                                      market_ids: Any) -> None:
    def build(module: Any) -> Any:
        return module.Problem([module.Formulation('0 + prices', absorb='C(product_ids)'),
                               module.Formulation('1 + prices')], products, module.Formulation('0 + income'), agents)

    def micro(module: Any) -> list:
        dataset = module.MicroDataset('survey', 500, lambda t, p, a: np.ones((a.size, p.size)), market_ids=market_ids)
        part = module.MicroPart('income | inside', dataset,
                                lambda t, p, a: np.einsum('i,j', a.demographics[:, 0], np.ones(p.size)))
        return [module.MicroMoment('E[income | inside]', 0.5, part)]

    outcomes = [run(module, build, dict(sigma=np.diag([0.3, 2.5]), pi=[[5.5], [15.9]], method='1s',
                                        micro_moments=micro(module), **RETURN))[0] for module in (pyblp, blp)]
    theirs, ours = outcomes
    assert_same_estimates(theirs, ours)
    np.testing.assert_allclose(ours.micro_values, theirs.micro_values, rtol=1e-8)
    assert set(blp.MicroDataset('d', 1, len, market_ids=market_ids).market_ids) == \
        pyblp.MicroDataset('d', 1, len, market_ids=market_ids).market_ids


def test_a_micro_dataset_takes_a_numeric_market_id_as_pyblp() -> None:
    assert blp.MicroDataset('d', 1, len, market_ids=2019).market_ids == \
        list(pyblp.MicroDataset('d', 1, len, market_ids=2019).market_ids) == [2019]


# ------------------------------------------------------------------------------------------ problem.products

def test_problem_products_records_pyblps_matrices(products: pd.DataFrame, agents: pd.DataFrame) -> None:
    """X1 and ZD after absorbing fixed effects, X2 raw, instruments in PyBLP's column order (excluded instruments
    first), and the product data columns PyBLP's record has; with a supply side X3 and ZS."""
    data = products.assign(supply_instruments0=products['demand_instruments0'],
                           supply_instruments1=products['demand_instruments1'])

    def build(module: Any) -> Any:
        return module.Problem([module.Formulation('0 + prices + mushy', absorb='C(market_ids)'),
                               module.Formulation('1 + prices'), module.Formulation('1 + sugar')], data,
                              module.Formulation('0 + income'), agents)

    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        theirs, ours = build(pyblp).products, build(blp).products
    for name in ('X1', 'X2', 'ZD', 'X3', 'ZS', 'prices', 'sugar'):
        expected = np.asarray(theirs[name], dtype=float)
        assert getattr(ours, name).shape == expected.shape, name
        np.testing.assert_allclose(getattr(ours, name), expected, rtol=1e-10, atol=1e-10, err_msg=name)
    # the id fields and shares stay vectors (the core reads them so), PyBLP's are N x 1
    np.testing.assert_array_equal(ours.shares, theirs.shares[:, 0])
    for name in ('market_ids', 'firm_ids', 'product_ids'):
        np.testing.assert_array_equal(getattr(ours, name), theirs[name][:, 0])
    logit_problem = blp.Problem(blp.Formulation('0 + prices'), products)
    assert logit_problem.products.X2.shape == logit_problem.products.ZS.shape == (len(products), 0)
