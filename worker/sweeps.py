"""Robustness sweeps on the queue: one estimate per variant of a spec (`service/sweep_submission.py` resolved them),
fanned out over every worker, each optionally followed by the same counterfactual, and a comparison table once
every variant is in.

Tasks (acks_late like every task here: a variant whose process dies is redelivered and estimated again):
  blp.sweep(job_id)                     the parent: records the variants refused at submission, publishes the others
                                        (the largest first)
  blp.sweep.variant(job_id, index)      estimates one variant (as an `estimate` job would) and records its row
  blp.sweep.finalize(job_id)            once every variant is in: the comparison table, the result

A variant is estimated by the same calls as an estimate job (`worker.cache.problem`, `worker.optimal.solve`), so its
estimates are those of the same spec submitted alone, bit for bit. Whatever happens to a variant (an error of the
core, a time limit, its worker lost too often) is recorded in its row, never the sweep failed; the sweep fails only
when no variant succeeded. Rows are written once by the fan-out ledger (`jobstore.fanout`, this job's `:sweep` keys),
which counts them and updates the progress (`variants_done`, `variants_total`, `variants_failed`), so exactly one
writer learns that the last variant is in and publishes finalize; finalize is idempotent.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Optional

import blp
from blp.post.postestimation import mean_own_elasticity
from blp.spec import EstimateSpec
from jobstore import tasks as names
from jobstore.fanout import FanOut
from jobstore.problems import ProblemDetails, core_problem_details
from jobstore.records import JobRecord
from jobstore.store import Store
from worker import cache, memory, optimal
from worker.members import Members, register
from worker.multistart import _stop_when_cancelled
from worker.tasks import _counterfactual_table, _finish, _frames, _seconds, _versions, succeed

log = logging.getLogger(__name__)
# The diagnostics of an estimate a variant's row keeps (besides its parameters with SEs).
DIAGNOSTICS = ('objective', 'gradient_norm', 'converged', 'optimization_message', 'optimization_iterations',
               'objective_evaluations', 'contraction_iterations', 'inner_loop_failures', 'step', 'method')


def ledger_of(store: Store, job_id: str) -> FanOut:
    """A sweep's rows: one per variant, under the job's `:sweep` keys."""
    return VARIANTS.ledger(store, job_id)


# ------------------------------------------------------------------------------------------ the parent: fan out

def _largest_first(record: JobRecord) -> list[int]:
    """The largest variants first (agent-product cells per evaluation, costed at submission), so the workers end
    together."""
    variants = record['request']['variants']
    return [variant['index'] for variant in sorted(variants, key=lambda variant: -(variant.get('work') or 0))]


def _refused(record: JobRecord, index: int) -> Optional[dict[str, Any]]:
    """The row of a variant refused at submission (`on_invalid: report`): recorded failed, never published."""
    variant = record['request']['variants'][index]
    if variant['spec'] is not None:
        return None
    return {'status': 'failed', 'error': variant['error'], 'seconds': 0.0, 'attempts': 0, 'worker': ''}


# ------------------------------------------------------------------------------------------ one variant

def _mean(values: list[Any]) -> Optional[float]:
    known = [value for value in values if isinstance(value, (int, float)) and math.isfinite(value)]
    return sum(known) / len(known) if known else None


def _sum(values: list[Any]) -> Optional[float]:
    known = [value for value in values if isinstance(value, (int, float)) and math.isfinite(value)]
    return sum(known) if known else None


def headline(table: dict[str, Any]) -> dict[str, Any]:
    """A counterfactual's headline numbers (`worker.tasks._counterfactual_table`): mean price and share changes over
    the products shown, consumer surplus and profit changes summed over its markets, the mean HHI change, and whether
    every market's equilibrium converged (None when prices were taken as given)."""
    products, markets = table['products'], table['markets']
    converged = [market['converged'] for market in markets if market['converged'] is not None]
    return {'mode': table['kind'], 'markets': len(markets), 'products': len(products),
            'mean_price_change_percent': _mean([row['price_change_percent'] for row in products]),
            'mean_share_change_percent': _mean([row['share_change_percent'] for row in products]),
            'consumer_surplus_change': _sum([market['consumer_surplus_change'] for market in markets]),
            'profit_change': _sum([market['profit_change'] for market in markets]),
            'mean_hhi_change': _mean([market['hhi_change'] for market in markets]),
            'converged': all(converged) if converged else None}


