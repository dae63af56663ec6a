"""Market chunks (blp.model.chunks): splitting the inner loop by a memory budget, or over threads, gives the numbers
of the whole-problem evaluation, with random coefficients, nests, a supply side and micro moments."""

import numpy as np
import pytest
from micro_workloads import exercise3_micro_moments

import blp
from blp.configurations.budget import Sizes, cost, inner_bytes_per_market, markets_per_chunk
from blp.configurations.solve_options import SolveOptions
from blp.estimation.estimator import Estimation
from blp.spec import SolveSpec, solve_options

ABSORB = 'C(market_ids) + C(product_ids)'
ATOL = blp.Iteration('squarem', {'atol': 1e-14})
TINY = 0.01  # MB: below one market's temporaries, so every market is a chunk of its own


def rc_problem(products, agents, X2='0 + mushy + prices'):
    return blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), blp.Formulation(X2)), products,
                       blp.Formulation('0 + log_income'), agents)


def evaluated(problem, theta, **options):
    """Objective, gradient, delta and d delta / d theta at theta, and the estimation (to see its chunks)."""
    estimation = Estimation(problem, SolveOptions(method='1s', iteration=ATOL, **options))
    evaluation = estimation.evaluate(np.asarray(theta, dtype=float), estimation.moments.iv(estimation.W))
    return evaluation, estimation


def assert_same_evaluation(whole, chunked):
    assert whole.objective == pytest.approx(chunked.objective, rel=1e-12)
    np.testing.assert_allclose(chunked.gradient, whole.gradient, rtol=1e-10, atol=1e-12 * np.abs(whole.gradient).max())
    np.testing.assert_allclose(chunked.delta, whole.delta, rtol=0, atol=1e-12)
    np.testing.assert_allclose(chunked.delta_jacobian, whole.delta_jacobian, rtol=1e-10, atol=1e-12)


def test_a_tiny_budget_puts_each_market_in_a_chunk_and_estimates_the_same(products, agents):
    problem = rc_problem(products, agents)
    arguments = dict(sigma=[[0, 0], [0, 2.0]], pi=[[0.3], [-1.0]], method='1s', iteration=ATOL)
    whole = problem.solve(**arguments)
    chunked = problem.solve(**arguments, memory_budget_mb=TINY)
    assert Estimation(problem, SolveOptions(**arguments)).chunked is None  # ten small markets fit the default
    assert len(Estimation(problem, SolveOptions(**arguments, memory_budget_mb=TINY)).chunked.chunks) == 10
    assert chunked.converged and whole.converged
    for name in ('sigma', 'pi', 'beta', 'sigma_se', 'pi_se', 'beta_se'):
        np.testing.assert_allclose(getattr(chunked, name), getattr(whole, name), rtol=1e-10, atol=1e-12, err_msg=name)
    assert chunked.objective == pytest.approx(whole.objective, rel=1e-10)


def test_threads_over_chunks_give_the_same_evaluation(products, agents):
    problem = rc_problem(products, agents)
    theta = [2.0, 0.3, -1.0]
    whole, _ = evaluated(problem, theta, sigma=[[0, 0], [0, 2.0]], pi=[[0.3], [-1.0]])
    threaded, estimation = evaluated(problem, theta, sigma=[[0, 0], [0, 2.0]], pi=[[0.3], [-1.0]],
                                     memory_budget_mb=0.1, threads=2)
    assert estimation.chunked.threads == 2 and len(estimation.chunked.chunks) > 2
    assert_same_evaluation(whole, threaded)


def test_chunks_of_random_coefficients_nested_logit_give_the_same_evaluation(nested_products, agents):
    problem = blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), blp.Formulation('0 + prices')),
                          nested_products, None, agents)
    options = dict(sigma=[[2.0]], rho=0.5)
    whole, _ = evaluated(problem, [2.0, 0.5], **options)
    chunked, estimation = evaluated(problem, [2.0, 0.5], **options, memory_budget_mb=TINY)
    assert len(estimation.chunked.chunks) == 10
    assert_same_evaluation(whole, chunked)


def test_markets_stopped_at_the_iteration_limit_settle_the_same_in_chunks(products, agents):
    """`blp.model.settled`, the rule both paths follow: a market out of `max_evaluations` on finite values is used
    as it is, its d delta / d theta with the observed shares (a whole-problem or a chunk's); out of evaluations
    under error_behavior 'punish', it fails in both."""
    problem = rc_problem(products, agents)
    theta = np.array([2.0, 0.3, -1.0])
    options = dict(sigma=[[0, 0], [0, 2.0]], pi=[[0.3], [-1.0]], method='1s',
                   iteration=blp.Iteration('squarem', {'atol': 1e-14, 'max_evaluations': 4}))
    for behavior in ('revert', 'punish'):
        found = []
        for budget in (None, TINY):
            estimation = Estimation(problem, SolveOptions(**options, memory_budget_mb=budget, error_behavior=behavior))
            assert (estimation.chunked is None) == (budget is None)
            found.append(estimation.evaluate(theta, estimation.moments.iv(estimation.W)))
        whole, chunked = found
        if behavior == 'revert':
            assert len(whole.unconverged_markets) == 10 and not whole.failed_markets
            assert_same_evaluation(whole, chunked)
        else:
            assert len(whole.failed_markets) == 10 and np.isnan(whole.gradient).all()
        assert (chunked.unconverged_markets, chunked.failed_markets) == (whole.unconverged_markets,
                                                                         whole.failed_markets)
    model = problem.model
    assert model.observed_shares is model.observed_shares  # computed once per model


