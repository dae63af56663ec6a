"""How well the published order of a multi-start's starts (longest expected first) balances two processes.

    python bench/multistart_order.py [--seeds 0 1 2 3 4 5 6 7] [--starts 8] [--processes 2]

For each seed, draws the bench's 8 starts of the cereal sigma-on-prices model (`bench_multistart.py`'s spec and
box), solves them one after another in this process and times each in CPU seconds of this thread (so outside load
counts little), then replays the durations on `--processes` processes that each take the next start when free, as
Celery with prefetch 1 hands them out: the busy-seconds speed-up (all seconds / the busiest process's) of the drawn
order, the published order (`blp.estimation.multistart.expected_order`) and longest first with the durations known. It also
prints the rank correlation between the expected length (the published position) and the seconds taken, over all
starts. A start that fails at its values counts with the seconds it took to fail.
"""

from __future__ import annotations

import argparse
import os
import time

import _paths  # noqa: F401  (sys.path as the tests have it: bench/_paths.py)

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[variable] = '1'

import numpy as np  # noqa: E402
from bench_multistart import BOUNDS, replay  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

import blp  # noqa: E402
from blp.estimation.multistart import draw_starts, expected_order, solve_start  # noqa: E402
from blp.model import logit_kernel  # noqa: E402
from blp.spec import EstimateSpec, solve_options  # noqa: E402
from examples import cereal  # noqa: E402
from examples.client import SPEC  # noqa: E402

COLUMNS = (('drawn', 6), ('published', 9), ('known', 6))  # the orders compared, and their columns' widths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=list(range(8)))
    parser.add_argument('--starts', type=int, default=8)
    parser.add_argument('--processes', type=int, default=2)
    arguments = parser.parse_args()
    logit_kernel.warm()
    spec = EstimateSpec.model_validate(SPEC)
    problem = blp.Problem.from_spec(spec.problem, cereal.product_data(), cereal.agent_data())
    options = solve_options(spec.solve)
    print(f'{arguments.starts} starts per seed, {arguments.processes} processes, load average {os.getloadavg()[0]:.2f}')
    print(f"{'seed':>4} " + ' '.join(f'{name:>{width}}' for name, width in COLUMNS) + '  seconds in the published order')
    positions, seconds = [], []
    speedups: dict[str, list[float]] = {name: [] for name, _ in COLUMNS}
    for seed in arguments.seeds:
        starts = draw_starts(problem, options, arguments.starts, seed, 'sobol', BOUNDS)
        order = expected_order(options, arguments.starts, seed, 'sobol', BOUNDS)
        durations = []
        for start in starts:
            clock = time.thread_time()
            try:
                solve_start(problem, options, start)
            except blp.BLPError:
                pass
            durations.append(time.thread_time() - clock)
        orders = {'drawn': list(range(len(starts))), 'published': order,
                  'known': sorted(range(len(starts)), key=lambda index: -durations[index])}
        for name, sequence in orders.items():
            speedups[name].append(replay(durations, sequence, arguments.processes))
        positions.extend(order.index(index) for index in range(len(starts)))
        seconds.extend(durations)
        print(f'{seed:>4} ' + ' '.join(f'{speedups[name][-1]:>{width}.2f}' for name, width in COLUMNS)
              + '  ' + ' '.join(f'{durations[index]:.2f}' for index in order))
    print('mean ' + ' '.join(f'{np.mean(speedups[name]):>{width}.2f}' for name, width in COLUMNS))
    correlation = spearmanr(-np.array(positions), seconds).statistic
    print(f'rank correlation of expected length (earlier published = longer expected) with seconds: {correlation:.2f} '
          f'over {len(seconds)} starts')


if __name__ == '__main__':
    main()
