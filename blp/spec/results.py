"""The wire form of what a finished job returns: its result document, and the matrices read from an estimate.

One definition for both ends: the API validates every result it sends through these models (so its OpenAPI document
declares what it returns), and `blp_client` reads results with them. Pydantic only, like the rest of `blp.spec`: the
API process and the client import it without numpy. Numbers the core found non-finite travel as null.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    computed_field,
    create_model,
    model_serializer,
)

Number = Optional[float]  # null where the core's value was NaN or infinite: JSON has neither
Z_95 = 1.959963984540054  # the standard normal's 97.5 % quantile: 95 % Wald intervals


class _Wire(BaseModel):
    """Fields the service sends and the client reads; a field added by a newer service is ignored by an older client."""

    model_config = ConfigDict(extra='ignore', frozen=True)


# ------------------------------------------------------------------------------------------ estimates

class Interval(_Wire):
    lower: Number
    upper: Number


class Parameter(_Wire):
    """One entry of beta, sigma, pi, gamma or rho, by its labels (`row`: the X1/X2/X3 label or nest; `column`: the
    X2 label of sigma or the demographic of pi, null otherwise)."""

    kind: Literal['beta', 'sigma', 'pi', 'gamma', 'rho']
    row: str
    column: Optional[str] = None
    value: Number
    se: Number = Field(description='standard error (the spec\'s se_type)')
    fixed: bool = Field(description='held at its starting value (a zero of sigma or pi), not estimated')

    @computed_field  # type: ignore[prop-decorator]
    @property
    def interval(self) -> Optional[Interval]:
        """The 95 % Wald interval, value ± 1.96 SE; null without an SE."""
        if self.value is None or self.se is None:
            return None
        return Interval(lower=self.value - Z_95 * self.se, upper=self.value + Z_95 * self.se)


class MicroMomentFit(_Wire):
    name: str
    observed: Number
    fitted: Number
    difference: Number


class TracePoint(_Wire):
    """The optimizer after one iteration: what the dashboard's convergence chart draws."""

    step: Optional[Union[int, str]] = Field(default=None, description='GMM step (1, 2, ...)')
    iteration: int
    objective: Number
    gradient_norm: Number = Field(description='largest absolute projected gradient entry')


class InnerLoopFailure(_Wire):
    step: Optional[Union[int, str]] = None
    theta: list[Number]
    markets: list[str]
    reason: Optional[str] = None


class Estimate(_Wire):
    """The estimates and their diagnostics (PyBLP's ProblemResults), with what restoring them needs."""

    parameters: list[Parameter]
    micro_moments: list[MicroMomentFit] = []
    objective: Number
    gradient_norm: Number = Field(description='largest absolute projected gradient entry at the estimates')
    projected_gradient: list[Number]
    hessian_eigenvalues: list[Number]
    active_bounds: list[str] = Field(default=[], description='parameters at a bound')
    converged: bool
    optimization_message: str
    step: Union[int, str]
    method: str
    optimization_iterations: int
    objective_evaluations: int
    contraction_iterations: int
    contraction_iterations_by_market: dict[str, int]
    inner_loop_failures: list[InnerLoopFailure] = []
    timings: dict[str, float]
    dimensions: dict[str, int] = Field(description='N, T, K1, K2, K3, D, MD, MS, MC, H as in PyBLP')
    clipped_costs: int = 0
    warnings: list[str] = []
    trace: list[TracePoint] = Field(default=[], description='objective and gradient norm at each optimizer '
                                                            'iteration (every step)')
    restore: dict[str, Any] = Field(description="what the service needs to restore the estimate (W, in PyBLP's "
                                                "moment order; Hessian, ...)")


class Provenance(_Wire):
    """Where a result came from: its inputs, request, library versions and timings."""

    product_data: Optional[str] = Field(default=None, description='dataset id')
    agent_data: Optional[str] = None
    estimate_job: Optional[str] = Field(default=None, description='the estimate a derived job started from')
    spec: Optional[dict[str, Any]] = Field(default=None, description='the estimate\'s spec as the service read it')
    starts: Optional[dict[str, Any]] = Field(default=None, description='a multistart\'s starts')
    request: Optional[dict[str, Any]] = Field(default=None, description='a derived job\'s request')
    product_ids: Optional[list[str]] = None
    market_ids: Optional[list[str]] = None
    versions: dict[str, str]
    timings: dict[str, float]
    started_at: str
    attempts: Optional[int] = None


