"""The inner loop's kernel: cache-sized market groups change nothing, the factored d delta / d theta equals finite
differences of the contraction, and SQUAREM's dropping of converged markets keeps every market's answer."""

import numpy as np
import pytest

from blp.model import contraction
from blp.model.squarem import squarem
from blp.options import Iteration
from test_demand import make_demand

COUNTS = (3, 7, 1, 5, 6, 2)  # unequal markets: padded products in most of them
SIGMA = np.array([[1.5, 0], [0.3, 0.8]])
TIGHT = Iteration('squarem', {'atol': 1e-14, 'max_evaluations': 100_000})


@pytest.fixture
def market():
    layout, demand = make_demand(counts=COUNTS, K2=2, agents=40, seed=4)
    truth = layout.pad(np.random.default_rng(5).normal(-2, 1, size=sum(COUNTS)))
    utilities = demand.utilities(SIGMA, np.zeros((2, 0)))
    log_observed = np.log(np.where(layout.mask, demand.shares(utilities, truth), 1))
    return layout, demand, utilities, log_observed, truth


def test_one_market_per_group_gives_the_same_step_and_jacobian_as_one_group(market, monkeypatch):
    layout, demand, utilities, log_observed, truth = market
    variables = np.random.default_rng(6).normal(size=(len(COUNTS), 40, 3))
    columns = np.array([0, 1, 1])
    whole_step = demand.step(utilities, log_observed)(truth)
    whole_jacobian = demand.delta_jacobian(utilities, truth, variables, columns)
    monkeypatch.setattr(contraction, 'GROUP_BYTES', 1)  # every group is one market
    assert demand.step(utilities, log_observed).group == 1
    np.testing.assert_allclose(demand.step(utilities, log_observed)(truth), whole_step, rtol=0, atol=1e-15)
    np.testing.assert_allclose(demand.delta_jacobian(utilities, truth, variables, columns), whole_jacobian,
                               rtol=1e-13, atol=1e-15)


def test_the_step_is_zero_in_padded_products_and_fixed_at_the_true_delta(market):
    layout, demand, utilities, log_observed, truth = market
    updated = demand.step(utilities, log_observed)(truth)
    assert (updated[~layout.mask] == 0).all()
    np.testing.assert_allclose(updated[layout.mask], truth[layout.mask], atol=1e-13)


def test_delta_jacobian_equals_central_differences_of_the_contraction(market):
    """sigma_00 moves column 0 by node 0, sigma_11 column 1 by node 1, sigma_10 column 1 by node 0."""
    layout, demand, utilities, log_observed, truth = market
    elements = [(0, 0), (1, 1), (1, 0)]
    variables = np.stack([demand.nodes[:, :, node] for _, node in elements], axis=2)
    columns = np.array([column for column, _ in elements])
    analytic = demand.delta_jacobian(utilities, truth, variables, columns)
    step = 1e-6
    for p, (column, node) in enumerate(elements):
        solved = []
        for sign in (1, -1):
            sigma = SIGMA.copy()
            sigma[column, node] += sign * step
            moved = demand.utilities(sigma, np.zeros((2, 0)))
            solved.append(demand.solve_delta(moved, log_observed, truth, TIGHT).delta)
        numeric = (solved[0] - solved[1]) / (2 * step)
        np.testing.assert_allclose(analytic[:, :, p][layout.mask], numeric[layout.mask], rtol=1e-6, atol=1e-7)


def test_dropping_converged_markets_keeps_each_markets_delta_and_count(market):
    """Solving every market alone (nothing to drop) gives what the block solve gives, evaluation counts included."""
    layout, demand, utilities, log_observed, truth = market
    step = demand.step(utilities, log_observed)
    start = np.zeros_like(truth)
    together = squarem(step, start, TIGHT)
    assert together.converged.all()
    assert len(set(together.evaluations)) > 1  # markets stop at different times, so the block was compacted
    for t in range(len(COUNTS)):
        alone = squarem(step.select(np.array([t])), start[[t]], TIGHT)
        assert alone.evaluations[0] == together.evaluations[t]
        np.testing.assert_allclose(alone.delta[0], together.delta[t], rtol=0, atol=1e-15)
    np.testing.assert_allclose(together.delta[layout.mask], truth[layout.mask], atol=1e-11)
