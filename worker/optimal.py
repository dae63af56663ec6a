"""Estimates with optimal instruments in the worker: the solve of an `estimate` job (and of an
`optimal_instruments` job, which starts from its parent's stored estimate instead of solving again), and restoring
such an estimate for counterfactuals.

A re-estimate's result carries an `optimal_instruments` report whose `initial` is the first estimate's stored
result (itself possibly re-estimated): restoring re-creates the instruments from it (approximate instruments, or
draws with the stored seed, are deterministic) and restores the re-estimate on the re-created problem.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import blp
from blp.post.optimal import OPTIONS, re_estimate, restore_stored
from blp.spec import EstimateSpec
from worker.threads import capped_options


def restore(spec: EstimateSpec, product: Any, agent: Any, stored: dict[str, Any]) -> Any:
    """The results of a stored estimate (`{'results': ..., 'optimal_instruments': ...}`), re-estimated or not."""
    problem = blp.Problem.from_spec(spec.problem, product, agent)
    return restore_stored(problem, stored, spec.solve.micro_moments or ())


def solve(problem: Any, spec: EstimateSpec, progress: Callable[[dict], None],
          parent: Optional[dict[str, Any]] = None) -> tuple[Any, Optional[dict[str, Any]]]:
    """(results, optimal-instruments report or None): the spec's estimate — or the parent's stored one — and,
    when `spec.optimal_instruments` is set, the re-estimate with optimal instruments."""
    options = capped_options(spec.solve)
    initial: Optional[dict[str, Any]] = None
    if parent is not None:
        initial = {key: parent[key] for key in ('results', 'optimal_instruments') if key in parent}
        first = restore_stored(problem, initial, spec.solve.micro_moments or ())
    else:
        first = problem.estimate(options, progress=progress)
    wanted = spec.optimal_instruments
    if wanted is None:
        return first, None
    if initial is None:  # serialized only when a report carries it: the job's result serializes `first` itself
        initial = {'results': first.to_document()}
    choices = wanted.model_dump(mode='json')
    instruments, updated = re_estimate(first, options, choices, progress)
    report = {**instruments.to_document(), **{name: choices[name] for name in OPTIONS}, 'instruments':
              updated.problem.ZD_labels, 'initial': initial}
    return updated, report