class OptimalInstrumentsReport(_Wire):
    """How the optimal instruments were built, and the estimate they were built from (`initial`)."""

    method: Literal['approximate', 'normal', 'empirical']
    draws: int
    seed: Optional[int] = None
    labels: list[str]
    inverse_covariance_matrix: list[list[Number]]
    computation_seconds: float
    constant_costs: bool = True
    expected_prices_column: Optional[str] = None
    drop_indices: Optional[list[int]] = None
    supply_shifter_formulation: Optional[str] = None
    demand_shifter_formulation: Optional[str] = None
    instruments: list[str] = Field(description='the demand instruments of the re-estimate')
    initial: InitialEstimate


class InitialEstimate(_Wire):
    results: Estimate
    optimal_instruments: Optional[OptimalInstrumentsReport] = None


class EstimateResult(_Wire):
    """The result of an `estimate` or `optimal_instruments` job."""

    job_id: str
    kind: Literal['estimate', 'optimal_instruments']
    results: Estimate
    optimal_instruments: Optional[OptimalInstrumentsReport] = None
    provenance: Provenance


# ------------------------------------------------------------------------------------------ multi-start

class Optimum(_Wire):
    starts: list[int]
    objective: Number


class Agreement(_Wire):
    """How the starts agree: how many met the first- and second-order conditions and reached the chosen optimum."""

    starts: int
    succeeded: int
    acceptable: int
    distinct_optima: int
    reached_chosen: int
    all_acceptable_agree: bool
    optima: list[Optimum]
    spread: dict[str, Any] = Field(description='min, max and range over the acceptable starts, per statistic')
    gradient_tolerance: float
    theta_rtol: float
    message: str


class StartOutcome(_Wire):
    """One start: its starting values and outcome (a failed start has `error`, a problem document)."""

    index: int
    status: Literal['succeeded', 'failed']
    acceptable: bool
    theta: Optional[list[Number]] = None
    beta: Optional[list[Number]] = None
    objective: Number = None
    gradient_norm: Number = None
    hessian_eigenvalues: Optional[list[Number]] = None
    smallest_hessian_eigenvalue: Number = None
    active_bounds: Optional[list[str]] = None
    converged: Optional[bool] = None
    optimization_iterations: Optional[int] = None
    mean_own_price_elasticity: Number = None
    start: Optional[dict[str, Any]] = Field(default=None, description='the drawn starting values')
    seconds: Optional[float] = None
    attempts: Optional[int] = None
    worker: Optional[str] = None
    schedule: Optional[dict[str, Any]] = None
    error: Optional[dict[str, Any]] = None
    first_phase: Optional[dict[str, Any]] = Field(default=None, description='a two-step\'s first phase')


class MultistartReport(_Wire):
    chosen_start: int
    method: str
    phases: int
    weighting: dict[str, Any]
    theta_labels: list[str]
    beta_labels: list[str]
    agreement: Agreement
    starts: list[StartOutcome]
    scheduling: list[dict[str, Any]] = Field(description='per phase: order, processes, busy seconds')


class MultistartResult(_Wire):
    """The result of a `multistart` job: the chosen start's estimate, and every start."""

    job_id: str
    kind: Literal['multistart']
    results: Estimate
    multistart: MultistartReport
    provenance: Provenance


# ------------------------------------------------------------------------------------------ counterfactuals

