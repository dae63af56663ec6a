"""Interaction labels in PyBLP's form (`trend:jp` is `jp*trend`, factors sorted by name) in X1, X2, X3 and the
demographics, hence in `beta_labels`, `sigma_labels`, `pi_labels`, `gamma_labels`, `theta_labels` and the printed
problem (and the JSON result the service returns), against PyBLP 1.3.0 on the same formulas."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import blp
from blp.configurations.labels import interaction_label

pyblp = pytest.importorskip('pyblp')
from workloads import _nevo_data  # noqa: E402 - PyBLP's Nevo data


@pytest.fixture(scope='module')
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    T, J, I = 6, 5, 20
    products = pd.DataFrame({
        'market_ids': np.repeat(np.arange(T), J), 'firm_ids': np.tile(np.arange(J), T),
        'shares': rng.uniform(0.02, 0.1, T * J), 'prices': rng.uniform(1, 2, T * J),
        **{name: rng.uniform(1, 2, T * J) for name in ('trend', 'jp', 'eu', 'x', 'y', 'B', 'x2', 'x10')}})
    for k in range(16):
        products[f'demand_instruments{k}'] = rng.normal(size=T * J)
        products[f'supply_instruments{k}'] = rng.normal(size=T * J)
    agents = pd.DataFrame({'market_ids': np.repeat(np.arange(T), I), 'weights': 1 / I,
                           'nodes0': rng.normal(size=T * I), 'nodes1': rng.normal(size=T * I),
                           'income': rng.uniform(1, 2, T * I), 'age': rng.uniform(1, 2, T * I)})
    return products, agents


def solve(library: Any, data: tuple[pd.DataFrame, pd.DataFrame]) -> Any:
    products, agents = data
    library.options.verbose = False
    formulations = (library.Formulation('1 + prices + trend * (jp + eu) + x:y:B + x10:x2 + y:log(x)'),
                    library.Formulation('0 + prices + eu:trend'),
                    library.Formulation('1 + trend * jp + y:x'))
    problem = library.Problem(formulations, products, library.Formulation('0 + income + age:income'), agents)
    return problem.solve(sigma=np.eye(2), pi=np.ones((2, 2)), beta=[None, -1] + [None] * 8, optimization=library.Optimization(
        'return'), method='1s', check_optimality='gradient')


def test_interactions_are_labelled_as_pyblps(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ours, theirs = solve(blp, data), solve(pyblp, data)
    assert 'jp*trend' in ours.beta_labels and 'B*x*y' in ours.beta_labels and 'x10*x2' in ours.beta_labels
    for name in ('beta_labels', 'sigma_labels', 'pi_labels', 'gamma_labels'):
        assert getattr(ours, name) == [str(label) for label in getattr(theirs, name)], name
    assert ours.theta_labels == [str(label) for label in theirs.theta_labels]
    rows = ours.to_document()['parameters']  # the service's JSON result: the library's labels
    assert [row['row'] for row in rows if row['kind'] == 'gamma'] == ours.gamma_labels
    assert {row['column'] for row in rows if row['kind'] == 'pi'} == {'income', 'age*income'}
    assert [line.split() for line in str(ours.problem).splitlines()[-8:]] == \
        [line.split() for line in str(theirs.problem).splitlines()[-8:]]


@pytest.mark.parametrize(('label', 'expected'), [
    ('trend:jp', 'jp*trend'), ('z:x:y', 'x*y*z'), ('x:B', 'B*x'), ('x10:x2', 'x10*x2'), ('y:log(x)', 'y*log(x)'),
    ('C(g)[b:c]:x', 'C(g)[b:c]*x'), ('x:C(g)[1]', 'C(g)[1]*x'), ('I(x / y)', 'x/y'), ('I(-x)', '-x'),
    ('I(1 / y)', '1/y'), ('I(x ** 2)', 'x**2'), ('log(q)', 'log(q)')])
def test_interaction_label_sorts_the_factors_of_interactions_only(label: str, expected: str) -> None:
    assert interaction_label(label) == expected


@pytest.mark.parametrize('formula', ['1 + prices + I(-prices)', '0 + I(2 * prices) + I(prices + sugar)',
                                     '0 + I(prices - sugar) + I(-prices / 2)', '0 + I(prices / (sugar + 1))',
                                     '0 + I(sugar * prices) + I(prices ** 2)', '0 + log(sugar + 1) + exp(prices)'])
def test_expression_labels_are_pyblps(formula: str) -> None:
    """PyBLP labels I(...) columns by sympy's print of the expression (`I(-prices)` is `-prices`): X1, X2, the
    demographics (`I(1 / income)`) and X3 (the results take their labels from these)."""
    products, agents = (frame[frame['market_ids'].isin(['C01Q1', 'C01Q2'])] for frame in _nevo_data())
    labels = {}
    for library in (blp, pyblp):
        library.options.verbose = False
        formulations = (library.Formulation(formula), library.Formulation(formula.replace('1 + ', '0 + ')),
                        library.Formulation(formula.replace('prices', 'mushy')))
        problem = library.Problem(formulations, products, library.Formulation('0 + I(1 / income) + I(-income)'), agents)
        if library is pyblp:
            labels[library] = [[str(f) for f in getattr(problem, name)] for name in (
                '_X1_formulations', '_X2_formulations', '_demographics_formulations', '_X3_formulations')]
        else:
            labels[library] = [problem.X1_labels, problem.X2_labels, problem.demographics_labels,
                               problem.supply.X3_labels]
    assert labels[blp] == labels[pyblp]
