"""The analytic gradient (implicit function theorem) agrees with finite differences of the objective."""

import numpy as np
import pytest
from numeric_checks import objective_and_gradients

import blp
from blp.configurations.solve_options import SolveOptions
from blp.estimation.estimator import Estimation

ABSORB = 'C(market_ids) + C(product_ids)'


def gradients(problem, theta, **arguments):
    options = SolveOptions(method='1s', optimization=blp.Optimization('bfgs'),
                           iteration=blp.Iteration('squarem', {'atol': 1e-14}), **arguments)
    return objective_and_gradients(Estimation(problem, options), theta)


def test_random_coefficients_gradient_matches_finite_differences(products, agents):
    problem = blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), blp.Formulation('0 + mushy + prices')),
                          products, blp.Formulation('0 + log_income'), agents)
    theta = np.array([3.0, 0.3, -1.5])  # sigma[prices, prices], pi[mushy, income], pi[prices, income]
    analytic, numeric = gradients(problem, theta, sigma=[[0, 0], [0, 3.0]], pi=[[0.3], [-1.5]], rho=None)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5)


def test_correlated_random_coefficients_gradient_matches_finite_differences(products, agents):
    problem = blp.Problem((blp.Formulation('1 + prices'), blp.Formulation('1 + prices')), products, None,
                          agents[['market_ids', 'weights', 'nodes0', 'nodes1']])
    theta = np.array([0.8, 0.5, 2.0])
    analytic, numeric = gradients(problem, theta, sigma=[[0.8, 0], [0.5, 2.0]], pi=None, rho=None)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5)


@pytest.mark.parametrize('rho', [0.4, [0.3, 0.6]])
def test_nested_logit_gradient_matches_finite_differences(products, rho):
    data = products.assign(nesting_ids=products['mushy'])
    problem = blp.Problem(blp.Formulation('0 + prices', absorb=ABSORB), data)
    theta = np.atleast_1d(np.array(rho, dtype=float))
    analytic, numeric = gradients(problem, theta, sigma=None, pi=None, rho=rho)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6)


@pytest.mark.parametrize('rho', [0.4, [0.3, 0.6]])
def test_rcnl_gradient_matches_finite_differences(nested_products, agents, rho):
    """Random coefficients nested logit: sigma, pi and rho (one for all nests or one per nest)."""
    problem = blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), blp.Formulation('0 + mushy + prices')),
                          nested_products, blp.Formulation('0 + log_income'), agents)
    rho_values = np.atleast_1d(np.array(rho, dtype=float))
    theta = np.concatenate([[2.0, 0.3, -1.5], rho_values])
    analytic, numeric = gradients(problem, theta, sigma=[[0, 0], [0, 2.0]], pi=[[0.3], [-1.5]], rho=rho)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5)


def test_lognormal_gradient_matches_finite_differences(products, agents):
    """A lognormal coefficient on -prices: exp(sigma nu + pi d), with a constant demographic for its mean."""
    problem = blp.Problem((blp.Formulation('0 + mushy', absorb='C(market_ids)'), blp.Formulation('0 + I(-prices)')),
                          products, blp.Formulation('1 + log_income'), agents, rc_types=['log'])
    theta = np.array([0.4, 1.5, 0.2])  # sigma, pi[., 1], pi[., log_income]
    analytic, numeric = gradients(problem, theta, sigma=[[0.4]], pi=[[1.5, 0.2]], rho=None)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5)


def test_lognormal_rcnl_gradient_matches_finite_differences(nested_products, agents):
    problem = blp.Problem((blp.Formulation('0 + mushy', absorb='C(market_ids)'), blp.Formulation('0 + I(-prices)')),
                          nested_products, blp.Formulation('1 + log_income'), agents, rc_types=['log'])
    theta = np.array([0.4, 1.5, 0.2, 0.5])
    analytic, numeric = gradients(problem, theta, sigma=[[0.4]], pi=[[1.5, 0.2]], rho=0.5)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5)