@pytest.mark.parametrize('nested', [False, True])
def test_chunks_with_a_supply_side_give_the_same_evaluation(products, nested_products, agents, nested):
    """Also with nests (RCNL: the nested markups and rho's direction, market by market)."""
    products = (nested_products if nested else products).assign(
        supply_instruments0=products['demand_instruments0'], supply_instruments1=products['demand_instruments1'])
    problem = blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), blp.Formulation('0 + mushy + prices'),
                           blp.Formulation('1 + mushy')), products, blp.Formulation('0 + log_income'), agents)
    options = dict(sigma=[[0, 0], [0, 2.0]], pi=[[0.3], [-1.0]], beta=[-20.0], costs_bounds=(1e-3, None),
                   rho=0.4 if nested else None)
    theta = [2.0, 0.3, -1.0] + ([0.4] if nested else []) + [-20.0]
    whole, _ = evaluated(problem, theta, **options)
    chunked, estimation = evaluated(problem, theta, **options, memory_budget_mb=TINY)
    assert len(estimation.chunked.chunks) == 10
    supply = estimation.moments.blocks[1].dependent
    assert len(supply.chunks) == 10  # the supply side's markups and their derivatives too, market by market
    assert_same_evaluation(whole, chunked)
    np.testing.assert_allclose(chunked.stacked.residuals[1], whole.stacked.residuals[1], rtol=1e-10, atol=1e-12)


def test_a_supply_side_estimates_the_same_with_every_market_in_a_chunk_of_its_own(products, agents):
    products = products.assign(supply_instruments0=products['demand_instruments0'],
                               supply_instruments1=products['demand_instruments1'])
    problem = blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), blp.Formulation('0 + mushy + prices'),
                           blp.Formulation('1 + mushy')), products, blp.Formulation('0 + log_income'), agents)
    arguments = dict(sigma=[[0, 0], [0, 2.0]], pi=[[0.3], [-1.0]], beta=[-20.0], costs_bounds=(1e-3, None),
                     method='1s', iteration=ATOL)
    whole = problem.solve(**arguments)
    chunked = problem.solve(**arguments, memory_budget_mb=TINY)
    assert Estimation(problem, SolveOptions(**arguments)).moments.blocks[1].dependent.chunks == (slice(None),)
    for name in ('sigma', 'pi', 'beta', 'gamma', 'sigma_se', 'pi_se', 'beta_se', 'gamma_se', 'estimated_markups'):
        np.testing.assert_allclose(getattr(chunked, name), getattr(whole, name), rtol=1e-10, atol=1e-12, err_msg=name)
    assert chunked.objective == pytest.approx(whole.objective, rel=1e-10)


def test_chunks_with_micro_moments_give_the_same_evaluation(products, agents):
    problem = rc_problem(products, agents, '1 + mushy + prices')
    options = dict(sigma=np.diag([0.7, 1.3, 2.0]), pi=[[1.0], [0.2], [1.0]],
                   micro_moments=exercise3_micro_moments(blp, 'all'))
    theta = [0.7, 1.3, 2.0, 1.0, 0.2, 1.0]
    whole, _ = evaluated(problem, theta, **options)
    chunked, estimation = evaluated(problem, theta, **options, memory_budget_mb=TINY)
    assert len(estimation.chunked.chunks) == 10
    assert_same_evaluation(whole, chunked)
    np.testing.assert_allclose(chunked.stacked.moments, whole.stacked.moments, rtol=1e-10, atol=1e-14)


