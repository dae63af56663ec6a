"""The optimizer's trace kept with a result (worker/trace.py): every iteration of the last solve, JSON-ready."""

from __future__ import annotations

import numpy as np

import blp
from blp.spec.results import TracePoint
from examples import cereal
from worker.trace import Trace


def test_a_two_step_solve_is_one_trace_and_a_new_solve_replaces_it():
    seen: list[int] = []
    trace = Trace(lambda info: seen.append(info['iteration']))
    for step, iteration, objective in [(1, 1, 3.0), (1, 2, 2.0), (2, 1, 1.0), (2, 2, np.float64('nan'))]:
        trace({'step': step, 'iteration': iteration, 'objective': objective, 'gradient_norm': np.float64(0.5)})
    assert [(p['step'], p['iteration']) for p in trace.points] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert trace.points[-1]['objective'] is None and type(trace.points[-1]['gradient_norm']) is float
    assert seen == [1, 2, 1, 2]  # forwarded as it came (the job's progress)
    trace({'step': 1, 'iteration': 1, 'objective': 0.5, 'gradient_norm': 0.1})  # a re-estimate starts over
    assert [(p['step'], p['iteration']) for p in trace.points] == [(1, 1)]


def test_the_trace_of_a_real_solve_has_every_iteration_and_ends_at_the_estimate():
    trace = Trace()
    problem = blp.Problem((blp.Formulation('0 + prices', absorb='C(market_ids) + C(product_ids)'),
                           blp.Formulation('0 + prices')), cereal.product_data(), integration=blp.Integration(
                               'product', 3))
    results = problem.solve(sigma=[[1.0]], method='1s', progress=trace)
    document = trace.added_to(results.to_document())
    points = [TracePoint.model_validate(point) for point in document['trace']]
    assert len(points) == results.optimization_iterations >= 2
    assert [point.iteration for point in points] == list(range(1, len(points) + 1))
    assert points[-1].objective == results.objective
