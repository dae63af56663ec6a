"""PyBLP's nested quadrature (`'nested_product'`, `'nested_grid'`: Genz and Keister's nested Gauss-Hermite rules,
their product and Heiss and Winschel's sparse grid) against PyBLP 1.3.0 run now: nodes and weights for the levels
PyBLP accepts in 1 to 4 dimensions, in PyBLP's order, the levels it refuses, how the rules print, and an estimate on
PyBLP's simulated data. PyBLP builds these rules in about a second (the highest levels in 3 dimensions, 8 s, are `live`)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

import blp
from blp.configurations.integration import _smolyak, nested_gauss_hermite
from blp.configurations.nested_hermite import NESTED_MAX
from blp.exceptions import SpecificationError

pyblp = pytest.importorskip('pyblp')
pyblp.options.verbose = False

SPECIFICATIONS = ('nested_product', 'nested_grid')


# PyBLP sums a sparse grid's weights in another order: where the combination's terms cancel, its weights and ours
# differ by float rounding, up to 5.1e-14 in 3 dimensions and 9.9e-13 in 4 (measured at every level), and ours are the
# nearer to the exactly summed weights (`test_nested_grid_weights_are_nearer_the_exact_sums_than_pyblps`).
GRID_ROUNDING = 1e-12


def assert_pyblps(specification: str, dimensions: int, sizes: range) -> None:
    for size in sizes:
        ours = blp.build_integration(blp.Integration(specification, size), dimensions)
        theirs = pyblp.build_integration(pyblp.Integration(specification, size), dimensions)
        assert ours.nodes.shape == theirs.nodes.shape, (size, ours.nodes.shape, theirs.nodes.shape)
        np.testing.assert_allclose(ours.nodes, theirs.nodes, rtol=0, atol=1e-14, err_msg=f'size {size}')
        tolerance = 1e-14 if specification == 'nested_product' or dimensions < 3 else GRID_ROUNDING
        np.testing.assert_allclose(ours.weights, theirs.weights, rtol=0, atol=tolerance, err_msg=f'size {size}')


@pytest.mark.parametrize('dimensions', [1, 2, 3, 4])
@pytest.mark.parametrize('specification', SPECIFICATIONS)
def test_nodes_and_weights_are_pyblps(specification: str, dimensions: int) -> None:
    """Every level in 1 and 2 dimensions, to 13 in 3 and 4 (PyBLP takes 1.2 s for those), the product rule to 9 in 4
    (35^4 nodes at the top: the same rule as in fewer dimensions, only larger)."""
    top = NESTED_MAX if dimensions < 3 else 9 if specification == 'nested_product' and dimensions == 4 else 13
    assert_pyblps(specification, dimensions, range(1, top + 1))


@pytest.mark.live
def test_the_highest_levels_in_three_dimensions_are_pyblps() -> None:
    """PyBLP takes about 8 s for these (and minutes for levels above 13 in 4 dimensions, left unchecked)."""
    for specification in SPECIFICATIONS:
        assert_pyblps(specification, 3, range(14, NESTED_MAX + 1))


@pytest.mark.parametrize('dimensions, level', [(3, 17), (4, 13)])
def test_nested_grid_weights_are_nearer_the_exact_sums_than_pyblps(dimensions: int, level: int) -> None:
    """Each node's weight summed exactly (math.fsum) over the combination's product rules."""
    contributions: dict[tuple, list[float]] = {}
    for coefficient, levels in _smolyak(dimensions, level):
        rules = [nested_gauss_hermite(size) for size in levels]
        for combination in itertools.product(*[zip(*rule) for rule in rules]):
            node = tuple(float(x) for x, _ in combination)
            contributions.setdefault(node, []).append(coefficient * math.prod(float(w) for _, w in combination))
    ours = blp.build_integration(blp.Integration('nested_grid', level), dimensions)
    theirs = pyblp.build_integration(pyblp.Integration('nested_grid', level), dimensions)
    exact = np.array([math.fsum(contributions[tuple(node)]) for node in ours.nodes])
    ours_off, theirs_off = np.abs(ours.weights.ravel() - exact).max(), np.abs(theirs.weights.ravel() - exact).max()
    assert ours_off < 1e-13 and ours_off < theirs_off, (ours_off, theirs_off)


@pytest.mark.parametrize('specification', SPECIFICATIONS)
def test_levels_pyblp_refuses_are_refused_naming_the_size(specification: str) -> None:
    for size in (NESTED_MAX + 1, 40):
        with pytest.raises(ValueError):
            pyblp.build_integration(pyblp.Integration(specification, size), 2)
        with pytest.raises(SpecificationError) as caught:
            blp.Integration(specification, size)
        assert caught.value.parameter == 'integration.size'
    for size in (0, -1):
        with pytest.raises(ValueError):
            pyblp.Integration(specification, size)
        with pytest.raises(SpecificationError):
            blp.Integration(specification, size)


@pytest.mark.parametrize('specification', SPECIFICATIONS)
def test_nested_rules_print_as_pyblps(specification: str) -> None:
    assert repr(blp.Integration(specification, 5)) == repr(pyblp.Integration(specification, 5))


def simulated_products() -> pd.DataFrame:
    """PyBLP's tutorial economy (40 markets of 15 products) with random coefficients on prices (σ = 0.5) and x (1),
    equilibrium prices and shares from PyBLP, and excluded instruments from the cost shifter z."""
    simulation = pyblp.Simulation(
        (pyblp.Formulation('1 + prices + x'), pyblp.Formulation('0 + prices + x'), pyblp.Formulation('0 + x + z')),
        pyblp.build_id_data(T=40, J=15, F=5), beta=[1, -2, 2], sigma=np.diag([0.5, 1.0]), gamma=[1, 4],
        integration=pyblp.Integration('product', 7), xi_variance=0.5, omega_variance=0.5, correlation=0.7, seed=0)
    products = pd.DataFrame(pyblp.data_to_dict(simulation.replace_endogenous().product_data))
    instruments = np.c_[products.z, products.z ** 2, pyblp.build_blp_instruments(pyblp.Formulation('0 + x + z'), products)]
    return products.assign(**{f'demand_instruments{k}': column for k, column in enumerate(instruments.T)})


def test_a_nested_grid_estimate_is_pyblps() -> None:
    """σ on prices and x estimated with the level-5 nested grid in both libraries (σ on prices 0.52, true 0.5)."""
    products = simulated_products()
    results = [library.Problem((library.Formulation('1 + prices + x'), library.Formulation('0 + prices + x')), products,
                               integration=library.Integration('nested_grid', 5)).solve(
        sigma=np.eye(2), method='1s', optimization=library.Optimization('l-bfgs-b', {'gtol': 1e-10}))
        for library in (blp, pyblp)]
    ours, theirs = results
    assert 0.3 < ours.sigma[0, 0] < 0.7
    np.testing.assert_allclose(ours.sigma, theirs.sigma, rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(np.diag(ours.sigma_se), np.diag(theirs.sigma_se), rtol=1e-3)
    np.testing.assert_allclose(ours.beta, theirs.beta, rtol=1e-4)
    np.testing.assert_allclose(ours.beta_se, theirs.beta_se, rtol=1e-3)
    np.testing.assert_allclose(ours.objective, theirs.objective, rtol=1e-6)
