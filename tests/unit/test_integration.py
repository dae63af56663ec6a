"""Built agents: quadrature rules integrate polynomials exactly; draws have the requested shape and seed."""

import numpy as np
import pytest

from blp.configurations.integration import Integration, gauss_hermite_product, sparse_grid
from blp.exceptions import SpecificationError


def moments(nodes, weights, powers):
    return weights @ np.prod(nodes ** np.array(powers), axis=1)


@pytest.mark.parametrize('rule', [gauss_hermite_product, sparse_grid])
def test_quadrature_integrates_normal_moments_exactly(rule):
    nodes, weights = rule(2, 4)
    np.testing.assert_allclose(weights.sum(), 1)
    np.testing.assert_allclose(moments(nodes, weights, [2, 0]), 1, atol=1e-12)
    np.testing.assert_allclose(moments(nodes, weights, [4, 0]), 3, atol=1e-12)
    np.testing.assert_allclose(moments(nodes, weights, [2, 2]), 1, atol=1e-12)
    np.testing.assert_allclose(moments(nodes, weights, [1, 1]), 0, atol=1e-12)


def test_sparse_grid_needs_fewer_nodes_than_the_product_rule_in_many_dimensions():
    sparse, weights = sparse_grid(6, 4)
    product, _ = gauss_hermite_product(6, 4)
    assert len(sparse) < len(product) / 5
    np.testing.assert_allclose(moments(sparse, weights, [2, 0, 0, 0, 0, 2]), 1, atol=1e-12)


@pytest.mark.parametrize('specification', ['monte_carlo', 'halton', 'sobol'])
def test_draws_are_reproducible_and_roughly_standard_normal(specification):
    nodes, weights = Integration(specification, 512, {'seed': 7}).build(2, 3)
    again, _ = Integration(specification, 512, {'seed': 7}).build(2, 3)
    assert len(nodes) == 3 and nodes[0].shape == (512, 2)
    np.testing.assert_array_equal(nodes[1], again[1])
    assert not np.array_equal(nodes[0], nodes[1])
    np.testing.assert_allclose(weights[0].sum(), 1)
    np.testing.assert_allclose(nodes[0].mean(axis=0), 0, atol=0.15)
    np.testing.assert_allclose(nodes[0].std(axis=0), 1, atol=0.15)


def test_unknown_specification_is_refused():
    with pytest.raises(SpecificationError, match='specification'):
        Integration('lattice', 10)


def test_gauss_hermite_rules_that_are_not_finite_are_refused_naming_the_size():
    from blp.configurations.integration import GAUSS_HERMITE_MAX, gauss_hermite

    nodes, weights = gauss_hermite(GAUSS_HERMITE_MAX)
    assert np.isfinite(nodes).all() and np.isfinite(weights).all()
    for size in (GAUSS_HERMITE_MAX + 1, 400, 1500):
        with pytest.raises(SpecificationError) as caught:
            Integration('product', size=size)
        assert caught.value.parameter == 'integration.size' and str(size) in str(caught.value)
        with pytest.raises(SpecificationError):
            gauss_hermite(size)
    with pytest.raises(SpecificationError):
        Integration('grid', size=400)
