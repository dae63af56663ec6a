"""Pydantic models of the API's requests and responses (the edge of the service)."""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from blp.spec import EstimateSpec, FiniteFloat, StartsSpec
from blp.spec.results import Problem
from jobstore.records import JobKind, JobStatus

DATASET_ID = r'^[0-9a-f]{64}$'


class _Strict(BaseModel):
    model_config = ConfigDict(extra='forbid')


class Column(BaseModel):
    name: str
    type: Literal['number', 'integer', 'string']


class Dataset(BaseModel):
    """A stored dataset: its content id, shape and columns."""

    id: str = Field(description='sha256 of the canonical serialization: the same data is always the same id')
    rows: int
    columns: list[Column]
    markets: int = Field(description='distinct market_ids')
    created_at: str
    links: dict[str, str]


class DatasetRef(_Strict):
    """Data uploaded before with `POST /v1/datasets`."""

    dataset_id: str = Field(pattern=DATASET_ID)


class InlineData(_Strict):
    """Data given in the request, stored as a dataset like an upload: `{"columns": {"market_ids": [...], ...}}`."""

    columns: dict[str, list[Any]] = Field(min_length=1)


DataInput = Union[DatasetRef, InlineData]


class JobRequest(_Strict):
    """An estimate: data by dataset id or inline, and the model spec (PyBLP's Problem and solve arguments).

    A `multistart` is the same estimate solved from `starts.count` starting values in parallel, keeping the best
    start whose first- and second-order conditions hold, with a report of how the starts agree.
    A `sweep` estimates `spec` under each of `sweep`'s variants, one estimate per variant over every worker, and
    compares them.
    """

    kind: Literal['estimate', 'multistart', 'sweep'] = 'estimate'
    product_data: DataInput
    agent_data: Optional[DataInput] = None
    spec: EstimateSpec
    starts: Optional[StartsSpec] = Field(default=None, validate_default=True,
                                         description='required for kind `multistart`, refused otherwise')

    @field_validator('starts')
    @classmethod
    def _starts_only_for_multistart(cls, starts: Optional[StartsSpec], info: ValidationInfo) -> Optional[StartsSpec]:
        kind = info.data.get('kind', 'estimate')
        if kind == 'multistart' and starts is None:
            raise ValueError('a multistart needs starts: {"count": ..., "bounds": {...}}')
        if kind != 'multistart' and starts is not None:
            raise ValueError('starts are only for kind "multistart"')
        return starts

    sweep: Optional['SweepSpec'] = Field(default=None, description='required for kind `sweep`, refused otherwise')

    @model_validator(mode='after')
    def _sweep_only_for_sweeps(self) -> 'JobRequest':
        if (self.kind == 'sweep') != (self.sweep is not None):
            raise ValueError('kind "sweep" needs sweep: {"variants": [...]} or {"axes": [...]}, and only it takes one')
        return self

    @model_validator(mode='after')
    def _optimal_instruments_only_for_estimates(self) -> 'JobRequest':
        if self.kind == 'multistart' and self.spec.optimal_instruments is not None:
            raise ValueError('spec.optimal_instruments is only for kinds "estimate" and "sweep" (re-estimate a '
                             'finished multistart with POST /v1/jobs/{id}/optimal-instruments)')
        return self


class CounterfactualRequest(_Strict):
    """A counterfactual at a finished estimate (its parameters held fixed).

    `prices`: new prices by product id in `market`, taken as given (shares respond, nobody re-prices: the
    exercises' price cut). `firm_ids` (new owner by current firm id: `{"F2": "F1"}` merges F2 into F1) and/or
    `costs` (new marginal costs by product id in `market`): firms re-price to a new Bertrand-Nash equilibrium,
    in `market` or, for a merger without `market`, in every market, costs constant or (`constant_costs` false) moving
    with shares.
    """

    market: Optional[str] = Field(default=None, min_length=1, examples=['C01Q2'])
    prices: Optional[dict[str, FiniteFloat]] = Field(default=None, min_length=1, examples=[{'F1B04': 0.05}])
    firm_ids: Optional[dict[str, str]] = Field(default=None, min_length=1, examples=[{'F2': 'F1'}])
    costs: Optional[dict[str, FiniteFloat]] = Field(default=None, min_length=1, examples=[{'F1B04': 0.02}])
    constant_costs: bool = Field(default=True, strict=True, description=(
        "PyBLP's constant_costs: false moves marginal costs with the new shares (during the equilibrium and in "
        'costs after) when X3 reads shares; without shares in X3, or for prices taken as given, it changes nothing'))

    @model_validator(mode='after')
    def _one_kind(self) -> 'CounterfactualRequest':
        if (self.prices is None) == (self.firm_ids is None and self.costs is None):
            raise ValueError('give either prices (taken as given) or firm_ids and/or costs (new equilibrium)')
        if (self.prices is not None or self.costs is not None) and self.market is None:
            raise ValueError('prices and costs are given by product id within one market: market is required')
        return self


