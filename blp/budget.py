"""What a job will cost, from sizes alone, before any matrix is built.

The estimate is dominated by the padded T x J x I arrays of the inner loop (utilities, their exponentials,
choice probabilities and their derivatives): measured on the cereal problem (T = 94, J = 24, single thread,
`bench/bench_budget.py`), a solve holds about 3 + P/2 of them at once (P nonlinear parameters). Multi-start and
bootstrap run one problem per task, so they multiply the work, not the memory of a task.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Optional

from blp.exceptions import BLPError

FLOAT = 8
# The interpreter, numpy, scipy and pandas, before any data: measured ~125 MB.
BASE_BYTES = 256 * 1024**2
# What one objective evaluation may hold in per-market temporaries (all threads together) unless a solve says
# otherwise: markets are evaluated in chunks that fit it (blp.model.chunks). Measured in bench/memory.py.
DEFAULT_CHUNK_BYTES = 32 * 1024**2


class BudgetError(BLPError):
    """A job over the configured budget: names the sizes, the estimate and the limit."""

    def __init__(self, message: str, *, parameter: Optional[str] = None, sizes: Optional[dict] = None,
                 estimate: Optional[dict] = None, limit: Optional[dict] = None) -> None:
        super().__init__(message, parameter=parameter, sizes=sizes, estimate=estimate, limit=limit)


@dataclass(frozen=True)
class Sizes:
    """The dimensions that drive cost: T markets, N products (J in the largest market), I agents per market."""

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


@dataclass(frozen=True)
class Cost:
    agent_array_bytes: int  # one T x J x I array of floats
    memory_bytes: int       # peak of one task
    work: int               # agent-product cells per objective evaluation, summed over every task of the job


@dataclass(frozen=True)
class Budget:
    """Limits per job; `None` means unlimited."""

    memory_bytes: Optional[int] = None
    agents_per_market: Optional[int] = None
    work: Optional[int] = None


def inner_bytes_per_market(products_per_market: int, agents_per_market: int, parameters: int) -> int:
    """Bytes the inner loop holds for one market at its peak: about 3 + P/2 padded J x I float arrays. The cost
    model and the chunk sizer both use it, so a refusal and the chunks a solve is split into agree."""
    return int((3 + parameters / 2) * products_per_market * agents_per_market * FLOAT)


def markets_per_chunk(bytes_per_market: int, chunk_bytes: int, threads: int = 1) -> int:
    """Markets one chunk may hold so that `threads` chunks at once stay within `chunk_bytes` (at least one)."""
    return max(1, int(chunk_bytes // max(threads, 1) // max(bytes_per_market, 1)))


def cost(sizes: Sizes) -> Cost:
    cells = sizes.markets * sizes.products_per_market * sizes.agents_per_market
    array = cells * FLOAT
    per_market = inner_bytes_per_market(sizes.products_per_market, sizes.agents_per_market, sizes.parameters)
    held = sizes.markets if sizes.chunk_bytes is None else \
        min(sizes.markets, markets_per_chunk(per_market, sizes.chunk_bytes, sizes.threads) * sizes.threads)
    inner = per_market * held if sizes.agents_per_market else 0
    agents = 2 * sizes.markets * sizes.agents_per_market * (sizes.K2 + sizes.demographics + 1) * FLOAT
    products = 4 * sizes.products * (sizes.K1 + sizes.K2 + sizes.moments + 2 * sizes.parameters) * FLOAT
    return Cost(agent_array_bytes=array, memory_bytes=BASE_BYTES + inner + agents + products,
                work=max(cells, sizes.products) * sizes.starts * sizes.draws)


def nodes_per_market(specification: str, size: int, dimensions: int) -> int:
    """Agents per market an `Integration(specification, size)` builds in `dimensions` dimensions (no nodes built)."""
    if specification == 'product':
        return size ** dimensions
    if specification == 'grid':
        return _sparse_grid_bound(dimensions, size)
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


def _human(count: int) -> str:
    for unit, scale in (('TB', 1e12), ('GB', 1e9), ('MB', 1e6), ('kB', 1e3)):
        if count >= scale:
            return f'{count / scale:,.{0 if count >= 10 * scale else 1}f} {unit}'
    return f'{count} bytes'


def check(sizes: Sizes, budget: Budget, agents_parameter: Optional[str] = None) -> Cost:
    """The job's cost, or BudgetError when it exceeds the budget (naming `agents_parameter`, where the agents come
    from: `integration.size` or `agent_data`)."""
    estimate = cost(sizes)
    shape = f'{sizes.markets:,} × {sizes.products_per_market:,} × {sizes.agents_per_market:,}'
    context: dict[str, Any] = {'sizes': asdict(sizes), 'estimate': asdict(estimate), 'limit': asdict(budget)}
    if budget.memory_bytes is not None and estimate.memory_bytes > budget.memory_bytes:
        raise BudgetError(f'needs ~{_human(estimate.memory_bytes)} (the {shape} agent array alone is '
                          f'{_human(estimate.agent_array_bytes)}); this service allows '
                          f'{_human(budget.memory_bytes)} per job', parameter=agents_parameter, **context)
    if budget.agents_per_market is not None and sizes.agents_per_market > budget.agents_per_market:
        raise BudgetError(f'{sizes.agents_per_market:,} agents per market; this service allows '
                          f'{budget.agents_per_market:,}', parameter=agents_parameter, **context)
    if budget.work is not None and estimate.work > budget.work:
        raise BudgetError(f'{estimate.work:,} agent-product cells per objective evaluation over all '
                          f'{sizes.starts * sizes.draws} task(s) ({shape} per task); this service allows '
                          f'{budget.work:,}', parameter=agents_parameter, **context)
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


def sizes_of(spec: Any, product: Any, agent: Any = None, starts: int = 1, draws: int = 1) -> tuple[Sizes, Optional[str]]:
    """The sizes of an `EstimateSpec` on these data frames, read from the spec's text and the frames' market
    counts (nothing is built), and where its agents come from (`integration.size`, `agent_data` or None)."""
    problem, solve = spec.problem, spec.solve
    formulations = problem.product_formulations
    if isinstance(solve.sigma, list):
        K2 = len(solve.sigma)
    else:
        X2 = formulations[1] if len(formulations) > 1 else None
        K2 = _terms(X2.formula) if X2 is not None else int(solve.sigma is not None)
    per_market = product['market_ids'].value_counts()
    agents, source = 0, None
    if K2 and problem.integration is not None:
        source = 'integration.size'
        agents = nodes_per_market(problem.integration.specification, problem.integration.size, K2)
    elif K2 and agent is not None:
        source, agents = 'agent_data', int(agent['market_ids'].value_counts().max())
    K1 = _terms(formulations[0].formula)
    instruments = sum(1 for column in product.columns if str(column).startswith('demand_instruments'))
    parameters = _nonzero(solve.sigma, lower=True) + _nonzero(solve.pi, lower=False) + (
        len(solve.rho) if isinstance(solve.rho, list) else int(solve.rho is not None))
    sizes = Sizes(markets=int(len(per_market)), products=int(len(product)), products_per_market=int(per_market.max()),
                  agents_per_market=agents, K1=K1, K2=K2,
                  demographics=_terms(problem.agent_formulation.formula) if problem.agent_formulation else 0,
                  moments=K1 + instruments, parameters=parameters, starts=starts, draws=draws,
                  chunk_bytes=_chunk_bytes(spec), threads=solve.threads)
    return sizes, source


def _chunk_bytes(spec: Any) -> Optional[int]:
    """The chunk budget a spec asks for, where its solve evaluates in chunks alone: demand without a supply side,
    micro moments or optimal instruments (those hold whole-problem choice probabilities). None (the whole problem
    counted, as before chunks) unless `memory_budget_mb` is given: the default chunking is a saving, not a promise."""
    formulations, solve = spec.problem.product_formulations, spec.solve
    supply = len(formulations) > 2 and formulations[2] is not None
    if solve.memory_budget_mb is None or supply or solve.micro_moments or spec.optimal_instruments is not None:
        return None
    return int(solve.memory_budget_mb * 1024**2)
