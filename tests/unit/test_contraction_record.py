"""What an estimation keeps of its contractions (`blp.estimation.contractions`): running sums by market and, for the
GMM steps' optimizations only, one compact column per contraction, from which PyBLP's int64 arrays are rebuilt
exactly. Memory is measured with tracemalloc on many small markets, where the statistics dominate what grows: the
estimate's retained bytes must not grow with evaluations outside a step (initial update, Hessian) and grow by at most
4 bytes per market with each evaluation inside one (17 were kept by the estimator and 48 more by the results)."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest

import blp
from blp.configurations.solve_options import SolveOptions
from blp.estimation.contractions import Column, ContractionRecord, market_arrays
from blp.estimation.estimator import Estimation

T = 2000  # markets: each evaluation's column is T long


@pytest.fixture(scope='module')
def problem() -> blp.Problem:
    """T markets of two products and three agents: the contraction's statistics are most of what an evaluation
    leaves behind."""
    rng = np.random.default_rng(0)
    J, I = 2, 3
    x, z0, z1 = (rng.normal(size=T * J) for _ in range(3))
    products = pd.DataFrame({'market_ids': np.repeat(np.arange(T), J), 'shares': rng.uniform(0.05, 0.3, T * J),
                             'prices': 1 + 0.3 * x + 0.5 * z0 + 0.2 * z1, 'x': x,
                             'demand_instruments0': z0, 'demand_instruments1': z1})
    agents = pd.DataFrame({'market_ids': np.repeat(np.arange(T), I), 'weights': 1 / I,
                           'nodes0': np.tile([-1.2, 0.0, 1.2], T)})
    return blp.Problem((blp.Formulation('0 + prices + x'), blp.Formulation('0 + x')), products, None, agents)


def retained(build: Callable[[], Any], warm_up: Callable[[], Any] = lambda: None) -> tuple[Any, int]:
    """What `build` returns and the bytes still allocated after it returned (garbage collected), traced from
    before `warm_up` (so that what `build` frees of it counts)."""
    gc.collect()
    tracemalloc.start()
    try:
        warm_up()
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        value = build()
        gc.collect()
        return value, tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def evaluate_times(initial: np.ndarray, bounds: Any, objective_function: Any, iteration_callback: Any,
                   times: int) -> tuple[np.ndarray, bool]:
    """A custom optimization method (PyBLP's protocol) that evaluates the objective `times` times near the start."""
    for index in range(times):
        objective_function(initial * (1 + 1e-3 * (index + 1)))
        iteration_callback()
    return initial, True


def solve(problem: blp.Problem, times: int) -> Any:
    return problem.solve(sigma=1.0, method='1s', optimization=blp.Optimization(evaluate_times, {'times': times}))


def test_evaluations_outside_a_step_keep_nothing_but_the_sums(problem: blp.Problem) -> None:
    estimation = Estimation(problem, SolveOptions(sigma=1.0, method='1s'))
    iv, theta = estimation.moments.iv(estimation.W), estimation.parameters.theta
    estimation.evaluate(theta, iv)  # the first evaluation allocates the warm start and caches

    def evaluations() -> None:
        for index in range(30):
            estimation.evaluate(theta * (1 + 1e-3 * (index + 1)), iv)

    _, grown = retained(evaluations, warm_up=lambda: estimation.evaluate(theta, iv))
    assert grown < 4 * T, f'{grown} bytes retained by 30 evaluations of {T} markets'
    assert estimation.contractions.columns is None
    sums = estimation.contractions
    assert sums.contraction_evaluations == int(sums.market_evaluations.sum()) > 31 * T


def test_a_step_keeps_a_compact_column_per_evaluation_and_the_hessian_none(problem: blp.Problem) -> None:
    few, few_bytes = retained(lambda: solve(problem, 2))
    many, many_bytes = retained(lambda: solve(problem, 32))
    columns = [few.to_dict()['cumulative_contraction_evaluations'].shape[1],
               many.to_dict()['cumulative_contraction_evaluations'].shape[1]]
    assert columns == [2 + 2, 32 + 2]  # the start, each evaluation and the final one; not the Hessian's
    per_evaluation = (many_bytes - few_bytes) / 30
    assert per_evaluation < 4 * T, f'{per_evaluation:.0f} bytes retained per evaluation of {T} markets'
    for results in (few, many):  # one source: the arrays' sums are the counts the document reports
        arrays = results.to_dict()
        assert int(arrays['cumulative_contraction_evaluations'].sum()) == results.contraction_evaluations == \
            sum(results.contraction_evaluations_by_market.values()) > 0
        assert int(arrays['cumulative_fp_iterations'].sum()) == results.fp_iterations > 0
        assert arrays['fp_converged'].dtype == np.int64 and arrays['fp_converged'].all()


def test_columns_give_back_pyblps_int64_arrays_exactly() -> None:
    rng = np.random.default_rng(1)
    markets = 13  # not a multiple of 8: the packed flags are cut back to T
    given = [(rng.integers(0, top, markets), rng.integers(0, top, markets), rng.random(markets) < 0.5)
             for top in (1, 256, 257, 70_000, 2 ** 40)]
    record = ContractionRecord(markets)
    record.add(*given[0])  # outside a step: counted, no column
    columns = record.record()
    for evaluations, iterations, converged in given[1:]:
        record.add(evaluations, iterations, converged)
    assert record.stop() == tuple(columns) and record.columns is None
    converged, iterations, evaluations = market_arrays(columns, markets)
    for built, index, name in ((evaluations, 0, 'evaluations'), (iterations, 1, 'iterations'),
                               (converged, 2, 'converged')):
        assert built.dtype == np.int64 and built.shape == (markets, 4), name
        np.testing.assert_array_equal(built, np.column_stack([arrays[index] for arrays in given[1:]]), err_msg=name)
    assert Column.of(*given[1]).nbytes == 2 * markets + 2  # one byte per count under 256, flags as bits
    assert record.contraction_evaluations == sum(int(arrays[0].sum()) for arrays in given)
    assert record.fixed_point_iterations == sum(int(arrays[1].sum()) for arrays in given)
    saved = record.saved()
    record.add(*given[2])
    record.restore(saved)
    assert record.contraction_evaluations == sum(int(arrays[0].sum()) for arrays in given)
    assert [array.shape for array in market_arrays([], markets)] == [(markets, 0)] * 3
