"""Micro moments in the core: fitted values against a direct agent-by-agent computation, the analytic Jacobian against
finite differences, the initial update, results, multi-start, and errors that name the moment and the cause."""

import numpy as np
import pytest
from micro_workloads import exercise3_micro_moments

import blp
from blp.configurations.solve_options import SolveOptions
from blp.estimation.estimator import Estimation
from blp.estimation.multistart import draw_starts, solve_start

ABSORB = 'C(market_ids) + C(product_ids)'
SIGMA, PI = np.diag([0.7, 1.3, 2.0]), [[1.0], [0.2], [1.0]]
ATOL = {'atol': 1e-14}


@pytest.fixture(scope='module')
def problem(products, agents):
    return blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), blp.Formulation('1 + mushy + prices')),
                       products, blp.Formulation('0 + log_income'), agents)


def estimation(problem, micro_moments, **arguments):
    options = SolveOptions(**{'sigma': SIGMA, 'pi': PI, 'method': '1s', 'iteration': blp.Iteration('squarem', ATOL),
                              'micro_moments': micro_moments, **arguments})
    return Estimation(problem, options)


def test_fitted_micro_values_match_an_agent_by_agent_computation(problem):
    """E[log income | inside], P(outside second | inside) and P(mushy first and second | inside), computed here with
    loops over agents and products from the individual choice probabilities."""
    moments = exercise3_micro_moments(blp, 'all')
    results = problem.solve(sigma=SIGMA, pi=PI, method='1s', optimization=blp.Optimization('return'),
                            iteration=blp.Iteration('squarem', ATOL), micro_moments=moments)
    layout, agents = problem.products.layout, problem.agents
    probabilities = problem.model.random.probabilities(
        problem.model.random.utilities(results.sigma, results.pi), layout.pad(results.delta[:, 0]))
    income = [0.0, 0.0]
    outside = mushy_both = inside = 0.0
    for market in ('C01Q1', 'C01Q2'):
        t = list(layout.markets).index(market)
        J, agent_count = layout.counts[t], agents.layout.counts[t]
        mushy = problem.X2[layout.market_index == t, 1]
        for i in range(agent_count):
            weight, s = agents.weights[t, i], probabilities[t, :J, i]
            income[0] += weight * s.sum() * agents.demographics[t, i, 0]
            income[1] += weight * s.sum()
            for j in range(J):
                s0 = 1 - s.sum()
                second = np.r_[s0, s] / (1 - s[j])
                second[1 + j] = 0
                inside += weight * s[j] * second.sum()
                outside += weight * s[j] * second[0]
                mushy_both += weight * s[j] * mushy[j] * (second[1:] * mushy).sum()
    expected = [income[0] / income[1], outside / inside, mushy_both / inside]
    np.testing.assert_allclose(results.micro_values[:, 0], expected, rtol=1e-10)
    np.testing.assert_allclose(results.micro[:, 0], [7.9 - expected[0], 0.28 - expected[1], 0.31 - expected[2]],
                               rtol=1e-10)


@pytest.mark.parametrize('which', ['income', 'all'])
def test_micro_moment_jacobian_matches_finite_differences(problem, which):
    sigma = SIGMA if which == 'all' else np.diag([0, 0, 2.0])  # one micro moment identifies pi, not sigma too
    current = estimation(problem, exercise3_micro_moments(blp, which), sigma=sigma)
    theta = current.parameters.theta
    iv = current.moments.iv(current.W)
    evaluation = current.evaluate(theta, iv)
    analytic = current.moments.theta_jacobian(evaluation.stacked.dependent_jacobians, evaluation.stacked.micro)
    micro = current.moments.M - current.moments.linear_M
    np.testing.assert_allclose(analytic[-micro:], central_differences(current, theta, iv)[-micro:], rtol=1e-5,
                               atol=1e-9)


def central_differences(current, theta, iv, step=1e-6):
    """d moments / d theta by central differences of `current`'s moments at theta under `iv`."""
    numeric = []
    for index in range(theta.size):
        up, down = theta.copy(), theta.copy()
        up[index] += step
        down[index] -= step
        numeric.append((current.evaluate(up, iv, False).stacked.moments -
                        current.evaluate(down, iv, False).stacked.moments) / (2 * step))
    return np.column_stack(numeric)


