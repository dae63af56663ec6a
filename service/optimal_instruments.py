"""Queueing a re-estimate with optimal instruments from a finished estimate (`POST /v1/jobs/{id}/optimal-instruments`).

The new job (kind `optimal_instruments`) keeps the parent's data and spec with `optimal_instruments` set to the
request, and starts from the parent's stored estimate: the worker restores it instead of solving it again.
"""

from __future__ import annotations

from typing import Optional

from celery import Celery

from blp.spec import OptimalInstrumentsSpec, drop_indices_problem
from jobstore.problems import ProblemDetails
from jobstore.records import JobRecord
from jobstore.settings import Settings
from jobstore.store import Store
from service.jobs import _new_record, _queue, start_child


def submit_optimal_instruments(store: Store, celery: Celery, settings: Settings, parent: JobRecord,
                               body: OptimalInstrumentsSpec, owner: str,
                               idempotency_key: Optional[str]) -> tuple[JobRecord, bool]:
    """Check that the parent is a succeeded, converged estimate and queue the re-estimate; (record, created)."""
    idempotency, existing = start_child(store, settings, parent, owner, idempotency_key,
                                        {'optimal_instruments': body.model_dump(mode='json')}, 'optimal instruments')
    if existing is not None:
        return existing, False
    result = store.get_result(parent['id'])
    if result is None:
        raise ProblemDetails(409, 'result-missing', 'Result missing', 'the estimate succeeded but its result is gone')
    if not result['results'].get('converged'):
        raise ProblemDetails(422, 'estimate-not-converged', 'Estimate not converged',
                             'optimal instruments need a converged estimate; this one stopped with: '
                             f"{result['results'].get('optimization_message')}", parameter='optimal_instruments',
                             converged=False)
    _check_options(parent, result, body)
    inputs = parent['inputs'].copy()
    spec = {**parent['spec'], 'optimal_instruments': body.model_dump(mode='json')}
    record = _new_record('optimal_instruments', owner, inputs, spec, parent=parent['id'],
                         request=body.model_dump(mode='json'))
    return _queue(store, celery, settings, record, idempotency)


def _check_options(parent: JobRecord, result: dict, body: OptimalInstrumentsSpec) -> None:
    """Options that do not fit the parent's estimate: shifters without a supply side, drop_indices outside theta."""
    formulations = parent['spec']['problem']['product_formulations']
    supply = len(formulations) > 2 and formulations[2] is not None
    for name in ('supply_shifter_formulation', 'demand_shifter_formulation'):
        if getattr(body, name) is not None and not supply:
            raise ProblemDetails(422, 'invalid-optimal-instruments', 'Invalid optimal instruments',
                                 f'{name} needs a supply side: the estimate has no X3 formulation', parameter=name)
    wrong = drop_indices_problem(body.drop_indices, len(result['results'].get('restore', {}).get('free', [])))
    if wrong:
        raise ProblemDetails(422, 'invalid-optimal-instruments', 'Invalid optimal instruments', wrong,
                             parameter='drop_indices')
