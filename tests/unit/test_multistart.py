"""Multi-start maths: starts drawn within bounds, the best acceptable start chosen, agreement described."""

import numpy as np
import pytest

import blp
from blp.configurations.solve_options import SolveOptions
from blp.estimation.multistart import (
    continue_from,
    draw_starts,
    expected_order,
    longest_first,
    outcome,
    solve_start,
    starting_values,
    summarize,
)
from blp.exceptions import SpecificationError

ABSORB = 'C(market_ids) + C(product_ids)'


@pytest.fixture(scope='module')
def problem(products, agents):
    return blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), blp.Formulation('0 + mushy + prices')),
                       products, blp.Formulation('0 + log_income'), agents)


BOUNDS = dict(sigma_bounds=([[0, 0], [0, 0]], [[0, 0], [0, 10]]), pi_bounds=([[-5], [-20]], [[5], [20]]))


@pytest.mark.parametrize('sampler', ['sobol', 'uniform'])
def test_starts_lie_within_bounds_and_begin_with_the_given_values(problem, sampler):
    starts = starting_values(problem, [[0, 0], [0, 1]], [[0.2], [1]], None, 8, seed=3, sampler=sampler, **BOUNDS)
    assert len(starts) == 8
    assert starts[0]['theta'] == [1.0, 0.2, 1.0]
    thetas = np.array([start['theta'] for start in starts])
    assert (thetas >= [0, -5, -20]).all() and (thetas <= [10, 5, 20]).all()
    assert len({tuple(theta) for theta in thetas}) == 8
    assert starts[5]['sigma'][0] == [0, 0] and starts[5]['sigma'][1][0] == 0


def test_starts_need_finite_bounds_and_name_the_parameter(problem):
    with pytest.raises(SpecificationError) as raised:
        starting_values(problem, [[0, 0], [0, 1]], [[0.2], [1]], None, 4)
    assert raised.value.parameter == 'sigma[prices, prices]'


def finished(theta, objective, norm=1e-9, eigenvalues=(1.0, 2.0), status='succeeded'):
    return {'theta': list(theta), 'objective': objective, 'gradient_norm': norm,
            'hessian_eigenvalues': list(eigenvalues), 'status': status}


def test_gamma_in_theta_is_refused_by_name_since_starts_do_not_draw_it(problem):
    options = SolveOptions(sigma=[[0, 0], [0, 1]], pi=[[0.2], [1]], gamma=[None, 0.5], **BOUNDS)
    with pytest.raises(SpecificationError, match='not gamma') as refused:
        draw_starts(problem, options, 4)
    assert refused.value.parameter == 'gamma'


def test_summary_chooses_the_lowest_acceptable_objective_and_counts_optima():
    starts = [
        finished([1.0, 2.0], 5.0),
        finished([1.0, 2.0000001], 5.0),
        finished([3.0, -1.0], 7.0),
        finished([9.0, 9.0], 1.0, norm=1.0),                 # first-order conditions fail
        finished([8.0, 8.0], 0.5, eigenvalues=(-1.0, 2.0)),  # a saddle point
        {'status': 'failed', 'error': 'inner loop failed'},
    ]
    summary = summarize(starts, gradient_tolerance=1e-6)
    assert summary['chosen'] == 0
    assert summary['acceptable'] == 3 and summary['succeeded'] == 5
    assert summary['distinct_optima'] == 2 and summary['reached_chosen'] == 2
    assert not summary['all_acceptable_agree']


def test_a_parameter_at_its_bound_does_not_make_a_start_unacceptable():
    at_bound = dict(finished([10.0, 0.5], 1.0, eigenvalues=(0.0, 3.0)), active_bounds=['sigma[x, x]'])
    assert summarize([at_bound])['chosen'] == 0
    assert summarize([finished([10.0, 0.5], 1.0, eigenvalues=(0.0, 3.0))])['chosen'] is None


def test_summary_without_acceptable_starts_chooses_nothing():
    summary = summarize([{'status': 'failed'}, finished([1.0], 2.0, norm=3.0, eigenvalues=(1.0,))])
    assert summary['chosen'] is None and summary['distinct_optima'] == 0


