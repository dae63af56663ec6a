"""Random coefficients nested logit (RCNL) and lognormal coefficients (`rc_types`) in the demand model."""

import numpy as np
import pytest

import blp
from blp.configurations.solve_options import Iteration
from blp.estimation.parameters import NonlinearValues
from blp.exceptions import NumericalError, SpecificationError
from blp.model.choices import Nests, nested_logit
from blp.model.nested_contraction import NestedRandomCoefficients
from blp.primitives.products import Layout

ABSORB = 'C(market_ids) + C(product_ids)'
RETURN = blp.Optimization('return')


def nested_demand(counts, nests, agents=30, seed=0, log_columns=None):
    rng = np.random.default_rng(seed)
    layout = Layout.from_ids(np.repeat(np.arange(len(counts)), counts))
    X2 = rng.normal(size=(layout.market_index.size, 2))
    weights = np.full((len(counts), agents), 1 / agents)
    nodes = rng.normal(size=(len(counts), agents, 2))
    codes = rng.integers(0, nests, size=layout.market_index.size)
    demand = NestedRandomCoefficients(layout, X2, weights, nodes, np.zeros((len(counts), agents, 0)), codes, nests,
                                      log_columns)
    return layout, demand, codes


def values(sigma, rho):
    return NonlinearValues(np.asarray(sigma, dtype=float), np.zeros((2, 0)), np.asarray(rho, dtype=float))


@pytest.mark.parametrize('rho', [[[0.5]], [[0.2], [0.8], [0.6]]])
def test_factored_nested_shares_equal_the_nested_logit_kernel_on_full_utilities(rho):
    layout, demand, codes = nested_demand([4, 7, 5], 3)
    delta = layout.pad(np.random.default_rng(1).normal(size=16))
    at = values(np.diag([0.8, 1.5]), rho)
    shares = demand.shares(demand.prepare(at), delta)
    full = delta[:, :, None] + demand.X2 @ demand.coefficients(at.sigma, at.pi).transpose(0, 2, 1)
    full[~layout.mask] = -np.inf
    member = (demand.codes[:, None, :] == np.arange(3)[None, :, None]) & layout.mask[:, None, :]
    kernel = nested_logit(full, demand.weights, Nests(demand.codes, member, 1 - demand.lambdas(at.rho))).shares
    np.testing.assert_allclose(shares[layout.mask], kernel[layout.mask], rtol=1e-12)


def test_nested_contraction_recovers_delta_with_large_utilities():
    layout, demand, _ = nested_demand([5, 9, 3], 2, seed=3)
    truth = layout.pad(np.random.default_rng(4).normal(-1, 1, size=17))
    utilities = demand.prepare(values(np.diag([6.0, 3.0]), [[0.3], [0.9]]))
    observed = demand.shares(utilities, truth)
    solved = demand.solve_delta(utilities, np.log(np.where(layout.mask, observed, 1)), np.zeros_like(truth),
                                Iteration('squarem', {'atol': 1e-13}))
    assert solved.converged.all()
    np.testing.assert_allclose(solved.delta[layout.mask], truth[layout.mask], atol=1e-10)


def test_rcnl_with_rho_zero_is_random_coefficients(products, agents):
    formulations = (blp.Formulation('0 + prices', absorb=ABSORB), blp.Formulation('0 + mushy + prices'))
    arguments = dict(sigma=[[0, 0], [0, 2.0]], pi=[[0.3], [-1.5]], method='1s', optimization=RETURN)
    plain = blp.Problem(formulations, products, blp.Formulation('0 + log_income'), agents).solve(**arguments)
    nested = blp.Problem(formulations, products.assign(nesting_ids=products['mushy']),
                         blp.Formulation('0 + log_income'), agents).solve(rho=0, **arguments)
    np.testing.assert_allclose(nested.delta, plain.delta, rtol=1e-10)
    np.testing.assert_allclose(nested.compute_elasticities(market_id='C01Q1'),
                               plain.compute_elasticities(market_id='C01Q1'), rtol=1e-8)


def test_rcnl_shares_at_the_estimates_reproduce_the_data(nested_products, agents):
    problem = blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), blp.Formulation('0 + mushy + prices')),
                          nested_products, blp.Formulation('0 + log_income'), agents)
    results = problem.solve(sigma=[[0, 0], [0, 2.0]], pi=[[0.3], [-1.5]], rho=[0.3, 0.7], method='1s',
                            optimization=RETURN)
    np.testing.assert_allclose(results.compute_shares(), nested_products[['shares']].to_numpy(), rtol=1e-10)


def test_nested_contraction_failure_names_markets_and_rho(nested_products, agents):
    problem = blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), blp.Formulation('0 + mushy + prices')),
                          nested_products, blp.Formulation('0 + log_income'), agents)
    with pytest.raises(NumericalError, match=r'market\(s\): C01Q1.*rho = 0\.98.*bound it further from 1'):
        problem.solve(sigma=[[0, 0], [0, 2.0]], pi=[[0.3], [-1.5]], rho=0.98, method='1s', optimization=RETURN,
                      iteration=blp.Iteration('simple', {'max_evaluations': 3}), error_behavior='raise')


