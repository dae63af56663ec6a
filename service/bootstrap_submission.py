"""Queueing a bootstrap of a finished estimate (`POST /v1/jobs/{id}/bootstrap`): PyBLP's parametric bootstrap, its
draws computed in chunks on every worker (`worker/bootstrap_chunks.py`), with percentile intervals in the result."""

from __future__ import annotations

import secrets
from typing import Optional

from celery import Celery
from pydantic import BaseModel, ConfigDict, Field

from blp.spec import EstimateSpec, FiniteFloat
from jobstore.problems import ProblemDetails
from jobstore.records import JobRecord
from jobstore.settings import Settings
from jobstore.store import Store
from service.budget import check_budget, check_cost
from service.dataset_cache import stored_frame
from service.jobs import _new_record, _queue, described, start_child


class BootstrapRequest(BaseModel):
    """`results.bootstrap(draws, seed)` at the estimate, with 95 % (or `level`) percentile intervals of theta, beta
    (and gamma with a supply side, whose draws' prices are their own equilibria), the mean own-price elasticity and,
    with `merger` (new owner by current firm id), each product's merger price change from the draw's prices.
    Without a seed one is drawn and reported, so the chunks (and a rerun) see the same draws."""

    model_config = ConfigDict(extra='forbid')

    draws: int = Field(default=1000, ge=2, le=100_000)
    seed: Optional[int] = Field(default=None, ge=0, le=2**32 - 1)
    chunk_size: int = Field(default=50, ge=1, le=10_000, description='draws per task on a worker')
    level: FiniteFloat = Field(default=0.95, gt=0, lt=1)
    merger: Optional[dict[str, str]] = Field(default=None, min_length=1, examples=[{'F2': 'F1'}])


def submit_bootstrap(store: Store, celery: Celery, settings: Settings, parent: JobRecord, body: BootstrapRequest,
                     owner: str, idempotency_key: Optional[str]) -> tuple[JobRecord, bool]:
    """Check the parent estimate and the merger's firms, and queue the bootstrap; (record, created)."""
    idempotency, existing = start_child(store, settings, parent, owner, idempotency_key,
                                        {'bootstrap': body.model_dump(mode='json')}, 'bootstraps')
    if existing is not None:
        return existing, False
    if body.merger is not None:
        product = stored_frame(store, parent['inputs']['product_data'])
        if product is None or 'firm_ids' not in product.columns:
            raise ProblemDetails(422, 'invalid-bootstrap', 'Invalid bootstrap', 'a merger needs firm_ids in the product data',
                                 field='merger', column='firm_ids')
        unknown = sorted(set(body.merger) - set(product['firm_ids'].astype(str)))
        if unknown:
            raise ProblemDetails(422, 'unknown-firms', 'Unknown firms', f'no firm {", ".join(unknown)} in the product data',
                                 field='merger', firms=unknown)
    _check_cost(store, settings, parent, body)
    request = body.model_dump(mode='json')
    if request['seed'] is None:
        request['seed'] = secrets.randbelow(2**32)
    inputs = parent['inputs'].copy()
    record = _new_record('bootstrap', owner, inputs, parent['spec'], parent=parent['id'], request=request)
    return _queue(store, celery, settings, record, idempotency)


def _check_cost(store: Store, settings: Settings, parent: JobRecord, body: BootstrapRequest) -> None:
    """422 naming `draws` or `chunk_size` when the draws would take the job over the work or memory budget: from the
    data's descriptions (the API process reads no data for it), else from the data."""
    inputs = parent['inputs']
    spec = EstimateSpec.model_validate(parent['spec'])
    tables = described(store, (inputs['product_data'], None), (inputs.get('agent_data'), None))
    if tables is not None:
        check_budget(spec, *tables, settings.budget(), draws=body.draws, draws_per_task=body.chunk_size)
        return
    product, agent_id = stored_frame(store, inputs['product_data']), inputs.get('agent_data')
    agent = stored_frame(store, agent_id) if agent_id else None
    if product is None or (agent_id and agent is None):
        raise ProblemDetails(409, 'dataset-deleted', 'Dataset deleted', "the estimate's data were deleted")
    check_cost(spec, product, agent, settings.budget(), draws=body.draws,
               draws_per_task=body.chunk_size)