def test_objective_gradient_with_micro_moments_matches_finite_differences(problem):
    current = estimation(problem, exercise3_micro_moments(blp, 'all'))
    theta = current.parameters.theta
    W = current.initial_update(theta)
    iv = current.moments.iv(W)
    analytic = current.evaluate(theta, iv).gradient
    numeric = []
    for index in range(theta.size):
        up, down = theta.copy(), theta.copy()
        up[index] += 1e-6
        down[index] -= 1e-6
        numeric.append((current.evaluate(up, iv).objective - current.evaluate(down, iv).objective) / 2e-6)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5)


def test_initial_update_weights_the_micro_block_by_its_covariances(problem):
    current = estimation(problem, exercise3_micro_moments(blp, 'all'))
    assert np.all(current.W[-3:, :] == 0), 'before the initial update the micro rows of W are zero'
    W = current.initial_update(current.parameters.theta)
    evaluation = current.evaluate(current.parameters.theta, current.moments.iv(W))
    micro_covariances = evaluation.stacked.micro[0].covariances
    np.testing.assert_allclose(W[-3:, -3:], np.linalg.inv(problem.N * micro_covariances), rtol=1e-8)
    assert np.all(W[:-3, -3:] == 0)


def test_results_report_micro_moments_and_their_standard_errors(problem):
    results = problem.solve(sigma=np.diag([0, 0, 2.0]), pi=PI, method='1s', iteration=blp.Iteration('squarem', ATOL),
                            micro_moments=exercise3_micro_moments(blp, 'income'))
    stored = results.to_document()
    assert [entry['name'] for entry in stored['micro_moments']] == ['E[log income | inside]']
    entry = stored['micro_moments'][0]
    assert entry['observed'] == 7.9 and abs(entry['difference']) < 1e-6, entry  # just identified: matched
    assert np.isfinite(results.pi_se).all() and results.micro_covariances.shape == (1, 1)
    assert results.gradient_norm < 1e-4


def test_multistart_solves_every_start_under_one_weighting_matrix(problem):
    options = SolveOptions(sigma=np.diag([0, 0, 2.0]), pi=PI, method='1s', iteration=blp.Iteration('squarem', ATOL),
                           micro_moments=exercise3_micro_moments(blp, 'income'),
                           sigma_bounds=(np.zeros((3, 3)), np.diag([0, 0, 5.0])),
                           pi_bounds=([[-3], [-3], [-10]], [[3], [3], [10]]))
    starts = draw_starts(problem, options, count=2, seed=1)
    solved = [solve_start(problem, options, start) for start in starts]
    np.testing.assert_array_equal(solved[0].W, solved[1].W)
    assert solved[0].W.shape == (problem.MD + 1, problem.MD + 1) and solved[0].W[-1, -1] > 0
    assert all(np.isfinite(results.micro_values).all() for results in solved)


def _moment(weights=None, values=None, markets=('C01Q1',)):
    dataset = blp.MicroDataset('survey', 50, weights or (lambda t, p, a: np.ones((a.size, p.size))), market_ids=markets)
    part = blp.MicroPart('part', dataset, values or (lambda t, p, a: np.ones((a.size, p.size))))
    return blp.MicroMoment('the moment', 1.0, part)


@pytest.mark.parametrize('moment, cause', [
    (_moment(markets=('C99Q9',)), "market 'C99Q9', which has no products or agents"),
    (_moment(values=lambda t, p, a: np.outer(np.ones(a.size), p.sugar[:, 0])), "no field 'sugar'"),
    (_moment(weights=lambda t, p, a: np.ones((a.size, p.size + 2))), 'returned weights of shape'),
    (_moment(values=lambda t, p, a: np.ones((a.size, 1 + p.size))), 'returned values of shape'),
    (_moment(weights=lambda t, p, a: -np.ones((a.size, p.size))), 'negative weights'),
    (_moment(weights=lambda t, p, a: np.zeros((a.size, p.size))), 'zero weight in every market'),
])
def test_bad_micro_moments_are_refused_naming_the_moment_and_the_cause(problem, moment, cause):
    with pytest.raises(blp.SpecificationError) as raised:
        problem.solve(sigma=SIGMA, pi=PI, method='1s', optimization=blp.Optimization('return'), micro_moments=[moment])
    assert cause in raised.value.message and raised.value.parameter == 'micro_moments[the moment]', raised.value.message


def test_micro_moments_need_agents(products):
    logit = blp.Problem(blp.Formulation('0 + prices', absorb=ABSORB), products)
    with pytest.raises(blp.SpecificationError, match='micro moments need agents'):
        logit.solve(method='1s', micro_moments=[_moment()])