def _estimate(store: Store, record: JobRecord, index: int) -> dict[str, Any]:
    """The variant's estimate as an estimate job makes it, its summary, and its counterfactual's headline."""
    request = record['request']
    spec = EstimateSpec.model_validate(request['variants'][index]['spec'])
    timings: dict[str, float] = {}
    problem = cache.problem(store, record['inputs'], spec, timings)  # read_seconds, build_seconds (0 when cached)
    clock = time.perf_counter()
    with memory.doing('solving'):
        results, _ = optimal.solve(problem, spec, _stop_when_cancelled(store, record['id']))
    timings['solve_seconds'] = time.perf_counter() - clock
    stored = results.to_document()
    eigenvalues = [value for value in stored['hessian_eigenvalues'] or [] if value is not None]
    row: dict[str, Any] = {
        'status': 'succeeded', 'parameters': stored['parameters'],
        **{key: stored[key] for key in DIAGNOSTICS},
        'smallest_hessian_eigenvalue': min(eigenvalues) if eigenvalues else None,
        'mean_own_price_elasticity': mean_own_elasticity(results), 'warnings': stored['warnings'],
    }
    if request.get('counterfactual') is not None:
        clock = time.perf_counter()
        try:
            product, agent = _frames(store, record['inputs'])
            memory.check_budget(spec, product, agent, post_estimation=True)
            with memory.doing('computing the counterfactual'):
                row['counterfactual'] = headline(_counterfactual_table(results, product, request['counterfactual']))
        except blp.BLPError as error:  # the estimate stands: its counterfactual failed, said in the row
            row['counterfactual'] = {'error': core_problem_details(error).to_dict()}
        timings['counterfactual_seconds'] = time.perf_counter() - clock
    row['timings'] = timings
    return row


def _identify(record: JobRecord, index: int) -> dict[str, Any]:
    variant = record['request']['variants'][index]
    return {'index': index, 'label': variant['label'], 'override': variant['override']}


VARIANTS = Members('sweep', 'variants', 'variant', names.SWEEP_VARIANT, names.SWEEP_FINALIZE,
                   lambda record: len(record['request']['variants']),
                   lambda store, record, index: _estimate(store, record, index), _identify, _largest_first, _refused)


def run_variant(store: Store, job_id: str, index: int, hostname: str = '') -> str:
    """Estimate one variant and record its row; a variant that fails is recorded failed, never the sweep."""
    return VARIANTS.run(store, job_id, [index], hostname)


# ------------------------------------------------------------------------------------------ finalize

def parameter_label(entry: dict[str, Any]) -> str:
    """`sigma[prices, prices]`, `pi[mushy, log_income]`, `beta[prices]`: an entry of a parameter table."""
    column = f", {entry['column']}" if entry.get('column') is not None else ''
    return f"{entry['kind']}[{entry['row']}{column}]"


def comparison(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The comparison table: one flat row per variant (its estimates and SEs by parameter, objective, convergence,
    mean own-price elasticity, the counterfactual's headline numbers, seconds, error), and the columns in order."""
    labels: list[str] = []
    for row in rows:
        for entry in row.get('parameters') or []:
            label = parameter_label(entry)
            if not entry['fixed'] and label not in labels:
                labels.append(label)
    table = []
    for row in rows:
        values = {parameter_label(entry): entry for entry in row.get('parameters') or []}
        flat: dict[str, Any] = {'variant': row['index'], 'label': row['label'], 'status': row['status']}
        for key in ('converged', 'objective', 'gradient_norm', 'smallest_hessian_eigenvalue', 'optimization_iterations',
                    'objective_evaluations', 'contraction_iterations', 'mean_own_price_elasticity'):
            flat[key] = row.get(key)
        for label in labels:
            flat[label] = values[label]['value'] if label in values else None
            flat[f'se {label}'] = values[label]['se'] if label in values else None
        for key, value in (row.get('counterfactual') or {}).items():
            if key != 'error':
                flat[f'counterfactual {key}'] = value
        flat['seconds'] = row.get('seconds')
        error = row.get('error') or (row.get('counterfactual') or {}).get('error')
        flat['error'] = None if error is None else error.get('detail') or error.get('title')
        table.append(flat)
    columns: list[str] = []
    for flat in table:
        columns.extend(key for key in flat if key not in columns)
    columns.remove('seconds')
    columns.remove('error')
    return {'columns': [*columns, 'seconds', 'error'], 'parameters': labels, 'rows': table}


def finalize(store: Store, job_id: str) -> str:
    state, record, rows = VARIANTS.complete(store, job_id)
    if record is None:
        return state
    total = len(rows)
    if not any(row['status'] == 'succeeded' for row in rows):
        _finish(store, job_id, 'failed', ProblemDetails(
            422, 'sweep-failed', 'Sweep failed', 'no variant succeeded',
            variants=[{'variant': row['index'], 'label': row['label'], 'error': row.get('error')} for row in rows]
        ).to_dict())
        return 'failed'
    request = record['request']
    result = {
        'job_id': job_id, 'kind': 'sweep', 'variants_total': total,
        'variants_succeeded': sum(row['status'] == 'succeeded' for row in rows),
        'counterfactual': request.get('counterfactual'),
        'comparison': comparison(rows),
        'variants': rows,
        'provenance': {
            'product_data': record['inputs'].get('product_data'), 'agent_data': record['inputs'].get('agent_data'),
            'base_spec': record['spec'], 'on_invalid': request.get('on_invalid'), 'versions': _versions(),
            'timings': {'queued_seconds': _seconds(record['created_at'], record['started_at']),
                        'variants_seconds': sum(row.get('seconds') or 0.0 for row in rows)},
            'started_at': record['started_at'],
        },
    }
    return succeed(store, job_id, result)


# ------------------------------------------------------------------------------------------ the tasks

register(VARIANTS, names.SWEEP, finalize)
