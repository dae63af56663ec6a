"""`blp.parallel(processes)`: solves in the block spread their market chunks over that many threads and estimate what
they estimate outside it; the block ends by restoring the count (also when it raises), and PyBLP's refusals hold."""

import threading

import numpy as np
import pyblp
import pytest

import blp
from blp.configurations.parallel import workers
from blp.exceptions import SpecificationError
from blp.model import chunks


def rc_problem(products, agents):
    formulations = (blp.Formulation('0 + prices', absorb='C(market_ids) + C(product_ids)'),
                    blp.Formulation('0 + mushy + prices'))
    return blp.Problem(formulations, products, blp.Formulation('0 + log_income'), agents)


def test_solves_in_the_block_use_that_many_threads_and_estimate_the_same(products, agents, monkeypatch):
    problem = rc_problem(products, agents)
    arguments = dict(sigma=[[0, 0], [0, 2.0]], pi=[[0.3], [-1.0]], method='1s',
                     iteration=blp.Iteration('squarem', {'atol': 1e-14}))
    alone = problem.solve(**arguments)
    seen: set[str] = set()
    run = chunks.ChunkedDemand.solve

    def spying(self, *args, **kwargs):  # which threads evaluate the chunks' contractions
        kernel_solve = type(self.chunks[0].kernel).solve_delta

        def solve_delta(kernel, *a, **k):
            seen.add(threading.current_thread().name)
            return kernel_solve(kernel, *a, **k)
        monkeypatch.setattr(type(self.chunks[0].kernel), 'solve_delta', solve_delta)
        return run(self, *args, **kwargs)

    monkeypatch.setattr(chunks.ChunkedDemand, 'solve', spying)
    with blp.parallel(2):
        assert workers() == 2
        spread = problem.solve(**arguments)
    assert workers() == 1
    assert spread.options.threads == 2 and alone.options.threads == 1
    # pools of two threads (`ThreadPoolExecutor-<pool>_<thread>`, a pool per evaluation), never the main thread
    assert seen and {name.rpartition('_')[2] for name in seen} == {'0', '1'}, seen
    assert threading.main_thread().name not in seen
    for name in ('sigma', 'pi', 'beta', 'sigma_se', 'pi_se', 'beta_se'):
        np.testing.assert_allclose(getattr(spread, name), getattr(alone, name), rtol=1e-12, atol=1e-14, err_msg=name)
    assert spread.objective == pytest.approx(alone.objective, rel=1e-12)


def test_an_explicit_thread_count_wins_and_blocks_nest_and_unwind():
    with blp.parallel(3):
        with blp.parallel(2):
            assert workers() == 2
        assert workers() == 3
        with pytest.raises(RuntimeError), blp.parallel(4):
            raise RuntimeError
        assert workers() == 3
    assert workers() == 1


@pytest.mark.parametrize('processes', [0, -1, 2.0])
def test_what_pyblp_refuses_is_refused(processes):
    with pytest.raises((ValueError, TypeError)), pyblp.parallel(processes):
        pass
    with pytest.raises(SpecificationError) as error, blp.parallel(processes):
        pass
    assert error.value.parameter == 'processes'


def test_one_process_is_no_parallel_processing_as_in_pyblp():
    with pyblp.parallel(1), blp.parallel(1):
        assert workers() == 1