def test_the_chunk_sizer_and_the_cost_model_share_the_bytes_per_market():
    per_market = inner_bytes_per_market(40, 300, 2)
    assert per_market == (4 * 40 * 300 + 2 * 40 * 40) * 8  # J x I arrays and J x J matrices
    assert markets_per_chunk(per_market, 100 * per_market) == 100
    assert markets_per_chunk(per_market, 100 * per_market, threads=2) == 50
    assert markets_per_chunk(per_market, per_market // 2) == 1  # a market larger than the budget is a chunk alone
    whole = Sizes(2500, 100_000, 40, 300, 3, 2, 0, 8, 2)
    chunked = Sizes(2500, 100_000, 40, 300, 3, 2, 0, 8, 2, chunk_bytes=100 * per_market)
    assert cost(whole).memory_bytes - cost(chunked).memory_bytes == (2500 - 100) * per_market
    assert cost(chunked).agent_array_bytes == cost(whole).agent_array_bytes  # what the refusal message names


def test_the_spec_carries_the_budget_and_threads_and_refuses_bad_values():
    options = solve_options(SolveSpec.model_validate({'memory_budget_mb': 64, 'threads': 2}))
    assert options.chunk_bytes == 64 * 1024**2 and options.threads == 2
    assert solve_options(SolveSpec()).threads == 1
    for bad in ({'threads': 0}, {'threads': 1.5}, {'memory_budget_mb': 0}, {'memory_budget_mb': -1.0}):
        with pytest.raises(ValueError):
            SolveSpec.model_validate(bad)
    with pytest.raises(blp.SpecificationError) as raised:
        SolveOptions(threads=0)
    assert raised.value.parameter == 'threads'
    with pytest.raises(blp.SpecificationError) as raised:
        SolveOptions(memory_budget_mb=float('nan'))
    assert raised.value.parameter == 'memory_budget_mb'


def test_a_worker_caps_threads_at_its_share_of_the_cores():
    from worker.threads import share_of_cores
    assert share_of_cores(concurrency=1, cores=2) == 2
    assert share_of_cores(concurrency=2, cores=2) == 1
    assert share_of_cores(concurrency=4, cores=2) == 1
    assert share_of_cores(concurrency=2, cores=8) == 4


def test_a_job_asking_for_more_threads_than_its_share_gets_its_share(monkeypatch):
    from worker.celery_app import app
    from worker.threads import capped
    monkeypatch.setattr('os.sched_getaffinity', lambda _: {0, 1})
    monkeypatch.setitem(app.conf, 'worker_concurrency', 2)
    assert capped(SolveOptions(threads=2)).threads == 1
    monkeypatch.setitem(app.conf, 'worker_concurrency', 1)
    assert capped(SolveOptions(threads=2)).threads == 2 and capped(SolveOptions(threads=8)).threads == 2


@pytest.mark.parametrize('epsilon_scale', [1.0, 1.5])
def test_one_and_two_threads_give_the_same_estimate_to_the_last_digit(products, agents, epsilon_scale):
    """What lets a worker give a job whatever threads it can spare: the results do not depend on them, also with a
    scaled logit error (whose whole-problem and chunked paths once rounded delta differently for its Jacobian)."""
    problem = blp.Problem((blp.Formulation('0 + prices', absorb=ABSORB), blp.Formulation('0 + mushy + prices')),
                          products, blp.Formulation('0 + log_income'), agents, epsilon_scale=epsilon_scale)
    arguments = dict(sigma=[[0, 0], [0, 2.0]], pi=[[0.3], [-1.0]], method='2s', iteration=ATOL)
    for budget in (None, 0.1):  # the default chunks, and chunks of a few markets each
        one, two = (problem.solve(**arguments, memory_budget_mb=budget, threads=threads) for threads in (1, 2))
        assert Estimation(problem, SolveOptions(**arguments, memory_budget_mb=budget, threads=2)).chunked.threads == 2
        for name in ('objective', 'gradient', 'sigma', 'pi', 'beta', 'sigma_se', 'pi_se', 'beta_se', 'delta', 'W'):
            assert np.array_equal(getattr(one, name), getattr(two, name), equal_nan=True), (budget, name)


def test_a_job_without_threads_gets_what_the_worker_can_spare(monkeypatch):
    """Its cores divided by the tasks its pool processes run now, counted across real processes; a number asked
    for is still capped at its share of the cores (above)."""
    import multiprocessing

    from worker import threads
    monkeypatch.setattr('os.sched_getaffinity', lambda _: {0, 1})
    monkeypatch.setattr(threads, '_running', None)
    assert solve_options(SolveSpec()).threads == 1  # outside a worker, the core's default
    assert threads.capped_options(SolveSpec()).threads == 2  # not in a worker: no other task runs
    threads.share_running_tasks()
    context = multiprocessing.get_context('fork')
    started, release = context.Event(), context.Event()

    def other_task() -> None:  # another pool process running a task (it dies without saying it ended)
        threads._task_started()
        started.set()
        release.wait(60)

    process = context.Process(target=other_task)
    process.start()
    assert started.wait(60)
    threads._task_started()  # this process's task
    assert threads.running_tasks() == 2 and threads.capped_options(SolveSpec()).threads == 1
    release.set()
    process.join(60)
    assert threads.running_tasks() == 1 and threads.capped_options(SolveSpec()).threads == 2
    threads._task_ended()
    threads._task_started()  # a process's next task takes one slot, not two
    assert threads.running_tasks() == 1
    assert threads.capped_options(SolveSpec.model_validate({'threads': 8})).threads == 2
