"""Partial ownership given as `ownership0..` columns (issue 26, item 3), against PyBLP run now: post-estimation
reads them by default, as PyBLP does, for markups, costs, prices and the diversion-free quantities built on them.

The ownership is PyBLP's `build_ownership` with a κ under which firms 1 and 2 each hold half of the other's profits;
without the columns' effect every number below would be the firm_ids one, and the first test checks they differ.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import blp

pyblp = pytest.importorskip('pyblp')
pyblp.options.verbose = False

RTOL = 1e-6  # tighter than the project's 1e-4


def kappa(f: Any, g: Any) -> float:
    return 1.0 if f == g else (0.5 if {f, g} == {1, 2} else 0.0)


@pytest.fixture(scope='module')
def products() -> pd.DataFrame:
    frame = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    ownership = pyblp.build_ownership(frame, kappa)
    for column in range(ownership.shape[1]):
        frame[f'ownership{column}'] = ownership[:, column]
    return frame


@pytest.fixture(scope='module')
def results(products: pd.DataFrame) -> tuple[Any, Any]:
    formulation = ('0 + prices', 'C(product_ids)')

    def estimate(module: Any) -> Any:
        problem = module.Problem(module.Formulation(formulation[0], absorb=formulation[1]), products)
        return problem.solve(method='1s')
    return estimate(pyblp), estimate(blp)


def test_the_columns_matter(results: tuple[Any, Any]) -> None:
    _, ours = results
    np.testing.assert_raises(AssertionError, np.testing.assert_allclose, ours.compute_costs(),
                             ours.compute_costs(firm_ids=ours.problem.products.firm_ids), rtol=1e-3)


@pytest.mark.parametrize('method', ['compute_markups', 'compute_costs', 'compute_prices', 'compute_profits',
                                    'compute_shares'])
def test_post_estimation_reads_ownership_columns(results: tuple[Any, Any], method: str) -> None:
    theirs, ours = results
    if method == 'compute_shares':  # at the equilibrium prices of the partial ownership
        expected = theirs.compute_shares(theirs.compute_prices())
        actual = ours.compute_shares(ours.compute_prices())
    else:
        expected, actual = getattr(theirs, method)(), getattr(ours, method)()
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float), rtol=RTOL,
                               err_msg=method)
