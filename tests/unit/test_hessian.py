"""The Hessian after estimation is PyBLP's: central differences of the analytic gradient whose perturbed contractions
all start from the step's first delta, so it depends on theta, W and that start only, not on the warm starts the
optimizer left behind (chained starts put independent contraction errors into each difference)."""

from __future__ import annotations

import numpy as np

import blp


def test_the_hessian_depends_on_the_steps_start_not_on_the_last_warm_start(products, agents):
    problem = blp.Problem((blp.Formulation('0 + prices', absorb='C(market_ids) + C(product_ids)'),
                           blp.Formulation('0 + mushy')), products, blp.Formulation('0 + log_income'), agents)
    results = problem.solve(sigma=0.5, pi=1, method='2s')
    estimation = results._estimation
    start = estimation.step_delta
    assert start.shape == estimation.warm_delta.shape
    first_step = problem.solve(sigma=0.5, pi=1, method='1s')  # the second step starts at the first's delta
    np.testing.assert_array_equal(problem.products.layout.unpad(start), first_step.delta.ravel())
    estimation.evaluate(results.theta * 1.1, estimation.moments.iv(results.W))  # moves the warm start elsewhere
    again = estimation.hessian(results.theta, results.W, start)
    np.testing.assert_array_equal(again, results.hessian)
    assert np.all(np.linalg.eigvalsh(again) > 0)
