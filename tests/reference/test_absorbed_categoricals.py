"""Categorical terms beside absorbed fixed effects (issue 26, item 6), against PyBLP run now on its Nevo data.

PyBLP codes `C(column)` in a formulation with `absorb` as if the formula had an intercept (one level dropped, even
after `0 +`): the absorbed effects take the intercept's place. Product dummies beside absorbed market effects are then
not collinear, and PyBLP estimates them; with every level kept (our old coding) the dummies sum to the market effects
and the 2SLS weighting matrix could not be computed. Also checked: the same formula without `absorb` keeps every level
as PyBLP does, and a truly collinear X1 (an endogenous column and a multiple of it) warns and estimates in both.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional

import numpy as np
import pandas as pd
import pytest

import blp

pyblp = pytest.importorskip('pyblp')
pyblp.options.verbose = False

RTOL = {'beta': 1e-6, 'beta_se': 1e-6, 'objective': 1e-8}  # tighter than the project's 1e-4, 1e-3, 1e-6
CASES = [
    ('0 + prices + C(product_ids)', 'C(market_ids)'),
    ('prices + C(product_ids)', 'C(market_ids)'),
    ('0 + prices + C(product_ids)', None),
    ('prices + sugar + C(firm_ids)', 'C(market_ids)'),
    ('prices + I(2 * prices)', 'C(product_ids)'),
]


@pytest.fixture(scope='module')
def products() -> pd.DataFrame:
    return pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)


def solve(module: Any, products: pd.DataFrame, formula: str, absorb: Optional[str]) -> tuple[Any, Any, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        problem = module.Problem(module.Formulation(formula, absorb=absorb), products)
        results = problem.solve(method='1s')
    return problem, results, [str(warning.message) for warning in caught]


@pytest.mark.parametrize(('formula', 'absorb'), CASES)
def test_estimates_equal_pyblps(products: pd.DataFrame, formula: str, absorb: Optional[str]) -> None:
    theirs_problem, theirs, _ = solve(pyblp, products, formula, absorb)
    ours_problem, ours, _ = solve(blp, products, formula, absorb)
    assert ours_problem.K1 == theirs_problem.K1
    assert ours_problem.MD == theirs_problem.MD
    for name, rtol in RTOL.items():
        np.testing.assert_allclose(np.asarray(getattr(ours, name), dtype=float),
                                   np.asarray(getattr(theirs, name), dtype=float), rtol=rtol, atol=1e-12,
                                   err_msg=f'{name} of {formula!r} absorbing {absorb!r}')


def test_dropped_level_is_the_first(products: pd.DataFrame) -> None:
    """The reference level is the first in sorted order, as in PyBLP (F1B04 of the Nevo products)."""
    problem = blp.Problem(blp.Formulation('0 + prices + C(product_ids)', absorb='C(market_ids)'), products)
    levels = sorted(products['product_ids'].unique())
    assert len(problem.X1_labels) == len(levels)
    assert not any(levels[0] in label for label in problem.X1_labels)
    assert all(any(level in label for label in problem.X1_labels) for level in levels[1:])


def test_truly_collinear_x1_warns_in_both(products: pd.DataFrame) -> None:
    _, _, theirs = solve(pyblp, products, 'prices + I(2 * prices)', 'C(product_ids)')
    _, _, ours = solve(blp, products, 'prices + I(2 * prices)', 'C(product_ids)')
    assert any('collinear' in message.lower() for message in theirs)
    assert any('collinear' in message and "'2*prices'" in message for message in ours)
