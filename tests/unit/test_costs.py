"""Marginal costs from markups: clipping to costs_bounds as PyBLP, linear and log costs, and omega's Jacobian."""

from __future__ import annotations

import numpy as np
import pytest

from blp.exceptions import SpecificationError
from blp.supply.costs import bounds, check_log_costs, marginal_costs, omega_by_theta

# two markets, the second with one padded product
MASK = np.array([[True, True, True], [True, True, False]])
PRICES = np.array([[1.0, 2.0, 0.5], [3.0, 1.0, 0.0]])
ETA = np.array([[0.4, 2.5, 0.1], [1.0, 0.9995, 0.0]])


def test_costs_are_prices_minus_markups_and_nothing_is_clipped_without_bounds() -> None:
    costs = marginal_costs(PRICES, ETA, MASK)
    np.testing.assert_allclose(costs.costs, np.where(MASK, PRICES - ETA, 0.0))
    assert costs.transformed is costs.costs and costs.clipped_count == 0 and not costs.nonpositive.any()


def test_bounds_clip_costs_and_count_only_real_products() -> None:
    costs = marginal_costs(PRICES, ETA, MASK, 'log', (0.001, None))
    expected = np.array([[0.6, 0.001, 0.4], [2.0, 0.001, 0.0]])
    np.testing.assert_allclose(costs.costs, expected)
    assert costs.clipped.tolist() == [[False, True, False], [False, True, False]] and costs.clipped_count == 2
    np.testing.assert_allclose(costs.transformed[MASK], np.log(expected[MASK]))
    assert not costs.nonpositive.any()
    upper = marginal_costs(PRICES, ETA, MASK, 'linear', (np.nan, 1.0))
    assert upper.clipped.tolist() == [[False, False, False], [True, False, False]] and upper.costs[1, 0] == 1.0


def test_log_costs_flag_nonpositive_costs() -> None:
    costs = marginal_costs(PRICES, ETA, MASK, 'log')
    assert costs.nonpositive.tolist() == [[False, True, False], [False, False, False]]
    assert np.isnan(costs.transformed[0, 1]) and np.isfinite(costs.transformed[~costs.nonpositive]).all()
    with pytest.raises(SpecificationError) as error:
        check_log_costs(costs, np.array(['m1', 'm2']), np.array([['a', 'b', 'c'], ['d', 'e', '']]))
    assert error.value.parameter == 'costs_type'
    assert "1 implied costs p - eta are not positive (first: product 'b' in market 'm1', c = -0.5)" in str(error.value)
    check_log_costs(marginal_costs(PRICES, ETA, MASK, 'log', (0.001, None)), np.array(['m1', 'm2']))


@pytest.mark.parametrize('costs_type', ['linear', 'log'])
def test_omega_jacobian_matches_finite_differences_and_is_zero_where_clipped(costs_type: str) -> None:
    """eta moving along eta_jacobian by t: d c~/dt, except rows clipped at the bound, which stay put."""
    eta_jacobian = np.random.default_rng(0).normal(size=MASK.shape + (2,)) * MASK[:, :, None]
    costs = marginal_costs(PRICES, ETA, MASK, costs_type, (0.001, None))
    analytic = omega_by_theta(eta_jacobian, costs, costs_type)
    step = 1e-7
    for p in range(2):
        up = marginal_costs(PRICES, ETA + step * eta_jacobian[:, :, p], MASK, costs_type, (0.001, None))
        down = marginal_costs(PRICES, ETA - step * eta_jacobian[:, :, p], MASK, costs_type, (0.001, None))
        numeric = (up.transformed - down.transformed) / (2 * step)
        np.testing.assert_allclose(analytic[:, :, p], numeric, rtol=1e-6, atol=1e-8)
    assert (analytic[costs.clipped] == 0).all() and (analytic[~MASK] == 0).all()


def test_bad_bounds_and_costs_type_name_the_argument() -> None:
    assert bounds(None) == (-np.inf, np.inf) and bounds((None, 2)) == (-np.inf, 2.0)
    with pytest.raises(SpecificationError) as error:
        bounds((1.0, 0.5))
    assert error.value.parameter == 'costs_bounds'
    with pytest.raises(SpecificationError) as error:
        marginal_costs(PRICES, ETA, MASK, 'quadratic')
    assert error.value.parameter == 'costs_type'
