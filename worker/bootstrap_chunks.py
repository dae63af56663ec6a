"""Bootstrap jobs on the queue: a finished estimate's parametric bootstrap (`blp.post.bootstrap`) fanned out over every
worker in chunks of draws, each chunk recorded under its own key, and the job finished once every chunk is in.

Tasks (acks_late like every task here: a chunk whose process dies is redelivered and computed again):
  blp.post.bootstrap(job_id)                    the parent: publishes one task per chunk
  blp.post.bootstrap.chunk(job_id, index)       computes draws [index * chunk_size, ...) and records the chunk's row
  blp.post.bootstrap.finalize(job_id)           once every chunk is in: intervals over all draws, the result

Every chunk draws all parameters from the same seed and keeps its own slice, so a chunk computed twice (or on
another worker) gives the same rows. Chunks are published, run and recorded as every fanned-out member is
(`worker.members`, with a sweep's variants and a merger screen's candidates); rows
are written once by the job store's fan-out ledger (`jobstore.fanout`, under this job's `:bootstrap` keys), which
also counts them and updates the progress, so exactly one writer learns that the last chunk is in and publishes
finalize; finalize is idempotent and the job leaves `running` once. Chunk tasks hold leases like every task, so a
chunk whose worker host died is requeued.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from blp.estimation.parameters import Parameters
from blp.post.bootstrap import draw_summaries, percentile_intervals
from blp.spec import EstimateSpec
from jobstore import tasks as names
from jobstore.fanout import FanOut
from jobstore.problems import ProblemDetails
from jobstore.records import JobRecord
from jobstore.store import Store
from worker import optimal
from worker.members import Members, register
from worker.tasks import _finish, _frames, _parent_result, _seconds, _versions, succeed
from worker.threads import capped_options


def ledger_of(store: Store, job_id: str) -> FanOut:
    """A bootstrap's rows: one per chunk, under the job's `:bootstrap` keys (progress: chunks done and failed)."""
    return CHUNKS.ledger(store, job_id)


def chunk_count(request: dict[str, Any]) -> int:
    return -(-request['draws'] // request['chunk_size'])


def _merger(product: Any, request: dict[str, Any]) -> Optional[np.ndarray]:
    if not request.get('merger'):
        return None
    return product['firm_ids'].astype(str).replace(request['merger']).to_numpy()


# ------------------------------------------------------------------------------------------ one chunk

def _compute(store: Store, record: JobRecord, index: int) -> dict[str, Any]:
    request = record['request']
    spec = EstimateSpec.model_validate(record['spec'])
    product, agent = _frames(store, record['inputs'])
    results = optimal.restore(spec, product, agent, _parent_result(store, record))
    # a restored estimate has no bounds: draws are clipped to those the estimate was solved within
    bounds = Parameters.of(results.problem, capped_options(spec.solve)).bounds
    first = index * request['chunk_size']
    indices = range(first, min(request['draws'], first + request['chunk_size']))
    return {'status': 'succeeded', 'draws': draw_summaries(results, request['draws'], request['seed'], indices,
                                                          _merger(product, request), bounds)}


def _identify(record: JobRecord, index: int) -> dict[str, Any]:
    return {'index': index, 'draws': []}


CHUNKS = Members('bootstrap', 'chunks', 'chunk', names.BOOTSTRAP_CHUNK, names.BOOTSTRAP_FINALIZE,
                 lambda record: chunk_count(record['request']), lambda store, record, index: _compute(store, record, index),
                 _identify)


def run_chunk(store: Store, job_id: str, index: int, hostname: str = '') -> str:
    """Compute one chunk and record its row; a chunk that fails is recorded failed, never the parent."""
    return CHUNKS.run(store, job_id, [index], hostname)


# ------------------------------------------------------------------------------------------ finalize

def _interval(values: list[Any], level: float) -> dict[str, Any]:
    """Percentile interval per element over the draws where it is known (None: not computed or not converged)."""
    array = np.array(values, dtype=float)  # None becomes NaN
    if not array.size:
        return {'lower': None, 'upper': None, 'draws': 0}
    lower, upper = percentile_intervals(array, level)
    return {'lower': lower.tolist(), 'upper': upper.tolist(), 'draws': np.isfinite(array).sum(axis=0).tolist()}


def summarize(rows: list[dict[str, Any]], request: dict[str, Any], level: float) -> dict[str, Any]:
    """Intervals over the draws of every chunk that succeeded: theta, beta (gamma with a supply side), the mean
    own-price elasticity and (with a merger) each product's price change."""
    draws = sorted((draw for row in rows if row['status'] == 'succeeded' for draw in row['draws']),
                   key=lambda draw: draw['draw'])
    names = ('theta', 'beta', 'gamma', 'mean_own_price_elasticity') if draws and 'gamma' in draws[0] else \
        ('theta', 'beta', 'mean_own_price_elasticity')
    intervals = {name: _interval([draw[name] for draw in draws], level) for name in names}
    if request.get('merger'):
        intervals['merger_price_changes'] = _interval([draw['merger_price_changes'] for draw in draws], level)
    return {'draws': len(draws), 'intervals': intervals, 'mean_own_price_elasticity': [
        draw['mean_own_price_elasticity'] for draw in draws]}


def finalize(store: Store, job_id: str) -> str:
    state, record, rows = CHUNKS.complete(store, job_id)
    if record is None:
        return state
    request = record['request']
    if not any(row['status'] == 'succeeded' for row in rows):
        _finish(store, job_id, 'failed', ProblemDetails(422, 'bootstrap-failed', 'Bootstrap failed', 'no chunk succeeded',
                                                        chunks=[row.get('error') for row in rows]).to_dict())
        return 'failed'
    parent = _parent_result(store, record)
    table = parent['results']['parameters']
    summary = summarize(rows, request, request['level'])
    product, _ = _frames(store, {'product_data': record['inputs']['product_data'], 'agent_data': None})
    result = {
        'job_id': job_id, 'kind': 'bootstrap', 'draws': request['draws'], 'seed': request['seed'],
        'level': request['level'], 'draws_used': summary['draws'],
        'theta_labels': [f"{p['kind']}[{p['row']}, {p['column']}]" if p['column'] is not None else
                         f"{p['kind']}[{p['row']}]" for p in table if p['kind'] != 'beta' and not p['fixed']],
        'beta_labels': [p['row'] for p in table if p['kind'] == 'beta'],
        'gamma_labels': [p['row'] for p in table if p['kind'] == 'gamma'],
        'intervals': summary['intervals'],
        'mean_own_price_elasticity_draws': summary['mean_own_price_elasticity'],
        'chunks': [{key: value for key, value in row.items() if key != 'draws'} for row in rows],
        'provenance': {
            'estimate_job': record['parent'], 'request': request, 'versions': _versions(),
            'product_ids': product['product_ids'].astype(str).tolist() if 'product_ids' in product else None,
            'market_ids': product['market_ids'].astype(str).tolist(),
            'timings': {'queued_seconds': _seconds(record['created_at'], record['started_at']),
                        'chunks_seconds': sum(row.get('seconds') or 0.0 for row in rows)},
            'started_at': record['started_at'],
        },
    }
    return succeed(store, job_id, result)


# ------------------------------------------------------------------------------------------ the tasks

register(CHUNKS, names.BOOTSTRAP, finalize)