@pytest.mark.parametrize('rho, bounds, match', [
    (1.0, None, 'below 1'), (-0.2, None, 'at least 0'), (1.5, None, 'below 1'),
    (0.5, ([0.0], [1.0]), 'rho_bounds'), (0.5, ([-0.1], [0.9]), 'rho_bounds'),
])
def test_rho_outside_zero_one_is_refused_with_the_parameter_named(products, agents, rho, bounds, match):
    problem = blp.Problem(blp.Formulation('0 + prices', absorb=ABSORB), products.assign(nesting_ids=products['mushy']))
    with pytest.raises(SpecificationError, match=match) as error:
        problem.solve(rho=rho, rho_bounds=bounds, method='1s', optimization=RETURN)
    assert error.value.parameter in ('rho', 'rho_bounds')


# ---------------------------------------------------------------- lognormal coefficients
def lognormal_problem(products, agents, rc_types=('log',), X1='0 + prices'):
    return blp.Problem((blp.Formulation(X1, absorb=ABSORB), blp.Formulation('0 + I(-prices)')), products,
                       blp.Formulation('0 + log_income'), agents, rc_types=list(rc_types))


def test_lognormal_coefficients_are_exponentiated_and_keep_their_sign(products, agents):
    problem = lognormal_problem(products, agents)
    sigma, pi = np.array([[0.7]]), np.array([[0.3]])
    coefficients = problem.model.coefficients(NonlinearValues(sigma, pi, np.zeros((0, 1))))
    expected = np.exp(problem.agents.nodes[:, :, :1] * 0.7 + problem.agents.demographics * 0.3)
    np.testing.assert_allclose(coefficients, expected, rtol=1e-14)
    assert (coefficients > 0).all()


def test_lognormal_price_slopes_are_beta_minus_the_lognormal_coefficient(products, agents):
    """With I(-prices) in X2, dV/dp = beta - exp(sigma nu + pi d) for every agent: post-estimation uses it."""
    results = lognormal_problem(products, agents).solve(sigma=[[0.4]], pi=[[0.35]], method='1s',
                                                         optimization=RETURN)
    model = results._model
    lognormal = np.exp(0.4 * results.problem.agents.nodes[:, :, 0] + 0.35 * results.problem.agents.demographics[:, :, 0])
    np.testing.assert_allclose(model.slopes('prices'), results.beta[0, 0] - lognormal, rtol=1e-12)
    own = np.diag(results.compute_elasticities(market_id='C01Q1'))
    assert (own < 0).all()
    # own elasticity from its definition: (p_j / s_j) sum_i w_i a_i s_ij (1 - s_ij)
    t = results._market('C01Q1')
    probabilities = results._choices.probabilities[t]
    weights, slopes = model.weights[t], model.slopes('prices')[t]
    count = results._layout.counts[t]
    prices, shares = model.prices[t, :count], (probabilities * weights).sum(axis=1)[:count]
    derivative = (probabilities * (1 - probabilities) * weights * slopes).sum(axis=1)[:count]
    np.testing.assert_allclose(own, prices / shares * derivative, rtol=1e-10)


def test_lognormal_rc_types_must_match_X2(products, agents):
    with pytest.raises(SpecificationError, match='one entry per X2 column') as error:
        lognormal_problem(products, agents, rc_types=('log', 'linear'))
    assert error.value.parameter == 'rc_types'
    with pytest.raises(SpecificationError, match="'logit' for X2 column '-prices'") as error:
        lognormal_problem(products, agents, rc_types=('logit',))
    assert error.value.parameter == 'rc_types'


def test_linear_rc_types_are_the_default(products, agents):
    explicit = lognormal_problem(products, agents, rc_types=('linear',))
    default = blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), blp.Formulation('0 + I(-prices)')), products,
                          blp.Formulation('0 + log_income'), agents)
    arguments = dict(sigma=[[0.4]], pi=[[0.35]], method='1s', optimization=RETURN)
    np.testing.assert_allclose(explicit.solve(**arguments).delta, default.solve(**arguments).delta, rtol=1e-12)


def test_lognormal_price_coefficient_without_prices_in_X1_has_one_sign(products, agents):
    """PyBLP's recipe: I(-prices) in X2 with rc_types 'log', no prices in X1, a constant demographic for the mean of
    the log: every agent's price coefficient is -exp(...) < 0, so every own-price elasticity is negative too."""
    problem = blp.Problem((blp.Formulation('0 + mushy', absorb='C(market_ids)'), blp.Formulation('0 + I(-prices)')),
                          products, blp.Formulation('1 + log_income'), agents, rc_types=['log'])
    results = problem.solve(sigma=[[1.5]], pi=[[1.0, 0.2]], method='1s', optimization=RETURN)
    slopes = results._model.slopes('prices')
    assert (slopes[results._model.agent_mask] < 0).all()
    spread = slopes[results._model.agent_mask]
    assert spread.max() / spread.min() < 0.05  # a wide lognormal: the sign is restricted, not the size
    for market in products['market_ids'].unique()[:3]:
        assert (np.diag(results.compute_elasticities(market_id=market)) < 0).all()