def test_starts_from_different_values_reach_the_same_optimum(problem):
    starts = starting_values(problem, [[0, 0], [0, 1]], [[0.2], [1]], None, 3, seed=0, **BOUNDS)
    finished_starts = []
    for start in starts:
        results = problem.solve(sigma=start['sigma'], pi=start['pi'], method='1s', **BOUNDS,
                                optimization=blp.Optimization('l-bfgs-b', {'gtol': 1e-10}))
        finished_starts.append({'status': 'succeeded', 'theta': results.theta.tolist(), 'objective': results.objective,
                                'gradient_norm': results.gradient_norm,
                                'hessian_eigenvalues': results.hessian_eigenvalues.tolist(),
                                'active_bounds': results.active_bounds})
    summary = summarize(finished_starts, gradient_tolerance=1e-5)
    assert summary['chosen'] is not None
    assert summary['distinct_optima'] == 1 and summary['reached_chosen'] == 3


SOLVE = SolveOptions(sigma=[[0, 0], [0, 1]], pi=[[0.2], [1]], method='1s',
                     optimization=blp.Optimization('l-bfgs-b', {'gtol': 1e-10}))


def test_starts_are_drawn_within_the_solves_own_bounds_by_default(problem):
    starts = draw_starts(problem, SOLVE.replace(**BOUNDS), 6, seed=1)
    thetas = np.array([start['theta'] for start in starts])
    assert (thetas >= [0, -5, -20]).all() and (thetas <= [10, 5, 20]).all()


def test_a_draw_box_reaching_outside_the_solve_bounds_names_the_parameter(problem):
    narrow = SOLVE.replace(pi_bounds=([[-1], [-20]], [[1], [20]]))
    with pytest.raises(SpecificationError) as raised:
        draw_starts(problem, narrow, 4, bounds=BOUNDS)
    assert raised.value.parameter == 'pi[mushy, log_income]'


def test_continuing_from_a_theta_at_zero_keeps_every_parameter_free(problem):
    start = continue_from(problem, SOLVE.replace(**BOUNDS), [0.0, 0.5, -2.0])
    assert 0 < start['theta'][0] < 1e-6 and start['theta'][1:] == [0.5, -2.0]
    assert start['sigma'][1][1] == start['theta'][0] and start['pi'] == [[0.5], [-2.0]]


def test_a_starts_outcome_has_the_mean_own_price_elasticity_of_its_estimate(problem):
    results = solve_start(problem, SOLVE.replace(**BOUNDS), {'sigma': [[0, 0], [0, 2]], 'pi': [[0.1], [-1]], 'rho': []})
    row = outcome(results)
    own = [np.diag(results.compute_elasticities(market_id=market)).mean() * (results.problem.products.layout.counts[t])
           for t, market in enumerate(results.problem.products.layout.markets)]
    assert row['mean_own_price_elasticity'] == pytest.approx(sum(own) / results.problem.N, rel=1e-10)
    assert row['theta'] == results.theta.tolist()
    assert row['smallest_hessian_eigenvalue'] == min(row['hessian_eigenvalues'])


def test_two_phases_with_the_best_first_phase_weighting_reproduce_the_two_step_estimate(products, agents):
    # pi on mushy only: four instruments for two parameters, so the weighting matrix matters.
    problem = blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), blp.Formulation('0 + mushy')), products,
                          blp.Formulation('0 + log_income'), agents)
    arguments = SOLVE.replace(sigma=0, pi=1, method='2s', pi_bounds=([[-5]], [[5]]))
    single = problem.estimate(arguments)
    first = []
    for start in draw_starts(problem, arguments, 3, seed=2):
        results = solve_start(problem, arguments, start)
        first.append({**outcome(results), 'W': results.updated_W})
    best = first[summarize(first)['chosen']]
    second = [solve_start(problem, arguments, continue_from(problem, arguments, row['theta']), W=best['W'], step=2)
              for row in first]
    for results in second:
        assert results.step == 2
        assert results.theta == pytest.approx(single.theta, rel=1e-6)
        assert results.objective == pytest.approx(single.objective, rel=1e-6)
        assert results.pi_se == pytest.approx(single.pi_se, rel=1e-5)


def test_spread_of_a_vector_statistic_is_elementwise():
    starts = [dict(finished([1.0], 1.0, eigenvalues=(1.0,)), beta=[1.0, -2.0]),
              dict(finished([1.0], 1.0, eigenvalues=(1.0,)), beta=[1.5, -2.0])]
    spread = summarize(starts, statistics=['beta'])['spread']['beta']
    assert spread == {'min': [1.0, -2.0], 'max': [1.5, -2.0], 'range': [0.5, 0.0]}


