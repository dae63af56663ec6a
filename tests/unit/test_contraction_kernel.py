"""The inner loop's compiled kernel (blp.model.logit_kernel): its share derivatives equal the dense formula, d delta /
d theta equals finite differences of the contraction, and its per-market SQUAREM takes the numpy driver's steps."""

import numpy as np
import pytest
from test_demand import make_demand

from blp.configurations.solve_options import Iteration
from blp.model import logit_kernel
from blp.model.squarem import squarem

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


class ReferenceStep:
    """The logit contraction in plain numpy (shares from `probabilities`, no cancellation), for `squarem`."""

    def __init__(self, demand, utilities, log_observed, markets):
        self.demand, self.utilities, self.log_observed, self.markets = demand, utilities, log_observed, markets
        self.mask = demand.mask[markets]

    def __call__(self, delta):
        full = np.zeros(self.demand.mask.shape)
        full[self.markets] = delta
        probabilities = self.demand.probabilities(self.utilities, full, self.markets)
        shares = (probabilities * self.demand.weights[self.markets][:, None, :]).sum(axis=2)
        return np.where(self.mask, delta + self.log_observed[self.markets] - np.log(np.where(self.mask, shares, 1)), 0)

    def select(self, keep):
        return ReferenceStep(self.demand, self.utilities, self.log_observed, self.markets[keep])


