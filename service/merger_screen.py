"""Queueing a merger screen of a finished estimate (`POST /v1/jobs/{id}/merger-screen`) and reading its ranking.

The API lists the candidates (every pair of firms that sell in a common screened market, or the request's own list),
checks firms, markets and SSNIP products against the estimate's data, and costs the screen from its sizes before it is
queued; the worker (`worker/merger_screen.py`) screens and simulates one candidate per task.
"""

from __future__ import annotations

import csv
import io
import itertools
from typing import Any, Literal, Optional, get_args

import pandas as pd
from celery import Celery
from pydantic import BaseModel, ConfigDict, Field

from blp.spec import EstimateSpec, FiniteFloat
from blp.spec.results import SortColumn
from jobstore.problems import ProblemDetails
from jobstore.records import JobRecord
from jobstore.settings import Settings
from jobstore.store import Store
from service.budget import check_cost
from service.dataset_cache import stored_frame
from service.jobs import _new_record, _queue, start_child

SORT_COLUMNS: tuple[str, ...] = get_args(SortColumn)
MAX_CANDIDATES = 20_000


class SsnipRequest(BaseModel):
    """The hypothetical monopolist test of candidate groups of products (by product id, in every screened market
    where they sell): does a profit-maximizing owner of the group raise at least one price by `threshold`?"""

    model_config = ConfigDict(extra='forbid')

    groups: list[list[str]] = Field(min_length=1, max_length=100, examples=[[['F1B04', 'F1B06']]])
    threshold: FiniteFloat = Field(default=0.05, gt=0, lt=1, description='0.05 or 0.1: the SSNIP')
    rivals: Literal['fixed', 'bertrand'] = Field(
        default='fixed', description="other prices held fixed (the Merger Guidelines' test) or at their Bertrand response")


class MergerScreenRequest(BaseModel):
    """Screen candidate mergers at the estimate: diversion, GUPPI, UPP at the efficiency `credit`, CMCR and delta
    HHI per merging product, and the simulated merger (prices, consumer surplus, profits, welfare) per candidate,
    ranked by `sort`. Candidates default to every pair of firms that sell in a common market."""

    model_config = ConfigDict(extra='forbid')

    candidates: Optional[list[list[str]]] = Field(
        default=None, min_length=1, max_length=MAX_CANDIDATES,
        description='mergers as lists of at least two firm ids; default every pair of firms', examples=[[['F1', 'F2']]])
    markets: Optional[list[str]] = Field(default=None, min_length=1, description='market ids; default all')
    credit: FiniteFloat = Field(default=0.0, ge=0, lt=1, description='efficiency credit: a share of marginal cost')
    sort: SortColumn = 'consumer_surplus_loss'
    order: Literal['desc', 'asc'] = 'desc'
    products: bool = Field(default=False, description="include each candidate's merging products (diversion, GUPPI, "
                                                      'UPP, CMCR, price change) in the result')
    ssnip: Optional[SsnipRequest] = None


def _problem(detail: str, **extra: Any) -> ProblemDetails:
    return ProblemDetails(422, 'invalid-merger-screen', 'Invalid merger screen', detail, **extra)


def candidates_of(product: pd.DataFrame, body: MergerScreenRequest) -> list[list[str]]:
    """The candidates to screen, checked against the data: 422 naming unknown markets, firms or products."""
    for column in ('firm_ids', 'prices'):
        if column not in product.columns:
            raise _problem(f'the product data has no {column} column', column=column)
    markets = product['market_ids'].astype(str)
    if body.markets is not None:
        unknown = sorted(set(body.markets) - set(markets))
        if unknown:
            raise ProblemDetails(422, 'unknown-market', 'Unknown market', f'no market {", ".join(unknown)} in the '
                                 'product data', field='markets', markets=unknown)
        product = product[markets.isin(body.markets)]
    firms = product['firm_ids'].astype(str)
    if body.candidates is None:
        pairs = {pair for _, sold in firms.groupby(markets[product.index]) for pair in
                 itertools.combinations(sorted(set(sold)), 2)}
        candidates = [list(pair) for pair in sorted(pairs)]
        if not candidates:
            raise _problem('no two firms sell in a common market', field='markets')
    else:
        candidates = [list(dict.fromkeys(candidate)) for candidate in body.candidates]
        short = [number for number, candidate in enumerate(candidates) if len(candidate) < 2]
        if short:
            raise _problem(f'candidate {short[0]} has fewer than two different firms', field=f'candidates[{short[0]}]')
        unknown = sorted({firm for candidate in candidates for firm in candidate} - set(firms))
        if unknown:
            raise ProblemDetails(422, 'unknown-firms', 'Unknown firms', f'no firm {", ".join(unknown[:20])} in the '
                                 'screened markets', field='candidates', firms=unknown[:100])
    if body.ssnip is not None:
        if 'product_ids' not in product.columns:
            raise _problem('the SSNIP names products: the product data has no product_ids column', column='product_ids')
        unknown = sorted({p for group in body.ssnip.groups for p in group} - set(product['product_ids'].astype(str)))
        if unknown:
            raise ProblemDetails(422, 'unknown-products', 'Unknown products', f'no product {", ".join(unknown[:20])} in '
                                 'the screened markets', field='ssnip.groups', products=unknown[:100])
    return candidates


