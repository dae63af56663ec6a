"""PyBLP 1.3's micro moment options in the core: second choices with a group of products eliminated (fitted values by
an agent-by-agent loop, the analytic Jacobian by finite differences, singleton groups equal to no groups), given micro
covariances and resampled agents (what they change, and errors naming the parameter and the cause)."""

import numpy as np
import pytest
from micro_option_workloads import eliminated_micro_moments
from micro_workloads import exercise3_micro_moments
from test_micro import central_differences

import blp
from blp.configurations.solve_options import SolveOptions
from blp.estimation.estimator import Estimation
from examples import cereal

ABSORB = 'C(market_ids) + C(product_ids0)'
SIGMA, PI = np.diag([0.7, 1.3, 2.0]), [[1.0], [0.2], [1.0]]
ITERATION = blp.Iteration('squarem', {'atol': 1e-14})
RETURN = dict(sigma=SIGMA, pi=PI, method='1s', optimization=blp.Optimization('return'), iteration=ITERATION)


@pytest.fixture(scope='module')
def grouped(products):
    """product_ids0 the product, product_ids1 its firm (the eliminated group), product_ids2 the product again."""
    frame = products.rename(columns={'product_ids': 'product_ids0'})
    return frame.assign(product_ids1='firm' + frame['firm_ids'].astype(str), product_ids2=frame['product_ids0'])


@pytest.fixture(scope='module')
def problem(grouped, agents):
    return blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), blp.Formulation('1 + mushy + prices')),
                       grouped, blp.Formulation('0 + log_income'), agents)


def with_index(index):
    """Exercise 3's moments, the diversion survey eliminating the groups of product_ids<index>."""
    def build(module):
        moments = eliminated_micro_moments(module)
        moments[1].parts[0].dataset.eliminated_product_ids_index = index
        return moments
    return build


def test_eliminated_group_values_match_an_agent_by_agent_computation(problem, grouped):
    """P(outside second | inside) and P(mushy first and second | inside) with j's firm removed, by loops."""
    results = problem.solve(**RETURN, micro_moments=eliminated_micro_moments(blp))
    layout, agents = problem.products.layout, problem.agents
    probabilities = problem.model.random.probabilities(
        problem.model.random.utilities(results.sigma, results.pi), layout.pad(results.delta[:, 0]))
    outside = mushy_both = inside = 0.0
    for market in ('C01Q1', 'C01Q2'):
        t = list(layout.markets).index(market)
        rows = layout.market_index == t
        J, firms, mushy = layout.counts[t], grouped['product_ids1'].to_numpy()[rows], problem.X2[rows, 1]
        for i in range(agents.layout.counts[t]):
            weight, s = agents.weights[t, i], probabilities[t, :J, i]
            for j in range(J):
                same = firms == firms[j]
                second = np.r_[1 - s.sum(), np.where(same, 0, s)] / (1 - s[same].sum())
                inside += weight * s[j] * second.sum()
                outside += weight * s[j] * second[0]
                mushy_both += weight * s[j] * mushy[j] * (second[1:] * mushy).sum()
    np.testing.assert_allclose(results.micro_values[1:, 0], [outside / inside, mushy_both / inside], rtol=1e-10)


def test_eliminated_group_jacobian_matches_finite_differences(problem):
    current = Estimation(problem, SolveOptions(sigma=SIGMA, pi=PI, method='1s', iteration=ITERATION,
                                               micro_moments=eliminated_micro_moments(blp)))
    theta, iv = current.parameters.theta, current.moments.iv(current.W)
    evaluation = current.evaluate(theta, iv)
    analytic = current.moments.theta_jacobian(evaluation.stacked.dependent_jacobians, evaluation.stacked.micro)
    np.testing.assert_allclose(analytic[-3:], central_differences(current, theta, iv)[-3:], rtol=1e-5, atol=1e-9)


def nested_problem(frame, agents, nesting):
    """`frame` nested by `nesting`; product_ids3 the firm within each mushy nest, product_ids4 firms F1 and F2 apart
    from the others (a union of whole nests when firms are the nests)."""
    frame = frame.assign(nesting_ids=frame[nesting], product_ids3=frame['product_ids1'] + frame['mushy'].astype(str),
                         product_ids4=frame['firm_ids'].isin(['F1', 'F2']).astype(str),
                         demand_instruments4=frame['demand_instruments0'] ** 2,
                         demand_instruments5=frame['demand_instruments3'] * frame['mushy'])
    return blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), blp.Formulation('1 + mushy + prices')), frame,
                       blp.Formulation('0 + log_income'), agents)