def test_configuration_errors_are_specification_errors():
    dataset = blp.MicroDataset('d', 10, lambda t, p, a: None)
    part = blp.MicroPart('p', dataset, lambda t, p, a: None)
    with pytest.raises(blp.SpecificationError, match='observations'):
        blp.MicroDataset('d', 0, lambda t, p, a: None)
    with pytest.raises(blp.SpecificationError, match='compute_value'):
        blp.MicroMoment('m', 1.0, [part, blp.MicroPart('q', dataset, lambda t, p, a: None)])
    with pytest.raises(blp.SpecificationError, match='finite'):
        blp.MicroMoment('m', float('nan'), part)


# ------------------------------------------------------------------------------------------ the JSON form

def micro_values(problem, micro_moments, sigma=SIGMA):
    return problem.solve(sigma=sigma, pi=PI, method='1s', optimization=blp.Optimization('return'),
                         iteration=blp.Iteration('squarem', ATOL), micro_moments=micro_moments)


def test_json_form_compiles_to_the_same_moments_as_the_callables(problem):
    from blp.spec import SolveSpec, solve_options
    from blp.spec.micro import MicroMomentsSpec
    from examples.micro_moments import EXERCISE3_ALL
    expected = micro_values(problem, exercise3_micro_moments(blp, 'all'))
    options = solve_options(SolveSpec(sigma=SIGMA.tolist(), pi=PI, method='1s', optimization={'method': 'return'},
                                      micro_moments=MicroMomentsSpec.model_validate(EXERCISE3_ALL)))
    actual = problem.estimate(options)
    np.testing.assert_allclose(actual.micro_values, expected.micro_values, rtol=1e-12)
    np.testing.assert_allclose(actual.micro_covariances, expected.micro_covariances, rtol=1e-10)
    np.testing.assert_allclose(actual.gradient, expected.gradient, rtol=1e-8)


def test_json_conditional_mean_is_a_ratio_of_parts(problem):
    """E[log income | mushy_j] as the ratio of E[log income x mushy_j] to E[mushy_j], against the ratio computed from
    two single-part moments."""
    dataset = {'name': 'Buyers', 'observations': 300, 'market_ids': ['C01Q1']}
    parts = [{'name': 'income x mushy', 'dataset': 'Buyers', 'agents': 'log_income', 'first': {'expression': 'mushy'}},
             {'name': 'mushy', 'dataset': 'Buyers', 'first': {'expression': 'mushy'}}]
    ratio = micro_values(problem, {'datasets': [dataset], 'parts': parts,
                                   'moments': [{'name': 'E[y | mushy]', 'value': 7.5,
                                                'ratio': ['income x mushy', 'mushy']}]}, np.diag([0, 0, 2.0]))
    single = micro_values(problem, {'datasets': [dataset], 'parts': parts, 'moments': [
        {'name': 'a', 'value': 1.0, 'part': 'income x mushy'}, {'name': 'b', 'value': 1.0, 'part': 'mushy'}]},
        np.diag([0, 0, 2.0]))
    np.testing.assert_allclose(ratio.micro_values[0, 0], single.micro_values[0, 0] / single.micro_values[1, 0],
                               rtol=1e-12)
    assert 7 < ratio.micro_values[0, 0] < 9


@pytest.mark.parametrize('change, cause', [
    (lambda s: s['parts'][0].update(agents='log_wealth'), "column 'log_wealth', which is not in agent_data"),
    (lambda s: s['parts'][0].update(agents='__import__("os")'), 'calls a function that is not allowed'),
    (lambda s: s['datasets'][0].update(market_ids=['C01Q1', 'nowhere']), "market 'nowhere'"),
    (lambda s: s['datasets'][0].update(products='sugar'), "column 'sugar', which is not in product_data"),
])
def test_json_errors_name_the_moment_and_the_cause(problem, change, cause):
    import copy

    from examples.micro_moments import EXERCISE3_INCOME
    spec = copy.deepcopy(EXERCISE3_INCOME)
    change(spec)
    with pytest.raises(blp.SpecificationError) as raised:
        micro_values(problem, spec)
    assert cause in raised.value.message and raised.value.parameter == 'micro_moments[E[log income | inside]]', \
        (raised.value.message, raised.value.parameter)


