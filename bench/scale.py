"""A million products: simulate, estimate and check against the truth, with our core or PyBLP, peak RSS reported.

    python bench/scale.py [--T 10000] [--J 100] [--I 100] [--library blp|pyblp] [--budget-mb MB] [--threads N]

The simulated problem of `bench/simulation.py` with an income interaction on prices: T markets x J products
(default 10,000 x 100 = 1,000,000 rows), I Monte Carlo agents per market (100: 100 million agent-product pairs,
800 MB per float array), random coefficients on prices and x, pi on income x prices; one-step GMM from 1.1 times
the true sigma and pi. Prints the seconds to simulate, build and solve, the process's peak resident memory (VmHWM:
simulation included, so it bounds the estimate's), every estimate with its standard error and its distance from the
truth in standard errors. Run `--library pyblp --T 1000` for PyBLP on a tenth.
"""

from __future__ import annotations

import argparse
import os
import time

import _paths  # noqa: F401  (sys.path as the tests have it: bench/_paths.py)

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[variable] = '1'

from memory import status_kb  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--T', type=int, default=10_000)
    parser.add_argument('--J', type=int, default=100)
    parser.add_argument('--I', type=int, default=100)
    parser.add_argument('--library', choices=['blp', 'pyblp'], default='blp')
    parser.add_argument('--budget-mb', type=float, default=None, help='our chunk budget (default: the shipped one)')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--one-evaluation', action='store_true',
                        help='ours only: build and one objective-and-gradient evaluation at the start (time, peak RSS)')
    arguments = parser.parse_args()
    import numpy as np
    from simulation import BETA, PI, SIGMA, workload
    from workloads import run_blp, run_pyblp

    started = time.perf_counter()
    problem = workload(arguments.T, arguments.J, arguments.I, demographic=True, method='1s', near_truth=True)
    simulated = time.perf_counter() - started
    if arguments.library == 'blp':
        problem['solve'].update(memory_budget_mb=arguments.budget_mb, threads=arguments.threads)
    if arguments.one_evaluation:
        one_evaluation(problem, arguments, simulated)
        return
    run = run_blp if arguments.library == 'blp' else run_pyblp
    started = time.perf_counter()
    results = run(problem)
    solved = time.perf_counter() - started
    print(f'{arguments.library}: T = {arguments.T:,} x J = {arguments.J} = N = {arguments.T * arguments.J:,} products, '
          f'I = {arguments.I} agents per market, threads {arguments.threads}, budget {arguments.budget_mb} MB')
    print(f'simulate {simulated:.1f} s, build + solve {solved:.1f} s, peak RSS (VmHWM) {status_kb("VmHWM") / 1024:,.0f} MB,'
          f' converged {getattr(results, "converged", "?")}, objective {float(np.squeeze(results.objective)):.6g}')
    truth = {'beta': BETA, 'sigma': np.diag(SIGMA), 'pi': PI[:1, 0]}
    estimates = {'beta': np.ravel(results.beta), 'sigma': np.diag(results.sigma), 'pi': np.ravel(results.pi)[:1]}
    errors = {'beta': np.ravel(results.beta_se), 'sigma': np.diag(results.sigma_se), 'pi': np.ravel(results.pi_se)[:1]}
    worst = 0.0
    for name in truth:
        for k, (true, estimate, se) in enumerate(zip(truth[name], estimates[name], errors[name])):
            distance = abs(estimate - true) / se
            worst = max(worst, distance)
            print(f'  {name}[{k}]  truth {true:+.4f}  estimate {estimate:+.4f}  se {se:.4f}  |distance| {distance:.2f} se')
    print(f'largest distance from the truth: {worst:.2f} standard errors ({"within" if worst <= 3 else "NOT within"} 3)')


def one_evaluation(problem: dict, arguments: argparse.Namespace, simulated: float) -> None:
    """Build our problem and evaluate the objective with its gradient once at the start: what one optimizer step
    costs at this size, and the peak memory of everything but the optimizer's few extra vectors."""
    import blp
    from blp.configurations.solve_options import SolveOptions
    from blp.estimation.estimator import Estimation

    started = time.perf_counter()
    built = blp.Problem([blp.Formulation(formula, absorb) for formula, absorb in problem['formulations']],
                        problem['products'], blp.Formulation(problem['agent_formulation']), problem['agents'])
    solve = {key: value for key, value in problem['solve'].items() if key != 'optimization'}
    estimation = Estimation(built, SolveOptions(**solve))
    prepared = time.perf_counter() - started
    started = time.perf_counter()
    evaluation = estimation.evaluate(estimation.parameters.theta, estimation.moments.iv(estimation.W))
    chunks = 1 if estimation.chunked is None else len(estimation.chunked.chunks)
    print(f'blp: T = {arguments.T:,} x J = {arguments.J} = N = {arguments.T * arguments.J:,} products, I = {arguments.I}'
          f' agents per market, {chunks} chunks, threads {arguments.threads}: simulate {simulated:.1f} s, build '
          f'{prepared:.1f} s, one objective+gradient evaluation {time.perf_counter() - started:.1f} s '
          f'({estimation.contractions.contraction_evaluations:,} contraction evaluations), objective {evaluation.objective:.6g}, '
          f'peak RSS (VmHWM) {status_kb("VmHWM") / 1024:,.0f} MB')


if __name__ == '__main__':
    main()