@pytest.mark.parametrize('index, nesting, rho', [(3, 'mushy', 0.4), (3, 'mushy', [0.3, 0.6]), (4, 'firm_ids', 0.4)],
                         ids=['within-nests', 'within-nests-per-nest-rho', 'union-of-nests'])
def test_eliminated_groups_with_nests_jacobian_matches_finite_differences(grouped, agents, index, nesting, rho):
    """Groups within a nest (their within-nest share leaves) or unions of whole nests."""
    current = Estimation(nested_problem(grouped, agents, nesting), SolveOptions(
        sigma=SIGMA, pi=PI, rho=rho, method='1s', iteration=ITERATION, micro_moments=with_index(index)(blp)))
    theta, iv = current.parameters.theta, current.moments.iv(current.W)
    evaluation = current.evaluate(theta, iv)
    analytic = current.moments.theta_jacobian(evaluation.stacked.dependent_jacobians, evaluation.stacked.micro)
    assert np.abs(analytic[-2:, -np.size(rho):]).max(axis=1).min() > 1e-4  # rho moves both second-choice moments
    np.testing.assert_allclose(analytic[-3:], central_differences(current, theta, iv)[-3:], rtol=1e-5, atol=2e-8)


def test_eliminated_groups_across_nests_are_refused_naming_the_market(grouped, agents):
    """PyBLP's rule: a group spanning several nests must cover them (firms span both mushy nests here)."""
    with pytest.raises(blp.SpecificationError, match="in market 'C01Q1' .* span several nests") as error:
        nested_problem(grouped, agents, 'mushy').solve(**RETURN, rho=0.4, micro_moments=with_index(1)(blp))
    assert error.value.parameter == 'micro_moments[P(outside second | inside)]'


def test_singleton_groups_are_the_first_choice_alone(problem):
    """Groups of one product (product_ids2 is the product) give what eliminating only the first choice gives."""
    grouped = problem.solve(**RETURN, micro_moments=with_index(2)(blp))
    alone = problem.solve(**RETURN, micro_moments=exercise3_micro_moments(blp, 'all'))
    firm = problem.solve(**RETURN, micro_moments=with_index(1)(blp))
    np.testing.assert_allclose(grouped.micro_values, alone.micro_values, rtol=1e-12)
    np.testing.assert_allclose(grouped.pi_se, alone.pi_se, rtol=1e-10)
    assert not np.allclose(firm.micro_values[1:], alone.micro_values[1:], rtol=1e-3)


@pytest.mark.parametrize('index', [True, -1, 1.5, 'firm'])
def test_a_bad_eliminated_index_is_refused(index):
    with pytest.raises(blp.SpecificationError, match='eliminated_product_ids_index') as error:
        blp.MicroDataset('survey', 10, lambda t, p, a: np.ones((a.size, p.size, p.size)),
                         eliminated_product_ids_index=index)
    assert error.value.parameter == 'micro_moments (dataset \'survey\')'


def test_an_eliminated_index_without_its_column_names_the_moment(problem):
    with pytest.raises(blp.SpecificationError, match="'product_ids5' column") as error:
        problem.solve(**RETURN, micro_moments=with_index(5)(blp))
    assert error.value.parameter == 'micro_moments[P(outside second | inside)]'


def test_given_micro_covariances_replace_the_computed_ones(problem):
    computed = problem.solve(**RETURN, micro_moments=exercise3_micro_moments(blp, 'all'))
    given = np.diag([1e-3, 2e-4, 3e-4])
    results = problem.solve(**RETURN, micro_moments=exercise3_micro_moments(blp, 'all'), micro_sample_covariances=given)
    np.testing.assert_array_equal(results.micro_covariances, given)
    M = results.W.shape[0]  # the initial update's W: its micro block is (N x given)^-1
    np.testing.assert_allclose(np.linalg.inv(results.W)[M - 3:, M - 3:], problem.N * given, rtol=1e-8)
    assert not np.allclose(results.pi_se, computed.pi_se, rtol=1e-3)


@pytest.mark.parametrize('given, cause', [
    (np.eye(2), 'square 3 by 3'), (np.array([[1, 0.5, 0], [0, 1, 0], [0, 0, 1.0]]), 'symmetric'),
    (np.diag([1, -1, 1.0]), 'positive semidefinite'), (np.diag([1, np.nan, 1]), 'finite')])
