"""The market math: shares, the contraction and its safety at extreme utilities."""

import numpy as np
import pytest

from blp.configurations.solve_options import Iteration
from blp.model.contraction import RandomCoefficients
from blp.primitives.products import Layout


def make_demand(counts=(3,), agents=20, K2=1, seed=0, X2_scale=1.0):
    """A RandomCoefficients over markets of the given sizes with normal nodes and equal weights."""
    rng = np.random.default_rng(seed)
    market_ids = np.repeat(np.arange(len(counts)), counts)
    layout = Layout.from_ids(market_ids)
    X2 = rng.normal(size=(market_ids.size, K2)) * X2_scale
    weights = np.full((len(counts), agents), 1 / agents)
    nodes = rng.normal(size=(len(counts), agents, K2))
    return layout, RandomCoefficients(layout, X2, weights, nodes, np.zeros((len(counts), agents, 0)))


def test_shares_are_positive_and_sum_below_one():
    layout, demand = make_demand(counts=(3, 5, 2), K2=2)
    delta = layout.pad(np.random.default_rng(1).normal(size=10))
    shares = demand.shares(demand.utilities(np.diag([0.5, 2.0]), np.zeros((2, 0))), delta)
    assert (shares[layout.mask] > 0).all()
    assert (shares.sum(axis=1) < 1).all()


def test_shares_match_the_problem_set_at_extreme_delta():
    """Problem-set test 2: sigma = 0, J = 3, delta = (40, 20, 20): shares are not one and nothing overflows."""
    layout, demand = make_demand(counts=(3,))
    delta = layout.pad(np.array([40.0, 20.0, 20.0]))
    shares = demand.shares(demand.utilities(np.zeros((1, 1)), np.zeros((1, 0))), delta)[0]
    np.testing.assert_allclose(shares, [9.99999996e-01, 2.06115361e-09, 2.06115361e-09], rtol=1e-8)
    assert shares[0] < 1


def test_shares_stay_finite_when_exponentials_would_overflow():
    layout, demand = make_demand(counts=(3,), X2_scale=100)
    delta = layout.pad(np.array([800.0, 790.0, -800.0]))
    shares = demand.shares(demand.utilities(np.full((1, 1), 5.0), np.zeros((1, 0))), delta)[0]
    assert np.isfinite(shares).all() and shares.sum() <= 1


def test_contraction_recovers_logit_delta_when_sigma_is_zero():
    layout, demand = make_demand(counts=(4, 2, 6))
    shares = np.random.default_rng(2).uniform(0.01, 0.1, size=12)
    outside = 1 - np.bincount(layout.market_index, weights=shares)
    logit = np.log(shares) - np.log(outside)[layout.market_index]
    utilities = demand.utilities(np.zeros((1, 1)), np.zeros((1, 0)))
    solved = demand.solve_delta(utilities, layout.pad(np.log(shares)), np.zeros((3, 6)), Iteration())
    assert solved.converged.all()
    np.testing.assert_allclose(layout.unpad(solved.delta), logit, atol=1e-12)


@pytest.mark.parametrize('method', ['squarem', 'simple'])
def test_contraction_inverts_shares_with_heterogeneity_and_unequal_markets(method):
    layout, demand = make_demand(counts=(3, 7, 1, 5), K2=2, agents=50)
    truth = layout.pad(np.random.default_rng(3).normal(-2, 1, size=16))
    utilities = demand.utilities(np.array([[1.5, 0], [0.3, 0.8]]), np.zeros((2, 0)))
    observed = demand.shares(utilities, truth)
    solved = demand.solve_delta(utilities, np.log(np.where(layout.mask, observed, 1)), np.zeros_like(truth),
                                Iteration(method, {'atol': 1e-14, 'max_evaluations': 100_000}))
    assert solved.converged.all()
    np.testing.assert_allclose(solved.delta[layout.mask], truth[layout.mask], atol=1e-11)
    if method == 'squarem':
        assert solved.evaluations.max() < 200


def test_contraction_inverts_shares_where_naive_exponentials_overflow():
    """|mu| reaches about 1,000 here, so exp(delta + mu) would overflow without the max-utility scaling."""
    layout, demand = make_demand(counts=(3,), agents=200, X2_scale=30)
    truth = layout.pad(np.array([-5.0, -6.0, -4.0]))
    utilities = demand.utilities(np.full((1, 1), 10.0), np.zeros((1, 0)))
    assert np.abs(np.log(utilities.scaled[utilities.scaled > 0])).max() + np.abs(utilities.peak).max() > 709
    observed = demand.shares(utilities, truth)
    solved = demand.solve_delta(utilities, np.log(observed), np.zeros_like(truth),
                                Iteration('squarem', {'atol': 1e-13, 'max_evaluations': 100_000}))
    assert solved.converged.all()
    np.testing.assert_allclose(solved.delta, truth, atol=1e-9)


def test_contraction_reports_markets_that_do_not_converge():
    layout, demand = make_demand(counts=(3, 3), K2=1, agents=30)
    utilities = demand.utilities(np.full((1, 1), 3.0), np.zeros((1, 0)))
    observed = np.log(np.full((2, 3), 0.1))
    solved = demand.solve_delta(utilities, observed, np.zeros((2, 3)), Iteration('simple', {'max_evaluations': 2}))
    assert not solved.converged.any()
    assert (solved.evaluations <= 2).all()
