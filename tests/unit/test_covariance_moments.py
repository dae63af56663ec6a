"""Covariance restrictions in the core (`blp.estimation.covariance`): the moments' Jacobian in theta (through the
concentrated-out beta and gamma, fixed effects absorbed) and the objective's gradient against finite differences, the
Jacobian in beta and gamma, the 2SLS weighting matrix, and the errors that name `covariance_moments_mean`."""

import numpy as np
import pytest

import blp
from blp.configurations.solve_options import SolveOptions
from blp.estimation.estimator import Estimation
from blp.exceptions import SpecificationError

ABSORB = 'C(market_ids) + C(product_ids)'
STEP = 1e-6


@pytest.fixture(scope='module')
def covariance_products(products):
    """Cereal with two covariance instruments (a constant and mushy)."""
    return products.assign(covariance_instruments0=1.0, covariance_instruments1=products['mushy'])


@pytest.fixture(scope='module')
def problem(covariance_products, agents):
    """Exercise 2's model with its supply side (linear costs on 1 + mushy) and the covariance moments."""
    return blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), blp.Formulation('0 + mushy + prices'),
                        blp.Formulation('1 + mushy')), covariance_products, blp.Formulation('0 + log_income'), agents)


def estimation(problem, **arguments):
    options = SolveOptions(**{'sigma': [[0, 0], [0, 1]], 'pi': [[0.2], [1]], 'beta': [-10], 'method': '1s',
                              'iteration': blp.Iteration('squarem', {'atol': 1e-14}),
                              'covariance_moments_mean': 0.3, **arguments})
    return Estimation(problem, options)


def differences(function, theta):
    """Central finite differences of `function` at theta, one column per element."""
    columns = []
    for index in range(theta.size):
        up, down = theta.copy(), theta.copy()
        up[index] += STEP
        down[index] -= STEP
        columns.append((function(up) - function(down)) / (2 * STEP))
    return np.column_stack(columns)


def test_every_moment_jacobian_matches_finite_differences(problem):
    """All 2 + MD + MS moments move with theta also through beta and gamma; the stack's Jacobian in theta (residuals'
    total derivatives) must follow them, the covariance moments' included."""
    current = estimation(problem)
    theta, iv = current.parameters.theta, current.moments.iv(current.W)
    evaluation = current.evaluate(theta, iv)
    stacked = evaluation.stacked
    analytic = current.moments.theta_jacobian(stacked.dependent_jacobians, stacked.micro, stacked.residual)
    numeric = differences(lambda t: current.evaluate(t, iv, False).stacked.moments, theta)
    assert current.moments.M == problem.MD + problem.MS + 2 and analytic.shape == (current.moments.M, theta.size)
    np.testing.assert_allclose(analytic[-2:], numeric[-2:], rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


def test_objective_gradient_with_a_full_weighting_matrix_matches_finite_differences(problem):
    """Under W = S^-1 (cross terms between the covariance and the linear moments) the gradient needs the residuals'
    total derivatives in every block, not only in the covariance block's."""
    current = estimation(problem)
    theta = current.parameters.theta
    W = current.initial_update(theta)
    assert np.abs(W[-2:, :-2]).max() > 0
    iv = current.moments.iv(W)
    analytic = current.evaluate(theta, iv).gradient
    numeric = differences(lambda t: np.array([current.evaluate(t, iv, False).objective]), theta)[0]
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5)


def test_jacobian_in_beta_and_gamma_matches_finite_differences(problem):
    """The covariance rows of G in the concentrated-out parameters: xi moves by -X1 and omega by -X3 per unit."""
    current = estimation(problem)
    theta, iv = current.parameters.theta, current.moments.iv(current.W)
    stacked = current.evaluate(theta, iv).stacked
    block, values = current.moments.residual[0], stacked.residual[0]
    Xs = [linear.X for linear in current.moments.blocks]
    xi, omega = stacked.residuals
    linear = np.concatenate([stacked.coefficients[0], stacked.coefficients[1]])

    def moments(b):
        K1 = Xs[0].shape[1]
        return block.evaluate([xi - Xs[0] @ (b[:K1] - linear[:K1]), omega - Xs[1] @ (b[K1:] - linear[K1:])], None,
                              Xs).moments

    np.testing.assert_allclose(values.linear_jacobian, differences(moments, linear), rtol=1e-6, atol=1e-10)