@pytest.mark.parametrize('change, cause', [
    (lambda s: s['moments'][0].update(part='nothing'), "uses part 'nothing'"),
    (lambda s: s['parts'][0].update(second={'expression': 'mushy'}), 'has no second_choices'),
    (lambda s: s['moments'][0].update(ratio=['a', 'b']), 'exactly one of part or ratio'),
])
def test_json_cross_references_are_checked_when_parsed(change, cause):
    import copy

    import pydantic

    from blp.spec.micro import MicroMomentsSpec
    from examples.micro_moments import EXERCISE3_INCOME
    spec = copy.deepcopy(EXERCISE3_INCOME)
    change(spec)
    with pytest.raises(pydantic.ValidationError, match=cause.replace('(', r'\(').replace('[', r'\[')):
        MicroMomentsSpec.model_validate(spec)


def test_an_estimate_with_micro_moments_restores_with_them(problem):
    from examples.micro_moments import EXERCISE3_INCOME
    sigma = np.diag([0, 0, 2.0])
    results = problem.solve(sigma=sigma, pi=PI, method='1s', iteration=blp.Iteration('squarem', ATOL),
                            optimization=blp.Optimization('l-bfgs-b', {'gtol': 1e-6}), micro_moments=EXERCISE3_INCOME)
    with pytest.raises(blp.SpecificationError, match='pass the same micro_moments'):
        problem.restore(results.to_document())
    restored = problem.restore(results.to_document(), micro_moments=EXERCISE3_INCOME)
    np.testing.assert_allclose(restored.pi_se, results.pi_se, rtol=1e-8)
    np.testing.assert_allclose(restored.micro_values, results.micro_values, rtol=1e-10)
    np.testing.assert_allclose(restored.compute_elasticities(market_id='C01Q1'),
                               results.compute_elasticities(market_id='C01Q1'), rtol=1e-10)


def nested_micro_moments() -> list:
    """First-choice moments in two markets: E[log income | inside] and E[log income x mushy | inside]."""
    dataset = blp.MicroDataset('Inside', 100, lambda t, p, a: np.ones((a.size, p.size)), market_ids=['C01Q1', 'C01Q2'])
    return [blp.MicroMoment('E[log income | inside]', 7.9, blp.MicroPart(
                'log income | inside', dataset, lambda t, p, a: np.einsum('i,j', a.demographics[:, 0], np.ones(p.size)))),
            blp.MicroMoment('E[log income x mushy | inside]', 3.0, blp.MicroPart(
                'log income x mushy | inside', dataset, lambda t, p, a: np.einsum('i,j', a.demographics[:, 0],
                                                                                  p.X2[:, 1])))]


def nested_second_moments() -> list:
    """Exercise 3's three moments (two on second choices, inside first) and P(mushy second), any first choice (the
    outside good first too)."""
    anything = blp.MicroDataset('Any first', 150, lambda t, p, a: np.ones((a.size, 1 + p.size, 1 + p.size)),
                                market_ids=['C01Q1', 'C01Q2'])
    mushy_second = blp.MicroPart('mushy second', anything, lambda t, p, a: np.einsum(
        'i,j,k->ijk', np.ones(a.size), np.ones(1 + p.size), np.r_[0, p.X2[:, 1]]))
    return exercise3_micro_moments(blp, 'all') + [blp.MicroMoment('P(mushy second)', 0.4, mushy_second)]


@pytest.mark.parametrize('moments', [nested_micro_moments, nested_second_moments], ids=['first', 'second'])
@pytest.mark.parametrize('rho', [0.4, [0.3, 0.6]])
def test_rcnl_micro_moment_jacobian_matches_finite_differences(nested_products, agents, moments, rho):
    """Micro moments with nests: sigma, pi and rho (one for all nests or one per nest) move the nested choices; second
    choices too (j leaves its nest, whose inclusive value shrinks)."""
    nested = blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), blp.Formulation('1 + mushy + prices')),
                         nested_products, blp.Formulation('0 + log_income'), agents)
    current = estimation(nested, moments(), rho=rho)
    theta = current.parameters.theta
    iv = current.moments.iv(current.W)
    evaluation = current.evaluate(theta, iv)
    analytic = current.moments.theta_jacobian(evaluation.stacked.dependent_jacobians, evaluation.stacked.micro)
    micro = current.moments.M - current.moments.linear_M
    assert np.abs(analytic[-micro:, -np.size(rho):]).max(axis=1).min() > 1e-4  # rho moves every micro moment
    # atol: the contraction's 1e-14 over the 2e-6 step is ~5e-9 of noise in the central differences
    np.testing.assert_allclose(analytic[-micro:], central_differences(current, theta, iv)[-micro:], rtol=1e-5,
                               atol=2e-8)
