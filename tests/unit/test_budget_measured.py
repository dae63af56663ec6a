"""The cost model bounds what the core allocates: tracemalloc (numpy reports its buffers to it) measures the peak of
building and solving the cereal problem with many agents, and the estimate without the interpreter's fixed part
must cover it. It only fits because the core chunks markets by default (demand and the supply side): costed as the
whole problem it would be several times larger, so a core that stopped chunking would fail here."""

from __future__ import annotations

import tracemalloc
from dataclasses import replace

import numpy as np
import pytest

import blp
from blp.configurations.budget import BASE_BYTES, cost, sizes_of
from blp.post.postestimation import mean_own_elasticity
from blp.spec import EstimateSpec, solve_options
from examples import cereal

DEMAND = [{'formula': '0 + prices', 'absorb': 'C(market_ids) + C(product_ids)'}, {'formula': '0 + mushy + prices'}]
SOLVE = {'sigma': [[0, 0], [0, 2.0]], 'pi': [[0.3], [-1.0]], 'method': '1s',
         'optimization': {'method': 'return'}}  # one evaluation at the start, then standard errors and the Hessian


def measured_peak(call) -> int:  # noqa: ANN001
    """Bytes `call()` allocated at its peak above what was held before it."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        call()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def spec_and_data(agents: int, supply: bool = False) -> tuple[EstimateSpec, object, object]:
    formulations, solve = list(DEMAND), dict(SOLVE)
    products = cereal.product_data()
    if supply:
        formulations.append({'formula': '1 + mushy'})
        solve.update(beta=[-20.0], costs_bounds=[1e-3, None])
        products = products.assign(supply_instruments0=products['demand_instruments0'],
                                   supply_instruments1=products['demand_instruments1'])
    spec = EstimateSpec.model_validate({'problem': {'product_formulations': formulations,
                                                    'agent_formulation': {'formula': '0 + log_income'}},
                                        'solve': solve})
    return spec, products, cereal.agent_data(agents)


def solved(spec: EstimateSpec, products, agents):  # noqa: ANN001, ANN201
    return blp.Problem.from_spec(spec.problem, products, agents).solve(**vars_of(spec))


def vars_of(spec: EstimateSpec) -> dict:
    options = solve_options(spec.solve)
    return {name: getattr(options, name) for name in ('sigma', 'pi', 'beta', 'method', 'optimization',
                                                         'costs_bounds')}


@pytest.mark.parametrize('agents, supply', [(3000, False), (1000, True)], ids=['demand', 'supply'])
def test_the_estimate_bounds_the_measured_peak_of_building_and_solving(agents, supply):
    spec, products, agent_frame = spec_and_data(agents, supply)
    sizes, _ = sizes_of(spec, products, agent_frame)
    sizes = replace(sizes, data_cells=0)  # the frames were read before the measurement starts
    estimate = cost(sizes).memory_bytes - BASE_BYTES
    results = []
    peak = measured_peak(lambda: results.append(solved(spec, products, agent_frame)))
    assert np.isfinite(results[0].objective)
    assert peak <= estimate, f'measured {peak / 1e6:.0f} MB, estimated {estimate / 1e6:.0f} MB'
    # the promise is the chunks': the whole problem's demand and supply temporaries would not fit the estimate
    whole = cost(replace(sizes, chunk_bytes=None)).memory_bytes - BASE_BYTES
    assert whole > 2 * estimate


def test_post_estimation_over_every_market_is_counted_as_multi_start_runs_it():
    spec, products, agent_frame = spec_and_data(2000)
    results = solved(spec, products, agent_frame)
    sizes, _ = sizes_of(spec, products, agent_frame, starts=2)
    elasticity = []
    peak = measured_peak(lambda: elasticity.append(mean_own_elasticity(results)))
    assert elasticity[0] is not None and elasticity[0] < 0
    assert peak <= cost(sizes).blocks['post_estimation']
    solve_only = replace(sizes_of(spec, products, agent_frame)[0], data_cells=0)
    assert peak > cost(solve_only).memory_bytes - BASE_BYTES  # why it is counted
