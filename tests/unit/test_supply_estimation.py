"""Joint demand and supply estimation on small cereal problems: the analytic gradient (supply side included), the
price coefficient in theta, costs bounds, log costs refused where implied costs are not positive, multi-start."""

import numpy as np
import pytest
from numeric_checks import objective_and_gradients

import blp
from blp.configurations.solve_options import SolveOptions
from blp.estimation.estimator import Estimation
from blp.estimation.multistart import draw_starts, solve_start

ABSORB = 'C(market_ids) + C(product_ids)'
COSTS = blp.Formulation('1 + mushy')


@pytest.fixture(scope='session')
def products(products):
    """With excluded cost shifters: with X3's own columns as the only supply instruments the supply block would be
    exactly identified, its moments zero at every theta, and it would say nothing about demand."""
    return products.assign(supply_instruments0=products['demand_instruments0'],
                           supply_instruments1=products['demand_instruments1'])


@pytest.mark.parametrize('costs_type', ['linear', 'log'])
def test_random_coefficients_gradient_with_a_supply_side_matches_finite_differences(products, agents, costs_type):
    problem = blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), blp.Formulation('0 + mushy + prices'), COSTS),
                          products, blp.Formulation('0 + log_income'), agents, costs_type=costs_type)
    options = SolveOptions(sigma=[[0, 0], [0, 2.0]], pi=[[0.3], [-1.0]], beta=[-20.0], method='1s',
                           iteration=blp.Iteration('squarem', {'atol': 1e-14}), costs_bounds=(1e-3, None))
    theta = np.array([2.0, 0.3, -1.0, -20.0])  # sigma[prices, prices], pi[mushy, .], pi[prices, .], beta[prices]
    analytic, numeric = objective_and_gradients(Estimation(problem, options), theta)
    assert np.abs(analytic).max() > 1e-3
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8 * np.abs(numeric).max())


@pytest.mark.parametrize('rho', [0.4, [0.3, 0.6]])
def test_rcnl_gradient_with_a_supply_side_matches_finite_differences(products, agents, rho):
    """RCNL: the markups' share derivatives with nests, and rho (one for all nests or one per nest) in theta."""
    nested = products.assign(nesting_ids=products['mushy'], demand_instruments4=products['demand_instruments0'] ** 2,
                             demand_instruments5=products['demand_instruments3'] * products['mushy'])
    problem = blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), blp.Formulation('0 + mushy + prices'), COSTS),
                          nested, blp.Formulation('0 + log_income'), agents)
    options = SolveOptions(sigma=[[0, 0], [0, 2.0]], pi=[[0.3], [-1.0]], beta=[-20.0], rho=rho, method='1s',
                           iteration=blp.Iteration('squarem', {'atol': 1e-14}))
    theta = np.concatenate([[2.0, 0.3, -1.0], np.atleast_1d(np.array(rho, dtype=float)), [-20.0]])
    analytic, numeric = objective_and_gradients(Estimation(problem, options), theta)
    assert np.abs(analytic).max() > 1e-3
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8 * np.abs(numeric).max())


def test_nested_logit_gradient_with_a_supply_side_matches_finite_differences(products):
    nested = products.assign(nesting_ids=products['mushy'])
    problem = blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), None, COSTS), nested, costs_type='log')
    options = SolveOptions(beta=[-20.0], rho=[0.3, 0.6], method='1s', costs_bounds=(1e-3, None))
    analytic, numeric = objective_and_gradients(Estimation(problem, options), np.array([0.3, 0.6, -20.0]))
    assert np.abs(analytic).max() > 1e-3
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8 * np.abs(numeric).max())


def test_lognormal_gradient_with_a_supply_side_matches_finite_differences(products, agents):
    """A lognormal coefficient on -prices (the agents' price coefficient is beta - exp(sigma nu + pi d)): sigma and pi
    move the markups through the coefficient itself."""
    problem = blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), blp.Formulation('0 + mushy + I(-prices)'),
                           COSTS), products, blp.Formulation('1 + log_income'), agents, rc_types=['linear', 'log'])
    options = SolveOptions(sigma=[[0.5, 0], [0, 0.4]], pi=[[0, 0], [1.5, 0.2]], beta=[-10.0], method='1s',
                           iteration=blp.Iteration('squarem', {'atol': 1e-14}))
    theta = np.array([0.5, 0.4, 1.5, 0.2, -10.0])
    analytic, numeric = objective_and_gradients(Estimation(problem, options), theta)
    assert np.abs(analytic).max() > 1e-3
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8 * np.abs(numeric).max())


