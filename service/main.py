"""The FastAPI application: `create_app(settings)` wires routers, error handlers, limits and metrics.

Run it with `uvicorn service.main:app`. State lives on the app (settings, store, Celery producer, request
counts) so tests can build as many independent apps as they need.
"""

from __future__ import annotations

import threading
from contextlib import asynccontextmanager
from typing import AsyncIterator, Optional

from fastapi import FastAPI

from jobstore.settings import Settings
from jobstore.store import Store, connect
from service import openapi, problems, queue
from service.body_limit import BodyLimitMiddleware
from service.http_methods import HeadMiddleware
from service.metrics import MetricsMiddleware, RequestCounter
from service.numerics import Numerics
from service.queue import make_celery
from service.routers import datasets, health, jobs, sweeps, ui
from service.tcp import disable_nagle
from service.upload_parsers import UploadParsers

DESCRIPTION = """BLP demand estimation as a service: upload product and agent data, submit an estimate with a
PyBLP-style spec, follow its progress, read estimates, elasticities and diversion ratios, and run
counterfactuals. Every error is an RFC 9457 problem document (`application/problem+json`)."""


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.numerics.warm()  # the first request does not wait for its numerics process to start
    threading.Thread(target=queue.warm, args=(app.state.celery,), daemon=True).start()  # nor for the broker
    yield


def create_app(settings: Optional[Settings] = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(title='BLP estimation service', version='1.0.0', description=DESCRIPTION, lifespan=_lifespan,
                  generate_unique_id_function=lambda route: route.name)  # operation ids: the handlers' names
    app.state.settings = settings
    app.state.store = Store(connect(settings.redis_url, settings.redis_socket_timeout, settings.redis_connect_timeout),
                            result_ttl=settings.result_ttl_seconds)
    app.state.celery = make_celery(settings)
    app.state.numerics = Numerics(settings)
    app.state.parsers = UploadParsers(settings)
    app.state.requests = RequestCounter()
    problems.install(app)
    openapi.install(app)
    for router in (datasets.router, jobs.router, sweeps.router, health.router, ui.router):
        app.include_router(router)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes,
                       read_timeout_seconds=settings.body_read_timeout_seconds)
    app.add_middleware(HeadMiddleware)
    app.add_middleware(MetricsMiddleware, counter=app.state.requests)
    return app


disable_nagle()  # before uvicorn accepts a connection: the module is imported by every worker first
app = create_app()