MAX_VARIANTS = 64


class SweepVariant(_Strict):
    """One variant of a sweep: `override` is merged into the base spec (objects key by key, except `*_options`
    objects and every other value, which replace the base's)."""

    label: Optional[str] = Field(default=None, min_length=1, max_length=200, examples=['halton 1000'])
    override: dict[str, Any] = Field(default_factory=dict, examples=[
        {'problem': {'integration': {'specification': 'halton', 'size': 1000}}}])


class SweepAxis(_Strict):
    """One dimension of a sweep: its values are combined with every other axis's (the Cartesian product)."""

    name: str = Field(min_length=1, max_length=100, examples=['integration'])
    values: list[SweepVariant] = Field(min_length=1, max_length=MAX_VARIANTS)


class SweepSpec(_Strict):
    """The variants of a robustness sweep: a list (`variants`), or `axes` whose product is taken; each variant is
    estimated as a job of its own would be, optionally followed by the same `counterfactual`.

    `on_invalid`: `refuse` (the default) answers 422 naming the first variant that is invalid or over the budget;
    `report` queues the others and reports that variant failed in its row."""

    variants: Optional[list[SweepVariant]] = Field(default=None, min_length=1, max_length=MAX_VARIANTS)
    axes: Optional[list[SweepAxis]] = Field(default=None, min_length=1, max_length=6)
    counterfactual: Optional[CounterfactualRequest] = None
    on_invalid: Literal['refuse', 'report'] = 'refuse'

    @model_validator(mode='after')
    def _variants_or_axes(self) -> 'SweepSpec':
        if (self.variants is None) == (self.axes is None):
            raise ValueError('give either variants or axes')
        count = 1
        for axis in self.axes or []:
            count *= len(axis.values)
        if count > MAX_VARIANTS:
            raise ValueError(f'the axes make {count} variants; at most {MAX_VARIANTS}')
        return self


class SweepComparison(BaseModel):
    """A sweep's comparison table: `rows` has one object per variant with the `columns` as keys (estimates by
    parameter label, `se <label>` their standard errors, diagnostics, `counterfactual <number>`, seconds, error)."""

    job_id: str
    columns: list[str]
    parameters: list[str] = Field(description='labels of the estimated parameters, e.g. `sigma[prices, prices]`')
    rows: list[dict[str, Any]]


class Progress(BaseModel):
    """An estimate's optimizer progress; a multistart's starts done (per phase) and best objective so far."""

    step: Optional[Union[int, str]] = None
    iteration: Optional[int] = None
    evaluations: Optional[int] = None
    objective: Optional[float] = None
    gradient_norm: Optional[float] = None
    contraction_iterations: Optional[int] = None
    phase: Optional[int] = Field(default=None, description='multistart: 1, or 2 for the second step of a 2s')
    phases: Optional[int] = None
    starts_done: Optional[int] = None
    starts_total: Optional[int] = None
    starts_failed: Optional[int] = None
    best_objective: Optional[float] = None
    chunks_done: Optional[int] = Field(default=None, description='bootstrap: chunks of draws recorded')
    chunks_total: Optional[int] = None
    chunks_failed: Optional[int] = None
    candidates_done: Optional[int] = Field(default=None, description='merger screen: candidates recorded')
    candidates_total: Optional[int] = None
    candidates_failed: Optional[int] = None
    variants_done: Optional[int] = Field(default=None, description='sweep: variants recorded')
    variants_total: Optional[int] = None
    variants_failed: Optional[int] = None
    updated_at: Optional[str] = None


class JobInputs(BaseModel):
    product_data: Optional[str] = None
    agent_data: Optional[str] = None


class Job(BaseModel):
    """A job's state; `error` is a problem document when it failed."""

    id: str
    kind: JobKind
    status: JobStatus
    created_at: str
    started_at: Optional[str] = None
    finished_at: Optional[str] = None
    attempts: int = 0
    cancel_requested: bool = False
    parent_job_id: Optional[str] = None
    inputs: JobInputs
    progress: Optional[Progress] = None
    error: Optional[Problem] = Field(default=None, description='why it failed (a problem document)')
    links: dict[str, str]


class JobList(BaseModel):
    items: list[Job]
    next_cursor: Optional[str] = Field(default=None, description='pass as ?cursor= for the next page; null at the end')


class Health(BaseModel):
    status: Literal['ok']
    checks: dict[str, Any] = Field(default_factory=dict)


JobRequest.model_rebuild()  # its `sweep` is defined after it
