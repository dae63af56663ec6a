"""product_ids that repeat within a market, as PyBLP accepts them: it never indexes products by them, it groups them
(fixed effects, `eliminate_product_ids`, a micro dataset's `eliminated_product_ids_index`). Here product_ids is the
firm (or the nest), so several products of a market share one id.

- the cereal IV logit with firm fixed effects `absorb='C(market_ids) + C(product_ids)'` against PyBLP run now (about a
  second): beta 1e-8, SEs and xi 1e-6 (two-way absorption iterates; the objective is zero, just identified);
- `compute_consumer_surpluses(eliminate_product_ids=[...])` removes every product with those ids: 1e-8;
- micro_nested's second choices with the whole nest eliminated read from a repeating `product_ids` column, PyBLP run
  now: micro values and gradient 1e-10; a `product_ids` column is the whole field, so index 1 is refused by both.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
import pytest
from generate_micro_nested_fixtures import FIXED, solve
from test_micro_nested_against_pyblp import RTOL, stored

import blp
from blp.exceptions import SpecificationError
from examples import cereal

pyblp = pytest.importorskip('pyblp')
pyblp.options.verbose = False
ABSORB = 'C(market_ids) + C(product_ids)'
ELIMINATED = ['F1', 'F3']


def products() -> pd.DataFrame:
    frame = cereal.product_data('price')
    return frame.assign(product_ids=frame['firm_ids'])


@functools.cache
def estimates(name: str) -> Any:
    library = {'pyblp': pyblp, 'blp': blp}[name]
    problem = library.Problem(library.Formulation('0 + prices', absorb=ABSORB), products())
    return problem.solve(method='1s')


def test_the_ids_repeat_within_markets() -> None:
    frame = products()
    assert frame.duplicated(['market_ids', 'product_ids']).mean() > 0.5


@pytest.mark.parametrize('key', ['beta', 'beta_se', 'xi'])
def test_fixed_effects_of_repeated_ids_match_pyblp(key: str) -> None:
    ours, theirs = (np.asarray(getattr(estimates(name), key), dtype=float) for name in ('blp', 'pyblp'))
    rtol = 1e-8 if key == 'beta' else 1e-6
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=1e-9 * np.abs(theirs).max(), err_msg=key)


def test_eliminated_product_ids_remove_every_product_with_them() -> None:
    ours = np.asarray(estimates('blp').compute_consumer_surpluses(eliminate_product_ids=ELIMINATED))
    theirs = np.asarray(estimates('pyblp').compute_consumer_surpluses(eliminate_product_ids=ELIMINATED))
    full = np.asarray(estimates('blp').compute_consumer_surpluses())
    np.testing.assert_allclose(ours, theirs, rtol=1e-8)
    assert np.all(ours < full - 1e-6)


def nest_ids() -> dict[str, np.ndarray]:
    """micro_nested's data with its nests as the one product_ids column (PyBLP's field when it is named so)."""
    arrays = stored()
    renamed = {key.replace('products:product_ids0', 'products:product_ids'): value for key, value in arrays.items()}
    del renamed['products:product_ids1']
    return renamed


def test_eliminated_groups_read_from_repeating_product_ids() -> None:
    """The first four micro_nested moments (the fifth needs product_ids1) at FIXED, PyBLP run now (about a second)."""
    arrays = nest_ids()
    values = list(arrays['observed'][:4])
    ours, theirs = (solve(library, arrays, values, FIXED, optimize=False) for library in (blp, pyblp))
    for key in ('micro_values', 'gradient'):
        np.testing.assert_allclose(np.asarray(getattr(ours, key), dtype=float).ravel(),
                                   np.asarray(getattr(theirs, key), dtype=float).ravel(), rtol=RTOL, atol=0, err_msg=key)
    np.testing.assert_allclose(np.asarray(ours.micro_values).ravel(), stored()['pyblp:fixed:micro_values'][:4],
                               rtol=RTOL, atol=0)


def test_a_product_ids_column_is_the_whole_field_as_in_pyblp() -> None:
    """With a `product_ids` column, index 1 has no column to read: both refuse it."""
    arrays = nest_ids()
    arrays['products:product_ids1'] = stored()['products:product_ids1']
    with pytest.raises(SpecificationError, match="'product_ids1' column .* whole field"):
        solve(blp, arrays, list(arrays['observed']), FIXED, optimize=False)
    with pytest.raises(ValueError, match="micro dataset 'group gone.* is invalid"):
        solve(pyblp, arrays, list(arrays['observed']), FIXED, optimize=False)


def numbered() -> pd.DataFrame:
    """product_ids0 the product, product_ids1 its firm: PyBLP's two-column product_ids field."""
    frame = cereal.product_data('price').rename(columns={'product_ids': 'product_ids0'})
    return frame.assign(product_ids1=frame['firm_ids'])


def test_eliminate_product_ids_reads_the_column_product_ids_index_names() -> None:
    found = []
    for library in (blp, pyblp):
        results = library.Problem(library.Formulation('0 + prices', absorb='C(market_ids) + C(product_ids0)'),
                                  numbered()).solve(method='1s')
        found.append([np.asarray(results.compute_consumer_surpluses(eliminate_product_ids=ELIMINATED,
                                                                    product_ids_index=index)) for index in (0, 1)])
        found[-1].append(np.asarray(results.compute_consumer_surpluses()))
    np.testing.assert_allclose(found[0], found[1], rtol=1e-8)
    products_named, firms_named, full = found[0]
    assert np.array_equal(products_named, full) and np.all(firms_named < full - 1e-6)  # F1, F3 are firms


def test_micro_callables_see_pyblps_product_ids_field() -> None:
    """`products.product_ids` in a market view is PyBLP's `problem.products.product_ids` there (J_t x 2)."""
    from blp.micro.views import MarketViews
    frame = numbered()
    formulations = ('0 + prices', '0 + prices')
    agents = cereal.agent_data(size=5)
    ours = blp.Problem(tuple(blp.Formulation(f) for f in formulations), frame, blp.Formulation('0 + log_income'),
                       agents)
    theirs = pyblp.Problem(tuple(pyblp.Formulation(f) for f in formulations), frame,
                           pyblp.Formulation('0 + log_income'), agents)
    t = 3
    view = MarketViews(ours, ours.agents).products(t)
    rows = np.flatnonzero(theirs.products.market_ids[:, 0] == ours.products.layout.markets[t])
    assert view.product_ids.shape == (rows.size, 2)
    assert np.array_equal(view.product_ids, theirs.products.product_ids[rows])


def test_a_product_ids_index_without_its_column_is_refused_by_name() -> None:
    with pytest.raises(SpecificationError, match="product_ids_index 1 has no column: product_data has product_ids") as error:
        estimates('blp').compute_consumer_surpluses(eliminate_product_ids=ELIMINATED, product_ids_index=1)
    assert error.value.parameter == 'product_ids_index'
