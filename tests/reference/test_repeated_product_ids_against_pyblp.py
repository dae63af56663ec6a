"""product_ids that repeat within a market, as PyBLP accepts them: it never indexes products by them, it groups them
(fixed effects, `eliminate_product_ids`, a micro dataset's `eliminated_product_ids_index`). Here product_ids is the
firm (or the nest), so several products of a market share one id.

- the cereal IV logit with firm fixed effects `absorb='C(market_ids) + C(product_ids)'` against PyBLP run now (about a
  second): beta 1e-8, SEs and xi 1e-6 (two-way absorption iterates; the objective is zero, just identified);
- `compute_consumer_surpluses(eliminate_product_ids=[...])` removes every product with those ids: 1e-8;
- the micro_nested fixture's second choices with the whole nest eliminated read from a repeating `product_ids` column
  (PyBLP read them from product_ids0, column 0 of its product_ids): micro values and gradient 1e-10.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
import pytest
from generate_micro_nested_fixtures import outputs
from test_micro_nested_against_pyblp import RTOL, stored

import blp
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


def test_eliminated_groups_read_from_repeating_product_ids() -> None:
    arrays = stored()
    renamed = {key.replace('products:product_ids0', 'products:product_ids'): value for key, value in arrays.items()}
    found = outputs(blp, renamed)
    for key in ('truth:micro_values', 'truth:gradient', 'fixed:micro_values', 'fixed:gradient'):
        np.testing.assert_allclose(found[key], arrays[f'pyblp:{key}'], rtol=RTOL, atol=0, err_msg=key)