def test_two_stage_weighting_matrix_has_the_covariance_instruments_block(problem, covariance_products):
    W = estimation(problem).W
    ZC = covariance_products[['covariance_instruments0', 'covariance_instruments1']].to_numpy(dtype=float)
    np.testing.assert_allclose(W[-2:, -2:], np.linalg.inv(ZC.T @ ZC / problem.N), rtol=1e-10)
    assert np.all(W[-2:, :-2] == 0)
    assert problem.MC == 2 and 'MC' in repr(problem)


def test_covariance_moments_mean_without_covariance_moments_is_refused(products, covariance_products, agents):
    demand = blp.Problem(blp.Formulation('1 + prices'), covariance_products)
    assert any('covariance_instruments are ignored' in warning for warning in demand.warnings)
    with pytest.raises(SpecificationError, match='needs a supply side') as error:
        demand.solve(covariance_moments_mean=0.0)
    assert error.value.parameter == 'covariance_moments_mean'
    supply = blp.Problem((blp.Formulation('1 + prices'), None, blp.Formulation('1 + mushy')), products)
    with pytest.raises(SpecificationError, match='covariance_instruments columns') as error:
        supply.solve(beta=[None, -1], covariance_moments_mean=0.5)
    assert error.value.parameter == 'covariance_moments_mean'


@pytest.mark.parametrize('mean', [float('nan'), float('inf'), '0.5', True])
def test_a_covariance_moments_mean_that_is_not_a_finite_number_is_refused(mean):
    with pytest.raises(SpecificationError, match='covariance_moments_mean must be a finite number') as error:
        SolveOptions(covariance_moments_mean=mean)
    assert error.value.parameter == 'covariance_moments_mean'


def test_optimal_instruments_with_covariance_moments_warn_as_pyblp(problem):
    results = problem.solve(sigma=[[0, 0], [0, 1]], pi=[[0.2], [1]], beta=[-10], method='1s',
                            optimization=blp.Optimization('return'), covariance_moments_mean=0.0)
    # Prices given: at these unestimated parameters the error realizations' equilibria need not converge.
    with pytest.warns(blp.BLPWarning, match='not computed with covariance restrictions in mind'):
        results.compute_optimal_instruments(expected_prices=problem.products.prices)


def test_a_stored_estimate_restores_with_its_covariance_moments_mean(problem):
    """`to_dict()` keeps the mean, so that `restore` evaluates the same moments and standard errors."""
    results = problem.solve(sigma=[[0, 0], [0, 1]], pi=[[0.2], [1]], beta=[-10], method='1s',
                            optimization=blp.Optimization('return'), covariance_moments_mean=0.3)
    stored = results.to_document()
    assert stored['restore']['covariance_moments_mean'] == 0.3 and stored['dimensions']['MC'] == 2
    restored = problem.restore(stored)
    np.testing.assert_allclose(restored.objective, results.objective, rtol=1e-10)
    np.testing.assert_allclose(restored.beta_se, results.beta_se, rtol=1e-8)
    np.testing.assert_allclose(restored.gamma_se, results.gamma_se, rtol=1e-8)


def test_covariance_moments_with_innovations_are_refused_as_pyblp_refuses_them():
    """PyBLP 1.3 refuses non-levels moment types beside covariance restrictions; so does blp, naming the option."""
    pyblp = pytest.importorskip('pyblp')
    from persistence_workloads import panel
    products, _ = panel()
    products['covariance_instruments0'] = 1.0
    solve = dict(phi=[[0.3, 0.1], [0.1, 0.3]], beta=[None, -1.0, None], demand_moment_types='innovations',
                 supply_moment_types='innovations', method='1s')
    for module, error in ((blp, blp.SpecificationError), (pyblp, NotImplementedError)):
        formulations = (module.Formulation('1 + prices + x'), None, module.Formulation('1 + w'))
        problem = module.Problem(formulations, products)
        with pytest.raises(error) as raised:
            problem.solve(**solve, optimization=module.Optimization('return'))
        assert 'not currently supported' in str(raised.value) if module is pyblp else \
            raised.value.parameter == 'covariance_moments_mean'
