"""Liveness, readiness (Redis answers and a worker has sent a heartbeat) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from jobstore.problems import ProblemDetails
from service.deps import SettingsDep, StoreDep
from service.metrics import render_jobs
from service.models import Health
from service.openapi import problems

router = APIRouter(tags=['health'])


# async: answered on the event loop itself, with no thread-pool hop, as it is polled while uploads stream through it.
@router.get('/healthz', response_model=Health)
async def get_health() -> dict:
    """The process is up (it checks nothing else, so an orchestrator does not restart it for Redis being down)."""
    return {'status': 'ok'}


@router.get('/readyz', response_model=Health, responses=problems(503))
def get_readiness(store: StoreDep, settings: SettingsDep) -> dict:
    """Ready when Redis answers and at least one worker has sent a heartbeat recently; else 503 with the reason."""
    try:
        store.ping()
        workers = store.live_workers(within=3 * settings.worker_heartbeat_seconds)
    except Exception as error:
        raise ProblemDetails(503, 'not-ready', 'Not ready', f'Redis is unreachable: {type(error).__name__}',
                             reason='redis') from None
    if not workers:
        raise ProblemDetails(503, 'not-ready', 'Not ready', 'no worker has sent a heartbeat recently', reason='worker')
    return {'status': 'ok', 'checks': {'redis': 'ok', 'workers': len(workers)}}


@router.get('/metrics', response_class=PlainTextResponse,
            responses={200: {'content': {'text/plain': {'schema': {'type': 'string'}}},
                             'description': 'Prometheus text format'}})
def get_metrics(request: Request, store: StoreDep, settings: SettingsDep) -> PlainTextResponse:
    lines = request.app.state.requests.render()
    try:
        lines += render_jobs(store.job_counts(), len(store.live_workers(within=3 * settings.worker_heartbeat_seconds)))
        lines += ['blp_store_up 1']
    except Exception:
        lines += ['# HELP blp_store_up Whether Redis answered this scrape.', '# TYPE blp_store_up gauge',
                  'blp_store_up 0']
    return PlainTextResponse('\n'.join(lines) + '\n', media_type='text/plain; version=0.0.4')
