"""Scores of micro observations and of agents at a finished estimate (`POST /v1/jobs/{id}/micro-scores` and
`/agent-scores`, PyBLP's `compute_micro_scores` and `compute_agent_scores`): the request, the checks the API process
makes from sizes alone, and the answer's wire form.

Why answered at once and not a job: like importance sampling, scores are one pass over choice probabilities at the
estimate (no optimization), so a numerics process computes them within the job budget (service.numerics). The answer
has a number per observation (or per agent and choice) and element of theta, so what a request asks for is counted
first: no micro data can take a numerics process over MAX_SCORE_CELLS numbers per element or MAX_SCORE_WORK
agent-choice evaluations.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

from blp.configurations.budget import Table, nodes_per_market
from blp.spec import EstimateSpec, IntegrationSpec
from blp.spec.micro import MicroDatasetSpec, Name
from blp.spec.results import AgentScores, MicroScores
from jobstore.problems import ProblemDetails
from jobstore.records import JobRecord
from jobstore.store import Store
from service.budget import table
from service.dataset_cache import stored_frame
from service.jobs import resolve
from service.models import DatasetRef

MAX_SCORE_CELLS = 2_000_000        # scores per element of theta one answer may carry (~40 MB of JSON each)
MAX_SCORE_WORK = 200_000_000       # agent-choice probabilities evaluated (observations x nodes x choices)
ScoreKind = Literal['micro-scores', 'agent-scores']


class ScoresRequest(BaseModel):
    """PyBLP's `results.compute_micro_scores(dataset, micro_data, integration)` (micro_data required) or
    `compute_agent_scores(dataset, micro_data=None, integration=None)` at the estimate.

    `dataset` names one of the estimate's micro datasets (`spec.solve.micro_moments.datasets`) or is a micro dataset
    in the spec's JSON form. `micro_data` (a stored dataset) has `market_ids` and, for micro scores, `choice_indices`
    (and `second_choice_indices` for a second-choice dataset), demographics by the agent formulation's columns, and
    without `integration` `micro_ids`, `weights` and `nodes0..` (several rows per observation); with `integration`
    each row is one observation integrated over the rule's nodes. Agent scores without micro_data score the estimate's
    own agents."""

    model_config = ConfigDict(extra='forbid')

    dataset: Union[Name, MicroDatasetSpec] = Field(description="a micro dataset's name in the estimate's spec, or "
                                                               'a micro dataset (the spec\'s JSON form)')
    micro_data: Optional[DatasetRef] = Field(default=None, description='micro observations (or agents) uploaded before')
    integration: Optional[IntegrationSpec] = Field(default=None, description='nodes integrated over per observation')


def _dataset(spec: EstimateSpec, dataset: Union[str, MicroDatasetSpec]) -> MicroDatasetSpec:
    """The request's dataset, by name among the estimate's micro datasets or as given (422 naming `dataset`)."""
    if isinstance(dataset, MicroDatasetSpec):
        return dataset
    micro = spec.solve.micro_moments
    known = [] if micro is None else micro.datasets
    for candidate in known:
        if candidate.name == dataset:
            return candidate
    names = ', '.join(repr(candidate.name) for candidate in known) or 'none: it has no micro moments'
    raise ProblemDetails(422, 'unknown-micro-dataset', 'Unknown micro dataset',
                         f"the estimate has no micro dataset {dataset!r} (its micro datasets: {names}); give the "
                         'dataset in full', field='dataset')


def _table(store: Store, dataset_id: str, field: str) -> Table:
    described = table(store.get_dataset(dataset_id))
    if described is not None:
        return described
    frame = stored_frame(store, dataset_id)
    if frame is None:
        raise ProblemDetails(409, 'dataset-deleted', 'Dataset deleted', f'the dataset of {field} was deleted',
                             field=field)
    return Table.of(frame)


def checked_request(store: Store, parent: JobRecord, body: ScoresRequest, owner: str,
                    kind: ScoreKind) -> dict[str, Any]:
    """What the numerics process computes with (`dataset` in JSON form, `micro_data` id, `integration`), once the
    request is checked: an estimate with agents, micro data where needed, and the answer and work within limits."""
    spec = EstimateSpec.model_validate(parent['spec'])
    formulations = spec.problem.product_formulations
    if len(formulations) < 2 or formulations[1] is None:
        raise ProblemDetails(422, 'no-agents', 'No agents', 'scores need random coefficients: this estimate is a logit '
                             'or nested logit (no X2 formulation)', field='spec.problem.product_formulations')
    if kind == 'micro-scores' and body.micro_data is None:
        raise ProblemDetails(422, 'missing-micro-data', 'Micro data missing',
                             'micro scores need micro_data: the observations to score', field='micro_data')
    dataset = _dataset(spec, body.dataset)
    micro_id = resolve(store, body.micro_data, owner, 'micro_data')[0] if body.micro_data else None
    products = _table(store, parent['inputs']['product_data'], 'product_data')
    K2 = len(spec.solve.sigma) if isinstance(spec.solve.sigma, list) else 1
    if micro_id is not None:
        observations, source = _table(store, micro_id, 'micro_data').rows, 'micro_data'
    elif spec.problem.integration is not None:
        rule = spec.problem.integration
        observations = nodes_per_market(rule.specification, rule.size, K2) * products.markets
        source = 'dataset'
    else:
        agent_id = parent['inputs'].get('agent_data')
        observations, source = (_table(store, agent_id, 'agent_data').rows if agent_id else 0), 'dataset'
    choices = (1 + products.largest_market) ** (1 if dataset.second_choices is None else 2)
    cells = observations * (choices if kind == 'agent-scores' else 1)
    if cells > MAX_SCORE_CELLS:
        raise ProblemDetails(422, 'too-many-scores', 'Too many scores',
                             f'{cells:,} scores per parameter; an answer carries at most {MAX_SCORE_CELLS:,}: score '
                             'fewer observations or markets', field=source, limit=MAX_SCORE_CELLS)
    nodes = 1 if body.integration is None else nodes_per_market(body.integration.specification, body.integration.size,
                                                                K2)
    work = observations * nodes * choices
    if work > MAX_SCORE_WORK:
        raise ProblemDetails(422, 'over-budget', 'Job over budget',
                             f'{work:,} agent-choice evaluations; at most {MAX_SCORE_WORK:,} are computed at once',
                             field='integration.size' if nodes > 1 else source, limit=MAX_SCORE_WORK)
    return {'dataset': dataset.model_dump(mode='json'), 'micro_data': micro_id,
            'integration': None if body.integration is None else body.integration.model_dump(mode='json')}


def scores_view(job_id: str, kind: ScoreKind, request: dict[str, Any],
                computed: dict[str, Any]) -> Union[MicroScores, AgentScores]:
    """The wire form of what the numerics process computed (`parameters`, `scores`) for this request."""
    model = MicroScores if kind == 'micro-scores' else AgentScores
    return model.model_validate({'job_id': job_id, 'dataset': request['dataset']['name'], **computed})