def check_screen_cost(spec: EstimateSpec, product: pd.DataFrame, agent: Optional[pd.DataFrame], settings: Settings,
                      candidates: int) -> None:
    """422 naming the sizes when the screen is over the budget: each task holds the choices, Jacobian and diversion
    ratios of every screened market (memory, as a post-estimation), and each candidate solves an equilibrium over
    them (work: one market x product x agent evaluation per candidate, the bootstrap's unit per draw)."""
    try:
        check_cost(spec, product, agent, settings.budget(), draws=candidates, draws_per_task=1)
    except ProblemDetails as problem:
        if problem.fields.get('parameter') == 'draws':  # one candidate fits: there are too many of them
            problem.fields['parameter'] = 'candidates'
            problem.detail = f'{candidates:,} candidates: {problem.detail}'
        problem.fields['candidates'] = candidates
        raise


def submit_merger_screen(store: Store, celery: Celery, settings: Settings, parent: JobRecord,
                         body: MergerScreenRequest, owner: str, idempotency_key: Optional[str]) -> tuple[JobRecord, bool]:
    """Check the estimate, list and check the candidates, cost the screen and queue it; (record, created)."""
    idempotency, existing = start_child(store, settings, parent, owner, idempotency_key,
                                        {'merger_screen': body.model_dump(mode='json')}, 'merger screens')
    if existing is not None:
        return existing, False
    inputs = parent['inputs']
    product, agent_id = stored_frame(store, inputs['product_data']), inputs.get('agent_data')
    agent = stored_frame(store, agent_id) if agent_id else None
    if product is None or (agent_id and agent is None):
        raise ProblemDetails(409, 'dataset-deleted', 'Dataset deleted', "the estimate's data were deleted")
    candidates = candidates_of(product, body)
    spec = EstimateSpec.model_validate(parent['spec'])
    if body.markets is not None:
        product = product[product['market_ids'].astype(str).isin(body.markets)]
    check_screen_cost(spec, product, agent, settings, len(candidates))
    request = {**body.model_dump(mode='json'), 'candidates': candidates}
    record = _new_record('merger_screen', owner, inputs.copy(), parent['spec'], parent=parent['id'], request=request)
    return _queue(store, celery, settings, record, idempotency)


# ------------------------------------------------------------------------------------------ reading the ranking

def ranked(rows: list[dict[str, Any]], sort: str, order: str) -> list[dict[str, Any]]:
    """The ranking re-sorted by another column: numbers first in `order`, candidates without a number last."""
    numbers = sorted((row for row in rows if isinstance(row.get(sort), (int, float))),
                     key=lambda row: row[sort], reverse=order == 'desc')
    return [{**row, 'rank': position + 1} for position, row in
            enumerate(numbers + [row for row in rows if not isinstance(row.get(sort), (int, float))])]


def ranking_csv(rows: list[dict[str, Any]]) -> str:
    """One line per candidate: the ranking's scalar columns, firms joined by '+'."""
    columns = [key for key in (rows[0] if rows else {'rank': 1}) if key not in ('counterfactual',)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator='\n')
    writer.writerow(columns)
    for row in rows:
        writer.writerow(['+'.join(row[key]) if key == 'firms' else '' if row.get(key) is None else row[key]
                         for key in columns])
    return buffer.getvalue()
