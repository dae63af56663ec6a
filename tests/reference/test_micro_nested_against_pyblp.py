"""Micro moments of second choices on RCNL with two nests and one rho per nest against PyBLP
(`generate_micro_nested_fixtures.py`): second choices with only the first choice removed, with its whole nest removed
and with its group within the nest removed (`eliminated_product_ids_index`). Micro values, the objective and the
gradient at two fixed thetas at 1e-10 relative (the maths is the same; a within-nest share left as 1 - C_G rather than
the sum of what stays put them 1e-9 to 4e-8 apart), then the estimates, their SEs and the objective at 1e-6.

The default run compares against `fixtures/micro_nested.npz`; the `live` test runs PyBLP now (about 10 s).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from generate_micro_nested_fixtures import FIXTURE, generate, outputs

import blp

RTOL = 1e-10
ESTIMATE_RTOL = 1e-6  # where two optimizers stop (they agreed at 3e-12 here)


def stored() -> dict[str, np.ndarray]:
    assert FIXTURE.exists(), f'missing fixture {FIXTURE}: run tests/reference/generate_micro_nested_fixtures.py'
    with np.load(FIXTURE) as arrays:
        return dict(arrays)


@functools.cache
def ours() -> dict[str, np.ndarray]:
    return outputs(blp, stored())


def compare(reference: dict[str, np.ndarray], found: dict[str, np.ndarray]) -> None:
    theirs = {key.removeprefix('pyblp:'): value for key, value in reference.items() if key.startswith('pyblp:')}
    assert sorted(found) == sorted(theirs)
    for key, value in theirs.items():
        rtol = ESTIMATE_RTOL if key.startswith('estimate:') else RTOL
        np.testing.assert_allclose(found[key], value, rtol=rtol, atol=0, equal_nan=True, err_msg=key)


def test_micro_values_gradient_and_estimates_match_stored_pyblp_numbers() -> None:
    compare(stored(), ours())


def test_the_groups_are_whole_nests_and_pairs_within_nests() -> None:
    """product_ids0 (index 0) is the nest, so its groups are whole nests; product_ids1's groups lie within a nest, some
    of two products, some of one: both of PyBLP's allowed shapes are compared above."""
    arrays = stored()
    markets, nests = arrays['products:market_ids'], arrays['products:nesting_ids']
    assert np.array_equal(arrays['products:product_ids0'], nests)
    pairs = arrays['products:product_ids1'] + 100 * markets
    sizes = np.unique(pairs, return_counts=True)[1]
    assert set(sizes) == {1, 2}
    assert all(np.unique(nests[pairs == group]).size == 1 for group in np.unique(pairs))


@pytest.mark.live
def test_micro_values_gradient_and_estimates_match_pyblp_run_now() -> None:
    live = generate()
    fixture = stored()
    for key in ('products:shares', 'agents:nodes1', 'observed'):
        np.testing.assert_allclose(live[key], fixture[key], rtol=1e-12, err_msg=key)
    compare(live, outputs(blp, live))