def test_bad_micro_covariances_are_refused(problem, given, cause):
    with pytest.raises(blp.SpecificationError, match=cause) as error:
        problem.solve(**RETURN, micro_moments=exercise3_micro_moments(blp, 'all'), micro_sample_covariances=given)
    assert error.value.parameter == 'micro_sample_covariances'


def test_resampled_agents_add_their_covariances_to_S(problem, agents):
    def resample(index):
        frame = cereal.agent_data(size=40, seed=10 + index)
        return None if index == 3 else frame[frame['market_ids'].isin(agents['market_ids'])].reset_index(drop=True)

    plain = problem.solve(**RETURN, micro_moments=exercise3_micro_moments(blp, 'income'))
    results = problem.solve(**RETURN, micro_moments=exercise3_micro_moments(blp, 'income'),
                            resample_agent_data=resample)
    M = plain.W.shape[0]
    assert results.simulation_covariances.shape == (M, M) and not plain.simulation_covariances.any()
    assert np.linalg.eigvalsh(results.simulation_covariances).min() > -1e-12 and results.simulation_covariances.any()
    samples = []  # each resampled problem's moments at theta under the step's W
    for index in range(3):
        resampled = blp.Problem(problem.product_formulations, problem.products.frame, problem.agent_formulation,
                                resample(index))
        current = Estimation(resampled, SolveOptions(sigma=SIGMA, pi=PI, method='1s', iteration=ITERATION, W=results.W,
                                                     micro_moments=exercise3_micro_moments(blp, 'income')))
        moments = current.evaluate(current.parameters.theta, current.moments.iv(current.W), False).stacked.moments
        samples.append(current.moment_order.vector(moments))  # reported in PyBLP's order, as results are
    np.testing.assert_allclose(results.simulation_covariances, np.cov(samples, rowvar=False), rtol=1e-8, atol=1e-15)
    assert not np.allclose(results.pi_se, plain.pi_se, rtol=1e-6)  # simulation error enters the SEs


@pytest.mark.parametrize('resample, cause', [
    (lambda index: None, 'at least 2 sets'), (lambda index: 1 / 0, 'ZeroDivisionError'),
    (lambda index: {'market_ids': ['C01Q1']} if index < 2 else None, 'cannot be used'), ('agents', 'a function')])
def test_bad_resampling_is_refused(problem, resample, cause):
    with pytest.raises(blp.SpecificationError, match=cause) as error:
        problem.solve(**RETURN, micro_moments=exercise3_micro_moments(blp, 'income'), resample_agent_data=resample)
    assert error.value.parameter == 'resample_agent_data'


def test_a_stored_estimate_restores_with_its_options(problem, agents):
    """restore() keeps the given micro covariances and the estimated simulation covariances in the SEs."""
    def resample(index):
        frame = cereal.agent_data(size=40, seed=20 + index)
        return None if index == 2 else frame[frame['market_ids'].isin(agents['market_ids'])].reset_index(drop=True)

    for option in ({'micro_sample_covariances': np.diag([1e-3, 2e-4, 3e-4])}, {'resample_agent_data': resample}):
        results = problem.solve(**RETURN, micro_moments=exercise3_micro_moments(blp, 'all'), **option)
        restored = problem.restore(results.to_document(), micro_moments=exercise3_micro_moments(blp, 'all'))
        np.testing.assert_allclose(restored.pi_se, results.pi_se, rtol=1e-8)
        np.testing.assert_allclose(restored.micro_covariances, results.micro_covariances, rtol=1e-12)
        np.testing.assert_allclose(restored.simulation_covariances, results.simulation_covariances, rtol=1e-12)


@pytest.mark.parametrize('nesting, index', [(None, 1), ('mushy', None), ('mushy', 3), ('firm_ids', 4)],
                         ids=['logit-firm-groups', 'nests', 'nests-within-groups', 'nests-union-groups'])
def test_compute_micro_values_are_the_fitted_second_choices(grouped, agents, nesting, index):
    """results.compute_micro_values (post-estimation) gives the micro block's fitted values, groups and nests too."""
    problem = blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), blp.Formulation('1 + mushy + prices')),
                          grouped, blp.Formulation('0 + log_income'), agents) if nesting is None else \
        nested_problem(grouped, agents, nesting)
    build = (lambda module: exercise3_micro_moments(module, 'all')) if index is None else with_index(index)
    results = problem.solve(**RETURN, **({} if nesting is None else {'rho': 0.4}), micro_moments=build(blp))
    np.testing.assert_allclose(results.compute_micro_values(build(blp)), results.micro_values[:, 0], rtol=1e-12)