def test_logit_with_a_supply_side_optimizes_over_the_price_coefficient(products):
    problem = blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), None, COSTS), products)
    demand_only = blp.Problem(blp.Formulation('0 + prices', absorb=ABSORB), products).solve(method='1s')
    results = problem.solve(beta=[-10.0], method='1s')
    assert results.theta_labels == ['prices'] and results.converged
    assert results.gamma.shape == (2, 1) and np.isfinite(results.gamma_se).all()
    # supply moments change the estimate of alpha: both blocks are used
    assert abs(results.beta[0, 0] - demand_only.beta[0, 0]) > 1e-3
    np.testing.assert_allclose(results.estimated_costs[:, 0] + results.estimated_markups[:, 0],
                               products['prices'].to_numpy(), rtol=1e-12)


def test_costs_bounds_clip_and_are_counted(products):
    problem = blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), None, COSTS), products)
    results = problem.solve(beta=[-10.0], method='1s', optimization=blp.Optimization('return'),
                            costs_bounds=(0.05, None))
    costs = problem.products.frame['prices'].to_numpy() - results.estimated_markups[:, 0]
    assert results.clipped_costs == int((costs < 0.05).sum()) > 0
    assert results.estimated_costs.min() == pytest.approx(0.05)


def test_log_costs_at_nonpositive_implied_costs_name_the_product_and_the_remedy(products):
    problem = blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), None, COSTS), products, costs_type='log')
    with pytest.raises(blp.SpecificationError, match='costs_bounds') as raised:
        problem.solve(beta=[-1.0], method='1s')  # a small price coefficient: markups above prices
    assert raised.value.parameter == 'costs_type' and 'market' in raised.value.message


def test_a_supply_side_without_firm_ids_or_supply_instruments_is_refused(products):
    with pytest.raises(blp.DataError) as raised:
        blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), None, COSTS), products.drop(columns='firm_ids'))
    assert raised.value.column == 'firm_ids'
    # too few supply instruments: a warning when built (PyBLP estimates on), refused by the service's strict check
    with pytest.warns(blp.BLPWarning, match='too few supply instruments'):
        few = blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), None,
                           blp.Formulation('1 + mushy + I(shares * 2)')),
                          products.drop(columns=['supply_instruments0', 'supply_instruments1']))
    with pytest.raises(blp.SpecificationError) as raised:
        few.check_solve(SolveOptions(beta=[-10.0], method='1s'))
    assert raised.value.parameter == 'supply_instruments'
    problem = blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), None, COSTS), products)
    with pytest.raises(blp.SpecificationError) as raised:
        problem.solve(method='1s')
    assert raised.value.parameter == 'beta'


def test_multistart_draws_the_price_coefficient_within_its_bounds_and_reaches_the_estimate(products):
    problem = blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), None, COSTS), products)
    options = SolveOptions(beta=[-10.0], method='1s', beta_bounds=([-60.0], [-1.0]))
    single = problem.estimate(options)
    starts = draw_starts(problem, options, 3, seed=1)
    assert all(-60 <= start['beta'][0] <= -1 for start in starts)
    for start in starts:
        np.testing.assert_allclose(solve_start(problem, options, start).beta, single.beta, rtol=1e-6)


def test_firm_ownership_is_factored_once_per_solve_not_at_every_gradient(products, monkeypatch):
    """Ownership is fixed for the problem: the firm membership behind d eta/d theta is found once, when the supply
    block is built, and every evaluation of the gradient reuses it."""
    from blp.supply import markups
    found = []
    monkeypatch.setattr(markups, 'firm_membership', lambda H, find=markups.firm_membership: found.append(H) or find(H))
    problem = blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), None, COSTS), products)
    estimation = Estimation(problem, SolveOptions(beta=[-10.0], method='1s'))
    iv = estimation.moments.iv(estimation.W)
    gradients = [estimation.evaluate(np.array([alpha]), iv).gradient for alpha in (-10.0, -12.0, -14.0)]
    assert len({float(gradient[0]) for gradient in gradients}) == 3  # three evaluations with their own gradient
    assert len(found) == 1 and found[0].shape[1] == found[0].shape[2]