def test_starts_far_from_the_centre_of_the_drawing_box_run_first_and_ties_keep_the_drawn_order(problem):
    options = SolveOptions(sigma=[[0, 0], [0, 1]], pi=[[0.2], [1]], **BOUNDS)
    # Box: sigma in [0, 10], pi in [-5, 5] and [-20, 20]; centre (5, 0, 0).
    starts = [{'theta': theta} for theta in ([5, 0, 0], [0, -5, -20], [5, 2.5, 0], [10, 5, 20], [5, 0, 10])]
    assert longest_first(problem, options, starts) == [1, 3, 2, 4, 0]
    drawn = draw_starts(problem, options, 8, seed=0)
    order = longest_first(problem, options, drawn)
    assert sorted(order) == list(range(8))
    distances = [np.linalg.norm((np.array(drawn[i]['theta']) - [5, 0, 0]) / [10, 10, 40]) for i in order]
    assert distances == sorted(distances, reverse=True)


@pytest.mark.parametrize('formulations, agent_formulation, nested, values', [
    (('0 + prices', '0 + mushy + prices'), '0 + log_income',
     False, dict(sigma=[[0, 0], [0, 1]], pi=[[0.2], [1]], **BOUNDS)),
    (('0 + prices', '0 + mushy'), '0 + log_income', False, dict(sigma=0, pi=1, pi_bounds=([[-5]], [[5]]))),
    (('0 + prices', '1 + prices'), '0 + log_income', False,
     dict(sigma=[[1, 0], [0.5, 2]], pi=[[0], [1]], sigma_bounds=([[0, 0], [-3, 0]], [[4, 0], [3, 5]]),
          pi_bounds=([[0], [-3]], [[0], [3]]))),
    (('0 + prices', '0 + prices'), None, True, dict(sigma=1, rho=0.5, sigma_bounds=([[0]], [[4]]),
                                                    rho_bounds=([[0.1]], [[0.9]]))),
    (('0 + prices', None), None, True, dict(rho=[0.3, 0.6], rho_bounds=([[0.1], [0.1]], [[0.9], [0.9]]))),
    (('1 + prices', '0 + prices'), '0 + log_income', False,
     dict(sigma=2, pi=[[1]], beta=[None, -10], beta_bounds=([-np.inf, -30], [np.inf, 0]), sigma_bounds=([[0]], [[4]]),
          pi_bounds=([[-3]], [[3]]))),
])
def test_the_expected_order_needs_no_built_problem_and_matches_the_built_problems(
        products, nested_products, agents, formulations, agent_formulation, nested, values):
    """The parent publishes the starts in this order before it builds anything: it must be the order the built
    problem gives (same draw, same distances), whatever the shapes of sigma, pi, rho and beta."""
    absorb = None if formulations[0].startswith('1') else ABSORB
    problem = blp.Problem(tuple(None if formula is None else blp.Formulation(formula, absorb=absorb if k == 0 else None)
                                for k, formula in enumerate(formulations)),
                          nested_products if nested else products,
                          blp.Formulation(agent_formulation) if agent_formulation else None,
                          agents if agent_formulation or formulations[1] else None)
    options = SolveOptions(**values)
    drawn = draw_starts(problem, options, 8, seed=4)
    assert len({tuple(start['theta']) for start in drawn}) == 8
    expected = longest_first(problem, options, drawn)
    assert expected_order(options, 8, seed=4) == expected != list(range(8))


def test_a_start_with_an_initial_update_is_the_solve_with_it_when_x1_has_exogenous_columns(products, agents):
    # X1's constant and mushy lead our ZD and follow PyBLP's: the start's W goes through the same moment order
    problem = blp.Problem((blp.Formulation('1 + prices + mushy'), blp.Formulation('0 + prices')), products,
                          blp.Formulation('0 + log_income'), agents)
    arguments = SolveOptions(sigma=1.0, pi=1.0, method='1s', initial_update=True,
                             optimization=blp.Optimization('return'))
    single = problem.estimate(arguments)
    start = solve_start(problem, arguments, {'sigma': 1.0, 'pi': 1.0})
    np.testing.assert_allclose(start.W, single.W, rtol=1e-10)
    np.testing.assert_allclose(start.objective, single.objective, rtol=1e-10)
