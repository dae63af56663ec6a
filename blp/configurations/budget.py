"""What a job will cost, from sizes alone, before any matrix is built.

The estimate is dominated by the padded T x J x I arrays of the inner loop (utilities, their exponentials,
choice probabilities and their derivatives): measured on the cereal problem (T = 94, J = 24, single thread,
`bench/bench_budget.py`), a solve holds about 3 + P/2 of them per market at once (P nonlinear parameters). Demand
and the supply side are evaluated in market chunks (`blp.model.chunks`, `blp.estimation.dependents`; by default
`DEFAULT_CHUNK_BYTES`), so they hold that many for a chunk only: the default chunking is what the core does, so the
cost model counts it. Micro moments and optimal instruments hold every market's probabilities, so with them the
whole problem is counted; multi-start and the bootstrap compute elasticities over every market after each solve.
Multi-start and bootstrap run one problem per task, so they multiply the work, not the memory of a task.
`bench/budget_phases.py` measures what each phase holds next to this estimate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Optional

from blp.configurations.nested_hermite import NESTED_MAX, nested_order
from blp.exceptions import BLPError

if TYPE_CHECKING:  # the spec imports this module through solve_options
    from blp.spec import EstimateSpec

FLOAT = 8
# The interpreter, numpy, scipy and pandas, before any data: measured ~125 MB.
BASE_BYTES = 256 * 1024**2
# What one objective evaluation may hold in per-market temporaries (all threads together) unless a solve says
# otherwise: markets are evaluated in chunks that fit it (blp.model.chunks). Measured in bench/memory.py.
DEFAULT_CHUNK_BYTES = 32 * 1024**2
# Blocks beyond demand, in J x I agent arrays and J x J matrices per market, measured with tracemalloc on the cereal
# problem at I = 1,000 to 3,000 and the simulated one at J = I = 100 (bench/budget_phases.py,
# tests/unit/test_budget_measured.py): the supply side per market of its chunk (probabilities, recomputed utilities,
# e - eta, Q and the firm sums of `blp.supply.markups.eta_by_theta`; ds/dp, Delta and its factorization), post-estimation
# over every market (utilities, probabilities, their weighted copy; the demand Jacobian and elasticities:
# multi-start computes it per start, the bootstrap per draw).
SUPPLY_AGENT_ARRAYS, SUPPLY_MATRICES = 9, 6
# ... and for the whole solve, the ownership matrices (T x J x J) and their construction: measured 217 MB at
# T = 2,000 x J = 100 for 160 MB of ownership (bench/budget_phases.py --supply).
SUPPLY_WHOLE_MATRICES = 2
POST_ESTIMATION_AGENT_ARRAYS, POST_ESTIMATION_MATRICES = 4, 4
# A micro dataset holds its weights and each part's values (markets x I x (1 + J) [x (1 + J) with second choices]);
# an evaluation adds about this many more of them (probabilities with the outside good, A Q, its coefficients).
MICRO_TEMPORARIES = 3
# The uploaded data while a problem is built from it: its stored bytes, the Arrow table read from them, the frame,
# and what the reading process keeps afterwards (measured: reading 3.3 million agent rows of 5 columns, 160 MB of
# cells, left the process ~290 MB larger for the next request).
DATA_COPIES = 4
# The bootstrap keeps delta, prices and shares (N each) for every draw of a task.
BOOTSTRAP_PRODUCT_ARRAYS = 3


class BudgetError(BLPError):
    """A job over the configured budget: names the sizes, the estimate and the limit."""

    def __init__(self, message: str, *, parameter: Optional[str] = None, sizes: Optional[dict] = None,
                 estimate: Optional[dict] = None, limit: Optional[dict] = None) -> None:
        super().__init__(message, parameter=parameter, sizes=sizes, estimate=estimate, limit=limit)


@dataclass(frozen=True)
class Sizes:
    """The dimensions that drive cost: T markets, N products (J in the largest market), I agents per market, and
    the blocks beyond demand (K3 supply columns, micro moments' cells, optimal instruments, post-estimation over
    every market, bootstrap draws)."""

    markets: int
    products: int
    products_per_market: int
    agents_per_market: int
    K1: int
    K2: int
    demographics: int
    moments: int
    parameters: int
    starts: int = 1
    draws: int = 1
    chunk_bytes: Optional[int] = None  # the solve's chunk budget (None: every market at once, as unchunked code)
    threads: int = 1
    K3: int = 0                        # a supply side's X3 columns (0: demand only)
    micro_cells: int = 0               # floats the micro datasets hold, temporaries included (`micro_cells`)
    optimal_instruments: bool = False  # a second estimate with optimal instruments (whole-problem expectations)
    post_estimation: bool = False      # elasticities over every market (per start of a multi-start, per draw)
    draws_per_task: int = 1            # bootstrap draws one task computes (and holds) at once
    data_cells: int = 0                # cells of the product and agent data as uploaded (rows x columns)


@dataclass(frozen=True)
class Cost:
    agent_array_bytes: int  # one T x J x I array of floats
    memory_bytes: int       # peak of one task
    work: int               # agent-product cells per objective evaluation, summed over every task of the job
    blocks: dict[str, int] = field(default_factory=dict)  # bytes of each block beyond demand that the job has


@dataclass(frozen=True)
class Budget:
    """Limits per job; `None` means unlimited."""

    memory_bytes: Optional[int] = None
    agents_per_market: Optional[int] = None
    work: Optional[int] = None


def inner_bytes_per_market(products_per_market: int, agents_per_market: int, parameters: int) -> int:
    """Bytes the inner loop holds for one market at its peak: about 3 + P/2 padded J x I float arrays, and two J x J
    matrices (d s / d delta and its factorization, for d delta / d theta). The cost model and the chunk sizer both
    use it, so a refusal and the chunks a solve is split into agree."""
    J, I = products_per_market, agents_per_market
    return int(((3 + parameters / 2) * J * I + 2 * J * J) * FLOAT)


def supply_bytes_per_market(products_per_market: int, agents_per_market: int, parameters: int) -> int:
    """Bytes the supply side holds for one market of its chunk (`blp.estimation.dependents.SupplyDependent`): the cost model and
    the supply side's chunks share it."""
    J, I = products_per_market, max(agents_per_market, 1)
    return int((SUPPLY_AGENT_ARRAYS * J * I + SUPPLY_MATRICES * J * J) * FLOAT)


