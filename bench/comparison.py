"""How the benchmarks compare our results with PyBLP's: both libraries imported alike, their results at a stored PyBLP
estimate, the largest relative differences of estimates or arrays, best-of-N timing and the header line saying how it
was timed. Used by bench_all, bench_autos, bench_core, bench_merger and bench_optimal.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np

ESTIMATES = ('beta', 'gamma', 'sigma', 'pi', 'rho')
T = TypeVar('T')


def relative_difference(ours: Any, theirs: Any) -> float:
    """The largest |ours - theirs| / |theirs| over the elements PyBLP's (`theirs`) has not at zero; 0 if none."""
    ours, theirs = np.ravel(np.asarray(ours, dtype=float)), np.ravel(np.asarray(theirs, dtype=float))
    free = theirs != 0
    return float(np.max(np.abs(ours[free] - theirs[free]) / np.abs(theirs[free]), initial=0))


def _estimate(results: Any, key: str) -> np.ndarray:
    value = results.get(key) if isinstance(results, dict) else getattr(results, key, None)
    return np.asarray([] if value is None else value, dtype=float)


def largest_difference(ours: Any, theirs: Any) -> float:
    """The largest relative difference of the estimates (beta, gamma, sigma, pi, rho) that PyBLP reports, elements it
    has at zero skipped: of two results objects (PyBLP's and ours share the attribute names) or two summaries
    (tests/reference/workloads.py's `summarize`)."""
    return max((relative_difference(_estimate(ours, key), _estimate(theirs, key)) for key in ESTIMATES
                if _estimate(theirs, key).size), default=0.0)


def libraries() -> tuple[Any, Any]:
    """pyblp (not printing its progress) and blp, imported before anything is timed."""
    import pyblp

    import blp
    pyblp.options.verbose = False
    return pyblp, blp


def stored_estimate(fixture: Path) -> dict[str, np.ndarray]:
    """sigma, pi and rho of a stored PyBLP estimate (tests/reference/fixtures/<workload>.json); absent ones empty."""
    stored = json.loads(fixture.read_text())
    return {key: np.array(stored[key] if stored[key] is not None else [], dtype=float) for key in ('sigma', 'pi', 'rho')}


def results_at(module: Any, workload: dict, estimate: dict) -> Any:
    """The workload's results in `module` (blp or pyblp) at the stored estimate, without optimizing."""
    formulations = [module.Formulation(formula, absorb=absorb) for formula, absorb in workload['formulations']]
    agent_formulation = module.Formulation(workload['agent_formulation']) if 'agent_formulation' in workload else None
    problem = module.Problem(formulations, workload['products'], agent_formulation, workload.get('agents'))
    given = {key: estimate[key] for key in ('sigma', 'pi', 'rho') if estimate[key].size}
    return problem.solve(**given, method='1s', optimization=module.Optimization('return'),
                         iteration=module.Iteration('squarem', {'atol': 1e-14}))


def best_time(run: Callable[[], T], repeat: int) -> tuple[float, T]:
    """The fastest of `repeat` runs in wall seconds, and the last run's outcome."""
    best = np.inf
    for _ in range(repeat):
        started = time.perf_counter()
        outcome = run()
        best = min(best, time.perf_counter() - started)
    return best, outcome


def versions(repeat: int) -> str:
    """The header line of a comparison: both libraries' versions that matter, and how it was timed."""
    import pyblp
    return f'pyblp {pyblp.__version__}, numpy {np.__version__}, single thread, best of {repeat}'
