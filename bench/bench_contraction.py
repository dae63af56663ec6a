"""The contraction against the memory-bandwidth floor on the same arrays, single-threaded.

    python bench/bench_contraction.py [workload ...] [--repeat N]     # default: cereal_rc nevo simulated

For a workload of bench_all.py at a fixed theta (PyBLP's stored estimate, or the simulation's truth), solves delta
from the logit start at atol 1e-14 with SQUAREM, and counts the useful work: each market evaluation reads its
J_t x I block of exp(mu - r) twice (denominators, then shares), 2 x 8 x J_t x I bytes. The floor is the time two
streaming passes over the same T x J x I float64 array take on this machine (a matrix-vector product each way,
BLAS, the fastest way numpy reads an array once), scaled to the same bytes. Prints the achieved bytes/s, the
floor's, and the share of the floor reached (floor time / our time). Both are best of N in CPU time of this thread,
measured alternately, so other processes on a shared machine count as little as possible; the load is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Callable

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[variable] = '1'

import numpy as np  # noqa: E402
from bench_all import WORKLOADS  # noqa: E402
from simulated_workload import SIGMA  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'reference', 'fixtures')
ESTIMATES = {'cereal_rc': 'cereal_sigma_prices', 'nevo': 'nevo'}


def best(function: Callable[[], object]) -> float:
    started = time.thread_time()
    function()
    return time.thread_time() - started


def setting(name: str) -> tuple[object, object, object]:
    """The demand model, the utilities at theta and the logit start of a workload."""
    import blp
    from blp.estimation.parameters import NonlinearValues
    workload = WORKLOADS[name].make()
    formulations = [blp.Formulation(formula, absorb) for formula, absorb in workload['formulations']]
    agent_formulation = blp.Formulation(workload['agent_formulation']) if 'agent_formulation' in workload else None
    problem = blp.Problem(formulations, workload['products'], agent_formulation, workload['agents'])
    if name in ESTIMATES:
        with open(os.path.join(FIXTURES, f'{ESTIMATES[name]}.json')) as file:
            stored = json.load(file)
        sigma, pi = np.array(stored['sigma'], dtype=float), np.array(stored['pi'] or np.zeros((len(stored['sigma']), 0)),
                                                                       dtype=float)
    else:
        sigma, pi = SIGMA, np.zeros((SIGMA.shape[0], 0))
    model = problem.model.with_nodes_for(sigma)
    utilities = model.random.prepare(NonlinearValues(sigma, pi, np.zeros((0, 1))))
    return model, utilities, model.layout.pad(model.logit_delta)


def measure(name: str, repeat: int) -> None:
    from blp.configurations.solve_options import Iteration
    model, utilities, start = setting(name)
    iteration = Iteration('squarem', {'atol': 1e-14})
    one_evaluation = Iteration('simple', {'atol': 1e-14, 'max_evaluations': 1})  # the 'step' column
    T, J, I = utilities.scaled.shape
    array = np.ascontiguousarray(utilities.scaled)
    rows, agents, products, across = array.reshape(T * J, I), np.ones(I), np.ones(T * J), np.empty(I)
    along = np.empty(T * J)
    solved = model.random.solve_delta(utilities, model.log_shares_padded, start, iteration)
    assert solved.converged.all(), f'{name}: the contraction did not converge'
    useful = float((solved.evaluations * model.layout.counts).sum()) * I * 8 * 2
    load = os.getloadavg()[0]
    ours = floor = step = np.inf
    for _ in range(repeat):
        ours = min(ours, best(lambda: model.random.solve_delta(utilities, model.log_shares_padded, start, iteration)))
        floor = min(floor, best(lambda: (np.dot(rows, agents, out=along), np.dot(products, rows, out=across))))
        step = min(step, best(lambda: model.random.solve_delta(utilities, model.log_shares_padded, solved.delta,
                                                                 one_evaluation)))
    bandwidth = 2 * array.nbytes / floor
    floor_time = useful / bandwidth
    print(f'{name:<10} {array.nbytes / 1e6:>7.1f} {solved.evaluations.sum():>8d} {ours * 1e3:>9.1f} '
          f'{useful / ours / 1e9:>8.1f} {bandwidth / 1e9:>8.1f} {floor_time * 1e3:>9.1f} {100 * floor_time / ours:>6.0f} % '
          f'{step * 1e3:>8.2f} {floor * 1e3:>8.2f} {load:>5.1f}', flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('workloads', nargs='*', default=['cereal_rc', 'nevo', 'simulated'])
    parser.add_argument('--repeat', type=int, default=20, help='alternating runs; the best CPU time counts')
    arguments = parser.parse_args()
    print(f'numpy {np.__version__}, single thread, best of {arguments.repeat} (CPU time), '
          f'{time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}')
    print(f"{'workload':<10} {'MB':>7} {'mkt-evs':>8} {'solve ms':>9} {'GB/s':>8} {'floor':>8} {'floor ms':>9} "
          f"{'reached':>8} {'step ms':>8} {'2 pass':>8} {'load':>5}")
    for name in arguments.workloads:
        measure(name, arguments.repeat)


if __name__ == '__main__':
    main()