def markets_per_chunk(bytes_per_market: int, chunk_bytes: int, threads: int = 1) -> int:
    """Markets one chunk may hold so that `threads` chunks at once stay within `chunk_bytes` (at least one)."""
    return max(1, int(chunk_bytes // max(threads, 1) // max(bytes_per_market, 1)))


def chunked(sizes: Sizes) -> bool:
    """Whether the solve evaluates in chunks of `chunk_bytes`: demand and the supply side do (by default too, as
    `blp.estimation.estimator` does); micro moments and optimal instruments hold every market's choice probabilities, so those
    jobs are costed whole."""
    return sizes.chunk_bytes is not None and not (sizes.micro_cells or sizes.optimal_instruments)


def cost(sizes: Sizes) -> Cost:
    T, N, J, I, P = (sizes.markets, sizes.products, sizes.products_per_market, sizes.agents_per_market,
                     sizes.parameters)
    cells = T * J * I
    array, matrices = cells * FLOAT, T * J * J * FLOAT

    def held(per_market: int, threads: int = 1) -> int:
        """Markets whose temporaries are held at once: a chunk per thread, or every market."""
        if not chunked(sizes) or sizes.chunk_bytes is None:
            return T
        return min(T, markets_per_chunk(per_market, sizes.chunk_bytes, threads) * threads)

    per_market = inner_bytes_per_market(J, I, P)
    inner = per_market * held(per_market, sizes.threads) if I else 0
    blocks = {}
    ownership = SUPPLY_WHOLE_MATRICES * matrices if sizes.K3 else 0  # held for the whole solve and its results
    if sizes.K3:
        supply = supply_bytes_per_market(J, I, P)
        blocks['supply'] = ownership + supply * held(supply)
    if sizes.micro_cells:
        blocks['micro_moments'] = sizes.micro_cells * FLOAT
    if sizes.post_estimation or sizes.optimal_instruments:
        blocks['post_estimation'] = POST_ESTIMATION_AGENT_ARRAYS * array + POST_ESTIMATION_MATRICES * matrices
    if sizes.draws > 1:
        blocks['bootstrap_draws'] = BOOTSTRAP_PRODUCT_ARRAYS * min(sizes.draws, sizes.draws_per_task) * N * FLOAT
    estimation = inner + blocks.get('supply', 0) + blocks.get('micro_moments', 0)
    # once the solve's temporaries are freed
    afterwards = ownership + blocks.get('post_estimation', 0) + blocks.get('bootstrap_draws', 0)
    agents = 2 * T * I * (sizes.K2 + sizes.demographics + 1 + P) * FLOAT
    # Measured: 35,000 agents in each of 94 markets (3.3 million rows of 5 columns) took ~240 bytes per row to read
    # and build (tests/api/test_api_validation_latency.py validates the heaviest the budget admits, three times).
    data = DATA_COPIES * sizes.data_cells * FLOAT
    products = 4 * N * (sizes.K1 + sizes.K2 + sizes.K3 + sizes.moments + 2 * P) * FLOAT
    # Per evaluation: the inner loop's cells, the supply side's pass per parameter and its J x J matrices, the micro
    # datasets' cells.
    evaluation = max(cells, N) + ((P * cells + T * J * J) if sizes.K3 else 0) + sizes.micro_cells
    return Cost(agent_array_bytes=array, memory_bytes=BASE_BYTES + data + agents + products + max(estimation, afterwards),
                work=evaluation * sizes.starts * sizes.draws, blocks=blocks)


# One above the highest Gauss-Hermite level the core builds (blp.configurations.integration.GAUSS_HERMITE_MAX, which
# loads numpy): a larger `grid` level is refused anyway, and counting it would take the API process minutes.
GRID_LEVELS_COUNTED = 372


def nodes_per_market(specification: str, size: int, dimensions: int) -> int:
    """Agents per market an `Integration(specification, size)` builds in `dimensions` dimensions (no nodes built)."""
    if specification == 'product':
        return size ** dimensions
    if specification == 'grid':  # counting stops above the levels the core builds (the count grows as level^2)
        return _sparse_grid_bound(dimensions, min(size, GRID_LEVELS_COUNTED))
    if specification == 'nested_product':
        return nested_order(size) ** dimensions
    if specification == 'nested_grid':
        return _nested_grid_nodes(dimensions, min(size, NESTED_MAX))
    return size


def _sparse_grid_bound(dimensions: int, level: int) -> int:
    """An upper bound on the Smolyak grid's nodes: the sum of the product rules it combines (before merging)."""
    if dimensions == 0:
        return 1
    # products[d][t]: sum over compositions of t into d positive parts of the product of the parts.
    top = level + dimensions - 1
    products = [[1] + [0] * top] + [[0] * (top + 1) for _ in range(dimensions)]
    for d in range(1, dimensions + 1):
        for t in range(1, top + 1):
            products[d][t] = sum(k * products[d - 1][t - k] for k in range(1, t + 1))
    return sum(products[dimensions][t] for t in range(max(dimensions, level), top + 1))


def _nested_grid_nodes(dimensions: int, level: int) -> int:
    """The nested sparse grid's distinct nodes (some may weigh nothing): the union of its product rules, which are
    those of every level tuple summing to at most level + dimensions - 1 (the rules are nested), counted as the sum
    over the tuples of the nodes each adds to the ones below it, the product of what each dimension's rule adds."""
    if dimensions == 0:
        return 1
    added = [0] + [nested_order(k) - nested_order(k - 1) if k > 1 else 1 for k in range(1, level + 1)]
    top = level + dimensions - 1
    # sums[d][t]: over tuples of d levels summing to t (each at most `level`), the product of the nodes they add.
    sums = [[1] + [0] * top] + [[0] * (top + 1) for _ in range(dimensions)]
    for d in range(1, dimensions + 1):
        for t in range(1, top + 1):
            sums[d][t] = sum(added[k] * sums[d - 1][t - k] for k in range(1, min(t, level) + 1))
    return sum(sums[dimensions][t] for t in range(dimensions, top + 1))


def _human(count: int) -> str:
    for unit, scale in (('TB', 1e12), ('GB', 1e9), ('MB', 1e6), ('kB', 1e3)):
        if count >= scale:
            return f'{count / scale:,.{0 if count >= 10 * scale else 1}f} {unit}'
    return f'{count} bytes'


# What each block beyond demand is, the request field that asks for it, and the sizes without it.
BLOCKS: dict[str, tuple[str, Callable[[Sizes], Sizes]]] = {
    'supply': ("the supply side (X3) holds its markets' choice probabilities and J × J matrices",
               lambda sizes: replace(sizes, K3=0)),
    'micro_moments': ("the micro moments hold their datasets' choice probabilities",
                      lambda sizes: replace(sizes, micro_cells=0)),
    'post_estimation': ('elasticities over every market (per start or draw, or for optimal instruments) hold '
                        'utilities, probabilities and J × J matrices',
                        lambda sizes: replace(sizes, post_estimation=False, optimal_instruments=False)),
    'bootstrap_draws': ("the bootstrap holds each draw's delta, prices and shares",
                        lambda sizes: replace(sizes, draws_per_task=1)),
}


def _block_parameter(block: str, sizes: Sizes) -> Optional[str]:
    """The request field that asks for `block` (as the service names it; None: the job's kind itself)."""
    if block == 'supply':
        return 'spec.problem.product_formulations'
    if block == 'micro_moments':
        return 'spec.solve.micro_moments'
    if block == 'bootstrap_draws':
        return 'chunk_size'
    if sizes.optimal_instruments:
        return 'spec.optimal_instruments'
    return 'draws' if sizes.draws > 1 else 'starts.count' if sizes.starts > 1 else None


def _culprit(sizes: Sizes, estimate: Cost, limit: int) -> Optional[str]:
    """The block without which the job would fit `limit` bytes (None when no single block is to blame)."""
    for block in estimate.blocks:
        if cost(BLOCKS[block][1](sizes)).memory_bytes <= limit:
            return block
    return None


def check(sizes: Sizes, budget: Budget, agents_parameter: Optional[str] = None) -> Cost:
    """The job's cost, or BudgetError when it exceeds the budget, naming `agents_parameter` (where the agents come
    from: `integration.size` or `agent_data`) or, when one block beyond demand alone puts it over, that block."""
    estimate = cost(sizes)
    shape = f'{sizes.markets:,} × {sizes.products_per_market:,} × {sizes.agents_per_market:,}'
    context: dict[str, Any] = {'sizes': asdict(sizes), 'estimate': asdict(estimate), 'limit': asdict(budget)}
    if budget.memory_bytes is not None and estimate.memory_bytes > budget.memory_bytes:
        parts = [f'{BLOCKS[block][0]}: ~{_human(size)}' for block, size in estimate.blocks.items()]
        culprit = _culprit(sizes, estimate, budget.memory_bytes)
        parameter = (None if culprit is None else _block_parameter(culprit, sizes)) or agents_parameter
        without = '' if culprit is None else \
            f'; without {culprit.replace("_", " ")} it would need ~{_human(cost(BLOCKS[culprit][1](sizes)).memory_bytes)}'
        array = _human(estimate.agent_array_bytes)
        # Chunked, the agent array is never held whole: its size is no part of the estimate and is said as such.
        agents = f'the {shape} agent array would be {array} whole; the solve holds a chunk of markets at a time' \
            if chunked(sizes) else f'the {shape} agent array alone is {array}'
        raise BudgetError(f'needs ~{_human(estimate.memory_bytes)} ({"; ".join(parts + [agents])}){without}; this '
                          f'service allows {_human(budget.memory_bytes)} per job', parameter=parameter, **context)
    if budget.agents_per_market is not None and sizes.agents_per_market > budget.agents_per_market:
        raise BudgetError(f'{sizes.agents_per_market:,} agents per market; this service allows '
                          f'{budget.agents_per_market:,}', parameter=agents_parameter, **context)
    if budget.work is not None and estimate.work > budget.work:
        tasks = sizes.starts * sizes.draws
        parameter = agents_parameter
        if tasks > 1 and estimate.work // tasks <= budget.work:  # one task fits: the draws or starts are too many
            parameter = 'draws' if sizes.draws > 1 else 'starts.count'
        raise BudgetError(f'{estimate.work:,} agent-product cells per objective evaluation over all '
                          f'{tasks} task(s) ({shape} per task); this service allows '
                          f'{budget.work:,}', parameter=parameter, **context)
    return estimate


def _terms(formula: Optional[str]) -> int:
    """Columns a formula gives, counted from its text (a `C(...)` counts one: an estimate, never built)."""
    if not formula:
        return 0
    terms = [term.strip() for term in formula.replace('-', '+-').split('+')]
    intercept = not any(term in ('0', '-1') for term in terms)
    return sum(1 for term in terms if term and term not in ('0', '1', '-1')) + int(intercept)


def _nonzero(matrix: Any, lower: bool) -> int:
    if matrix is None:
        return 0
    if not isinstance(matrix, list):
        return int(matrix != 0)
    return sum(1 for i, row in enumerate(matrix) for j, value in enumerate(row)
               if value != 0 and (not lower or j <= i))


@dataclass(frozen=True)
class Table:
    """All the cost model reads of a data table: its rows, column names, markets and the rows of its largest market.

    Why: a service records these once when a dataset is stored, and can then cost a job on it without reading it."""

    rows: int
    columns: tuple[str, ...]
    markets: int
    largest_market: int

    @classmethod
    def of(cls, frame: Any) -> Table:
        """The table of a data frame (one with a `market_ids` column)."""
        per_market = frame['market_ids'].value_counts()
        return cls(rows=int(len(frame)), columns=tuple(str(column) for column in frame.columns),
                   markets=int(len(per_market)), largest_market=int(per_market.max()) if len(per_market) else 0)


def sizes_of(spec: EstimateSpec, product: Any, agent: Any = None, starts: int = 1, draws: int = 1,
             draws_per_task: int = 1, post_estimation: bool = False) -> tuple[Sizes, Optional[str]]:
    """The sizes of an `EstimateSpec` on these data (frames, or their `Table`s), read from the spec's text and the
    data's market counts (nothing is built), and where its agents come from (`integration.size`, `agent_data` or
    None). A multi-start (`starts` > 1) and a bootstrap (`draws` > 1) also compute elasticities over every market,
    as does a job that asks for `post_estimation` (a counterfactual)."""
    product = product if isinstance(product, Table) else Table.of(product)
    agent = agent if agent is None or isinstance(agent, Table) else Table.of(agent)
    problem, solve = spec.problem, spec.solve
    formulations = problem.product_formulations
    if isinstance(solve.sigma, list):
        K2 = len(solve.sigma)
    else:
        X2 = formulations[1] if len(formulations) > 1 else None
        K2 = _terms(X2.formula) if X2 is not None else int(solve.sigma is not None)
    agents, source = 0, None
    if K2 and problem.integration is not None:
        source = 'integration.size'
        agents = nodes_per_market(problem.integration.specification, problem.integration.size, K2)
    elif K2 and agent is not None:
        source, agents = 'agent_data', agent.largest_market
    X1 = formulations[0]
    K1 = _terms(None if X1 is None else X1.formula)
    X3 = formulations[2] if len(formulations) > 2 else None
    columns = product.columns
    instruments = sum(1 for column in columns if column.startswith('demand_instruments'))
    supply_instruments = sum(1 for column in columns if column.startswith('supply_instruments')) if X3 else 0
    parameters = _nonzero(solve.sigma, lower=True) + _nonzero(solve.pi, lower=False) + (
        len(solve.rho) if isinstance(solve.rho, list) else int(solve.rho is not None))
    K3 = _terms(X3.formula) if X3 is not None else 0
    T, J = product.markets, product.largest_market
    data_cells = sum(table.rows * (len(table.columns) + 1) for table in (product, agent) if table is not None)
    sizes = Sizes(markets=T, products=product.rows, products_per_market=J,
                  agents_per_market=agents, K1=K1, K2=K2,
                  demographics=_terms(problem.agent_formulation.formula) if problem.agent_formulation else 0,
                  moments=K1 + instruments + K3 + supply_instruments, parameters=parameters, starts=starts,
                  draws=draws, chunk_bytes=_chunk_bytes(spec), threads=solve.threads or 1, K3=K3,
                  micro_cells=micro_cells(solve.micro_moments, T, J, agents),
                  optimal_instruments=spec.optimal_instruments is not None,
                  post_estimation=post_estimation or starts > 1 or draws > 1, draws_per_task=max(1, min(draws, draws_per_task)),
                  data_cells=data_cells)
    return sizes, source


def micro_cells(micro: Any, markets: int, products_per_market: int, agents_per_market: int) -> int:
    """Floats the micro moments of a `MicroMomentsSpec` hold: per dataset, its weights and each part's values
    (surveyed markets x I x (1 + J), times (1 + J) with second choices) and `MICRO_TEMPORARIES` more of them."""
    if micro is None:
        return 0
    choices = 1 + products_per_market
    total = 0
    for dataset in micro.datasets:
        surveyed = len(dataset.market_ids) if dataset.market_ids is not None else markets
        parts = sum(1 for part in micro.parts if part.dataset == dataset.name)
        cells = surveyed * max(agents_per_market, 1) * choices * (choices if dataset.second_choices else 1)
        total += (1 + parts + MICRO_TEMPORARIES) * cells
    return total


def _chunk_bytes(spec: EstimateSpec) -> int:
    """The chunk budget of the spec's solve: its `memory_budget_mb`, else the default the core chunks by (whether
    its blocks let it chunk is the cost model's call: `chunked`)."""
    budget = spec.solve.memory_budget_mb
    return DEFAULT_CHUNK_BYTES if budget is None else int(budget * 1024**2)
