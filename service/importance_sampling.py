"""Importance sampling of a finished estimate's agents (`POST /v1/jobs/{id}/importance-sampling`) and its micro
values (`GET /v1/jobs/{id}/micro-values`): the request, the checks the API process makes before any numerics
(from sizes alone, as for a job), and the answer's wire form.

Why here and not a job: both are one pass over the candidates' choice probabilities at the estimate, so they are
answered at once by a numerics process (service.numerics), within the job budget; what a request asks for is costed
first, so no draws or candidates it names can take a numerics process over its memory or the answer over
MAX_SAMPLED_AGENTS rows.
"""

from __future__ import annotations

import csv
import io
import secrets
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field

from blp.configurations.budget import check, sizes_of
from blp.exceptions import BLPError
from blp.spec import EstimateSpec, FiniteFloat, IntegrationSpec
from blp.spec.results import ImportanceSample
from jobstore.problems import ProblemDetails, core_problem_details
from jobstore.records import JobRecord
from jobstore.settings import Settings
from jobstore.store import Store
from service.dataset_cache import stored_frame
from service.jobs import described, resolve
from service.models import DatasetRef

# Sampled agents one answer may carry (markets x draws): ~100 MB of JSON at six columns.
MAX_SAMPLED_AGENTS = 1_000_000


class ImportanceSamplingRequest(BaseModel):
    """PyBLP's `results.importance_sampling(draws, ar_constant, seed, agent_data, integration)` at the estimate.

    Candidates are the estimate's own agents, or `agent_data` (a stored dataset: demographics, and nodes unless
    `integration` builds them) and/or `integration`, read as PyBLP reads them. PyBLP's `delta` is not offered: the
    estimate's delta is used. Without a seed one is drawn and reported."""

    model_config = ConfigDict(extra='forbid')

    draws: int = Field(ge=1, le=100_000, description='agents to sample per market')
    ar_constant: FiniteFloat = Field(default=1.0, ge=1, le=1e6,
                                     description='accept a candidate with probability (1 - s_i0t) / ar_constant')
    seed: Optional[int] = Field(default=None, ge=0, le=2**32 - 1)
    agent_data: Optional[DatasetRef] = Field(default=None, description='candidate agents uploaded before')
    integration: Optional[IntegrationSpec] = Field(default=None, description='candidate nodes built by the core')


def micro_moments_of(parent: JobRecord) -> list[dict[str, Any]]:
    """The estimate's micro moments (their JSON form), or 422 naming `spec.solve.micro_moments` when it has none."""
    micro = EstimateSpec.model_validate(parent['spec']).solve.micro_moments
    if micro is None:
        raise ProblemDetails(422, 'no-micro-moments', 'No micro moments',
                             'this estimate has no micro moments: give spec.solve.micro_moments when estimating',
                             field='spec.solve.micro_moments')
    return [moment.model_dump(mode='json') for moment in micro.moments]


def checked_request(store: Store, settings: Settings, parent: JobRecord, body: ImportanceSamplingRequest,
                    owner: str) -> dict[str, Any]:
    """What the numerics process samples with (`draws`, `ar_constant`, `seed`, `agent_data` id, `integration`), once
    the candidates are checked against the budget and the draws against the candidates and MAX_SAMPLED_AGENTS."""
    spec = EstimateSpec.model_validate(parent['spec'])
    formulations = spec.problem.product_formulations
    if len(formulations) < 2 or formulations[1] is None:
        raise ProblemDetails(422, 'no-agents', 'No agents to sample',
                             'importance sampling needs agents: this estimate is a logit or nested logit (no X2 '
                             'formulation)', field='spec.problem.product_formulations')
    agent_id = resolve(store, body.agent_data, owner, 'agent_data')[0] if body.agent_data else None
    if agent_id is None and body.integration is None:
        agent_id = parent['inputs'].get('agent_data')
        integration = spec.problem.integration
    else:
        integration = body.integration
    candidates = spec.model_copy(update={
        'problem': spec.problem.model_copy(update={'integration': integration}),
        'solve': spec.solve.model_copy(update={'micro_moments': None}), 'optimal_instruments': None})
    _check_candidates(store, settings, candidates, parent['inputs']['product_data'], agent_id, body.draws)
    request = body.model_dump(mode='json', exclude={'agent_data'})
    request.update(agent_data=agent_id, seed=secrets.randbelow(2**32) if body.seed is None else body.seed)
    return request


def _check_candidates(store: Store, settings: Settings, candidates: EstimateSpec, product_id: str,
                      agent_id: Optional[str], draws: int) -> None:
    """422 when the candidate agents would take the computation over the job budget (naming `integration.size` or
    `agent_data`), or `draws` are more than the candidates of the largest market or the answer may carry."""
    tables = described(store, (product_id, None), (agent_id, None))
    if tables is None:  # described before largest markets were recorded: read them
        product, agent = stored_frame(store, product_id), stored_frame(store, agent_id) if agent_id else None
        if product is None or (agent_id and agent is None):
            raise ProblemDetails(409, 'dataset-deleted', 'Dataset deleted', "the estimate's data were deleted")
        tables = product, agent
    sizes, source = sizes_of(candidates, *tables, post_estimation=True)
    try:
        check(sizes, settings.budget(), source)
    except BLPError as error:  # BudgetError: 422 `over-budget`
        raise core_problem_details(error) from None
    if sizes.agents_per_market and draws > sizes.agents_per_market:
        raise ProblemDetails(422, 'too-many-draws', 'Too many draws',
                             f'draws={draws} but the largest market has {sizes.agents_per_market:,} candidate agents',
                             field='draws')
    if draws * sizes.markets > MAX_SAMPLED_AGENTS:
        raise ProblemDetails(422, 'too-many-draws', 'Too many draws',
                             f'{draws:,} draws in each of {sizes.markets:,} markets; an answer carries at most '
                             f'{MAX_SAMPLED_AGENTS:,} sampled agents', field='draws', limit=MAX_SAMPLED_AGENTS)


def sample_view(job_id: str, request: dict[str, Any], sampled: dict[str, Any]) -> ImportanceSample:
    """The wire form of the library's `ImportanceSamplingResults.to_document()` for this request."""
    names = ('weight_sums', 'effective_draws', 'effective_draws_for_variance', 'effective_draws_for_skewness')
    diagnostics = [{'market': market, 'weight_sum': row[0], 'effective_draws': row[1],
                    'effective_draws_for_variance': row[2], 'effective_draws_for_skewness': row[3]}
                   for market, *row in zip(sampled['diagnostic_market_ids'], *(sampled[name] for name in names))]
    return ImportanceSample.model_validate({
        'job_id': job_id, 'draws': request['draws'], 'ar_constant': request['ar_constant'], 'seed': request['seed'],
        'computation_time': sampled['computation_time'], 'sampled_agents': sampled['sampled_agents'],
        'diagnostics': diagnostics})


def agents_csv(sample: ImportanceSample) -> str:
    """The sampled agents as CSV: an agent-data table `POST /v1/datasets` takes as it is."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator='\n')
    columns = sample.sampled_agents
    writer.writerow(list(columns))
    for row in zip(*columns.values()):
        writer.writerow(['' if value is None else value if isinstance(value, str) else repr(float(value))
                         for value in row])
    return buffer.getvalue()