def _before_after(required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """Each quantity's `_before`, `_after`, `_change` and `_change_percent` (relative to before) as fields; the
    optional ones are null or absent where the model has no supply side."""
    parts = ('before', 'after', 'change', 'change_percent')
    fields: dict[str, Any] = {f'{name}_{part}': (Number, ...) for name in required for part in parts}
    return fields | {f'{name}_{part}': (Number, None) for name in optional for part in parts}


class _Changes(_Wire):
    model_config = ConfigDict(extra='allow', frozen=True)


ProductChange = create_model(
    'ProductChange', __base__=_Changes, __doc__='One product before and after the counterfactual.',
    market_id=(str, ...), product_id=(str, ...), firm_id_before=(Optional[str], None),
    firm_id_after=(Optional[str], None),
    **_before_after(('price', 'share'), ('cost', 'markup', 'profit')))
MarketChange = create_model(
    'MarketChange', __base__=_Changes,
    __doc__='One market before and after; `converged`, `iterations`: the new equilibrium\'s fixed point (null for '
            'prices taken as given).',
    market_id=(str, ...), converged=(Optional[bool], None), iterations=(Optional[int], None),
    **_before_after(('outside_share', 'consumer_surplus', 'hhi'), ('profit',)))


class CounterfactualResult(_Wire):
    """The result of a `counterfactual` job: `mode` `prices` (taken as given) or `equilibrium` (firms re-price)."""

    job_id: str
    kind: Literal['counterfactual']
    market: Optional[str] = None
    mode: Literal['prices', 'equilibrium']
    products: list[ProductChange]  # type: ignore[valid-type]
    markets: list[MarketChange]  # type: ignore[valid-type]
    provenance: Provenance


# ------------------------------------------------------------------------------------------ bootstrap

class VectorInterval(_Wire):
    lower: list[Number]
    upper: list[Number]
    draws: list[int] = Field(description='draws that gave a finite value, per entry')


class ScalarInterval(_Wire):
    lower: Number
    upper: Number
    draws: int


class BootstrapIntervals(_Wire):
    theta: VectorInterval
    beta: VectorInterval
    gamma: Optional[VectorInterval] = Field(default=None, description='with a supply side, per `gamma_labels`')
    mean_own_price_elasticity: Optional[ScalarInterval] = None
    merger_price_changes: Optional[VectorInterval] = Field(default=None, description='per product, with `merger`')


class ChunkOutcome(_Wire):
    index: int
    status: Literal['succeeded', 'failed']
    seconds: Optional[float] = None
    attempts: Optional[int] = None
    worker: Optional[str] = None
    error: Optional[dict[str, Any]] = None


class BootstrapResult(_Wire):
    """The result of a `bootstrap` job: percentile intervals at `level` over the draws that succeeded."""

    job_id: str
    kind: Literal['bootstrap']
    draws: int
    seed: int
    level: float
    draws_used: int
    theta_labels: list[str]
    beta_labels: list[str]
    gamma_labels: list[str] = Field(default_factory=list, description='X3 columns (empty without a supply side)')
    intervals: BootstrapIntervals
    mean_own_price_elasticity_draws: list[Number]
    chunks: list[ChunkOutcome]
    provenance: Provenance


class SweepComparison(_Wire):
    """One flat row per variant (estimates and SEs by parameter label, objective, convergence, the counterfactual's
    headline numbers, seconds, error), with its columns in order."""

    columns: list[str]
    parameters: list[str]
    rows: list[dict[str, Any]]


class SweepResult(_Wire):
    """The result of a `sweep` job: the comparison table and each variant's row as the worker recorded it."""

    job_id: str
    kind: Literal['sweep']
    variants_total: int
    variants_succeeded: int
    counterfactual: Optional[dict[str, Any]] = None
    comparison: SweepComparison
    variants: list[dict[str, Any]]
    provenance: dict[str, Any]


# ------------------------------------------------------------------------------------------ merger screens

# The columns of a ranking row (`blp.post.screening.merger_summary`) that it can be sorted by.
SortColumn = Literal['consumer_surplus_loss', 'consumer_surplus_change', 'welfare_change', 'profit_change',
                     'merging_profit_change', 'price_change_percent', 'merging_price_change_percent',
                     'hhi_change_max', 'diversion_max', 'guppi_max', 'guppi_mean', 'upp_max', 'cmcr_max', 'markets',
                     'iterations_max']


class RankedCandidate(_Wire):
    """One candidate of a ranking: totals over the markets where at least two of its firms sell (changes are after
    minus before; consumer surplus and profits per market as PyBLP computes them, summed over markets), maxima of
    its merging products' indices, and the body of `POST /v1/jobs/{estimate}/counterfactuals` that simulates it."""

    rank: int
    candidate_index: int
    candidate: str
    firms: list[str]
    credit: float
    markets: int = Field(description='markets where at least two of its firms sell')
    hhi_change_max: Number = None
    diversion_max: Number = None
    guppi_max: Number = None
    guppi_mean: Number = Field(default=None, description="weighted by the merging products' shares")
    upp_max: Number = None
    cmcr_max: Number = Field(default=None, description='compensating marginal-cost reduction, share of cost')
    price_change_percent: Number = Field(default=None, description='share-weighted, every product')
    merging_price_change_percent: Number = Field(default=None, description="share-weighted, the merging products")
    consumer_surplus_change: Number = None
    consumer_surplus_loss: Number = Field(default=None, description='minus consumer_surplus_change: the default sort')
    merging_profit_change: Number = None
    profit_change: Number = None
    welfare_change: Number = Field(default=None, description='consumer surplus change plus profit change')
    converged: bool = Field(description='the merged equilibrium converged in every market')
    iterations_max: int
    counterfactual: dict[str, Any] = Field(description='the body of POST /v1/jobs/{estimate}/counterfactuals')


class MergerRanking(_Wire):
    """A merger screen's candidates in rank order (`GET /v1/jobs/{id}/ranking`)."""

    job_id: str
    sort: SortColumn
    order: Literal['desc', 'asc']
    ranking: list[RankedCandidate]


class MergerMarket(_Wire):
    """A candidate in one market where at least two of its firms sell (price changes in %, share-weighted)."""

    market_id: str
    hhi_before: Number
    hhi_change: Number
    price_change_percent: Number
    merging_price_change_percent: Number
    consumer_surplus_change: Number
    merging_profit_change: Number
    profit_change: Number
    welfare_change: Number
    converged: bool
    iterations: int


class MergerProduct(_Wire):
    """One merging product: diversion to its partners, GUPPI, UPP, CMCR and its simulated price change."""

    market_id: str
    product_id: str
    firm_id: str
    diversion: Number
    guppi: Number
    upp: Number
    cmcr: Number
    price_before: Number
    price_after: Number
    price_change_percent: Number


class MergerDetails(_Wire):
    """A ranked candidate's rows per market and, with `products`, per merging product."""

    candidate_index: int
    markets: list[MergerMarket]
    products: Optional[list[MergerProduct]] = None


class FailedCandidate(_Wire):
    candidate_index: int
    firms: list[str]
    error: Optional[dict[str, Any]] = None


class MonopolistMarket(_Wire):
    """A hypothetical monopolist of the group in one market where the group sells."""

    market_id: str
    products: list[str]
    price_increase_percent: list[Number]
    largest_increase_percent: Number
    passes: bool
    profit_before: Number
    profit_after: Number
    converged: bool
    iterations: int


class SsnipGroup(_Wire):
    group: int
    products: list[str]
    size: int
    passes: bool = Field(description='passes in every market where the group sells')
    markets: list[MonopolistMarket]


class SsnipResult(_Wire):
    threshold: float
    rivals: Literal['fixed', 'bertrand']
    groups: list[SsnipGroup]
    smallest_passing_group: Optional[int] = Field(default=None, description='the passing group with fewest products')


class MergerScreenResult(_Wire):
    """The result of a `merger_screen` job: the succeeded candidates ranked by `sort`, their per-market (and
    per-product) details, the candidates that failed, and the SSNIP groups when asked for."""

    job_id: str
    kind: Literal['merger_screen']
    credit: float
    markets: Optional[list[str]] = Field(default=None, description='the screened markets; null: every market')
    sort: SortColumn
    order: Literal['desc', 'asc']
    candidates: int
    ranking: list[RankedCandidate]
    details: list[MergerDetails]
    failed: list[FailedCandidate]
    ssnip: Optional[SsnipResult] = None
    provenance: dict[str, Any]


JobResult = Annotated[Union[EstimateResult, MultistartResult, CounterfactualResult, BootstrapResult, SweepResult,
                            MergerScreenResult], Field(discriminator='kind')]
JOB_RESULT: TypeAdapter[Any] = TypeAdapter(JobResult)


class SubstitutionMatrix(_Wire):
    """Elasticities or diversion ratios in one market: `matrix[j][k]` for the products `product_ids[j]`, `[k]`."""

    job_id: str
    market: str
    product_ids: list[str]
    matrix: list[list[Number]]


class PassthroughMatrix(SubstitutionMatrix):
    """Passthrough in one market (PyBLP's `compute_passthrough`): `matrix[j][k]` is dp_j / dc_k, how much the
    Bertrand-Nash price of `product_ids[j]` moves per unit of `product_ids[k]`'s marginal cost, under the product
    data's ownership."""


class MicroValue(_Wire):
    """One micro moment at the estimate: `value` is f_m(v) (PyBLP's `compute_micro_values`), `observed` the spec's."""

    name: str
    value: Number
    observed: Number


class MicroValues(_Wire):
    """The values of a job's micro moments at its estimate, in the order of `spec.solve.micro_moments.moments`."""

    job_id: str
    micro_moments: list[MicroValue]


class MicroScores(_Wire):
    """Scores d log P_n / d theta of micro observations at an estimate (PyBLP's `compute_micro_scores`): one list per
    element of theta (`parameters`, in theta's order), one score per observation in the order of the micro data (or
    of its sorted `micro_ids`); null where the dataset could not have sampled the observation's choice (P_n = 0)."""

    job_id: str
    dataset: str = Field(description='the micro dataset the observations were sampled by')
    parameters: list[str] = Field(description="theta's labels, as `theta_labels`")
    scores: list[list[Number]]


class AgentScores(_Wire):
    """Scores of every agent-choice at an estimate (PyBLP's `compute_agent_scores`): per element of theta, by market
    id, an agents x choices array (choices: the outside good first when the dataset samples it, then the market's
    products; a further axis of second choices when the dataset has them), as nested lists."""

    job_id: str
    dataset: str
    parameters: list[str] = Field(description="theta's labels, as `theta_labels`")
    scores: list[dict[str, list[Any]]]


class SamplingDiagnostics(_Wire):
    """One market's importance weights (Owen's effective sample sizes, as PyBLP's diagnostics)."""

    market: str
    weight_sum: Number
    effective_draws: Number
    effective_draws_for_variance: Number
    effective_draws_for_skewness: Number


class ImportanceSample(_Wire):
    """Agents sampled at an estimate (PyBLP's `importance_sampling`): `sampled_agents` by column is agent data
    (`market_ids`, `weights`, `nodes0..` and the candidates' demographics) that a new job can take as `agent_data`;
    `seed` is the one used (drawn when the request gave none), so the same request samples the same agents."""

    job_id: str
    draws: int = Field(description='agents sampled per market')
    ar_constant: float
    seed: int
    computation_time: float
    sampled_agents: dict[str, list[Union[Number, str]]]
    diagnostics: list[SamplingDiagnostics] = Field(description='per market, in sorted market order')


# ------------------------------------------------------------------------------------------ errors

class Problem(BaseModel):
    """An error answer (RFC 9457), and a failed job's `error`: the standard members plus the project's extension
    members naming what is at fault; other extension members (`errors`, `limit`, `job_id`, ...) may follow."""

    model_config = ConfigDict(extra='allow', frozen=True)

    type: str = Field(description='a URN naming the kind of problem, e.g. urn:blp:problem:validation-error')
    title: str
    status: int = Field(description='the HTTP status code')
    detail: Optional[str] = Field(default=None, description='what went wrong, naming the column, market or parameter')
    instance: Optional[str] = Field(default=None, description='the request path')
    field: Optional[str] = Field(default=None, description='the request field at fault, e.g. spec.solve.sigma')
    column: Optional[str] = Field(default=None, description='the data column at fault')
    market: Optional[str] = Field(default=None, description='the market at fault')
    row: Optional[int] = Field(default=None, description='the 0-based data row at fault')
    parameter: Optional[str] = Field(default=None, description='the parameter (or query parameter) at fault')

    @model_serializer(mode='wrap')
    def _members_sent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Only the members the problem has: a member that names nothing is left out, as the service sends it."""
        return {key: value for key, value in handler(self).items() if value is not None}
