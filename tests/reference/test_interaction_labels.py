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
    ('C(g)[b:c]:x', 'C(g)[b:c]*x'), ('x:C(g)[1]', 'C(g)[1]*x'), ('I(x / y)', 'I(x / y)'), ('log(q)', 'log(q)')])
def test_interaction_label_sorts_the_factors_of_interactions_only(label: str, expected: str) -> None:
    assert interaction_label(label) == expected