def test_share_derivatives_equal_the_dense_formula(market):
    """ds_j/d delta_k = s_j 1(j = k) - sum_i w_i s_ij s_ik; ds_j/d theta_p = sum_i w_i s_ij v_ip (x_jp - sum_m s_im
    x_mp), from the individual probabilities of the numpy path; padded rows are the identity and zero."""
    layout, demand, utilities, _, truth = market
    variables = np.random.default_rng(6).normal(size=(len(COUNTS), 40, 3))
    columns = np.array([0, 1, 1])
    X = demand.X2[:, :, columns]
    by_delta, by_theta = logit_kernel.share_derivatives(utilities.extended, demand.weights, truth, layout.counts, X,
                                                        variables)
    s = demand.probabilities(utilities, truth)  # T x J x I
    w = demand.weights
    shares = (s * w[:, None, :]).sum(axis=2)
    expected_delta = -np.einsum('ti,tji,tki->tjk', w, s, s)
    expected_delta[:, np.arange(s.shape[1]), np.arange(s.shape[1])] += np.where(layout.mask, shares, 1.0)
    mean_x = np.einsum('tji,tjp->tip', s, X)
    expected_theta = np.einsum('ti,tji,tip,tjip->tjp', w, s, variables, X[:, :, None, :] - mean_x[:, None, :, :])
    np.testing.assert_allclose(by_delta, expected_delta, rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(by_theta, expected_theta, rtol=1e-12, atol=1e-16)
    jacobian = demand.delta_jacobian(utilities, truth, variables, columns)
    np.testing.assert_allclose(jacobian, -np.linalg.solve(expected_delta, expected_theta), rtol=1e-10, atol=1e-14)
    assert (jacobian[~layout.mask] == 0).all()


def test_the_contraction_stops_at_once_at_the_true_delta_and_is_zero_in_padded_products(market):
    layout, demand, utilities, log_observed, truth = market
    solved = demand.solve_delta(utilities, log_observed, truth, Iteration('squarem', {'atol': 1e-12}))
    assert solved.converged.all() and (solved.evaluations == 1).all()
    assert (solved.delta[~layout.mask] == 0).all()
    np.testing.assert_allclose(solved.delta[layout.mask], truth[layout.mask], atol=1e-13)


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


@pytest.mark.parametrize('method', ['squarem', 'simple'])
def test_the_compiled_iteration_takes_the_numpy_drivers_steps(market, method):
    """Per market, the compiled SQUAREM (or simple iteration) makes the same evaluations and iterations as `squarem`
    over the plain numpy mapping, which solves every market together and drops the converged ones, and as the
    per-market loop (`rtol=0` given: PyBLP's options, not the kernel's), and reaches the same delta."""
    layout, demand, utilities, log_observed, truth = market
    iteration = Iteration(method, {'atol': 1e-12, 'max_evaluations': 100_000})
    start = np.zeros_like(truth)
    with np.errstate(divide='ignore'):
        reference = squarem(ReferenceStep(demand, utilities, log_observed, np.arange(len(COUNTS))), start, iteration)
    compiled = demand.solve_delta(utilities, log_observed, start, iteration)
    assert compiled.converged.all() and reference.converged.all()
    assert len(set(compiled.evaluations)) > 1  # markets stop at different times
    np.testing.assert_array_equal(compiled.evaluations, reference.evaluations)
    np.testing.assert_array_equal(compiled.iterations, reference.iterations)
    # PyBLP's major iterations: every evaluation of the simple iteration; SQUAREM's completed cycles of three
    np.testing.assert_array_equal(compiled.iterations, compiled.evaluations if method == 'simple' else
                                  compiled.evaluations // 3)
    looped = demand.solve_delta(utilities, log_observed, start, Iteration(method, {
        'atol': 1e-12, 'max_evaluations': 100_000, 'norm': lambda x: float(np.abs(x).max())}))
    np.testing.assert_array_equal(looped.evaluations, compiled.evaluations)
    np.testing.assert_array_equal(looped.iterations, compiled.iterations)
    np.testing.assert_allclose(compiled.delta, reference.delta, rtol=0, atol=1e-12)
    np.testing.assert_allclose(compiled.delta[layout.mask], truth[layout.mask], atol=1e-10)


def test_a_broken_market_is_flagged_alone_and_the_evaluation_cap_holds(market):
    """A share of zero makes a market's mapping -inf: that market stops unconverged at its last finite delta, the
    others converge as before; with max_evaluations = 3 no market is evaluated more than three times."""
    layout, demand, utilities, log_observed, truth = market
    broken = log_observed.copy()
    broken[1, 2] = -np.inf
    start = np.zeros_like(truth)
    solved = demand.solve_delta(utilities, broken, start, TIGHT)
    alone = demand.solve_delta(utilities, log_observed, start, TIGHT)
    assert not solved.converged[1] and solved.evaluations[1] == 1 and solved.iterations[1] == 0
    assert np.isfinite(solved.delta).all()
    others = np.arange(len(COUNTS)) != 1
    assert solved.converged[others].all()
    np.testing.assert_array_equal(solved.delta[others], alone.delta[others])
    capped = demand.solve_delta(utilities, log_observed, start, Iteration('squarem', {'atol': 1e-14,
                                                                                       'max_evaluations': 3}))
    assert (capped.evaluations <= 3).all() and not capped.converged.any()


@pytest.mark.parametrize('K2', [0, 1, 3])
def test_scaled_utilities_equal_numpys_exp_of_mu_less_its_maximum(K2):
    """exp(mu - r) on unequal markets (0 in padded products), r = max_j mu over real products, and exp(-r) last."""
    layout, demand = make_demand(counts=COUNTS, K2=max(K2, 1), agents=40, seed=6)
    X2 = demand.X2[:, :, :K2] * 40  # large utilities: the shift by r is what keeps exp finite
    coefficients = np.random.default_rng(7).normal(size=(layout.T, 40, K2))
    mu = np.where(layout.mask[:, :, None], X2 @ coefficients.transpose(0, 2, 1), -np.inf)
    peak = mu.max(axis=1)
    extended, r = logit_kernel.scaled_utilities(X2, coefficients, layout.counts)
    np.testing.assert_allclose(r, peak, rtol=1e-14, atol=1e-12)
    np.testing.assert_allclose(extended[:, :-1], np.exp(mu - peak[:, None, :]), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(extended[:, -1], np.exp(np.clip(-peak, -700, 700)), rtol=1e-12)
    assert (extended[:, :-1][~layout.mask] == 0).all()
