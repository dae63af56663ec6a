"""Merger screens on the queue: a finished estimate's candidate mergers (`blp.post.screening`) fanned out over every
worker in batches of candidates, each candidate's row recorded under its own key, and the job finished with the
ranking once every candidate is in.

Tasks (acks_late like every task here: a candidate whose process dies is redelivered and computed again):
  blp.post.merger_screen(job_id)                       the parent: publishes one task per batch of candidates
  blp.post.merger_screen.candidate(job_id, *indices)   screens and simulates the candidates, records their rows
  blp.post.merger_screen.finalize(job_id)              once every candidate is in: the ranking (and the SSNIP groups)

The candidates were listed by the API (every pair of firms that meet, or the request's list), so every delivery sees
the same list. Rows are written once by the fan-out ledger (`jobstore.fanout`, under the job's `:merger_screen` keys),
which counts them and updates the progress (`candidates_done`, `candidates_total`, `candidates_failed`), so exactly
one writer learns that the last candidate is in and publishes finalize; finalize is idempotent and the job leaves
`running` once. Candidates are published, run and recorded as every fanned-out member is (`worker.members`). A
candidate that fails is recorded failed in its row and listed in the result; the others rank.

A candidate's equilibrium takes milliseconds, so a task takes a batch of them (`worker.members.guided`: batches that
shrink to single candidates at the end, so every worker stays busy to the end). With one task per candidate, its
delivery, lease, job record and row cost some 9 ms of CPU in the pool process, the worker's main process and Redis
beside the candidate's 21 ms of numerics (BLP's autos, two markets), and on a machine with as many cores as workers
that bookkeeping comes out of the other worker's candidates. Each pool process keeps today's state of
the estimate it last screened (the restored estimate's demand, Jacobian and diversion ratios in the screened
markets), so a candidate costs its own equilibrium, not a restore, and a second screen of the same estimate and
markets on a warm worker restores nothing.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from blp.post import screening
from blp.spec import EstimateSpec
from jobstore import tasks as names
from jobstore.fanout import FanOut
from jobstore.problems import ProblemDetails
from jobstore.records import JobRecord
from jobstore.store import Store
from worker import memory, optimal
from worker.failures import problem_details_of
from worker.members import ASIDE, Members, guided, register
from worker.tasks import _finish, _frames, _parent_result, _seconds, _versions, durably, succeed

_TODAY: dict[str, screening.MarketsToday] = {}  # estimate and markets -> today's state; one at a time


def ledger_of(store: Store, job_id: str) -> FanOut:
    """A merger screen's rows: one per candidate, under the job's `:merger_screen` keys."""
    return CANDIDATES.ledger(store, job_id)


def _today(store: Store, record: JobRecord) -> screening.MarketsToday:
    """Today's state in the screened markets at the restored estimate, kept for the job's next candidates."""
    key = json.dumps([record['parent'], record['request'].get('markets')])
    if key not in _TODAY:
        spec = EstimateSpec.model_validate(record['spec'])
        product, agent = _frames(store, record['inputs'])
        memory.check_budget(spec, product, agent, post_estimation=True)  # choices and Jacobians over the markets
        with memory.doing('restoring the estimate for the merger screen'):
            results = optimal.restore(spec, product, agent, _parent_result(store, record))
            today = screening.MarketsToday.from_results(results, record['request'].get('markets'))
        _TODAY.clear()
        _TODAY[key] = today
    return _TODAY[key]


# ------------------------------------------------------------------------------------------ one candidate

def _compute(store: Store, record: JobRecord, index: int) -> dict[str, Any]:
    """The candidate's row (its summary) and, set aside beside the rows, its per-market and per-product details: the
    ledger's script decodes every row at each write, so rows stay small however many markets and products a
    candidate has."""
    request = record['request']
    outcome = screening.screen_merger(_today(store, record), request['candidates'][index], request['credit'])
    details: dict[str, Any] = {'candidate_index': index, 'markets': screening.merger_markets(outcome)}
    if request.get('products'):
        details['products'] = screening.merger_products(outcome)
    return {'status': 'succeeded', 'summary': screening.merger_summary(outcome), ASIDE: {f'details:{index}': details}}


# ------------------------------------------------------------------------------------------ finalize

def counterfactual_request(firms: list[str]) -> dict[str, Any]:
    """The body of `POST /v1/jobs/{estimate}/counterfactuals` that simulates the candidate in full."""
    return {'firm_ids': {firm: firms[0] for firm in firms[1:]}}


def ranking(rows: list[dict[str, Any]], request: dict[str, Any]) -> list[dict[str, Any]]:
    """The succeeded candidates' summaries ranked by the request's column and order."""
    summaries = [{'candidate_index': row['index'], **row['summary'],
                  'counterfactual': counterfactual_request(row['summary']['firms'])}
                 for row in rows if row['status'] == 'succeeded']
    return screening.rank(summaries, request['sort'], request['order'] == 'desc')


def _ssnip(store: Store, record: JobRecord) -> Optional[dict[str, Any]]:
    wanted = record['request'].get('ssnip')
    if not wanted:
        return None
    return screening.ssnip(_today(store, record), wanted['groups'], wanted['threshold'], wanted['rivals'])


def finalize(store: Store, job_id: str) -> str:
    state, record, rows = CANDIDATES.complete(store, job_id)
    if record is None:
        return state
    request, total = record['request'], len(rows)
    if not any(row['status'] == 'succeeded' for row in rows):
        _finish(store, job_id, 'failed', ProblemDetails(
            422, 'merger-screen-failed', 'Merger screen failed', 'no candidate succeeded',
            candidates=[row.get('error') for row in rows[:20]]).to_dict())
        return 'failed'
    try:
        ssnip = _ssnip(store, record)
    except Exception as error:
        _finish(store, job_id, 'failed', problem_details_of(error, 'job', f'SSNIP of job {job_id}').to_dict())
        return 'failed'
    result = {
        'job_id': job_id, 'kind': 'merger_screen', 'credit': request['credit'], 'markets': request.get('markets'),
        'sort': request['sort'], 'order': request['order'], 'candidates': total,
        'ranking': ranking(rows, request),
        'details': durably(ledger_of(store, job_id).get_many,
                           [f"details:{row['index']}" for row in rows if row['status'] == 'succeeded']),
        'failed': [{'candidate_index': row['index'], 'firms': request['candidates'][row['index']],
                    'error': row.get('error')} for row in rows if row['status'] != 'succeeded'],
        'ssnip': ssnip,
        'provenance': {
            'estimate_job': record['parent'], 'request': request, 'versions': _versions(),
            'timings': {'queued_seconds': _seconds(record['created_at'], record['started_at']),
                        'candidates_seconds': sum(row.get('seconds') or 0.0 for row in rows)},
            'workers': sorted({row.get('worker') or '' for row in rows}),
            'started_at': record['started_at'],
        },
    }
    return succeed(store, job_id, result)


def _identify(record: JobRecord, index: int) -> dict[str, Any]:
    return {'index': index}


CANDIDATES = Members('merger_screen', 'candidates', 'candidate', names.MERGER_SCREEN_CANDIDATE,
                     names.MERGER_SCREEN_FINALIZE, lambda record: len(record['request']['candidates']),
                     lambda store, record, index: _compute(store, record, index), _identify, batches=guided)


def run_candidate(store: Store, job_id: str, index: int, hostname: str = '') -> str:
    """Screen one candidate and record its row; a candidate that fails is recorded failed, never the screen."""
    return CANDIDATES.run(store, job_id, [index], hostname)


# ------------------------------------------------------------------------------------------ the tasks

register(CANDIDATES, names.MERGER_SCREEN, finalize)
