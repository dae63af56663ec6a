"""Nested Gauss-Hermite rules (Genz and Keister, by Heiss and Winschel's levels) and the product rules and sparse grids
built from them: exact for the normal's moments up to their degree, nested, refused beyond their levels, and counted
by the cost model without building them."""

from __future__ import annotations

import itertools
from math import prod

import numpy as np
import pytest

from blp.configurations.budget import nodes_per_market
from blp.configurations.integration import Integration, nested_gauss_hermite, nested_sparse_grid, sparse_grid
from blp.configurations.nested_hermite import NESTED_MAX, nested_order
from blp.exceptions import SpecificationError


def normal_moment(power: int) -> int:
    """E[x^power] for a standard normal: 0 for odd powers, (power - 1)!! for even ones."""
    return 0 if power % 2 else prod(range(power - 1, 0, -2))


@pytest.mark.parametrize('level', range(1, NESTED_MAX + 1))
def test_each_level_integrates_the_normal_moments_up_to_its_degree(level: int) -> None:
    nodes, weights = nested_gauss_hermite(level)
    assert np.all(np.diff(nodes) > 0) and len(nodes) == nested_order(level)
    for power in range(2 * level):
        scale = np.abs(weights) @ np.abs(nodes) ** power  # odd moments cancel terms of this size
        assert abs(weights @ nodes ** power - normal_moment(power)) <= 1e-13 * scale, (level, power)


def test_rules_are_nested_and_reach_the_sequence_of_genz_and_keister() -> None:
    orders = [nested_order(level) for level in range(1, NESTED_MAX + 1)]
    assert sorted(set(orders)) == [1, 3, 7, 9, 17, 19, 31, 33, 35]
    for level in range(1, NESTED_MAX):
        assert set(nested_gauss_hermite(level)[0]) <= set(nested_gauss_hermite(level + 1)[0])
    # The 35-node rule is no longer exact for degree 52 (E[x^52]), so higher levels have no rule in the sequence.
    nodes, weights = nested_gauss_hermite(NESTED_MAX)
    assert abs(weights @ nodes ** 52 / normal_moment(52) - 1) > 1e-9  # 6e-8 (exact degrees: 1e-13)


@pytest.mark.parametrize('dimensions, level', [(1, 7), (2, 1), (2, 5), (3, 4), (4, 3), (5, 6)])
def test_the_nested_sparse_grid_integrates_every_monomial_of_its_total_degree(dimensions: int, level: int) -> None:
    nodes, weights = nested_sparse_grid(dimensions, level)
    assert len({tuple(node) for node in nodes}) == len(nodes)  # repeated nodes merged
    for powers in itertools.product(range(2 * level), repeat=dimensions):
        if sum(powers) <= 2 * level - 1:
            expected = prod(normal_moment(power) for power in powers)
            terms = weights * np.prod(nodes ** np.array(powers), axis=1)
            assert abs(terms.sum() - expected) <= 1e-12 * np.abs(terms).sum(), powers


def test_nesting_makes_the_sparse_grid_smaller_than_the_gauss_hermite_one() -> None:
    assert len(nested_sparse_grid(4, 4)[0]) < len(sparse_grid(4, 4)[0])


@pytest.mark.parametrize('specification', ['nested_product', 'nested_grid'])
def test_levels_beyond_the_sequence_are_refused_naming_the_size(specification: str) -> None:
    for size in (NESTED_MAX + 1, 400):
        with pytest.raises(SpecificationError) as caught:
            Integration(specification, size)
        assert caught.value.parameter == 'integration.size' and str(size) in str(caught.value)
    with pytest.raises(SpecificationError) as caught:
        Integration(specification, 3, {'seed': 1})
    assert caught.value.parameter == 'integration.specification_options.seed'


@pytest.mark.parametrize('specification', ['nested_product', 'nested_grid'])
@pytest.mark.parametrize('size, dimensions', [(1, 1), (2, 3), (4, 2), (9, 2), (16, 1), (25, 3), (6, 5)])
def test_the_cost_model_counts_the_nodes_the_core_builds(specification: str, size: int, dimensions: int) -> None:
    nodes, weights = Integration(specification, size).build(dimensions, markets=2)
    assert len(nodes) == 2 and nodes[0].shape == (len(weights[0]), dimensions)
    assert nodes_per_market(specification, size, dimensions) == len(nodes[0])
    np.testing.assert_allclose(weights[0].sum(), 1, rtol=1e-12)


def test_the_cost_model_counts_refused_levels_without_building_them() -> None:
    assert nodes_per_market('nested_product', 100_000, 3) == 35 ** 3
    assert nodes_per_market('nested_grid', 100_000, 20) == nodes_per_market('nested_grid', NESTED_MAX, 20)
