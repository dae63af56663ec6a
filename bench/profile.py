"""Where blp's time goes on each workload of bench_all.py: set-up, utilities, contraction, dδ/dθ, supply, micro,
GMM algebra, serialization and the rest (optimizer, Python), single-threaded.

    python bench/profile.py                  # every workload of bench_all.py
    python bench/profile.py cereal_rc nevo   # some

Each section's time is exclusive CPU time of this thread (a section called inside another, as the contraction inside
the Hessian's gradient evaluations, counts for itself only), from wrappers around the functions below, so the
shares do not move with the machine's load as wall time does. `serialization` is results.to_document() and JSON.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
from typing import Any

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[variable] = '1'

from bench_all import WORKLOADS  # noqa: E402

SECTIONS = ['set-up', 'utilities', 'contraction', 'dδ/dθ', 'supply', 'micro', 'GMM algebra', 'statistics',
            'serialization', 'other']


class Sections:
    """Exclusive CPU time per section: a stack of open sections, each charged its time less its children's."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(SECTIONS, 0.0)
        self.stack: list[list[Any]] = []

    def wrap(self, owner: Any, name: str, section: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            frame = [section, time.thread_time(), 0.0]
            self.stack.append(frame)
            try:
                return original(*args, **kwargs)
            finally:
                self.stack.pop()
                elapsed = time.thread_time() - frame[1]
                self.seconds[section] += elapsed - frame[2]
                if self.stack:
                    self.stack[-1][2] += elapsed

        setattr(owner, name, timed)


def instrument(sections: Sections) -> None:
    from blp.estimation import estimator as estimation
    from blp.estimation import gmm, moments, problem
    from blp.estimation.dependents import SupplyDependent
    from blp.micro.block import MicroBlock
    from blp.model.contraction import RandomCoefficients
    from blp.model.nested_contraction import NestedRandomCoefficients
    targets: list[tuple[Any, str, str]] = [
        (problem.Problem, '__init__', 'set-up'), (estimation.Estimation, '__init__', 'set-up'),
        (RandomCoefficients, 'prepare', 'utilities'), (NestedRandomCoefficients, 'prepare', 'utilities'),
        (RandomCoefficients, 'solve_delta', 'contraction'), (NestedRandomCoefficients, 'solve_delta', 'contraction'),
        (RandomCoefficients, 'delta_jacobian', 'dδ/dθ'), (NestedRandomCoefficients, 'delta_jacobian', 'dδ/dθ'),
        (SupplyDependent, '__call__', 'supply'), (MicroBlock, 'evaluate', 'micro'),
        (estimation.Estimation, 'evaluate', 'GMM algebra'), (moments.MomentStack, 'evaluate', 'GMM algebra'),
        (moments.MomentStack, 'covariances', 'GMM algebra'), (gmm.LinearIV, 'estimate', 'GMM algebra'),
        (estimation.Estimation, '_statistics', 'statistics'), (estimation.Estimation, 'hessian', 'statistics'),
    ]
    for owner, name, section in targets:
        sections.wrap(owner, name, section)


def profile(name: str, sections: Sections) -> tuple[float, float]:
    """Run the workload's blp side once; returns wall and CPU seconds of the whole (serialization included)."""
    workload = WORKLOADS[name]
    made = workload.make()
    sections.seconds = dict.fromkeys(SECTIONS, 0.0)  # what `make` set up is not timed
    wall, cpu = time.perf_counter(), time.thread_time()
    results = workload.run_blp(made)
    started = time.thread_time()
    json.dumps(results.to_document())
    sections.seconds['serialization'] += time.thread_time() - started
    total = time.thread_time() - cpu
    sections.seconds['other'] += total - sum(sections.seconds.values())
    return time.perf_counter() - wall, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('workloads', nargs='*', help=f'default: all of {", ".join(WORKLOADS)}')
    arguments = parser.parse_args()
    sections = Sections()
    instrument(sections)
    import blp.estimation.estimator  # noqa: F401
    from blp.model.logit_kernel import warm
    warm()  # the kernel's compilation (or its load from numba's cache) is a per-process cost, like the imports
    print(f"{'workload':<13} {'wall s':>7} {'CPU s':>7} " + ' '.join(f'{section:>13}' for section in SECTIONS))
    for name in arguments.workloads or WORKLOADS:
        wall, cpu = profile(name, sections)
        shares = ' '.join(f'{sections.seconds[section]:>6.2f} {100 * sections.seconds[section] / cpu:>4.0f} %'
                          for section in SECTIONS)
        print(f'{name:<13} {wall:>7.2f} {cpu:>7.2f} {shares}', flush=True)


if __name__ == '__main__':
    main()
